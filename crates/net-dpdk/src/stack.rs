//! TCP in user space: [`TcpTransport`] runs smoltcp's interface (Ethernet, ARP, IPv4, TCP) over
//! any smoltcp [`Device`] and presents it through the [`Transport`] contract.
//!
//! Nothing here knows about DPDK: the DPDK port is one device, and the tests use an in-memory
//! wire. One smoltcp TCP socket serves one connection (one FIX session); a listener is a socket
//! in the Listen state that becomes the accepted connection, replaced at once by a fresh one.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use gapless_transport::{
    CloseReason, ConnId, Event, ListenerId, SendError, SetupError, Slab, Transport, TransportConfig,
};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::Device;
use smoltcp::socket::tcp;
use smoltcp::time::{Duration as NetDuration, Instant as NetInstant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, IpEndpoint, IpListenEndpoint};

/// The userspace stack's addresses and timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackConfig {
    /// The port's MAC address (unicast).
    pub mac: [u8; 6],
    /// Our IPv4 address.
    pub address: Ipv4Addr,
    /// The subnet's prefix length: hosts inside are reached by ARP, others through `gateway`.
    pub prefix_len: u8,
    /// The router for addresses outside the subnet.
    pub gateway: Option<Ipv4Addr>,
    /// How long a connect may take (ARP and the TCP handshake) before it fails with
    /// [`io::ErrorKind::TimedOut`].
    pub connect_timeout: Duration,
    /// How long a closed connection may take to deliver its queued bytes and FIN before it is
    /// reset.
    pub linger: Duration,
    /// Buffer sizes: `recv_buffer` is both smoltcp's receive window and the contiguous buffer
    /// the caller parses from; `send_buffer` is smoltcp's send buffer.
    pub transport: TransportConfig,
}

/// Why the stack could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StackError {
    /// The MAC address is multicast or broadcast.
    MacNotUnicast([u8; 6]),
    /// The prefix length is over 32, or the gateway is outside the subnet.
    BadAddress(String),
    /// The device's frames are too small to carry TCP.
    MtuTooSmall(usize),
}

impl std::fmt::Display for StackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StackError::MacNotUnicast(mac) => write!(f, "MAC address {mac:02x?} is not unicast"),
            StackError::BadAddress(what) => write!(f, "bad address configuration: {what}"),
            StackError::MtuTooSmall(mtu) => write!(f, "device MTU {mtu} is too small for TCP"),
        }
    }
}

impl std::error::Error for StackError {}

/// Ports handed to outgoing connections, as Linux's default ephemeral range.
const EPHEMERAL_PORTS: core::ops::RangeInclusive<u16> = 32768..=60999;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnState {
    Connecting {
        deadline: NetInstant,
    },
    Open,
    /// Ended; received bytes stay readable until `close`.
    Ended,
}

#[derive(Debug)]
struct Conn {
    socket: SocketHandle,
    state: ConnState,
    reading: bool,
    recv: RecvBuffer,
}

#[derive(Debug)]
struct Listener {
    id: ListenerId,
    endpoint: IpListenEndpoint,
    socket: SocketHandle,
}

/// The userspace TCP transport over device `D`. Busy-polled: [`Transport::poll`] moves frames
/// between the device and smoltcp, and bytes between smoltcp's socket buffers and the
/// connections' contiguous receive buffers. See the crate documentation for what is copied.
pub struct TcpTransport<D: Device> {
    device: D,
    iface: Interface,
    sockets: SocketSet<'static>,
    config: StackConfig,
    listeners: Vec<Listener>,
    conns: Slab<Conn>,
    /// Sockets the caller closed, finishing their FIN handshake, and when to give up on them.
    closing: Vec<(SocketHandle, NetInstant)>,
    events: VecDeque<Event>,
    next_port: u16,
    /// The origin of the monotonic clock that [`Transport::poll`] reads.
    origin: std::time::Instant,
    now: NetInstant,
}

impl<D: Device> std::fmt::Debug for TcpTransport<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpTransport")
            .field("config", &self.config)
            .field("listeners", &self.listeners.len())
            .field("closing", &self.closing.len())
            .finish_non_exhaustive()
    }
}

impl<D: Device> TcpTransport<D> {
    /// A stack on `device` with the addresses in `config`.
    pub fn new(mut device: D, config: StackConfig) -> Result<Self, StackError> {
        let mac = EthernetAddress(config.mac);
        if !mac.is_unicast() {
            return Err(StackError::MacNotUnicast(config.mac));
        }
        if config.prefix_len > 32 {
            return Err(StackError::BadAddress(format!(
                "prefix length {} is over 32",
                config.prefix_len
            )));
        }
        // Ethernet header, IPv4 header and TCP header, and at least one byte of payload.
        let mtu = device.capabilities().max_transmission_unit;
        if mtu < 14 + 20 + 20 + 1 {
            return Err(StackError::MtuTooSmall(mtu));
        }
        let origin = std::time::Instant::now();
        let mut iface_config = Config::new(HardwareAddress::Ethernet(mac));
        // Initial sequence numbers must not be predictable across restarts.
        let random = seed(origin);
        iface_config.random_seed = random;
        let now = NetInstant::ZERO;
        let mut iface = Interface::new(iface_config, &mut device, now);
        let cidr = IpCidr::new(config.address.into(), config.prefix_len);
        iface.update_ip_addrs(|addrs| {
            // A fresh interface has no addresses; the capacity is at least one.
            let _ = addrs.push(cidr);
        });
        if let Some(gateway) = config.gateway {
            if !cidr.contains_addr(&gateway.into()) {
                return Err(StackError::BadAddress(format!(
                    "gateway {gateway} is outside {}/{}",
                    config.address, config.prefix_len
                )));
            }
            iface
                .routes_mut()
                .add_default_ipv4_route(gateway)
                .map_err(|_| StackError::BadAddress("route table full".into()))?;
        }
        let span = u64::from(EPHEMERAL_PORTS.end() - EPHEMERAL_PORTS.start());
        let next_port = EPHEMERAL_PORTS.start() + (random.rotate_left(17) % span) as u16;
        Ok(TcpTransport {
            device,
            iface,
            sockets: SocketSet::new(Vec::new()),
            config,
            listeners: Vec::new(),
            conns: Slab::new(),
            closing: Vec::new(),
            events: VecDeque::new(),
            next_port,
            origin,
            now,
        })
    }

    /// The device, for its statistics.
    pub fn device(&self) -> &D {
        &self.device
    }

    /// Does the I/O possible at `now` (monotonic, from any origin, never going back); returns how
    /// much work it did. [`Transport::poll`] calls this with the time since the transport was
    /// made; tests call it with a virtual clock.
    pub fn poll_at(&mut self, now: Duration) -> usize {
        self.now = NetInstant::from_micros(i64::try_from(now.as_micros()).unwrap_or(i64::MAX));
        let changed = self
            .iface
            .poll(self.now, &mut self.device, &mut self.sockets);
        let mut work = usize::from(changed == smoltcp::iface::PollResult::SocketStateChanged);
        work += self.accept_all();
        for index in 0..self.conns.slot_count() {
            if let Some(id) = self.conns.id_at(index) {
                work += self.poll_conn(id);
            }
        }
        work + self.reap_closing()
    }

    /// A new TCP socket with the configured buffers, tuned for latency.
    fn new_socket(&mut self) -> SocketHandle {
        let rx = tcp::SocketBuffer::new(vec![0; self.config.transport.recv_buffer]);
        let tx = tcp::SocketBuffer::new(vec![0; self.config.transport.send_buffer]);
        let mut socket = tcp::Socket::new(rx, tx);
        // A FIX message goes out when it is sent, not when the previous one is acknowledged.
        socket.set_nagle_enabled(false);
        socket.set_ack_delay(None);
        self.sockets.add(socket)
    }

    fn listening_socket(&mut self, endpoint: IpListenEndpoint) -> Result<SocketHandle, SetupError> {
        let handle = self.new_socket();
        if let Err(e) = self.sockets.get_mut::<tcp::Socket>(handle).listen(endpoint) {
            self.sockets.remove(handle);
            return Err(SetupError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot listen on {endpoint}: {e}"),
            )));
        }
        Ok(handle)
    }

    /// Turns listeners whose socket completed a handshake into connections, and puts a fresh
    /// listening socket in their place.
    fn accept_all(&mut self) -> usize {
        let mut work = 0;
        for index in 0..self.listeners.len() {
            let Listener {
                endpoint,
                socket: handle,
                ..
            } = self.listeners[index];
            let socket = self.sockets.get_mut::<tcp::Socket>(handle);
            match socket.state() {
                tcp::State::Listen | tcp::State::SynReceived => continue,
                tcp::State::Closed => {
                    // A handshake that was reset; listen again. Cannot fail: it listened before.
                    let _ = socket.listen(endpoint);
                    continue;
                }
                // Established, or already closing if the peer was quick: accept it either way,
                // poll_conn reports the rest.
                _ => {}
            }
            let Some(peer) = socket.remote_endpoint() else {
                continue;
            };
            let Ok(replacement) = self.listening_socket(endpoint) else {
                // Cannot happen for an endpoint that listened before; keep the old socket.
                continue;
            };
            self.listeners[index].socket = replacement;
            let conn = Conn {
                socket: handle,
                state: ConnState::Open,
                reading: true,
                recv: RecvBuffer::new(self.config.transport.recv_buffer),
            };
            let Ok(conn) = self.conns.insert(conn) else {
                self.sockets.get_mut::<tcp::Socket>(handle).abort();
                self.closing.push((handle, self.now));
                continue;
            };
            self.events.push_back(Event::Accepted {
                listener: self.listeners[index].id,
                conn,
                peer: socket_addr(peer),
            });
            work += 1;
        }
        work
    }

    /// Connect completion, reads into the receive buffer, and the end of the connection.
    fn poll_conn(&mut self, id: ConnId) -> usize {
        let Some(conn) = self.conns.get_mut(id) else {
            return 0;
        };
        let socket = self.sockets.get_mut::<tcp::Socket>(conn.socket);
        let mut work = 0;
        if let ConnState::Connecting { deadline } = conn.state {
            let failed = match socket.state() {
                tcp::State::SynSent if self.now >= deadline => Some(io::ErrorKind::TimedOut),
                tcp::State::SynSent => return 0,
                // Refused (RST) or smoltcp gave up retransmitting the SYN.
                tcp::State::Closed => Some(io::ErrorKind::ConnectionRefused),
                _ => None,
            };
            if let Some(kind) = failed {
                socket.abort();
                conn.state = ConnState::Ended;
                self.events.push_back(Event::Closed {
                    conn: id,
                    reason: CloseReason::ConnectFailed(kind),
                });
                return 1;
            }
            conn.state = ConnState::Open;
            self.events.push_back(Event::Connected { conn: id });
            work += 1;
        }
        if conn.state != ConnState::Open {
            return work;
        }
        if conn.reading && socket.can_recv() {
            conn.recv.compact();
            let space = conn.recv.free_space();
            if !space.is_empty() {
                // The only error is "connection not open", handled below by the state.
                let n = socket.recv_slice(space).unwrap_or(0);
                conn.recv.filled(n);
                work += n;
            }
        }
        let ended = match socket.state() {
            // A reset, or retransmissions that went unanswered: smoltcp does not tell which.
            tcp::State::Closed => Some(CloseReason::Error(io::ErrorKind::ConnectionReset)),
            // The peer's FIN came and everything before it has been read.
            _ if !socket.may_recv() && socket.recv_queue() == 0 => Some(CloseReason::PeerClosed),
            _ => None,
        };
        if let Some(reason) = ended {
            conn.state = ConnState::Ended;
            self.events.push_back(Event::Closed { conn: id, reason });
            work += 1;
        }
        work
    }

    /// Frees the sockets of closed connections once their FIN handshake is over (TIME-WAIT is
    /// not waited out: ports are not reused soon). One that takes longer than the linger time is
    /// reset, and freed on a later poll, after the reset has gone out.
    fn reap_closing(&mut self) -> usize {
        let before = self.closing.len();
        let (sockets, now) = (&mut self.sockets, self.now);
        self.closing.retain(|&(handle, deadline)| {
            let socket = sockets.get_mut::<tcp::Socket>(handle);
            if matches!(socket.state(), tcp::State::Closed | tcp::State::TimeWait) {
                sockets.remove(handle);
                return false;
            }
            if now >= deadline {
                socket.abort();
            }
            true
        });
        before - self.closing.len()
    }

    fn ephemeral_port(&mut self) -> u16 {
        let port = self.next_port;
        self.next_port = if port >= *EPHEMERAL_PORTS.end() {
            *EPHEMERAL_PORTS.start()
        } else {
            port + 1
        };
        port
    }

    fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }

    fn after(&self, duration: Duration) -> NetInstant {
        self.now + NetDuration::from_micros(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX))
    }
}

impl<D: Device> Transport for TcpTransport<D> {
    fn listen(&mut self, addr: SocketAddr) -> Result<(ListenerId, SocketAddr), SetupError> {
        let ip = ipv4_of(addr)?;
        if !ip.is_unspecified() && ip != self.config.address {
            return Err(SetupError::Io(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("{ip} is not this stack's address {}", self.config.address),
            )));
        }
        let port = match addr.port() {
            0 => self.ephemeral_port(),
            port => port,
        };
        if self.listeners.iter().any(|l| l.endpoint.port == port) {
            return Err(SetupError::Io(io::ErrorKind::AddrInUse.into()));
        }
        let id = ListenerId::nth(self.listeners.len())?;
        let endpoint = IpListenEndpoint {
            addr: (!ip.is_unspecified()).then_some(ip.into()),
            port,
        };
        let socket = self.listening_socket(endpoint)?;
        self.listeners.push(Listener {
            id,
            endpoint,
            socket,
        });
        Ok((id, SocketAddr::new(IpAddr::V4(self.config.address), port)))
    }

    fn connect(&mut self, addr: SocketAddr) -> Result<ConnId, SetupError> {
        let ip = ipv4_of(addr)?;
        if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || addr.port() == 0 {
            return Err(SetupError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot connect to {addr}"),
            )));
        }
        let handle = self.new_socket();
        let local_port = self.ephemeral_port();
        let remote = IpEndpoint::new(ip.into(), addr.port());
        let socket = self.sockets.get_mut::<tcp::Socket>(handle);
        if let Err(e) = socket.connect(self.iface.context(), remote, local_port) {
            self.sockets.remove(handle);
            return Err(SetupError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot connect to {addr}: {e}"),
            )));
        }
        let deadline = self.after(self.config.connect_timeout);
        let conn = Conn {
            socket: handle,
            state: ConnState::Connecting { deadline },
            reading: true,
            recv: RecvBuffer::new(self.config.transport.recv_buffer),
        };
        self.conns.insert(conn).inspect_err(|_| {
            self.sockets.remove(handle);
        })
    }

    fn poll(&mut self) -> usize {
        self.poll_at(self.elapsed())
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
        let c = self.conns.get(conn).ok_or(SendError::UnknownConnection)?;
        let socket = self.sockets.get_mut::<tcp::Socket>(c.socket);
        if c.state != ConnState::Open || !socket.may_send() {
            return Err(SendError::NotConnected);
        }
        socket
            .send_slice(bytes)
            .map_err(|_| SendError::NotConnected)
    }

    /// Bytes in smoltcp's send buffer: queued, or sent and not yet acknowledged. A Logout is
    /// delivered once this is zero.
    fn unsent(&self, conn: ConnId) -> usize {
        self.conns.get(conn).map_or(0, |c| {
            self.sockets.get::<tcp::Socket>(c.socket).send_queue()
        })
    }

    fn set_reading(&mut self, conn: ConnId, reading: bool) {
        if let Some(c) = self.conns.get_mut(conn) {
            c.reading = reading;
        }
    }

    /// Sends FIN after the queued bytes; the socket lives on, polled, until the handshake ends
    /// or the linger time passes.
    fn close(&mut self, conn: ConnId) {
        let Some(c) = self.conns.remove(conn) else {
            return;
        };
        let socket = self.sockets.get_mut::<tcp::Socket>(c.socket);
        match c.state {
            ConnState::Connecting { .. } => socket.abort(),
            ConnState::Open | ConnState::Ended => socket.close(),
        }
        let deadline = self.after(self.config.linger);
        self.closing.push((c.socket, deadline));
    }
}

fn ipv4_of(addr: SocketAddr) -> Result<Ipv4Addr, SetupError> {
    match addr.ip() {
        IpAddr::V4(ip) => Ok(ip),
        IpAddr::V6(_) => Err(SetupError::Io(io::Error::new(
            io::ErrorKind::Unsupported,
            "the userspace stack speaks IPv4 only",
        ))),
    }
}

fn socket_addr(endpoint: IpEndpoint) -> SocketAddr {
    SocketAddr::new(endpoint.addr.into(), endpoint.port)
}

/// A seed for smoltcp's generator (initial sequence numbers, ports) from the wall clock and the
/// process: different on every start.
fn seed(origin: std::time::Instant) -> u64 {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mixed = wall ^ u64::from(std::process::id()).rotate_left(32);
    mixed ^ (origin.elapsed().as_nanos() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// A contiguous receive buffer of fixed capacity: unread bytes at `start..end`, free space after.
#[derive(Debug)]
struct RecvBuffer {
    bytes: Box<[u8]>,
    start: usize,
    end: usize,
}

impl RecvBuffer {
    fn new(capacity: usize) -> Self {
        RecvBuffer {
            bytes: vec![0; capacity].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    fn unread(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }

    /// Moves the unread bytes to the front once less than half the buffer is free at the end,
    /// so that a partial message is moved rarely and only when it must be.
    fn compact(&mut self) {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.start > 0 && self.bytes.len() - self.end < self.bytes.len() / 2 {
            self.bytes.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    fn free_space(&mut self) -> &mut [u8] {
        &mut self.bytes[self.end..]
    }

    fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.bytes.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{WireEnd, wire};

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    /// Virtual time per step: both stacks see the same clock advance.
    const STEP: Duration = Duration::from_micros(100);

    fn stack(end: WireEnd, address: Ipv4Addr, mac_last: u8) -> TcpTransport<WireEnd> {
        let config = StackConfig {
            mac: [0x02, 0, 0, 0, 0, mac_last],
            address,
            prefix_len: 24,
            gateway: None,
            connect_timeout: Duration::from_secs(2),
            linger: Duration::from_secs(1),
            transport: TransportConfig {
                recv_buffer: 64 * 1024,
                send_buffer: 64 * 1024,
                busy_poll_micros: None,
            },
        };
        TcpTransport::new(end, config).unwrap()
    }

    /// Two hosts on one cable, on a virtual clock.
    struct Net {
        a: TcpTransport<WireEnd>,
        b: TcpTransport<WireEnd>,
        now: Duration,
    }

    impl Net {
        fn new(drop_every: usize) -> Net {
            let (a, b) = wire(drop_every);
            Net {
                a: stack(a, A, 1),
                b: stack(b, B, 2),
                now: Duration::ZERO,
            }
        }

        fn step(&mut self) {
            self.now += STEP;
            self.a.poll_at(self.now);
            self.b.poll_at(self.now);
        }

        /// Steps until `done`, at most `max_steps` times (virtual time: nothing sleeps).
        fn run_until(&mut self, max_steps: usize, mut done: impl FnMut(&mut Net) -> bool) {
            for _ in 0..max_steps {
                if done(self) {
                    return;
                }
                self.step();
            }
            panic!("not done after {max_steps} steps");
        }

        /// B listens, A connects; returns (A's connection, B's connection).
        fn connect(&mut self) -> (ConnId, ConnId) {
            let (listener, addr) = self.b.listen(SocketAddr::new(B.into(), 9000)).unwrap();
            assert_eq!(addr, SocketAddr::new(B.into(), 9000));
            let client = self.a.connect(addr).unwrap();
            let (mut connected, mut accepted) = (false, None);
            self.run_until(1_000, |net| {
                while let Some(event) = net.a.next_event() {
                    assert_eq!(event, Event::Connected { conn: client });
                    connected = true;
                }
                while let Some(event) = net.b.next_event() {
                    match event {
                        Event::Accepted {
                            listener: l,
                            conn,
                            peer,
                        } => {
                            assert_eq!(l, listener);
                            assert_eq!(peer.ip(), IpAddr::V4(A));
                            accepted = Some(conn);
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                }
                connected && accepted.is_some()
            });
            (client, accepted.unwrap())
        }
    }

    /// A sends `total` patterned bytes to B, which echoes them; returns what came back to A.
    fn echo(net: &mut Net, client: ConnId, server: ConnId, total: usize) -> Vec<u8> {
        let message: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        let (mut sent, mut echoed) = (0, Vec::with_capacity(total));
        net.run_until(200_000, |net| {
            sent += net.a.send(client, &message[sent..]).unwrap();
            let incoming = net.b.received(server).to_vec();
            let accepted = net.b.send(server, &incoming).unwrap();
            net.b.consume(server, accepted);
            echoed.extend_from_slice(net.a.received(client));
            let n = net.a.received(client).len();
            net.a.consume(client, n);
            echoed.len() == total
        });
        assert_eq!(echoed, message);
        echoed
    }

    #[test]
    fn open_connection_echoes_a_megabyte() {
        let mut net = Net::new(0);
        let (client, server) = net.connect();
        echo(&mut net, client, server, 1_000_000);
        net.run_until(100, |net| net.a.unsent(client) == 0);
    }

    #[test]
    fn open_connection_on_lossy_wire_delivers_everything_in_order() {
        let mut net = Net::new(7);
        let (client, server) = net.connect();
        echo(&mut net, client, server, 300_000);
    }

    #[test]
    fn open_connection_peer_close_keeps_received_bytes() {
        let mut net = Net::new(0);
        let (client, server) = net.connect();
        assert_eq!(net.a.send(client, b"last words"), Ok(10));
        net.run_until(100, |net| net.a.unsent(client) == 0);
        net.a.close(client);
        assert_eq!(net.a.send(client, b"x"), Err(SendError::UnknownConnection));
        let mut closed = false;
        net.run_until(1_000, |net| {
            while let Some(event) = net.b.next_event() {
                assert_eq!(
                    event,
                    Event::Closed {
                        conn: server,
                        reason: CloseReason::PeerClosed
                    }
                );
                closed = true;
            }
            closed
        });
        assert_eq!(net.b.received(server), b"last words");
        assert_eq!(net.b.send(server, b"x"), Err(SendError::NotConnected));
        net.b.close(server);
        assert_eq!(net.b.received(server), b"");
        // Both sockets finish their FIN handshake and are freed.
        net.run_until(20_000, |net| {
            net.a.closing.is_empty() && net.b.closing.is_empty()
        });
    }

    #[test]
    fn connecting_to_closed_port_is_refused() {
        let mut net = Net::new(0);
        let conn = net.a.connect(SocketAddr::new(B.into(), 9999)).unwrap();
        assert_eq!(net.a.send(conn, b"early"), Err(SendError::NotConnected));
        let mut failed = None;
        net.run_until(1_000, |net| {
            failed = net.a.next_event();
            failed.is_some()
        });
        assert_eq!(
            failed,
            Some(Event::Closed {
                conn,
                reason: CloseReason::ConnectFailed(io::ErrorKind::ConnectionRefused)
            })
        );
    }

    #[test]
    fn connecting_to_absent_host_times_out() {
        let mut net = Net::new(0);
        let conn = net
            .a
            .connect(SocketAddr::new(Ipv4Addr::new(10, 0, 0, 9).into(), 9000))
            .unwrap();
        let mut failed = None;
        // The connect timeout is 2 s: 20,000 steps of 100 µs, and a little more.
        net.run_until(25_000, |net| {
            failed = net.a.next_event();
            failed.is_some()
        });
        assert_eq!(
            failed,
            Some(Event::Closed {
                conn,
                reason: CloseReason::ConnectFailed(io::ErrorKind::TimedOut)
            })
        );
        assert!(net.now >= Duration::from_secs(2));
    }

    #[test]
    fn stopped_reading_pushes_back_without_loss() {
        let mut net = Net::new(0);
        let (client, server) = net.connect();
        net.b.set_reading(server, false);
        let chunk = vec![7u8; 16 * 1024];
        let mut total = 0;
        // Both 64 KiB receive buffers (smoltcp's ring; ours stays empty) and A's 64 KiB send
        // buffer fill; then nothing more fits.
        net.run_until(10_000, |net| {
            let accepted = net.a.send(client, &chunk).unwrap();
            total += accepted;
            accepted == 0 && net.a.unsent(client) == 64 * 1024
        });
        assert_eq!(net.b.received(server).len(), 0);
        net.b.set_reading(server, true);
        let mut got = 0;
        net.run_until(10_000, |net| {
            let n = net.b.received(server).len();
            net.b.consume(server, n);
            got += n;
            got == total
        });
        assert!(total >= 128 * 1024, "only {total} bytes were in flight");
    }

    #[test]
    fn closing_with_undeliverable_bytes_resets_after_linger() {
        let mut net = Net::new(0);
        let (client, server) = net.connect();
        net.b.set_reading(server, false);
        let chunk = vec![1u8; 16 * 1024];
        // Fill B's window and A's send buffer: what is left can never be delivered.
        net.run_until(10_000, |net| net.a.send(client, &chunk).unwrap() == 0);
        net.a.close(client);
        let mut reset = false;
        // Linger is 1 s: 10,000 steps, and a little more.
        net.run_until(12_000, |net| {
            while let Some(event) = net.b.next_event() {
                assert_eq!(
                    event,
                    Event::Closed {
                        conn: server,
                        reason: CloseReason::Error(io::ErrorKind::ConnectionReset)
                    }
                );
                reset = true;
            }
            reset && net.a.closing.is_empty()
        });
        assert!(net.now >= Duration::from_secs(1));
    }

    #[test]
    fn listening_accepts_again_after_an_accept() {
        let mut net = Net::new(0);
        let (_, first) = net.connect();
        let second_client = net.a.connect(SocketAddr::new(B.into(), 9000)).unwrap();
        let mut second = None;
        net.run_until(1_000, |net| {
            while let Some(event) = net.b.next_event() {
                if let Event::Accepted { conn, .. } = event {
                    second = Some(conn);
                }
            }
            second.is_some()
        });
        assert_ne!(second, Some(first));
        assert_eq!(net.a.send(second_client, b"8=FIX"), Ok(5));
        net.run_until(100, |net| net.b.received(second.unwrap()) == b"8=FIX");
    }

    #[test]
    fn listening_twice_on_one_port_is_refused() {
        let mut net = Net::new(0);
        net.b.listen(SocketAddr::new(B.into(), 9000)).unwrap();
        let again = net
            .b
            .listen(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 9000));
        assert!(matches!(again, Err(SetupError::Io(e)) if e.kind() == io::ErrorKind::AddrInUse));
        let elsewhere = net.b.listen(SocketAddr::new(A.into(), 9001));
        assert!(
            matches!(elsewhere, Err(SetupError::Io(e)) if e.kind() == io::ErrorKind::AddrNotAvailable)
        );
    }

    #[test]
    fn config_with_multicast_mac_is_rejected() {
        let (end, _) = wire(0);
        let mut config = stack(wire(0).0, A, 1).config;
        config.mac = [0x01, 0, 0x5e, 0, 0, 1];
        assert_eq!(
            TcpTransport::new(end, config).err(),
            Some(StackError::MacNotUnicast(config.mac))
        );
    }

    #[test]
    fn config_with_gateway_outside_subnet_is_rejected() {
        let (end, _) = wire(0);
        let mut config = stack(wire(0).0, A, 1).config;
        config.gateway = Some(Ipv4Addr::new(192, 168, 1, 1));
        assert!(matches!(
            TcpTransport::new(end, config),
            Err(StackError::BadAddress(_))
        ));
    }

    #[test]
    fn recv_buffer_compacts_only_when_half_full() {
        let mut b = RecvBuffer::new(8);
        b.free_space()[..6].copy_from_slice(b"abcdef");
        b.filled(6);
        b.consume(2);
        b.compact();
        assert_eq!(b.unread(), b"cdef");
        assert_eq!(b.free_space().len(), 4, "moved to the front");
        b.consume(1);
        b.compact();
        assert_eq!(b.free_space().len(), 4, "half free: left in place");
        b.consume(3);
        b.compact();
        assert_eq!(b.free_space().len(), 8, "empty: rewound");
    }
}
