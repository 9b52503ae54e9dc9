//! The io_uring backend: accepts, connects, receives and sends are submitted to one ring and
//! reaped on every poll, with no system call per operation beyond one `io_uring_enter`.
//!
//! Each open connection keeps one receive in flight, straight into the free space of its
//! contiguous receive buffer (no copy), and at most one send from its queue. A connection's
//! buffers and socket are dropped only once the kernel has finished every operation on them.

use std::collections::VecDeque;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd};

use io_uring::{IoUring, opcode, types};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::buffer::{RecvBuffer, SendQueue};
use crate::{
    CloseReason, ConnId, Event, ListenerId, SendError, SetupError, Slab, Transport,
    TransportConfig, bind_listener, tune_socket,
};

/// io_uring settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UringConfig {
    /// Submission and completion queue size.
    pub entries: u32,
    /// Kernel-side submission polling with this idle time. Measured on 2 cores it is slower (the
    /// kernel thread competes with the busy-polling core), so it is off by default.
    pub sqpoll_idle_ms: Option<u32>,
}

impl Default for UringConfig {
    fn default() -> Self {
        UringConfig {
            entries: 256,
            sqpoll_idle_ms: None,
        }
    }
}

/// What a completion is for, in the top byte of its user data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Op {
    Accept = 1,
    Connect = 2,
    Recv = 3,
    Send = 4,
}

/// User data: op (8 bits) | generation (24 bits) | slot index (32 bits).
fn user_data(op: Op, index: u32, generation: u32) -> u64 {
    (op as u64) << 56 | u64::from(generation & 0x00FF_FFFF) << 32 | u64::from(index)
}

fn decode_user_data(data: u64) -> (u8, u32, u32) {
    (
        (data >> 56) as u8,
        ((data >> 32) & 0x00FF_FFFF) as u32,
        data as u32,
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnState {
    Connecting,
    Open,
    Ended,
    /// Closed by the caller; kept until the kernel is done with it.
    Releasing,
}

#[derive(Debug)]
struct Conn {
    socket: Socket,
    state: ConnState,
    reading: bool,
    recv: RecvBuffer,
    send: SendQueue,
    recv_in_flight: bool,
    send_in_flight: bool,
    /// The address of a connect in flight; the kernel reads it until completion.
    connect_addr: Option<Box<SockAddr>>,
}

impl Conn {
    fn busy(&self) -> bool {
        self.recv_in_flight || self.send_in_flight || self.connect_addr.is_some()
    }
}

#[derive(Debug)]
struct Listener {
    socket: Socket,
    accept_in_flight: bool,
}

/// Sockets driven by io_uring.
pub struct UringTransport {
    ring: IoUring,
    config: TransportConfig,
    listeners: Vec<Listener>,
    conns: Slab<Conn>,
    events: VecDeque<Event>,
    /// Operations submitted and not yet completed.
    in_flight: usize,
}

impl core::fmt::Debug for UringTransport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UringTransport")
            .field("listeners", &self.listeners.len())
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

impl UringTransport {
    /// A transport on a new ring; fails where io_uring is unavailable or disabled.
    pub fn new(config: TransportConfig, uring: UringConfig) -> io::Result<Self> {
        let mut builder = IoUring::builder();
        if let Some(idle) = uring.sqpoll_idle_ms {
            builder.setup_sqpoll(idle);
        }
        Ok(UringTransport {
            ring: builder.build(uring.entries)?,
            config,
            listeners: Vec::new(),
            conns: Slab::new(),
            events: VecDeque::new(),
            in_flight: 0,
        })
    }

    /// Queues a submission, submitting what is queued first if the queue is full.
    ///
    /// # Safety
    /// Every buffer and address the entry points to must stay valid and untouched by Rust
    /// references until its completion is reaped.
    unsafe fn push(&mut self, entry: &io_uring::squeue::Entry) -> bool {
        // SAFETY: forwarded from the caller.
        if unsafe { self.ring.submission().push(entry) }.is_err() {
            if self.ring.submit().is_err() {
                return false;
            }
            // SAFETY: as above.
            if unsafe { self.ring.submission().push(entry) }.is_err() {
                return false;
            }
        }
        self.in_flight += 1;
        true
    }

    /// Arms an accept on every listener and a receive and a send on every connection that needs
    /// one.
    fn arm(&mut self) {
        for index in 0..self.listeners.len() {
            if self.listeners[index].accept_in_flight {
                continue;
            }
            let fd = self.listeners[index].socket.as_raw_fd();
            let entry =
                opcode::Accept::new(types::Fd(fd), core::ptr::null_mut(), core::ptr::null_mut())
                    .build()
                    .user_data(user_data(Op::Accept, index as u32, 0));
            // SAFETY: the accept writes no memory of ours (null address pointers); the listener
            // lives as long as the transport, which waits for completions when dropped.
            if unsafe { self.push(&entry) } {
                self.listeners[index].accept_in_flight = true;
            }
        }
        for index in 0..self.conns.slot_count() {
            let Some(id) = self.conns.id_at(index) else {
                continue;
            };
            let Some(conn) = self.conns.get_mut(id) else {
                continue;
            };
            if conn.state != ConnState::Open {
                continue;
            }
            let fd = conn.socket.as_raw_fd();
            let mut entries = [None, None];
            if conn.reading && !conn.recv_in_flight {
                conn.recv.compact();
                let (ptr, len) = conn.recv.free_space_raw();
                if len > 0 {
                    let len = u32::try_from(len).unwrap_or(u32::MAX);
                    entries[0] = Some(
                        opcode::Recv::new(types::Fd(fd), ptr, len)
                            .build()
                            .user_data(user_data(Op::Recv, id.index, id.generation)),
                    );
                }
            }
            if !conn.send_in_flight && !conn.send.is_empty() {
                let queued = conn.send.queued();
                let len = u32::try_from(queued.len()).unwrap_or(u32::MAX);
                entries[1] = Some(
                    opcode::Send::new(types::Fd(fd), queued.as_ptr(), len)
                        .build()
                        .user_data(user_data(Op::Send, id.index, id.generation)),
                );
            }
            let [recv, send] = entries;
            if let Some(entry) = recv {
                // SAFETY: the receive targets the buffer's free space, which no Rust reference
                // covers until the completion moves `end` over it; the buffer and socket live
                // until the connection is released, after its last completion.
                if unsafe { self.push(&entry) }
                    && let Some(conn) = self.conns.get_mut(id)
                {
                    conn.recv_in_flight = true;
                }
            }
            if let Some(entry) = send {
                // SAFETY: the send reads queued bytes, which stay in place while
                // `send_in_flight` is set (pushes then only append after them).
                if unsafe { self.push(&entry) }
                    && let Some(conn) = self.conns.get_mut(id)
                {
                    conn.send_in_flight = true;
                }
            }
        }
    }

    fn complete(&mut self, data: u64, result: i32) -> usize {
        self.in_flight = self.in_flight.saturating_sub(1);
        let (op, generation, index) = decode_user_data(data);
        if op == Op::Accept as u8 {
            return self.complete_accept(index as usize, result);
        }
        let Some(id) = self.conns.id_at(index as usize) else {
            return 0;
        };
        if id.generation & 0x00FF_FFFF != generation {
            return 0;
        }
        let Some(conn) = self.conns.get_mut(id) else {
            return 0;
        };
        let mut ended = None;
        let mut work = 0;
        match op {
            op if op == Op::Connect as u8 => {
                conn.connect_addr = None;
                if conn.state == ConnState::Connecting {
                    if result == 0 {
                        conn.state = ConnState::Open;
                        self.events.push_back(Event::Connected { conn: id });
                    } else {
                        ended = Some(CloseReason::ConnectFailed(errno_kind(result)));
                    }
                    work = 1;
                }
            }
            op if op == Op::Recv as u8 => {
                conn.recv_in_flight = false;
                match result {
                    n if n > 0 => {
                        conn.recv.filled(n as usize);
                        work = n as usize;
                    }
                    0 => ended = Some(CloseReason::PeerClosed),
                    e if is_retryable(e) => {}
                    e => ended = Some(CloseReason::Error(errno_kind(e))),
                }
            }
            op if op == Op::Send as u8 => {
                conn.send_in_flight = false;
                match result {
                    n if n > 0 => {
                        conn.send.sent(n as usize);
                        work = n as usize;
                    }
                    0 => ended = Some(CloseReason::Error(io::ErrorKind::WriteZero)),
                    e if is_retryable(e) => {}
                    e => ended = Some(CloseReason::Error(errno_kind(e))),
                }
            }
            _ => {}
        }
        match conn.state {
            ConnState::Releasing if !conn.busy() => {
                self.conns.remove(id);
            }
            ConnState::Open | ConnState::Connecting => {
                if let Some(reason) = ended {
                    conn.state = ConnState::Ended;
                    self.events.push_back(Event::Closed { conn: id, reason });
                    work += 1;
                }
            }
            _ => {}
        }
        work
    }

    fn complete_accept(&mut self, listener: usize, result: i32) -> usize {
        let Some(entry) = self.listeners.get_mut(listener) else {
            return 0;
        };
        entry.accept_in_flight = false;
        if result < 0 {
            return 0;
        }
        // SAFETY: a non-negative accept result is a new file descriptor that nothing else owns.
        let socket = unsafe { Socket::from_raw_fd(result) };
        let Ok(Some(peer)) = socket.peer_addr().map(|a| a.as_socket()) else {
            return 0;
        };
        if tune_socket(&socket, &self.config).is_err() {
            return 0;
        }
        let conn = Conn {
            socket,
            state: ConnState::Open,
            reading: true,
            recv: RecvBuffer::new(self.config.recv_buffer),
            send: SendQueue::new(self.config.send_buffer),
            recv_in_flight: false,
            send_in_flight: false,
            connect_addr: None,
        };
        match self.conns.insert(conn) {
            Ok(conn) => {
                self.events.push_back(Event::Accepted {
                    listener: ListenerId(listener as u32),
                    conn,
                    peer,
                });
                1
            }
            Err(_) => 0,
        }
    }
}

fn is_retryable(result: i32) -> bool {
    matches!(-result, libc::EAGAIN | libc::EINTR | libc::ECANCELED)
}

fn errno_kind(result: i32) -> io::ErrorKind {
    io::Error::from_raw_os_error(-result).kind()
}

impl Transport for UringTransport {
    fn listen(&mut self, addr: SocketAddr) -> Result<(ListenerId, SocketAddr), SetupError> {
        let (socket, bound, id) = bind_listener(addr, self.listeners.len())?;
        self.listeners.push(Listener {
            socket,
            accept_in_flight: false,
        });
        Ok((id, bound))
    }

    fn connect(&mut self, addr: SocketAddr) -> Result<ConnId, SetupError> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        tune_socket(&socket, &self.config)?;
        let fd = socket.as_raw_fd();
        let address = Box::new(SockAddr::from(addr));
        let (addr_ptr, addr_len) = (address.as_ptr(), address.len());
        let id = self.conns.insert(Conn {
            socket,
            state: ConnState::Connecting,
            reading: true,
            recv: RecvBuffer::new(self.config.recv_buffer),
            send: SendQueue::new(self.config.send_buffer),
            recv_in_flight: false,
            send_in_flight: false,
            connect_addr: Some(address),
        })?;
        let entry = opcode::Connect::new(types::Fd(fd), addr_ptr.cast(), addr_len)
            .build()
            .user_data(user_data(Op::Connect, id.index, id.generation));
        // SAFETY: the address is boxed in the connection and dropped only at the connect's
        // completion (or with the connection, after its last completion).
        if !unsafe { self.push(&entry) } {
            self.conns.remove(id);
            return Err(io::Error::other("io_uring submission queue full").into());
        }
        Ok(id)
    }

    fn poll(&mut self) -> usize {
        self.arm();
        if self.ring.submit().is_err() {
            return 0;
        }
        let mut work = 0;
        loop {
            let next = self.ring.completion().next();
            let Some(completion) = next else { break };
            work += self.complete(completion.user_data(), completion.result());
        }
        work
    }

    fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn received(&self, conn: ConnId) -> &[u8] {
        match self.conns.get(conn) {
            Some(c) if c.state != ConnState::Releasing => c.recv.unread(),
            _ => &[],
        }
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
            return Err(if c.state == ConnState::Releasing {
                SendError::UnknownConnection
            } else {
                SendError::NotConnected
            });
        }
        Ok(c.send.push(bytes, !c.send_in_flight))
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
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        if c.state == ConnState::Releasing {
            return;
        }
        // Shutting the socket down completes any receive or send in flight; the connection is
        // released with the last completion.
        let _ = c.socket.shutdown(Shutdown::Both);
        c.state = ConnState::Releasing;
        if !c.busy() {
            self.conns.remove(conn);
        }
    }
}

impl Drop for UringTransport {
    fn drop(&mut self) {
        // The kernel may still write into buffers this transport owns: cancel everything and
        // wait for the completions before the buffers are freed.
        let _ = self.ring.submit();
        let _ = self
            .ring
            .submitter()
            .register_sync_cancel(None, types::CancelBuilder::any());
        let mut rounds = 0;
        while self.in_flight > 0 && rounds < 1000 {
            if self.ring.submit_and_wait(1).is_err() {
                break;
            }
            while let Some(completion) = self.ring.completion().next() {
                let _ = completion;
                self.in_flight = self.in_flight.saturating_sub(1);
            }
            rounds += 1;
        }
        if self.in_flight > 0 {
            // Freeing buffers the kernel may still write would corrupt memory; leaking them is
            // the safe failure.
            for index in 0..self.conns.slot_count() {
                if let Some(id) = self.conns.id_at(index)
                    && let Some(conn) = self.conns.remove(id)
                {
                    core::mem::forget(conn);
                }
            }
        }
    }
}
