//! The io_uring backend: accepts, connects, receives and sends are submitted to one ring and
//! reaped on every poll, with no system call per operation beyond one `io_uring_enter`.
//!
//! Each open connection keeps at most one send in flight, from its queue, and receives in one of
//! two ways. A connection's buffers and socket are dropped only once the kernel has finished
//! every operation on them.
//!
//! ## Receives
//!
//! * **Plain** (the default): one receive in flight, straight into the free space of the
//!   contiguous receive buffer (no copy), re-armed after each completion.
//! * **Registered buffers** ([`UringConfig::registered_buffers`]): the receive buffer and the
//!   send queue of a connection are entries `2k` and `2k+1` of the ring's buffer table, and the
//!   connection uses `ReadFixed` and `WriteFixed`. The table is registered sparse once, with
//!   [`UringConfig::registered_slots`] pairs, and entries are filled and cleared with
//!   `register_buffers_update` as connections come and go, so churn never re-registers the
//!   table. A connection that finds no free slot, or that the kernel refuses (pinned memory counts
//!   against RLIMIT_MEMLOCK for unprivileged users), runs plain: nothing fails for want of slots.
//!   Fixed writes cannot pass MSG_NOSIGNAL, so sends use them only when SIGPIPE is ignored
//!   ([`UringFeatures::registered_sends`]).
//! * **Multishot** ([`UringConfig::multishot_recv`]): one `RecvMulti` per connection stays armed
//!   and completes once per arrival into a buffer the kernel takes from a ring of provided
//!   buffers (`IORING_REGISTER_PBUF_RING`, shared by all connections). Each chunk is then
//!   **copied** into the connection's contiguous receive buffer and its provided buffer handed
//!   back. The copy is the price of the contract: the caller parses a FIX message in place, and a
//!   message may straddle two provided buffers, which are fixed-size and not adjacent; copying
//!   every chunk keeps one code path and the in-place parse. A chunk that does not fit stays in
//!   its provided buffer (in order) until the caller consumes; meanwhile, and whenever
//!   [`Transport::set_reading`] is false, the multishot receive is cancelled rather than
//!   re-armed, so back-pressure reaches TCP as with plain receives. What arrives between the
//!   cancel's submission and its completion is kept, not dropped. `ENOBUFS` (all provided buffers
//!   held) ends a multishot receive; it is re-armed on the next poll, the data waiting in the
//!   socket. Limit: the kernel does not cap how many provided buffers one connection takes before
//!   its cancel lands, so a connection that stops reading can briefly hold many of them and
//!   others see `ENOBUFS` until it consumes; size [`UringConfig::provided_buffers`] for it.
//!
//! [`FeatureChoice::Auto`] detects at construction: the opcodes with `IORING_REGISTER_PROBE` and
//! a sparse table registration for registered buffers; kernel 6.0 or later, the opcode and a
//! successful buffer-ring registration for multishot. [`UringTransport::features`] says what is in use.
//!
//! ## Measured here (kernel 6.18, 2 cores shared with other work, loopback)
//!
//! `cargo run --release -p gapless-transport --example loopback_bench 20000 128 64 2000`, five
//! runs, medians, load average about 7. Both ends in one transport on one thread: "1 pair" is a
//! 200-byte ping-pong round trip, then 128 MiB one way in 16 KiB sends; "64 pairs" is one round
//! of 64 connection pairs each echoing 200 bytes. Ratios are against sockets measured in the
//! same run.
//!
//! | backend | 1 pair p50 | one-way throughput | 64 pairs p50 |
//! | --- | --- | --- | --- |
//! | sockets | 1.00 | 1.00 | 1.00 |
//! | uring plain | 0.54 | 3.3 | 0.80 |
//! | uring registered | 0.59 | 2.4 | 0.96 |
//! | uring multishot | 0.53 | 2.1 | 0.73 |
//! | uring registered + multishot | 0.55 | 1.8 | 0.75 |
//! | uring plain, SQPOLL | 0.54 (p99 24 ms) | 1.0 | 2.8 |
//!
//! A second series (seven runs of 30000 round trips and 256 MiB, load 2 to 6) agreed: 1-pair
//! p50 0.55 plain, 0.58 registered, 0.46 multishot, 0.45 both; throughput against plain 0.81
//! registered, 0.68 multishot.
//!
//! No option clearly beats plain receives here, so all are off by default: the latency
//! differences are within this machine's run-to-run spread (a p50 moves by 5 µs between runs).
//! Registered buffers spare the kernel pinning user pages per operation, but a socket receive or
//! send copies through the kernel and pins nothing, so the saving is only the user-address
//! checks, while `ReadFixed`/`WriteFixed` take the generic file read/write path (about 1 µs more
//! per round trip in paired runs). They would pay off with zero-copy sends, which this backend
//! does not use (FIX messages are far below the size where `SEND_ZC` wins). Multishot saves one
//! submission per receive, noise at one connection and a little at 64 pairs (0.73 against 0.80),
//! and its copy costs bulk throughput (about a third); it is worth trying with many connections
//! of small messages. SQPOLL's kernel thread competes with the polling thread for 2 cores: its
//! p99 is milliseconds, and it must stay off on such hosts.

use std::collections::VecDeque;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd};

use io_uring::{IoUring, cqueue, opcode, types};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::buffer::{RecvBuffer, SendQueue};
use crate::{
    CloseReason, ConnId, Event, ListenerId, SendError, SetupError, Slab, Transport,
    TransportConfig, bind_listener, tune_socket,
};

mod pbuf;

use pbuf::BufRing;

/// Whether to use an optional io_uring feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FeatureChoice {
    /// Use it if the running kernel has it (detected when the transport is made).
    #[default]
    Auto,
    /// Use it; making the transport fails if the kernel lacks it.
    On,
    /// Never use it.
    Off,
}

/// io_uring settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UringConfig {
    /// Submission and completion queue size.
    pub entries: u32,
    /// Kernel-side submission polling with this idle time. Measured on 2 cores it is slower (the
    /// kernel thread competes with the busy-polling core), so it is off by default.
    pub sqpoll_idle_ms: Option<u32>,
    /// Registered (fixed) receive and send buffers: the kernel pins them once instead of on
    /// every operation.
    pub registered_buffers: FeatureChoice,
    /// How many connections at a time get registered buffers (two table entries each); the
    /// others use plain receives and sends.
    pub registered_slots: u16,
    /// One multishot receive per connection into a ring of provided buffers, copied into the
    /// connection's contiguous buffer, instead of one receive per completion.
    pub multishot_recv: FeatureChoice,
    /// Provided buffers shared by all connections (a power of two, at most 32768).
    pub provided_buffers: u16,
    /// Size of each provided buffer.
    pub provided_buffer_len: u32,
}

impl Default for UringConfig {
    fn default() -> Self {
        UringConfig {
            entries: 256,
            sqpoll_idle_ms: None,
            // Both measured no faster than plain receives on loopback here (module docs), so
            // they are opt-in; `FeatureChoice::Auto` turns either on where the kernel has it.
            registered_buffers: FeatureChoice::Off,
            registered_slots: 64,
            multishot_recv: FeatureChoice::Off,
            provided_buffers: 256,
            provided_buffer_len: 16 * 1024,
        }
    }
}

/// The features a transport actually uses, after detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UringFeatures {
    /// Connections get registered receive buffers (while slots last).
    pub registered_buffers: bool,
    /// Sends from registered buffers too (`WriteFixed`), which needs SIGPIPE ignored in the
    /// process, as Rust programs do: a write to a reset socket raises SIGPIPE, and unlike a send
    /// it cannot pass MSG_NOSIGNAL. Otherwise sends are plain, with MSG_NOSIGNAL.
    pub registered_sends: bool,
    /// Each connection has one multishot receive into provided buffers.
    pub multishot_recv: bool,
    /// A kernel thread polls the submission queue.
    pub sqpoll: bool,
}

/// What a completion is for, in the top byte of its user data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Op {
    Accept = 1,
    Connect = 2,
    Recv = 3,
    Send = 4,
    /// The cancellation of a connection's multishot receive.
    Cancel = 5,
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

/// Bytes a multishot receive left in a provided buffer that did not fit the contiguous buffer.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    bid: u16,
    offset: u32,
    len: u32,
}

#[derive(Debug)]
struct Conn {
    socket: Socket,
    state: ConnState,
    reading: bool,
    recv: RecvBuffer,
    send: SendQueue,
    /// A receive is in flight (for multishot: armed, until its last completion).
    recv_in_flight: bool,
    /// The multishot receive's cancellation was submitted.
    cancelling: bool,
    send_in_flight: bool,
    /// The address of a connect in flight; the kernel reads it until completion.
    connect_addr: Option<Box<SockAddr>>,
    /// The registered-buffer slot: table entries `2 * slot` (receive) and `2 * slot + 1` (send).
    slot: Option<u16>,
    /// Multishot: received chunks still in provided buffers, oldest first.
    pending: VecDeque<Chunk>,
}

impl Conn {
    fn new(socket: Socket, state: ConnState, config: &TransportConfig) -> Conn {
        Conn {
            socket,
            state,
            reading: true,
            recv: RecvBuffer::new(config.recv_buffer),
            send: SendQueue::new(config.send_buffer),
            recv_in_flight: false,
            cancelling: false,
            send_in_flight: false,
            connect_addr: None,
            slot: None,
            pending: VecDeque::new(),
        }
    }

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
    features: UringFeatures,
    /// Registered sends need SIGPIPE ignored (a write to a reset socket raises it; a send can
    /// pass MSG_NOSIGNAL, a fixed write cannot).
    fixed_send: bool,
    listeners: Vec<Listener>,
    conns: Slab<Conn>,
    events: VecDeque<Event>,
    /// Operations submitted and not yet completed.
    in_flight: usize,
    /// Registered-buffer slots free for new connections.
    free_slots: Vec<u16>,
    /// The provided buffers of multishot receives.
    bufs: Option<BufRing>,
    /// Provided buffers given back since the last publish.
    returned: usize,
}

impl core::fmt::Debug for UringTransport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UringTransport")
            .field("features", &self.features)
            .field("listeners", &self.listeners.len())
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

/// The running kernel's (major, minor) version, if `uname` can tell.
fn kernel_version() -> Option<(u32, u32)> {
    // SAFETY: `utsname` is plain bytes; zeroed is a valid value for `uname` to fill.
    let mut name: libc::utsname = unsafe { core::mem::zeroed() };
    // SAFETY: `name` is a valid, writable utsname.
    if unsafe { libc::uname(&mut name) } != 0 {
        return None;
    }
    let release: Vec<u8> = name
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    let release = core::str::from_utf8(&release).ok()?;
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Whether SIGPIPE is ignored in this process.
fn sigpipe_ignored() -> bool {
    // SAFETY: zeroed is a valid sigaction; querying with a null new action changes nothing.
    let mut old: libc::sigaction = unsafe { core::mem::zeroed() };
    // SAFETY: `old` is a valid, writable sigaction.
    let result = unsafe { libc::sigaction(libc::SIGPIPE, core::ptr::null(), &mut old) };
    result == 0 && old.sa_sigaction == libc::SIG_IGN
}

fn unsupported(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, what.to_string())
}

impl UringTransport {
    /// A transport on a new ring; fails where io_uring is unavailable or disabled, or a feature
    /// set to [`FeatureChoice::On`] is missing.
    pub fn new(config: TransportConfig, uring: UringConfig) -> io::Result<Self> {
        let mut builder = IoUring::builder();
        if let Some(idle) = uring.sqpoll_idle_ms {
            builder.setup_sqpoll(idle);
        }
        let ring = builder.build(uring.entries)?;
        let mut probe = io_uring::Probe::new();
        let probed = ring.submitter().register_probe(&mut probe).is_ok();

        let mut free_slots = Vec::new();
        if uring.registered_buffers != FeatureChoice::Off {
            let ok = probed
                && probe.is_supported(opcode::ReadFixed::CODE)
                && probe.is_supported(opcode::WriteFixed::CODE)
                && uring.registered_slots > 0
                && ring
                    .submitter()
                    .register_buffers_sparse(u32::from(uring.registered_slots) * 2)
                    .is_ok();
            if ok {
                free_slots = (0..uring.registered_slots).rev().collect();
            } else if uring.registered_buffers == FeatureChoice::On {
                return Err(unsupported("io_uring registered buffers"));
            }
        }

        let mut bufs = None;
        if uring.multishot_recv != FeatureChoice::Off {
            // Multishot receive arrived in 6.0, provided-buffer rings in 5.19.
            let kernel_has = probed
                && probe.is_supported(opcode::RecvMulti::CODE)
                && kernel_version().is_some_and(|v| v >= (6, 0));
            let ring_buf = if kernel_has {
                let mut b = BufRing::new(uring.provided_buffers, uring.provided_buffer_len)?;
                b.register(&ring.submitter()).map(|()| b).ok()
            } else {
                None
            };
            match ring_buf {
                Some(b) => bufs = Some(b),
                None if uring.multishot_recv == FeatureChoice::On => {
                    return Err(unsupported("io_uring multishot receive"));
                }
                None => {}
            }
        }

        let fixed_send = sigpipe_ignored();
        let features = UringFeatures {
            registered_buffers: !free_slots.is_empty(),
            registered_sends: !free_slots.is_empty() && fixed_send,
            multishot_recv: bufs.is_some(),
            sqpoll: uring.sqpoll_idle_ms.is_some(),
        };
        Ok(UringTransport {
            ring,
            config,
            features,
            fixed_send,
            listeners: Vec::new(),
            conns: Slab::new(),
            events: VecDeque::new(),
            in_flight: 0,
            free_slots,
            bufs,
            returned: 0,
        })
    }

    /// The features in use.
    pub fn features(&self) -> UringFeatures {
        self.features
    }

    /// Connections whose buffers are registered now.
    pub fn registered_connections(&self) -> usize {
        let mut n = 0;
        for index in 0..self.conns.slot_count() {
            if let Some(id) = self.conns.id_at(index)
                && self.conns.get(id).is_some_and(|c| c.slot.is_some())
            {
                n += 1;
            }
        }
        n
    }

    /// Registers a new connection's buffers if a slot is free; without one (or if the kernel
    /// refuses, e.g. over RLIMIT_MEMLOCK) the connection uses plain operations.
    fn register(&mut self, conn: &mut Conn) {
        let Some(slot) = self.free_slots.pop() else {
            return;
        };
        let iovecs = [conn.recv.iovec(), conn.send.iovec()];
        // SAFETY: both buffers stay allocated until the connection is removed, which clears
        // the slot first (`remove_conn`); the transport's drop frees them only when idle.
        let result = unsafe {
            self.ring
                .submitter()
                .register_buffers_update(u32::from(slot) * 2, &iovecs, None)
        };
        match result {
            Ok(_) => conn.slot = Some(slot),
            Err(_) => self.free_slots.push(slot),
        }
    }

    /// Removes a connection the kernel is done with: clears its registered slot and gives its
    /// held provided buffers back.
    fn remove_conn(&mut self, id: ConnId) {
        let Some(conn) = self.conns.remove(id) else {
            return;
        };
        if let Some(slot) = conn.slot {
            let empty = libc::iovec {
                iov_base: core::ptr::null_mut(),
                iov_len: 0,
            };
            // SAFETY: empty entries point to no memory; they unpin the connection's buffers.
            let cleared = unsafe {
                self.ring.submitter().register_buffers_update(
                    u32::from(slot) * 2,
                    &[empty, empty],
                    None,
                )
            };
            if cleared.is_ok() {
                self.free_slots.push(slot);
            }
        }
        if let Some(bufs) = self.bufs.as_mut() {
            for chunk in &conn.pending {
                bufs.give(chunk.bid);
                self.returned += 1;
            }
        }
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

    /// Multishot: copies held chunks into the contiguous buffer while they fit, giving their
    /// provided buffers back; returns the bytes copied.
    fn drain(conn: &mut Conn, bufs: &mut BufRing, returned: &mut usize) -> usize {
        let mut copied = 0;
        while let Some(chunk) = conn.pending.front_mut() {
            conn.recv.compact_for(chunk.len as usize);
            let n = conn
                .recv
                .append(bufs.bytes(chunk.bid, chunk.offset, chunk.len));
            copied += n;
            chunk.offset += n as u32;
            chunk.len -= n as u32;
            if chunk.len > 0 {
                break;
            }
            bufs.give(chunk.bid);
            *returned += 1;
            conn.pending.pop_front();
        }
        copied
    }

    /// Arms an accept on every listener and a receive and a send on every connection that needs
    /// one; with multishot, copies held chunks and cancels receives that must stop.
    fn arm(&mut self) -> usize {
        let mut work = 0;
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
        let multishot = self.bufs.is_some();
        for index in 0..self.conns.slot_count() {
            let Some(id) = self.conns.id_at(index) else {
                continue;
            };
            let Some(conn) = self.conns.get_mut(id) else {
                continue;
            };
            if multishot
                && conn.state != ConnState::Releasing
                && !conn.pending.is_empty()
                && let Some(bufs) = self.bufs.as_mut()
            {
                work += Self::drain(conn, bufs, &mut self.returned);
            }
            if conn.state != ConnState::Open {
                continue;
            }
            let fd = conn.socket.as_raw_fd();
            let mut entries = [None, None];
            if multishot {
                let want = conn.reading && conn.pending.is_empty() && conn.recv.room() > 0;
                let data = user_data(Op::Recv, id.index, id.generation);
                if want && !conn.recv_in_flight {
                    entries[0] = Some((
                        opcode::RecvMulti::new(types::Fd(fd), pbuf::GROUP)
                            .build()
                            .user_data(data),
                        false,
                    ));
                } else if !want && conn.recv_in_flight && !conn.cancelling {
                    entries[0] = Some((
                        opcode::AsyncCancel::new(data).build().user_data(user_data(
                            Op::Cancel,
                            id.index,
                            id.generation,
                        )),
                        true,
                    ));
                }
            } else if conn.reading && !conn.recv_in_flight {
                conn.recv.compact();
                let (ptr, len) = conn.recv.free_space_raw();
                if len > 0 {
                    let len = u32::try_from(len).unwrap_or(u32::MAX);
                    let data = user_data(Op::Recv, id.index, id.generation);
                    let entry = match conn.slot {
                        Some(slot) => opcode::ReadFixed::new(types::Fd(fd), ptr, len, slot * 2)
                            .build()
                            .user_data(data),
                        None => opcode::Recv::new(types::Fd(fd), ptr, len)
                            .build()
                            .user_data(data),
                    };
                    entries[0] = Some((entry, false));
                }
            }
            if !conn.send_in_flight && !conn.send.is_empty() {
                let queued = conn.send.queued();
                let len = u32::try_from(queued.len()).unwrap_or(u32::MAX);
                let data = user_data(Op::Send, id.index, id.generation);
                let entry = match conn.slot {
                    Some(slot) if self.fixed_send => {
                        opcode::WriteFixed::new(types::Fd(fd), queued.as_ptr(), len, slot * 2 + 1)
                            .build()
                            .user_data(data)
                    }
                    _ => opcode::Send::new(types::Fd(fd), queued.as_ptr(), len)
                        .flags(libc::MSG_NOSIGNAL)
                        .build()
                        .user_data(data),
                };
                entries[1] = Some((entry, false));
            }
            let [recv, send] = entries;
            if let Some((entry, cancel)) = recv {
                // SAFETY: a plain receive targets the buffer's free space, which no Rust
                // reference covers until the completion moves `end` over it; a fixed one the
                // same space within the connection's registered buffer; a multishot one only
                // provided buffers, which stay mapped while the ring is in use; a cancel points
                // to no memory. The buffer and socket live until the connection is released,
                // after its last completion.
                if unsafe { self.push(&entry) }
                    && let Some(conn) = self.conns.get_mut(id)
                {
                    if cancel {
                        conn.cancelling = true;
                    } else {
                        conn.recv_in_flight = true;
                    }
                }
            }
            if let Some((entry, _)) = send {
                // SAFETY: the send reads queued bytes, which stay in place while
                // `send_in_flight` is set (pushes then only append after them).
                if unsafe { self.push(&entry) }
                    && let Some(conn) = self.conns.get_mut(id)
                {
                    conn.send_in_flight = true;
                }
            }
        }
        if self.returned > 0
            && let Some(bufs) = self.bufs.as_ref()
        {
            bufs.publish();
            self.returned = 0;
        }
        work
    }

    fn complete(&mut self, data: u64, result: i32, flags: u32) -> usize {
        let more = cqueue::more(flags);
        if !more {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        let (op, generation, index) = decode_user_data(data);
        if op == Op::Accept as u8 {
            return self.complete_accept(index as usize, result);
        }
        if op == Op::Cancel as u8 {
            return 0;
        }
        let found = self
            .conns
            .id_at(index as usize)
            .filter(|id| id.generation & 0x00FF_FFFF == generation);
        let Some(id) = found else {
            // A provided buffer filled for a connection already gone goes straight back.
            self.give_back(flags);
            return 0;
        };
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
                if !more {
                    conn.recv_in_flight = false;
                    conn.cancelling = false;
                }
                match (result, self.bufs.as_mut()) {
                    (n, Some(bufs)) if n > 0 => match cqueue::buffer_select(flags) {
                        Some(bid) if conn.state != ConnState::Releasing => {
                            conn.pending.push_back(Chunk {
                                bid,
                                offset: 0,
                                len: (n as u32).min(bufs.buf_len()),
                            });
                            Self::drain(conn, bufs, &mut self.returned);
                            work = n as usize;
                        }
                        Some(bid) => {
                            bufs.give(bid);
                            self.returned += 1;
                        }
                        None => ended = Some(CloseReason::Error(io::ErrorKind::InvalidData)),
                    },
                    (n, None) if n > 0 => {
                        conn.recv.filled(n as usize);
                        work = n as usize;
                    }
                    (0, _) => ended = Some(CloseReason::PeerClosed),
                    (e, _) if is_retryable(e) => {}
                    (e, _) => ended = Some(CloseReason::Error(errno_kind(e))),
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
                self.remove_conn(id);
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

    /// Gives back the provided buffer a completion carries, if any.
    fn give_back(&mut self, flags: u32) {
        if let (Some(bufs), Some(bid)) = (self.bufs.as_mut(), cqueue::buffer_select(flags)) {
            bufs.give(bid);
            self.returned += 1;
        }
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
        let mut conn = Conn::new(socket, ConnState::Open, &self.config);
        self.register(&mut conn);
        let slot = conn.slot;
        match self.conns.insert(conn) {
            Ok(conn) => {
                self.events.push_back(Event::Accepted {
                    listener: ListenerId(listener as u32),
                    conn,
                    peer,
                });
                1
            }
            Err(_) => {
                if let Some(slot) = slot {
                    self.free_slots.push(slot);
                }
                0
            }
        }
    }
}

fn is_retryable(result: i32) -> bool {
    matches!(
        -result,
        libc::EAGAIN | libc::EINTR | libc::ECANCELED | libc::ENOBUFS
    )
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
        let mut conn = Conn::new(socket, ConnState::Connecting, &self.config);
        conn.connect_addr = Some(address);
        self.register(&mut conn);
        let id = self.conns.insert(conn)?;
        let entry = opcode::Connect::new(types::Fd(fd), addr_ptr.cast(), addr_len)
            .build()
            .user_data(user_data(Op::Connect, id.index, id.generation));
        // SAFETY: the address is boxed in the connection and dropped only at the connect's
        // completion (or with the connection, after its last completion).
        if !unsafe { self.push(&entry) } {
            self.remove_conn(id);
            return Err(io::Error::other("io_uring submission queue full").into());
        }
        Ok(id)
    }

    fn poll(&mut self) -> usize {
        let mut work = self.arm();
        if self.ring.submit().is_err() {
            return work;
        }
        loop {
            let next = self.ring.completion().next();
            let Some(completion) = next else { break };
            work += self.complete(
                completion.user_data(),
                completion.result(),
                completion.flags(),
            );
        }
        if self.returned > 0
            && let Some(bufs) = self.bufs.as_ref()
        {
            bufs.publish();
            self.returned = 0;
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
            self.remove_conn(conn);
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
                if !cqueue::more(completion.flags()) {
                    self.in_flight = self.in_flight.saturating_sub(1);
                }
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
            if let Some(bufs) = self.bufs.take() {
                core::mem::forget(bufs);
            }
        } else if let Some(bufs) = self.bufs.as_mut() {
            bufs.unregister(&self.ring.submitter());
        }
    }
}
