//! The socket backend: non-blocking kernel sockets, read and written on every poll.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::buffer::{RecvBuffer, SendQueue};
use crate::{
    CloseReason, ConnId, Event, ListenerId, SendError, SetupError, Slab, Transport,
    TransportConfig, bind_listener, tune_socket,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnState {
    Connecting,
    Open,
    /// Ended; received bytes stay readable until `close`.
    Ended,
}

#[derive(Debug)]
struct Conn {
    socket: Socket,
    state: ConnState,
    reading: bool,
    recv: RecvBuffer,
    send: SendQueue,
}

/// Non-blocking sockets, busy-polled: every [`Transport::poll`] tries to accept, connect, read
/// and write on every socket, and returns at once.
#[derive(Debug)]
pub struct SocketTransport {
    config: TransportConfig,
    listeners: Vec<Socket>,
    conns: Slab<Conn>,
    events: VecDeque<Event>,
}

impl SocketTransport {
    pub fn new(config: TransportConfig) -> Self {
        SocketTransport {
            config,
            listeners: Vec::new(),
            conns: Slab::new(),
            events: VecDeque::new(),
        }
    }

    fn add_conn(&mut self, socket: Socket, state: ConnState) -> Result<ConnId, SetupError> {
        self.conns.insert(Conn {
            socket,
            state,
            reading: true,
            recv: RecvBuffer::new(self.config.recv_buffer),
            send: SendQueue::new(self.config.send_buffer),
        })
    }

    fn accept_all(&mut self) -> usize {
        let mut work = 0;
        for index in 0..self.listeners.len() {
            loop {
                let accepted = self.listeners[index].accept();
                let (socket, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(_) => break, // WouldBlock, or a connection that died before accept
                };
                let setup = socket
                    .set_nonblocking(true)
                    .and_then(|()| tune_socket(&socket, &self.config));
                let Some(peer) = peer.as_socket() else {
                    continue;
                };
                if setup.is_err() {
                    continue;
                }
                if let Ok(conn) = self.add_conn(socket, ConnState::Open) {
                    self.events.push_back(Event::Accepted {
                        listener: ListenerId(index as u32),
                        conn,
                        peer,
                    });
                    work += 1;
                }
            }
        }
        work
    }

    /// Reads, writes and connect completion for one connection.
    fn poll_conn(&mut self, id: ConnId) -> usize {
        let Some(conn) = self.conns.get_mut(id) else {
            return 0;
        };
        let mut work = 0;
        if conn.state == ConnState::Connecting {
            match connect_progress(&conn.socket) {
                Ok(false) => return 0,
                Ok(true) => {
                    conn.state = ConnState::Open;
                    self.events.push_back(Event::Connected { conn: id });
                    work += 1;
                }
                Err(e) => {
                    conn.state = ConnState::Ended;
                    self.events.push_back(Event::Closed {
                        conn: id,
                        reason: CloseReason::ConnectFailed(e.kind()),
                    });
                    return 1;
                }
            }
        }
        if conn.state != ConnState::Open {
            return work;
        }
        let mut ended = None;
        while conn.reading {
            conn.recv.compact();
            let space = conn.recv.free_space();
            if space.is_empty() {
                break;
            }
            match (&conn.socket).read(space) {
                Ok(0) => {
                    ended = Some(CloseReason::PeerClosed);
                    break;
                }
                Ok(n) => {
                    conn.recv.filled(n);
                    work += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    ended = Some(CloseReason::Error(e.kind()));
                    break;
                }
            }
        }
        if ended.is_none() {
            match flush(conn) {
                Ok(n) => work += n,
                Err(e) => ended = Some(CloseReason::Error(e.kind())),
            }
        }
        if let Some(reason) = ended {
            conn.state = ConnState::Ended;
            self.events.push_back(Event::Closed { conn: id, reason });
            work += 1;
        }
        work
    }
}

/// Writes queued bytes until the socket would block.
fn flush(conn: &mut Conn) -> io::Result<usize> {
    let mut written = 0;
    while !conn.send.is_empty() {
        match (&conn.socket).write(conn.send.queued()) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                conn.send.sent(n);
                written += n;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

/// Whether a non-blocking connect has completed; its error if it failed.
fn connect_progress(socket: &Socket) -> io::Result<bool> {
    if let Some(error) = socket.take_error()? {
        return Err(error);
    }
    match socket.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Ok(false),
        Err(e) => Err(e),
    }
}

fn new_socket(addr: &SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(*addr),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

impl Transport for SocketTransport {
    fn listen(&mut self, addr: SocketAddr) -> Result<(ListenerId, SocketAddr), SetupError> {
        let (socket, bound, id) = bind_listener(addr, self.listeners.len())?;
        socket.set_nonblocking(true)?;
        self.listeners.push(socket);
        Ok((id, bound))
    }

    fn connect(&mut self, addr: SocketAddr) -> Result<ConnId, SetupError> {
        let socket = new_socket(&addr)?;
        tune_socket(&socket, &self.config)?;
        match socket.connect(&SockAddr::from(addr)) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e.into()),
        }
        self.add_conn(socket, ConnState::Connecting)
    }

    fn poll(&mut self) -> usize {
        let mut work = self.accept_all();
        for index in 0..self.conns.slot_count() {
            if let Some(id) = self.conns.id_at(index) {
                work += self.poll_conn(id);
            }
        }
        work
    }

    fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn received(&self, conn: ConnId) -> &[u8] {
        self.conns.get(conn).map_or(&[], |c| c.recv.unread())
    }

    fn consume(&mut self, conn: ConnId, n: usize) {
        if let Some(c) = self.conns.get_mut(conn) {
            c.recv.consume(n);
        }
    }

    fn send(&mut self, conn: ConnId, bytes: &[u8]) -> Result<usize, SendError> {
        let c = self
            .conns
            .get_mut(conn)
            .ok_or(SendError::UnknownConnection)?;
        if c.state != ConnState::Open {
            return Err(SendError::NotConnected);
        }
        Ok(c.send.push(bytes, true))
    }

    fn unsent(&self, conn: ConnId) -> usize {
        self.conns.get(conn).map_or(0, |c| c.send.len())
    }

    fn set_reading(&mut self, conn: ConnId, reading: bool) {
        if let Some(c) = self.conns.get_mut(conn) {
            c.reading = reading;
        }
    }

    fn close(&mut self, conn: ConnId) {
        if let Some(mut c) = self.conns.remove(conn) {
            if c.state == ConnState::Open {
                let _ = flush(&mut c);
                // Bytes left unread at close make the kernel answer with a reset, which can
                // destroy our last message (a Logout) in the peer's receive queue before the
                // peer reads it: discard what is readable, then end with a plain FIN.
                let mut scratch = [0u8; 4096];
                for _ in 0..64 {
                    match (&c.socket).read(&mut scratch) {
                        Ok(n) if n > 0 => {}
                        _ => break,
                    }
                }
            }
            let _ = c.socket.shutdown(Shutdown::Both);
        }
    }
}
