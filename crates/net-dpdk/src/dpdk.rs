//! DPDK: the EAL, one Ethernet port with one receive and one transmit queue, and
//! [`DpdkDevice`], the smoltcp device over the port's bursts.
//!
//! Setup failures are errors naming what failed, with DPDK's own message: EAL arguments it
//! refuses, no such port, a mempool it cannot allocate, a link that stays down. Nothing here
//! waits without a bound.

use std::ffi::{CStr, CString, c_char, c_int};
use std::fmt;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dpdk_sys as sys;
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant as NetInstant;

/// DPDK allows one EAL per process, initialised once.
static EAL_STARTED: AtomicBool = AtomicBool::new(false);

/// DPDK's message for a (positive) error number.
fn strerror(errno: c_int) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated string
    // for any value.
    let message = unsafe { CStr::from_ptr(sys::rte_strerror(errno)) };
    format!("{} (errno {errno})", message.to_string_lossy())
}

/// The error of the last failed DPDK call on this thread.
fn last_error() -> String {
    // SAFETY: reads DPDK's per-thread rte_errno; no preconditions.
    strerror(unsafe { sys::gapless_rte_errno() })
}

/// Why the EAL did not start.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EalError {
    /// An EAL was already started in this process; DPDK allows one.
    AlreadyStarted,
    /// An argument contains a NUL byte.
    BadArgument(String),
    /// `rte_eal_init` refused: a bad argument, no memory, a vdev it could not create, ...
    Init(String),
}

impl fmt::Display for EalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EalError::AlreadyStarted => f.write_str("the DPDK EAL is already started"),
            EalError::BadArgument(arg) => write!(f, "EAL argument {arg:?} contains a NUL byte"),
            EalError::Init(why) => write!(f, "rte_eal_init failed: {why}"),
        }
    }
}

impl std::error::Error for EalError {}

/// The running EAL. Ports hold a clone; `rte_eal_cleanup` runs when the last one is dropped.
#[derive(Debug, Clone)]
pub struct Eal {
    _guard: Arc<EalGuard>,
}

#[derive(Debug)]
struct EalGuard;

impl Drop for EalGuard {
    fn drop(&mut self) {
        // SAFETY: the EAL was initialised (an EalGuard exists only after rte_eal_init
        // succeeded) and every port, which holds an Eal, has been closed.
        unsafe { sys::rte_eal_cleanup() };
    }
}

impl Eal {
    /// Starts the EAL with `args` as its command line, program name first, for example
    /// `["gapless", "--no-huge", "-m", "512", "--no-pci", "--file-prefix=gw",
    /// "--vdev=net_af_packet0,iface=veth0", "-l", "1"]`.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal, EalError> {
        let owned = args
            .iter()
            .map(|arg| {
                CString::new(arg.as_ref()).map_err(|_| EalError::BadArgument(arg.as_ref().into()))
            })
            .collect::<Result<Vec<CString>, EalError>>()?;
        if EAL_STARTED.swap(true, Ordering::AcqRel) {
            return Err(EalError::AlreadyStarted);
        }
        // rte_eal_init may permute argv; it gets its own array of pointers to our strings.
        let mut argv: Vec<*mut c_char> = owned.iter().map(|s| s.as_ptr().cast_mut()).collect();
        argv.push(ptr::null_mut());
        let argc = c_int::try_from(owned.len())
            .map_err(|_| EalError::BadArgument("too many arguments".into()))?;
        // SAFETY: argv holds argc pointers to NUL-terminated strings that outlive the call, then
        // a null pointer, as a C main's argv. DPDK keeps no pointer into them after init, except
        // the program name, which it copies.
        let result = unsafe { sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if result < 0 {
            // DPDK cannot be initialised again in this process after a failed attempt either.
            return Err(EalError::Init(last_error()));
        }
        Ok(Eal {
            _guard: Arc::new(EalGuard),
        })
    }
}

/// One port's setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortConfig {
    /// The DPDK port id: vdevs and probed devices are numbered from 0 in the order the EAL
    /// created them.
    pub port_id: u16,
    /// Receive and transmit descriptors (ring sizes).
    pub rx_descriptors: u16,
    pub tx_descriptors: u16,
    /// Mbufs in the port's pool: enough for both rings, a burst in hand and frames in flight.
    pub mbufs: u32,
    /// How long to wait for the link to come up.
    pub link_timeout: Duration,
    /// A MAC address to give the port instead of its own (unicast); `None` keeps the port's.
    pub mac: Option<[u8; 6]>,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            port_id: 0,
            rx_descriptors: 1024,
            tx_descriptors: 1024,
            mbufs: 8191,
            link_timeout: Duration::from_secs(5),
            mac: None,
        }
    }
}

/// Why a port could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortError {
    /// No port with this id: `available` ports exist (0 means the EAL found no device and
    /// created no vdev: check `--vdev` or the NIC binding).
    NoPort { port_id: u16, available: u16 },
    /// The mbuf pool could not be allocated (too little memory for `-m`, or no hugepages).
    Mempool(String),
    /// A configuration step failed; `step` names the DPDK call.
    Setup { step: &'static str, why: String },
    /// The link did not come up in time.
    LinkDown { waited: Duration },
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortError::NoPort { port_id, available } => {
                write!(f, "no DPDK port {port_id}: {available} port(s) available")
            }
            PortError::Mempool(why) => write!(f, "cannot create the mbuf pool: {why}"),
            PortError::Setup { step, why } => write!(f, "{step} failed: {why}"),
            PortError::LinkDown { waited } => write!(f, "link still down after {waited:?}"),
        }
    }
}

impl std::error::Error for PortError {}

/// A started port with its mbuf pool. Stopped and closed on drop.
#[derive(Debug)]
pub struct Port {
    id: u16,
    pool: NonNull<sys::rte_mempool>,
    mac: [u8; 6],
    _eal: Eal,
}

/// Turns a DPDK return code into a [`PortError::Setup`].
fn check(step: &'static str, result: c_int) -> Result<(), PortError> {
    if result < 0 {
        return Err(PortError::Setup {
            step,
            why: strerror(-result),
        });
    }
    Ok(())
}

impl Port {
    /// Configures port `config.port_id` with one receive and one transmit queue, starts it and
    /// waits (bounded) for its link.
    pub fn open(eal: &Eal, config: &PortConfig) -> Result<Port, PortError> {
        // SAFETY: the EAL is initialised (we hold an Eal); the call only reads DPDK's port table.
        let available = unsafe { sys::rte_eth_dev_count_avail() };
        if config.port_id >= available {
            return Err(PortError::NoPort {
                port_id: config.port_id,
                available,
            });
        }
        let id = config.port_id;
        // SAFETY: `id` is a valid port (checked above).
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) };
        let name = CString::new(format!("gapless_port{id}"))
            .map_err(|_| PortError::Mempool("pool name".into()))?;
        // SAFETY: the name is a NUL-terminated string DPDK copies; the sizes are DPDK's defaults
        // for a 1,518-byte frame; a socket of -1 (SOCKET_ID_ANY) is accepted.
        let pool = unsafe {
            sys::rte_pktmbuf_pool_create(
                name.as_ptr(),
                config.mbufs,
                256,
                0,
                sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16,
                socket,
            )
        };
        let pool = NonNull::new(pool).ok_or_else(|| PortError::Mempool(last_error()))?;
        // From here on, dropping `port` stops and closes the port and frees the pool.
        let mut port = Port {
            id,
            pool,
            mac: [0; 6],
            _eal: eal.clone(),
        };
        port.start(config, socket)?;
        port.wait_for_link(config.link_timeout)?;
        Ok(port)
    }

    fn start(&mut self, config: &PortConfig, socket: c_int) -> Result<(), PortError> {
        let id = self.id;
        let eth_conf = sys::rte_eth_conf::default();
        // SAFETY: a zeroed rte_eth_conf asks for no offloads and no RSS, which every driver
        // accepts; DPDK reads it during the call only.
        check("rte_eth_dev_configure", unsafe {
            sys::rte_eth_dev_configure(id, 1, 1, &eth_conf)
        })?;
        // The socket id is -1 when unknown; DPDK takes SOCKET_ID_ANY as unsigned -1.
        let socket = socket as u32;
        // SAFETY: the port is configured with one queue of each kind; null queue configurations
        // select the driver's defaults; the pool outlives the port (both freed in Drop, port
        // first).
        check("rte_eth_rx_queue_setup", unsafe {
            sys::rte_eth_rx_queue_setup(
                id,
                0,
                config.rx_descriptors,
                socket,
                ptr::null(),
                self.pool.as_ptr(),
            )
        })?;
        // SAFETY: as above, for the transmit queue.
        check("rte_eth_tx_queue_setup", unsafe {
            sys::rte_eth_tx_queue_setup(id, 0, config.tx_descriptors, socket, ptr::null())
        })?;
        if let Some(addr_bytes) = config.mac {
            let mut mac = sys::rte_ether_addr { addr_bytes };
            // SAFETY: the port is configured; DPDK reads `mac` during the call only.
            check("rte_eth_dev_default_mac_addr_set", unsafe {
                sys::rte_eth_dev_default_mac_addr_set(id, &mut mac)
            })?;
        }
        let mut mac = sys::rte_ether_addr::default();
        // SAFETY: `mac` is a valid rte_ether_addr for DPDK to write.
        check("rte_eth_macaddr_get", unsafe {
            sys::rte_eth_macaddr_get(id, &mut mac)
        })?;
        self.mac = mac.addr_bytes;
        // SAFETY: the port is configured and its queues are set up.
        check("rte_eth_dev_start", unsafe { sys::rte_eth_dev_start(id) })
    }

    fn wait_for_link(&self, timeout: Duration) -> Result<(), PortError> {
        let start = Instant::now();
        loop {
            if self.link_up()? {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                return Err(PortError::LinkDown {
                    waited: start.elapsed(),
                });
            }
            // Setup, not the fast path: a link takes milliseconds to seconds to come up.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the link is up now.
    pub fn link_up(&self) -> Result<bool, PortError> {
        let mut link = sys::rte_eth_link::default();
        // SAFETY: `link` is a valid rte_eth_link for DPDK to fill; the port is valid.
        check("rte_eth_link_get_nowait", unsafe {
            sys::rte_eth_link_get_nowait(self.id, &mut link)
        })?;
        // SAFETY: `link` was filled in above; the shim reads its bit field.
        Ok(unsafe { sys::gapless_rte_eth_link_up(&link) } != 0)
    }

    /// The port's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The DPDK port id.
    pub fn id(&self) -> u16 {
        self.id
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        // SAFETY: the port was configured by `open`; stopping and closing it releases its
        // queues, which hold mbufs of the pool, before the pool is freed. Errors here leave
        // nothing to do.
        unsafe {
            sys::rte_eth_dev_stop(self.id);
            sys::rte_eth_dev_close(self.id);
            sys::rte_mempool_free(self.pool.as_ptr());
        }
    }
}

/// Frames moved, and frames lost for want of an mbuf or ring space.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceStats {
    pub rx_frames: u64,
    pub tx_frames: u64,
    /// Received frames chained over several mbufs, gathered into one buffer (copied).
    pub rx_gathered: u64,
    /// Frames not sent: no mbuf free, or the transmit ring stayed full. TCP retransmits them.
    pub tx_dropped: u64,
}

/// Frames taken from the receive ring at once.
const BURST: usize = 32;
/// Times a full transmit ring is retried before the frame is dropped.
const TX_RETRIES: usize = 64;

/// The smoltcp device over one DPDK port: receives in bursts of up to 32 and hands smoltcp each
/// frame in its mbuf; builds each transmitted frame in a fresh mbuf and sends it at once.
#[derive(Debug)]
pub struct DpdkDevice {
    port: Port,
    rx: [*mut sys::rte_mbuf; BURST],
    /// Frames `rx_next..rx_len` of `rx` are received and not yet handed out.
    rx_next: usize,
    rx_len: usize,
    /// Where a frame chained over several mbufs is gathered.
    scratch: Vec<u8>,
    rx_frames: u64,
    rx_gathered: u64,
    /// Apart from the receive counters, so that a receive and a transmit token can coexist.
    tx: TxCounters,
}

#[derive(Debug, Clone, Copy, Default)]
struct TxCounters {
    frames: u64,
    dropped: u64,
}

// SAFETY: the device owns its port's only queues and the mbufs it holds; DPDK's queues may be
// used from any thread as long as one thread at a time does, which `&mut self` guarantees.
unsafe impl Send for DpdkDevice {}

impl DpdkDevice {
    pub fn new(port: Port) -> Self {
        DpdkDevice {
            port,
            rx: [ptr::null_mut(); BURST],
            rx_next: 0,
            rx_len: 0,
            scratch: Vec::with_capacity(Self::MTU),
            rx_frames: 0,
            rx_gathered: 0,
            tx: TxCounters::default(),
        }
    }

    /// The largest frame, Ethernet header included, and the data room of one default mbuf.
    const MTU: usize = 1514;

    pub fn port(&self) -> &Port {
        &self.port
    }

    pub fn stats(&self) -> DeviceStats {
        DeviceStats {
            rx_frames: self.rx_frames,
            tx_frames: self.tx.frames,
            rx_gathered: self.rx_gathered,
            tx_dropped: self.tx.dropped,
        }
    }

    /// The next received frame's mbuf, bursting from the ring when none is in hand.
    fn next_rx(&mut self) -> Option<NonNull<sys::rte_mbuf>> {
        if self.rx_next == self.rx_len {
            // SAFETY: the port is started with queue 0; `rx` has room for BURST pointers, which
            // the driver fills with mbufs we then own.
            let n = unsafe {
                sys::gapless_rte_eth_rx_burst(self.port.id, 0, self.rx.as_mut_ptr(), BURST as u16)
            };
            self.rx_next = 0;
            self.rx_len = usize::from(n);
        }
        if self.rx_next == self.rx_len {
            return None;
        }
        let mbuf = self.rx[self.rx_next];
        self.rx_next += 1;
        self.rx_frames += 1;
        NonNull::new(mbuf)
    }
}

impl Drop for DpdkDevice {
    fn drop(&mut self) {
        for &mbuf in &self.rx[self.rx_next..self.rx_len] {
            // SAFETY: received mbufs not yet handed out are ours to free, once each.
            unsafe { sys::gapless_rte_pktmbuf_free(mbuf) };
        }
    }
}

/// A received frame, owned until consumed or dropped.
#[derive(Debug)]
pub struct RxToken<'a> {
    mbuf: NonNull<sys::rte_mbuf>,
    scratch: &'a mut Vec<u8>,
    gathered: &'a mut u64,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let mbuf = self.mbuf.as_ptr();
        // SAFETY: the mbuf is a received packet we own until `self` drops; its segments' data
        // stay valid and unchanged for the duration of the borrow of `frame` below.
        unsafe {
            if sys::gapless_rte_pktmbuf_nb_segs(mbuf) == 1 {
                let data = sys::gapless_rte_pktmbuf_data(mbuf);
                let len = usize::from(sys::gapless_rte_pktmbuf_data_len(mbuf));
                f(std::slice::from_raw_parts(data, len))
            } else {
                *self.gathered += 1;
                self.scratch.clear();
                let mut segment = mbuf;
                while !segment.is_null() {
                    let data = sys::gapless_rte_pktmbuf_data(segment);
                    let len = usize::from(sys::gapless_rte_pktmbuf_data_len(segment));
                    self.scratch
                        .extend_from_slice(std::slice::from_raw_parts(data, len));
                    segment = sys::gapless_rte_pktmbuf_next(segment);
                }
                f(self.scratch)
            }
        }
    }
}

impl Drop for RxToken<'_> {
    fn drop(&mut self) {
        // SAFETY: the token owns the mbuf (taken from the ring once) and frees it once, with all
        // its segments.
        unsafe { sys::gapless_rte_pktmbuf_free(self.mbuf.as_ptr()) };
    }
}

/// Permission to send one frame.
#[derive(Debug)]
pub struct TxToken<'a> {
    port: &'a Port,
    counters: &'a mut TxCounters,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let TxToken { port, counters } = self;
        // SAFETY: the pool belongs to the open port.
        let mbuf = unsafe { sys::gapless_rte_pktmbuf_alloc(port.pool.as_ptr()) };
        let data = match (NonNull::new(mbuf), u16::try_from(len)) {
            // SAFETY: the mbuf is fresh and ours; append reserves `len` bytes in its only
            // segment, or returns null when they do not fit.
            (Some(mbuf), Ok(len16)) => unsafe {
                sys::gapless_rte_pktmbuf_append(mbuf.as_ptr(), len16)
            },
            _ => ptr::null_mut(),
        };
        if data.is_null() {
            if !mbuf.is_null() {
                // SAFETY: the mbuf was allocated above and not handed to the driver.
                unsafe { sys::gapless_rte_pktmbuf_free(mbuf) };
            }
            // smoltcp must write its frame somewhere; it is lost, as on a congested wire.
            counters.dropped += 1;
            return f(&mut vec![0; len]);
        }
        // SAFETY: `data` points at `len` bytes of the mbuf's data room, reserved by append,
        // which nothing else references until the mbuf is handed to the driver below.
        let result = f(unsafe { std::slice::from_raw_parts_mut(data, len) });
        let mut burst = [mbuf];
        for _ in 0..TX_RETRIES {
            // SAFETY: the port is started with queue 0; on success the driver takes the mbuf.
            let sent = unsafe { sys::gapless_rte_eth_tx_burst(port.id, 0, burst.as_mut_ptr(), 1) };
            if sent == 1 {
                counters.frames += 1;
                return result;
            }
        }
        // SAFETY: the driver did not take the mbuf; it is still ours to free.
        unsafe { sys::gapless_rte_pktmbuf_free(mbuf) };
        counters.dropped += 1;
        result
    }
}

impl Device for DpdkDevice {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _: NetInstant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let mbuf = self.next_rx()?;
        let rx = RxToken {
            mbuf,
            scratch: &mut self.scratch,
            gathered: &mut self.rx_gathered,
        };
        let tx = TxToken {
            port: &self.port,
            counters: &mut self.tx,
        };
        Some((rx, tx))
    }

    fn transmit(&mut self, _: NetInstant) -> Option<TxToken<'_>> {
        Some(TxToken {
            port: &self.port,
            counters: &mut self.tx,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = Self::MTU;
        caps.max_burst_size = Some(BURST);
        caps
    }
}
