//! # gapless-transport: the transport contract and its backends
//!
//! What this crate is: the one interface through which the runtime's network core moves bytes,
//! written down here once, and its backends: [`SocketTransport`] (non-blocking kernel sockets,
//! busy-polled) and [`UringTransport`] (io_uring, with optional registered buffers and multishot
//! receive, see [`UringConfig`]); and [`TlsTransport`], rustls over any backend for the addresses
//! [`TlsSettings`] names (the `tls` module). The DPDK backend with a userspace TCP stack
//! implements the same trait in its own crate. Sessions, the sequence checker and the store never
//! know which one they run on.
//!
//! What it is not: a FIX layer (it moves bytes), an event loop (the caller polls; nothing here
//! blocks or sleeps), or a thread pool.
//!
//! ## The contract
//!
//! * **Polling.** [`Transport::poll`] performs whatever I/O is possible now without blocking and
//!   returns how much work it did (bytes and connections), so that an idle strategy can back off
//!   when there is none. Events (accepted, connected, closed) are then taken with
//!   [`Transport::next_event`].
//! * **Receiving in place.** Each connection has a contiguous receive buffer of fixed capacity.
//!   [`Transport::received`] is the unread bytes; the caller parses FIX straight from it and says
//!   how much it used with [`Transport::consume`]. A message never has to be copied to be parsed.
//! * **Back-pressure is a value.** [`Transport::send`] copies into the connection's bounded send
//!   queue and returns how much fitted; it never blocks. [`Transport::set_reading`] stops reading
//!   a connection (its receive buffer fills, then the kernel's, then TCP's window closes on the
//!   peer): that is how a full application ring pushes back without dropping anything.
//! * **Closing.** [`Event::Closed`] reports a connection that ended (peer closed, error, failed
//!   connect). Bytes that arrived before it stay readable. [`Transport::close`] releases a
//!   connection: queued bytes are written if the socket takes them at once, then it is shut down.
//!   A caller that must deliver a last message (a Logout) waits for [`Transport::unsent`] to reach
//!   zero first.
//! * **Identifiers.** A [`ConnId`] carries a generation, so a stale id never reaches a newer
//!   connection that reuses the slot.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod buffer;
mod socket;
mod tls;
mod uring;

use core::fmt;
use std::io;
use std::net::SocketAddr;

pub use socket::SocketTransport;
pub use tls::{
    TlsClient, TlsClientFiles, TlsConfigError, TlsFailure, TlsServerFiles, TlsSettings,
    TlsTransport,
};
pub use uring::{FeatureChoice, UringConfig, UringFeatures, UringTransport};

/// A connection, valid until it is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId {
    index: u32,
    generation: u32,
}

/// A listening socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(u32);

impl ListenerId {
    /// The id of a backend's listener number `index` (its listeners in the order they were
    /// opened), for backends in other crates.
    pub fn nth(index: usize) -> Result<ListenerId, SetupError> {
        u32::try_from(index)
            .map(ListenerId)
            .map_err(|_| SetupError::TooMany)
    }
}

/// Something that happened to a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A listener accepted a connection.
    Accepted {
        listener: ListenerId,
        conn: ConnId,
        peer: SocketAddr,
    },
    /// An outgoing connection is established.
    Connected { conn: ConnId },
    /// The connection ended; bytes received before stay readable until [`Transport::close`].
    Closed { conn: ConnId, reason: CloseReason },
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer closed its side.
    PeerClosed,
    /// The connection could not be established.
    ConnectFailed(io::ErrorKind),
    /// A read or write failed.
    Error(io::ErrorKind),
    /// The TLS handshake or a TLS record failed ([`TlsTransport`]).
    Tls(TlsFailure),
}

/// Why a listener or connection could not be set up.
#[derive(Debug)]
#[non_exhaustive]
pub enum SetupError {
    /// The operating system refused.
    Io(io::Error),
    /// No more connections or listeners can be tracked.
    TooMany,
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Io(e) => write!(f, "{e}"),
            SetupError::TooMany => f.write_str("too many connections"),
        }
    }
}

impl std::error::Error for SetupError {}

impl From<io::Error> for SetupError {
    fn from(e: io::Error) -> Self {
        SetupError::Io(e)
    }
}

/// Why bytes could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The id names no open connection.
    UnknownConnection,
    /// The connection is closed or not yet connected.
    NotConnected,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::UnknownConnection => "unknown connection",
            SendError::NotConnected => "connection not open",
        })
    }
}

impl std::error::Error for SendError {}

/// Sizes and socket options shared by the backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportConfig {
    /// Receive buffer per connection: at least the largest FIX message accepted.
    pub recv_buffer: usize,
    /// Send queue per connection.
    pub send_buffer: usize,
    /// SO_BUSY_POLL in microseconds: the kernel spins on the NIC queue on reads.
    pub busy_poll_micros: Option<u32>,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            recv_buffer: 256 * 1024,
            send_buffer: 1024 * 1024,
            busy_poll_micros: None,
        }
    }
}

/// The transport contract. See the crate documentation.
pub trait Transport {
    /// Listens on `addr`; returns the listener and the address it is bound to (port 0 picks one).
    fn listen(&mut self, addr: SocketAddr) -> Result<(ListenerId, SocketAddr), SetupError>;

    /// Starts connecting to `addr`; [`Event::Connected`] or [`Event::Closed`] follows.
    fn connect(&mut self, addr: SocketAddr) -> Result<ConnId, SetupError>;

    /// Does the I/O that is possible now; returns how much work it did.
    fn poll(&mut self) -> usize;

    /// The next event, if any.
    fn next_event(&mut self) -> Option<Event>;

    /// The connection's unread received bytes (empty for an unknown id).
    fn received(&self, conn: ConnId) -> &[u8];

    /// Drops the first `n` unread bytes.
    fn consume(&mut self, conn: ConnId, n: usize);

    /// Queues bytes to send; returns how many fitted in the send queue.
    fn send(&mut self, conn: ConnId, bytes: &[u8]) -> Result<usize, SendError>;

    /// Bytes queued and not yet written to the network.
    fn unsent(&self, conn: ConnId) -> usize;

    /// Starts or stops reading from the connection (back-pressure). A receive already in flight
    /// may still complete; the receive buffer bounds what it can add.
    fn set_reading(&mut self, conn: ConnId, reading: bool);

    /// Releases the connection. See the crate documentation.
    fn close(&mut self, conn: ConnId);
}

/// A slab of connections addressed by [`ConnId`], reusing slots with a new generation. Public so
/// that backends in other crates (the DPDK one) hand out ids the same way.
#[derive(Debug)]
pub struct Slab<T> {
    slots: Vec<(u32, Option<T>)>,
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab::new()
    }
}

impl<T> Slab<T> {
    pub fn new() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    pub fn insert(&mut self, value: T) -> Result<ConnId, SetupError> {
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.0 = slot.0.wrapping_add(1);
            slot.1 = Some(value);
            return Ok(ConnId {
                index,
                generation: slot.0,
            });
        }
        let index = u32::try_from(self.slots.len()).map_err(|_| SetupError::TooMany)?;
        self.slots.push((0, Some(value)));
        Ok(ConnId {
            index,
            generation: 0,
        })
    }

    pub fn get(&self, id: ConnId) -> Option<&T> {
        match self.slots.get(id.index as usize) {
            Some((generation, Some(value))) if *generation == id.generation => Some(value),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, id: ConnId) -> Option<&mut T> {
        match self.slots.get_mut(id.index as usize) {
            Some((generation, Some(value))) if *generation == id.generation => Some(value),
            _ => None,
        }
    }

    pub fn remove(&mut self, id: ConnId) -> Option<T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.0 != id.generation {
            return None;
        }
        let value = slot.1.take()?;
        self.free.push(id.index);
        Some(value)
    }

    /// How many slots exist, occupied or not: iterate `0..slot_count()` with [`Slab::id_at`]
    /// to visit every connection without allocating.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The id of the connection in slot `index`, if it is occupied.
    pub fn id_at(&self, index: usize) -> Option<ConnId> {
        match self.slots.get(index) {
            Some((generation, Some(_))) => Some(ConnId {
                index: index as u32,
                generation: *generation,
            }),
            _ => None,
        }
    }
}

/// A listening TCP socket on `addr`, and the address it is bound to (port 0 picks one), with
/// the id it gets as the listener after `existing` others. Blocking or not is the backend's
/// choice.
pub(crate) fn bind_listener(
    addr: SocketAddr,
    existing: usize,
) -> Result<(socket2::Socket, SocketAddr, ListenerId), SetupError> {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let id = ListenerId::nth(existing)?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&SockAddr::from(addr))?;
    socket.listen(1024)?;
    let bound = socket
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("listener has no IP address"))?;
    Ok((socket, bound, id))
}

/// Applies the socket options every connection gets: no Nagle delay, optional busy polling.
pub(crate) fn tune_socket(socket: &socket2::Socket, config: &TransportConfig) -> io::Result<()> {
    socket.set_tcp_nodelay(true)?;
    if let Some(micros) = config.busy_poll_micros {
        set_busy_poll(socket, micros)?;
    }
    Ok(())
}

fn set_busy_poll(socket: &socket2::Socket, micros: u32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(micros).unwrap_or(libc::c_int::MAX);
    // SAFETY: the fd is open for the socket's lifetime, and the option value is a c_int on the
    // stack whose size is passed alongside its address.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_BUSY_POLL,
            (&value as *const libc::c_int).cast(),
            core::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slab_reuses_slots_with_new_generations() {
        let mut slab = Slab::new();
        let a = slab.insert("a").unwrap();
        assert_eq!(slab.remove(a), Some("a"));
        let b = slab.insert("b").unwrap();
        assert_eq!(a.index, b.index);
        assert_ne!(a, b);
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.get(b), Some(&"b"));
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.slot_count(), 1);
        assert_eq!(slab.id_at(0), Some(b));
        assert_eq!(slab.id_at(1), None);
    }
}
