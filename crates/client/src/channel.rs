//! The channel file: its header, creation and validation, and the two ends.

use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gapless_shm::{Consumer, Producer, PushError, RegionError, Ring, block_len};
use memmap2::{MmapOptions, MmapRaw};

use gapless_codec::EncodeError;

use crate::body::BodyWriter;
use crate::record::{
    self, APPLICATION_HEADER_LEN, InboundRecord, MAX_MSG_TYPE_LEN, OUTBOUND_HEADER_LEN,
    OutboundRecord, RecordError, SessionEvent,
};
use crate::stats::{Counter, Counters, StatsSnapshot, StatsWriter};

/// Identifies a channel file: `GLCHANNL` as a little-endian `u64`.
pub const MAGIC: [u8; 8] = *b"GLCHANNL";
/// The channel layout version this crate reads and writes.
pub const VERSION: u32 = 2;
/// Where the live counters block starts.
pub const COUNTERS_OFFSET: usize = 128;
/// Where the gateway-to-application ring block starts; the application-to-gateway ring block
/// follows it.
pub const TO_APP_OFFSET: usize = 512;
/// File name extension of channel files.
pub const CHANNEL_EXTENSION: &str = "chan";
/// Where the runtime puts channel files unless configured otherwise.
pub const DEFAULT_DIR: &str = "/dev/shm/gapless";

/// The channel file of session `session_name` in `dir`: `<dir>/<session_name>.chan`.
pub fn channel_path(dir: impl AsRef<Path>, session_name: &str) -> PathBuf {
    dir.as_ref()
        .join(format!("{session_name}.{CHANNEL_EXTENSION}"))
}

/// The channel header, at offset 0: 128 bytes.
#[repr(C)]
struct Header {
    magic: AtomicU64,
    version: AtomicU32,
    reserved0: AtomicU32,
    file_len: AtomicU64,
    to_app_offset: AtomicU64,
    to_app_capacity: AtomicU64,
    from_app_offset: AtomicU64,
    from_app_capacity: AtomicU64,
    max_body_len: AtomicU64,
    reserved: [AtomicU64; 8],
}

const _: () = assert!(size_of::<Header>() == COUNTERS_OFFSET);
const _: () = assert!(COUNTERS_OFFSET + size_of::<Counters>() == TO_APP_OFFSET);
const _: () = assert!(core::mem::offset_of!(Header, file_len) == 16);
const _: () = assert!(core::mem::offset_of!(Header, max_body_len) == 56);

/// The sizes of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Data area of the gateway-to-application ring: a power of two, at least 256. Its half,
    /// less 24 bytes, bounds the longest inbound message.
    pub to_app_capacity: usize,
    /// Data area of the application-to-gateway ring: a power of two, at least 256.
    pub from_app_capacity: usize,
    /// The longest body [`AppEnd::try_send`] writes. Each send claims this much room (plus its
    /// MsgType and 8 bytes) before it knows the body's length, so the ring reads as full when
    /// less than that is free.
    pub max_body_len: usize,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            to_app_capacity: 1 << 20,
            from_app_capacity: 1 << 18,
            max_body_len: 4096,
        }
    }
}

impl ChannelConfig {
    /// Where the from-application ring block starts.
    fn return_ring_offset(&self) -> usize {
        TO_APP_OFFSET + block_len(self.to_app_capacity)
    }

    fn file_len(&self) -> usize {
        self.return_ring_offset() + block_len(self.from_app_capacity)
    }

    /// The largest from-application record a send claims.
    fn max_send_record(&self) -> usize {
        OUTBOUND_HEADER_LEN + MAX_MSG_TYPE_LEN + self.max_body_len
    }

    fn check(&self) -> Result<(), CreateError> {
        for capacity in [self.to_app_capacity, self.from_app_capacity] {
            if !capacity.is_power_of_two()
                || !(gapless_shm::MIN_CAPACITY..=gapless_shm::MAX_CAPACITY).contains(&capacity)
            {
                return Err(CreateError::InvalidCapacity(capacity));
            }
        }
        let max = self.from_app_capacity / 2 - gapless_shm::RECORD_HEADER_LEN;
        if self.max_body_len == 0 || self.max_send_record() > max {
            return Err(CreateError::InvalidMaxBodyLen {
                max_body_len: self.max_body_len,
                limit: max.saturating_sub(OUTBOUND_HEADER_LEN + MAX_MSG_TYPE_LEN),
            });
        }
        Ok(())
    }
}

/// What a creating gateway does with an existing channel file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Keep it, with both rings' positions and records, so a restarted gateway finds where the
    /// application stopped (and [`GatewayEnd::last_delivered_seq`]). A missing file is created;
    /// a file that is not a valid channel is an error, never overwritten.
    Reopen,
    /// Start over: a new file with both rings empty and counters zero replaces any old one.
    Fresh,
}

/// Why a channel file could not be attached to: each variant names the problem.
#[derive(Debug)]
#[non_exhaustive]
pub enum AttachError {
    /// The file system refused.
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Shorter than a channel header.
    TooShort { len: u64 },
    /// Not a channel file.
    BadMagic { found: [u8; 8] },
    /// A channel of another layout version.
    UnsupportedVersion { found: u32, expected: u32 },
    /// The file's length differs from the length its header records.
    SizeMismatch { header: u64, file: u64 },
    /// Ring offsets, capacities or the body limit are inconsistent.
    BadGeometry { what: &'static str },
    /// A ring block's own header is wrong.
    BadRing {
        ring: &'static str,
        error: RegionError,
    },
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            AttachError::TooShort { len } => {
                write!(f, "{len}-byte file is too short for a channel")
            }
            AttachError::BadMagic { found } => write!(
                f,
                "not a Gapless channel (magic {:?}, expected {:?})",
                String::from_utf8_lossy(found),
                String::from_utf8_lossy(&MAGIC)
            ),
            AttachError::UnsupportedVersion { found, expected } => {
                write!(f, "channel layout version {found}, expected {expected}")
            }
            AttachError::SizeMismatch { header, file } => {
                write!(f, "header says {header} bytes, file has {file}")
            }
            AttachError::BadGeometry { what } => write!(f, "bad channel geometry: {what}"),
            AttachError::BadRing { ring, error } => write!(f, "{ring} ring: {error}"),
        }
    }
}

impl std::error::Error for AttachError {}

/// Why a channel could not be created.
#[derive(Debug)]
#[non_exhaustive]
pub enum CreateError {
    /// A ring capacity is not a power of two in the allowed range.
    InvalidCapacity(usize),
    /// `max_body_len` is 0 or too large for the application-to-gateway ring.
    InvalidMaxBodyLen { max_body_len: usize, limit: usize },
    /// The file system or the kernel refused.
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// [`Start::Reopen`] found a file that is not a valid channel.
    Existing(AttachError),
    /// A ring block could not be written where the layout puts it (a bug: the sizes passed
    /// their checks).
    Layout(RegionError),
    /// The channel just written does not validate (a bug, as for `Layout`).
    NewChannel(AttachError),
    /// [`Start::Reopen`] found a channel with other sizes; use [`Start::Fresh`] to replace it.
    ConfigMismatch {
        existing: ChannelConfig,
        requested: ChannelConfig,
    },
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CreateError::InvalidCapacity(c) => write!(
                f,
                "ring capacity {c} is not a power of two of at least {}",
                gapless_shm::MIN_CAPACITY
            ),
            CreateError::InvalidMaxBodyLen {
                max_body_len,
                limit,
            } => write!(f, "max_body_len {max_body_len} is not within 1..={limit}"),
            CreateError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            CreateError::Existing(error) => write!(f, "existing channel: {error}"),
            CreateError::Layout(error) => write!(f, "writing the channel layout: {error}"),
            CreateError::NewChannel(error) => write!(f, "new channel does not validate: {error}"),
            CreateError::ConfigMismatch {
                existing,
                requested,
            } => write!(
                f,
                "existing channel has {existing:?}, requested {requested:?}; start fresh to replace it"
            ),
        }
    }
}

impl std::error::Error for CreateError {}

/// Why a message was not delivered to the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliverError {
    /// The application has not read enough; stop reading the session's socket and retry.
    Full,
    /// The record can never fit in this channel's ring.
    TooLarge { len: usize, max: usize },
}

impl fmt::Display for DeliverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeliverError::Full => f.write_str("application ring full"),
            DeliverError::TooLarge { len, max } => {
                write!(f, "{len}-byte record exceeds the ring's maximum of {max}")
            }
        }
    }
}

impl std::error::Error for DeliverError {}

/// Why a message was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The gateway has not taken enough; retry later. The body closure did not run.
    Full,
    /// The body exceeds the channel's `max_body_len`.
    TooLarge { max_body_len: usize },
    /// The MsgType is empty, longer than 16 bytes, or holds SOH or `=`.
    InvalidMsgType,
    /// A body field was refused; nothing was sent.
    InvalidField(EncodeError),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Full => f.write_str("gateway ring full"),
            SendError::TooLarge { max_body_len } => {
                write!(
                    f,
                    "body exceeds the channel's maximum of {max_body_len} bytes"
                )
            }
            SendError::InvalidMsgType => f.write_str("invalid MsgType"),
            SendError::InvalidField(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for SendError {}

/// Why no record could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecvError {
    /// A record did not follow the encoding; it has been skipped. Call again for the next.
    Malformed(RecordError),
    /// The ring's framing is broken (something else wrote into the file); reading stops here.
    Corrupt(gapless_shm::Corrupt),
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Malformed(error) => write!(f, "skipped a malformed record: {error}"),
            RecvError::Corrupt(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for RecvError {}

/// Which ring.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Direction {
    ToApp,
    FromApp,
}

/// The mapping and its validated geometry, shared by the ends, their rings and the stats writer.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    map: Arc<MmapRaw>,
    config: ChannelConfig,
}

impl Shared {
    fn header(&self) -> &Header {
        // SAFETY: every `Shared` was built over a mapping of at least `TO_APP_OFFSET` bytes
        // (checked in `validate` or sized in `format`); the mapping is page-aligned, which
        // satisfies `Header`'s alignment; its fields are atomics, so shared access from other
        // processes is sound; and the `Arc` keeps the mapping alive as long as `self`.
        unsafe { &*self.map.as_ptr().cast::<Header>() }
    }

    pub(crate) fn counters(&self) -> &Counters {
        // SAFETY: as in `header`: in bounds (the block ends at `TO_APP_OFFSET`), aligned
        // (offset 128 in a page-aligned mapping), atomics only, kept alive by the `Arc`.
        unsafe { &*self.map.as_ptr().add(COUNTERS_OFFSET).cast::<Counters>() }
    }

    fn ring(&self, direction: Direction) -> Result<Ring, AttachError> {
        let (offset, capacity, name) = match direction {
            Direction::ToApp => (TO_APP_OFFSET, self.config.to_app_capacity, "to-application"),
            Direction::FromApp => (
                self.config.return_ring_offset(),
                self.config.from_app_capacity,
                "from-application",
            ),
        };
        let ring = Ring::attach_in(self.map.clone(), offset)
            .map_err(|error| AttachError::BadRing { ring: name, error })?;
        if ring.capacity() != capacity {
            return Err(AttachError::BadRing {
                ring: name,
                error: RegionError::BadCapacity {
                    found: ring.capacity() as u64,
                },
            });
        }
        Ok(ring)
    }

    /// Bytes in a ring not yet consumed; 0 if the ring cannot be read.
    pub(crate) fn pending(&self, direction: Direction) -> u64 {
        self.ring(direction)
            .map_or(0, |ring| ring.occupancy() as u64)
    }

    /// Formats a new channel over `map`, which is `config.file_len()` bytes of zeros that no one
    /// else uses yet. The magic is written last, so a half-made channel does not validate.
    fn format(map: MmapRaw, config: ChannelConfig) -> Result<Shared, RegionError> {
        let map = Arc::new(map);
        Ring::format_in(map.clone(), TO_APP_OFFSET, config.to_app_capacity)?;
        Ring::format_in(
            map.clone(),
            config.return_ring_offset(),
            config.from_app_capacity,
        )?;
        let shared = Shared { map, config };
        let header = shared.header();
        header.version.store(VERSION, Ordering::Relaxed);
        header
            .file_len
            .store(config.file_len() as u64, Ordering::Relaxed);
        header
            .to_app_offset
            .store(TO_APP_OFFSET as u64, Ordering::Relaxed);
        header
            .to_app_capacity
            .store(config.to_app_capacity as u64, Ordering::Relaxed);
        header
            .from_app_offset
            .store(config.return_ring_offset() as u64, Ordering::Relaxed);
        header
            .from_app_capacity
            .store(config.from_app_capacity as u64, Ordering::Relaxed);
        header
            .max_body_len
            .store(config.max_body_len as u64, Ordering::Relaxed);
        header
            .magic
            .store(u64::from_le_bytes(MAGIC), Ordering::Release);
        Ok(shared)
    }

    /// Checks the header of a mapped file of `file_len` bytes.
    fn validate(map: MmapRaw, file_len: u64) -> Result<Shared, AttachError> {
        if file_len < TO_APP_OFFSET as u64 || map.len() < TO_APP_OFFSET {
            return Err(AttachError::TooShort { len: file_len });
        }
        let unchecked = Shared {
            map: Arc::new(map),
            config: ChannelConfig::default(),
        };
        let header = unchecked.header();
        let magic = header.magic.load(Ordering::Acquire).to_le_bytes();
        if magic != MAGIC {
            return Err(AttachError::BadMagic { found: magic });
        }
        let version = header.version.load(Ordering::Relaxed);
        if version != VERSION {
            return Err(AttachError::UnsupportedVersion {
                found: version,
                expected: VERSION,
            });
        }
        let recorded_len = header.file_len.load(Ordering::Relaxed);
        if recorded_len != file_len {
            return Err(AttachError::SizeMismatch {
                header: recorded_len,
                file: file_len,
            });
        }
        let word = |w: &AtomicU64| usize::try_from(w.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        let config = ChannelConfig {
            to_app_capacity: word(&header.to_app_capacity),
            from_app_capacity: word(&header.from_app_capacity),
            max_body_len: word(&header.max_body_len),
        };
        let bad = |what| AttachError::BadGeometry { what };
        config
            .check()
            .map_err(|_| bad("ring capacities or body limit out of range"))?;
        if word(&header.to_app_offset) != TO_APP_OFFSET
            || word(&header.from_app_offset) != config.return_ring_offset()
        {
            return Err(bad("ring offsets do not follow the layout"));
        }
        if config.file_len() as u64 != file_len {
            return Err(bad("ring sizes do not add up to the file length"));
        }
        let shared = Shared {
            map: unchecked.map,
            config,
        };
        shared.ring(Direction::ToApp)?;
        shared.ring(Direction::FromApp)?;
        Ok(shared)
    }
}

fn map_file(path: &Path, writable: bool) -> Result<(MmapRaw, u64), AttachError> {
    let io = |error| AttachError::Io {
        path: path.to_path_buf(),
        error,
    };
    let file = OpenOptions::new()
        .read(true)
        .write(writable)
        .open(path)
        .map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len < TO_APP_OFFSET as u64 {
        return Err(AttachError::TooShort { len });
    }
    let map = if writable {
        MmapOptions::new().map_raw(&file)
    } else {
        MmapOptions::new().map_raw_read_only(&file)
    }
    .map_err(io)?;
    Ok((map, len))
}

/// A channel file opened to read its counters: what `gapless stat` uses. It maps the file read
/// only and takes neither end.
#[derive(Debug)]
pub struct Channel {
    shared: Shared,
}

impl Channel {
    /// Opens a channel file read only, validating it.
    pub fn open(path: impl AsRef<Path>) -> Result<Channel, AttachError> {
        let (map, len) = map_file(path.as_ref(), false)?;
        Ok(Channel {
            shared: Shared::validate(map, len)?,
        })
    }

    /// Both ends of a channel in this process's memory, for an application embedded in the
    /// gateway's process (the mapping is private to the process).
    pub fn anonymous(config: &ChannelConfig) -> Result<(GatewayEnd, AppEnd), CreateError> {
        config.check()?;
        let map = MmapOptions::new()
            .len(config.file_len())
            .map_anon()
            .map_err(|error| CreateError::Io {
                path: PathBuf::from("<anonymous>"),
                error,
            })?;
        let shared = Shared::format(MmapRaw::from(map), *config).map_err(CreateError::Layout)?;
        let gateway = GatewayEnd::new(shared.clone()).map_err(CreateError::NewChannel)?;
        let app = AppEnd::new(shared).map_err(CreateError::NewChannel)?;
        Ok((gateway, app))
    }

    /// The channel's sizes.
    pub fn config(&self) -> ChannelConfig {
        self.shared.config
    }

    /// The counters now.
    pub fn stats(&self) -> StatsSnapshot {
        StatsSnapshot::read(&self.shared)
    }
}

/// The gateway's end: delivers the inbound stream and session events, takes the application's
/// messages. One per channel, across all processes.
#[derive(Debug)]
pub struct GatewayEnd {
    delivery: Delivery,
    orders: Orders,
}

impl GatewayEnd {
    /// Creates the channel file at `path` (see [`channel_path`]), or reopens it as `start` says.
    pub fn create(
        path: impl AsRef<Path>,
        config: &ChannelConfig,
        start: Start,
    ) -> Result<GatewayEnd, CreateError> {
        config.check()?;
        let path = path.as_ref();
        let io = |error| CreateError::Io {
            path: path.to_path_buf(),
            error,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        if start == Start::Reopen {
            match OpenOptions::new().read(true).write(true).open(path) {
                Ok(file) => {
                    let len = file.metadata().map_err(io)?.len();
                    if len < TO_APP_OFFSET as u64 {
                        return Err(CreateError::Existing(AttachError::TooShort { len }));
                    }
                    let map = MmapOptions::new().map_raw(&file).map_err(io)?;
                    let shared = Shared::validate(map, len).map_err(CreateError::Existing)?;
                    if shared.config != *config {
                        return Err(CreateError::ConfigMismatch {
                            existing: shared.config,
                            requested: *config,
                        });
                    }
                    return GatewayEnd::new(shared).map_err(CreateError::Existing);
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(io(error)),
            }
        }
        // The new file is built beside the old one and renamed over it: an application
        // attaching meanwhile finds the old channel or the whole new one, and one still attached
        // to the old file keeps a valid mapping (it reattaches to see the new channel).
        let staging = path.with_extension(format!("{CHANNEL_EXTENSION}.new{}", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&staging)
            .map_err(io)?;
        file.set_len(config.file_len() as u64).map_err(io)?;
        let map = MmapOptions::new().map_raw(&file).map_err(io)?;
        let shared = Shared::format(map, *config).map_err(CreateError::Layout)?;
        std::fs::rename(&staging, path).map_err(io)?;
        GatewayEnd::new(shared).map_err(CreateError::NewChannel)
    }

    fn new(shared: Shared) -> Result<GatewayEnd, AttachError> {
        let to_app = shared.ring(Direction::ToApp)?.producer();
        let from_app = shared.ring(Direction::FromApp)?.consumer();
        // The last record still in the ring, else the last one the application consumed (it
        // publishes that seq before it moves `head`, so reading it after `head` is exact).
        let last_delivered_seq = match to_app.last_unconsumed() {
            Some(payload) => match record::decode_inbound(payload) {
                Ok(record) => record.seq(),
                Err(_) => to_app.ring().consumer_progress(),
            },
            None => to_app.ring().consumer_progress(),
        };
        Ok(GatewayEnd {
            delivery: Delivery {
                stats: StatsWriter::new(shared.clone()),
                shared,
                to_app,
                last_delivered_seq,
            },
            orders: Orders { from_app },
        })
    }

    /// The two halves, for a gateway whose network core delivers and whose session thread
    /// takes the application's messages.
    pub fn split(self) -> (Delivery, Orders) {
        (self.delivery, self.orders)
    }

    /// See [`Delivery::last_delivered_seq`].
    pub fn last_delivered_seq(&self) -> u64 {
        self.delivery.last_delivered_seq()
    }

    /// See [`Delivery::try_deliver`].
    pub fn try_deliver(
        &mut self,
        seq: u64,
        received_nanos: u64,
        message: &[u8],
    ) -> Result<(), DeliverError> {
        self.delivery.try_deliver(seq, received_nanos, message)
    }

    /// See [`Delivery::try_event`].
    pub fn try_event(&mut self, seq: u64, event: &SessionEvent<'_>) -> Result<(), DeliverError> {
        self.delivery.try_event(seq, event)
    }

    /// See [`Orders::try_take`].
    pub fn try_take<R>(
        &mut self,
        take: impl FnOnce(OutboundRecord<'_>) -> R,
    ) -> Result<Option<R>, RecvError> {
        self.orders.try_take(take)
    }

    /// See [`Delivery::to_app_pending`].
    pub fn to_app_pending(&self) -> usize {
        self.delivery.to_app_pending()
    }

    /// A handle on the counters block, for whichever gateway thread owns each counter.
    pub fn stats(&self) -> StatsWriter {
        self.delivery.stats.clone()
    }

    /// The channel's sizes.
    pub fn config(&self) -> ChannelConfig {
        self.delivery.config()
    }
}

/// The gateway's producing half of a channel: the application ring's writer.
#[derive(Debug)]
pub struct Delivery {
    shared: Shared,
    to_app: Producer,
    last_delivered_seq: u64,
    stats: StatsWriter,
}

impl Delivery {
    /// The `seq` of the last record committed to the application's ring (0 if none): exact even
    /// if the previous gateway was killed at any instant, because it is read back from the ring
    /// itself and the application's published progress, never from a counter that may lag.
    pub fn last_delivered_seq(&self) -> u64 {
        self.last_delivered_seq
    }

    fn push(
        &mut self,
        seq: u64,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), DeliverError> {
        match self.to_app.try_push_with(len, fill) {
            Ok(()) => {
                self.last_delivered_seq = seq;
                Ok(())
            }
            Err(PushError::Full) => Err(DeliverError::Full),
            Err(PushError::TooLarge { len, max }) => Err(DeliverError::TooLarge { len, max }),
            Err(PushError::Empty) => unreachable!("every record has a 16-byte header"),
        }
    }

    /// Delivers application message `seq` (the whole message as received) to the application,
    /// stamped with `received_nanos`, when its bytes were read, on
    /// [`monotonic_nanos`](crate::monotonic_nanos)'s clock. Counts it in
    /// [`Counter::AppDelivered`].
    pub fn try_deliver(
        &mut self,
        seq: u64,
        received_nanos: u64,
        message: &[u8],
    ) -> Result<(), DeliverError> {
        self.push(seq, APPLICATION_HEADER_LEN + message.len(), |dst| {
            record::encode_application(dst, seq, received_nanos, message);
        })?;
        self.stats.add(Counter::AppDelivered, 1);
        Ok(())
    }

    /// Delivers a session event; `seq` is the last inbound MsgSeqNum accounted for.
    pub fn try_event(&mut self, seq: u64, event: &SessionEvent<'_>) -> Result<(), DeliverError> {
        self.push(seq, record::event_len(event), |dst| {
            record::encode_event(dst, seq, event);
        })
    }

    /// Bytes delivered and not yet consumed by the application.
    pub fn to_app_pending(&self) -> usize {
        self.to_app.ring().occupancy()
    }

    /// The channel's sizes.
    pub fn config(&self) -> ChannelConfig {
        self.shared.config
    }
}

/// The gateway's consuming half of a channel: the reader of the application's messages.
#[derive(Debug)]
pub struct Orders {
    from_app: Consumer,
}

impl Orders {
    /// Takes the application's next message, if any: `take` sees it in the ring, and it is
    /// consumed when `take` returns. A malformed record is skipped and reported.
    pub fn try_take<R>(
        &mut self,
        take: impl FnOnce(OutboundRecord<'_>) -> R,
    ) -> Result<Option<R>, RecvError> {
        let Some(payload) = self.from_app.peek().map_err(RecvError::Corrupt)? else {
            return Ok(None);
        };
        let decoded = record::decode_outbound(payload);
        let result = decoded.map(take);
        self.from_app.commit();
        result.map(Some).map_err(RecvError::Malformed)
    }
}

/// The application's end: receives the gap-free inbound stream and session events, sends
/// messages. One per channel, across all processes.
#[derive(Debug)]
pub struct AppEnd {
    shared: Shared,
    to_app: Consumer,
    from_app: Producer,
    /// The seq of the record the last `peek` returned, published by `commit`.
    peeked_seq: u64,
    /// The last `peek` found a malformed record, to be skipped by the next.
    skip_malformed: bool,
}

impl AppEnd {
    /// Attaches to the channel file the gateway created, resuming at the first record not yet
    /// consumed.
    pub fn attach(path: impl AsRef<Path>) -> Result<AppEnd, AttachError> {
        let (map, len) = map_file(path.as_ref(), true)?;
        AppEnd::new(Shared::validate(map, len)?)
    }

    fn new(shared: Shared) -> Result<AppEnd, AttachError> {
        Ok(AppEnd {
            to_app: shared.ring(Direction::ToApp)?.consumer(),
            from_app: shared.ring(Direction::FromApp)?.producer(),
            shared,
            peeked_seq: 0,
            skip_malformed: false,
        })
    }

    /// The next record, left in the ring until [`AppEnd::commit`]. An application that stores
    /// its own state can make processing exactly-once: peek, apply, persist, commit.
    pub fn peek(&mut self) -> Result<Option<InboundRecord<'_>>, RecvError> {
        if core::mem::take(&mut self.skip_malformed) {
            // A no-op if `commit` already consumed it.
            self.to_app.commit();
        }
        let payload = match self.to_app.peek() {
            Ok(Some(payload)) => payload,
            Ok(None) => return Ok(None),
            Err(corrupt) => return Err(RecvError::Corrupt(corrupt)),
        };
        match record::decode_inbound(payload) {
            Ok(record) => {
                self.peeked_seq = record.seq();
                Ok(Some(record))
            }
            Err(error) => {
                // Consumed on the next call: the record is still borrowed here.
                self.skip_malformed = true;
                Err(RecvError::Malformed(error))
            }
        }
    }

    /// Consumes the record the last [`AppEnd::peek`] returned, publishing its seq for the
    /// gateway's recovery; false if there was none.
    pub fn commit(&mut self) -> bool {
        self.to_app.commit_with_progress(self.peeked_seq)
    }

    /// Receives the next record, if any: `read` sees it in the ring (no copy), and it is
    /// consumed when `read` returns. If the process dies while `read` runs, the record is
    /// delivered again on the next attach: at most that one record is seen twice, never is one
    /// lost.
    pub fn try_recv<R>(
        &mut self,
        read: impl FnOnce(InboundRecord<'_>) -> R,
    ) -> Result<Option<R>, RecvError> {
        let Some(record) = self.peek()? else {
            return Ok(None);
        };
        let result = read(record);
        self.commit();
        Ok(Some(result))
    }

    /// Sends a message of type `msg_type` whose body fields `body` writes straight into the
    /// ring; the gateway adds the header and trailer. Never blocks: [`SendError::Full`] means
    /// retry later, and then `body` has not run.
    pub fn try_send(
        &mut self,
        msg_type: &[u8],
        body: impl FnOnce(&mut BodyWriter<'_>),
    ) -> Result<(), SendError> {
        if msg_type.is_empty()
            || msg_type.len() > MAX_MSG_TYPE_LEN
            || msg_type
                .iter()
                .any(|&b| b == gapless_codec::SOH || b == b'=')
        {
            return Err(SendError::InvalidMsgType);
        }
        let max_body_len = self.shared.config.max_body_len;
        let claim = OUTBOUND_HEADER_LEN + msg_type.len() + max_body_len;
        let mut outcome = Ok(());
        let pushed = self.from_app.try_push_upto(claim, |dst| {
            let start = record::encode_send_header(dst, msg_type);
            let mut writer = BodyWriter::new(&mut dst[start..]);
            body(&mut writer);
            match writer.finish() {
                Ok(len) => start + len,
                Err(EncodeError::BufferTooSmall { .. }) => {
                    outcome = Err(SendError::TooLarge { max_body_len });
                    0
                }
                Err(error) => {
                    outcome = Err(SendError::InvalidField(error));
                    0
                }
            }
        });
        match pushed {
            Ok(_) => outcome,
            Err(PushError::Full) => Err(SendError::Full),
            // The claim fits the ring by construction (`ChannelConfig::check`).
            Err(_) => Err(SendError::TooLarge { max_body_len }),
        }
    }

    /// Asks the gateway to log the session out, with `text` as Text(58) if not empty.
    pub fn try_logout(&mut self, text: &[u8]) -> Result<(), SendError> {
        if text.len() > self.shared.config.max_body_len {
            return Err(SendError::TooLarge {
                max_body_len: self.shared.config.max_body_len,
            });
        }
        match self
            .from_app
            .try_push_with(OUTBOUND_HEADER_LEN + text.len(), |dst| {
                record::encode_logout(dst, text);
            }) {
            Ok(()) => Ok(()),
            Err(PushError::Full) => Err(SendError::Full),
            Err(_) => Err(SendError::TooLarge {
                max_body_len: self.shared.config.max_body_len,
            }),
        }
    }

    /// The channel's counters now.
    pub fn stats(&self) -> StatsSnapshot {
        StatsSnapshot::read(&self.shared)
    }

    /// The channel's sizes.
    pub fn config(&self) -> ChannelConfig {
        self.shared.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Reason;
    use crate::stats::SessionState;

    const SMALL: ChannelConfig = ChannelConfig {
        to_app_capacity: 1024,
        from_app_capacity: 1024,
        max_body_len: 200,
    };

    fn order(app: &mut AppEnd, id: &[u8]) -> Result<(), SendError> {
        app.try_send(b"D", |w| {
            w.field(11, id).field(55, b"EURUSD").char(54, b'1');
        })
    }

    fn take_send(gateway: &mut GatewayEnd) -> Option<(Vec<u8>, Vec<u8>)> {
        gateway
            .try_take(|record| match record {
                OutboundRecord::Send { msg_type, body } => (msg_type.to_vec(), body.to_vec()),
                OutboundRecord::Logout { text } => (b"logout".to_vec(), text.to_vec()),
            })
            .unwrap()
    }

    fn recv_seq(app: &mut AppEnd) -> Option<u64> {
        app.try_recv(|record| record.seq()).unwrap()
    }

    #[test]
    fn anonymous_channel_carries_both_directions() {
        let (mut gateway, mut app) = Channel::anonymous(&SMALL).unwrap();
        order(&mut app, b"O1").unwrap();
        app.try_logout(b"bye").unwrap();
        assert_eq!(
            take_send(&mut gateway),
            Some((b"D".to_vec(), b"11=O1\x0155=EURUSD\x0154=1\x01".to_vec()))
        );
        assert_eq!(
            take_send(&mut gateway),
            Some((b"logout".to_vec(), b"bye".to_vec()))
        );
        assert_eq!(take_send(&mut gateway), None);

        gateway
            .try_event(0, &SessionEvent::LoggedOn { reset: true })
            .unwrap();
        gateway.try_deliver(1, 0, b"8=FIX.4.4\x01").unwrap();
        let event = SessionEvent::Disconnected {
            reason: Reason::Timeout,
            text: b"no heartbeat",
        };
        gateway.try_event(1, &event).unwrap();
        let mut seen = Vec::new();
        while let Some(record) = app.try_recv(|record| format!("{record:?}")).unwrap() {
            seen.push(record);
        }
        assert_eq!(
            seen,
            [
                format!(
                    "{:?}",
                    InboundRecord::Event {
                        seq: 0,
                        event: SessionEvent::LoggedOn { reset: true }
                    }
                ),
                format!(
                    "{:?}",
                    InboundRecord::Application {
                        seq: 1,
                        received_nanos: 0,
                        message: b"8=FIX.4.4\x01"
                    }
                ),
                format!("{:?}", InboundRecord::Event { seq: 1, event }),
            ]
        );
        assert_eq!(gateway.last_delivered_seq(), 1);
    }

    #[test]
    fn full_application_ring_refuses_delivery_until_read() {
        let (mut gateway, mut app) = Channel::anonymous(&SMALL).unwrap();
        // 8-byte ring length word + 24-byte record header + 96 = 128: eight fill the ring.
        let message = [b'x'; 96];
        let mut delivered = 0;
        while gateway.try_deliver(delivered + 1, 0, &message).is_ok() {
            delivered += 1;
        }
        assert_eq!(
            gateway.try_deliver(delivered + 1, 0, &message),
            Err(DeliverError::Full)
        );
        assert_eq!(gateway.last_delivered_seq(), delivered);
        assert_eq!(recv_seq(&mut app), Some(1));
        assert_eq!(gateway.try_deliver(delivered + 1, 0, &message), Ok(()));
        assert_eq!(
            gateway.try_deliver(1, 0, &[b'x'; 600]),
            Err(DeliverError::TooLarge { len: 624, max: 504 })
        );
        assert_eq!(gateway.config(), SMALL);
        assert_eq!(app.stats().app_delivered, delivered + 1);
    }

    #[test]
    fn split_halves_work_on_their_own_threads() {
        let (gateway, mut app) = Channel::anonymous(&SMALL).unwrap();
        let (mut delivery, mut orders) = gateway.split();
        const N: u64 = 2_000;
        let deliverer = std::thread::spawn(move || {
            let mut seq = 1;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while seq <= N && std::time::Instant::now() < deadline {
                match delivery.try_deliver(seq, 0, b"m") {
                    Ok(()) => seq += 1,
                    Err(DeliverError::Full) => std::thread::yield_now(),
                    Err(error) => panic!("{error}"),
                }
            }
            delivery.last_delivered_seq()
        });
        let taker = std::thread::spawn(move || {
            let mut taken = 0;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while taken < N && std::time::Instant::now() < deadline {
                match orders.try_take(|record| matches!(record, OutboundRecord::Send { .. })) {
                    Ok(Some(true)) => taken += 1,
                    Ok(_) => std::thread::yield_now(),
                    Err(error) => panic!("{error}"),
                }
            }
            taken
        });
        let (mut sent, mut received) = (0, 0);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while (sent < N || received < N) && std::time::Instant::now() < deadline {
            if sent < N && order(&mut app, b"O").is_ok() {
                sent += 1;
            }
            match app.try_recv(|record| record.seq()).unwrap() {
                Some(seq) => {
                    received += 1;
                    assert_eq!(seq, received);
                }
                None => std::thread::yield_now(),
            }
        }
        assert_eq!(deliverer.join().unwrap(), N);
        assert_eq!(taker.join().unwrap(), N);
        assert_eq!((sent, received), (N, N));
    }

    #[test]
    fn full_gateway_ring_refuses_send_without_running_the_body() {
        let (mut gateway, mut app) = Channel::anonymous(&SMALL).unwrap();
        let mut sent = 0;
        while order(&mut app, b"O").is_ok() {
            sent += 1;
        }
        assert!(sent > 0);
        let mut ran = false;
        assert_eq!(app.try_send(b"D", |_| ran = true), Err(SendError::Full));
        assert!(!ran);
        assert!(take_send(&mut gateway).is_some());
        assert_eq!(order(&mut app, b"O"), Ok(()));
    }

    #[test]
    fn invalid_send_is_refused_and_nothing_is_written() {
        let (mut gateway, mut app) = Channel::anonymous(&SMALL).unwrap();
        assert_eq!(app.try_send(b"", |_| {}), Err(SendError::InvalidMsgType));
        assert_eq!(app.try_send(b"D=", |_| {}), Err(SendError::InvalidMsgType));
        assert_eq!(
            app.try_send(&[b'A'; 17], |_| {}),
            Err(SendError::InvalidMsgType)
        );
        assert_eq!(
            app.try_send(b"D", |w| {
                w.uint(34, 5);
            }),
            Err(SendError::InvalidField(EncodeError::SessionTag { tag: 34 }))
        );
        assert_eq!(
            app.try_send(b"D", |w| {
                w.field(58, &[b'x'; 300]);
            }),
            Err(SendError::TooLarge { max_body_len: 200 })
        );
        assert_eq!(take_send(&mut gateway), None);
        assert_eq!(order(&mut app, b"O9"), Ok(()));
        assert!(take_send(&mut gateway).is_some());
    }

    #[test]
    fn invalid_config_is_refused() {
        let mut config = SMALL;
        config.to_app_capacity = 1000;
        assert!(matches!(
            Channel::anonymous(&config),
            Err(CreateError::InvalidCapacity(1000))
        ));
        config = SMALL;
        config.max_body_len = 500;
        assert!(matches!(
            Channel::anonymous(&config),
            Err(CreateError::InvalidMaxBodyLen {
                max_body_len: 500,
                limit: 480
            })
        ));
    }

    fn file_channel() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = channel_path(dir.path().join("gapless"), "S1");
        (dir, path)
    }

    #[test]
    fn reopened_channel_keeps_positions_and_recovers_last_seq() {
        let (_dir, path) = file_channel();
        let mut gateway = GatewayEnd::create(&path, &SMALL, Start::Reopen).unwrap();
        for seq in 1..=5 {
            gateway.try_deliver(seq, 0, b"m").unwrap();
        }
        let mut app = AppEnd::attach(&path).unwrap();
        assert_eq!(recv_seq(&mut app), Some(1));
        assert_eq!(recv_seq(&mut app), Some(2));
        drop(gateway);
        // Unconsumed records in the ring: the last one's seq.
        let gateway = GatewayEnd::create(&path, &SMALL, Start::Reopen).unwrap();
        assert_eq!(gateway.last_delivered_seq(), 5);
        while recv_seq(&mut app).is_some() {}
        drop(gateway);
        // An empty ring: the application's published progress.
        let mut gateway = GatewayEnd::create(&path, &SMALL, Start::Reopen).unwrap();
        assert_eq!(gateway.last_delivered_seq(), 5);
        // A reset makes the newest seq smaller than the older ones.
        gateway
            .try_event(1, &SessionEvent::LoggedOn { reset: true })
            .unwrap();
        drop(gateway);
        let gateway = GatewayEnd::create(&path, &SMALL, Start::Reopen).unwrap();
        assert_eq!(gateway.last_delivered_seq(), 1);
        drop(app);
        let mut app = AppEnd::attach(&path).unwrap();
        assert_eq!(recv_seq(&mut app), Some(1));
        assert_eq!(recv_seq(&mut app), None);

        let gateway = GatewayEnd::create(&path, &SMALL, Start::Fresh).unwrap();
        assert_eq!(gateway.last_delivered_seq(), 0);
        let mut bigger = SMALL;
        bigger.to_app_capacity = 2048;
        assert!(matches!(
            GatewayEnd::create(&path, &bigger, Start::Reopen),
            Err(CreateError::ConfigMismatch { .. })
        ));
    }

    #[test]
    fn peeked_record_is_seen_again_until_committed() {
        let (_dir, path) = file_channel();
        let mut gateway = GatewayEnd::create(&path, &SMALL, Start::Fresh).unwrap();
        gateway.try_deliver(1, 0, b"a").unwrap();
        gateway.try_deliver(2, 0, b"b").unwrap();
        {
            let mut app = AppEnd::attach(&path).unwrap();
            assert_eq!(app.peek().unwrap().map(|r| r.seq()), Some(1));
        }
        let mut app = AppEnd::attach(&path).unwrap();
        assert_eq!(app.peek().unwrap().map(|r| r.seq()), Some(1));
        assert!(app.commit());
        assert!(!app.commit());
        assert_eq!(recv_seq(&mut app), Some(2));
    }

    fn write_file(path: &Path, at: usize, bytes: &[u8]) {
        let mut contents = std::fs::read(path).unwrap();
        contents[at..at + bytes.len()].copy_from_slice(bytes);
        std::fs::write(path, contents).unwrap();
    }

    #[test]
    fn attach_names_what_is_wrong() {
        let (_dir, path) = file_channel();
        drop(GatewayEnd::create(&path, &SMALL, Start::Fresh).unwrap());
        let good = std::fs::read(&path).unwrap();
        assert!(AppEnd::attach(&path).is_ok());
        assert!(Channel::open(&path).is_ok());

        write_file(&path, 0, b"NOTACHAN");
        assert!(matches!(
            AppEnd::attach(&path),
            Err(AttachError::BadMagic { found }) if &found == b"NOTACHAN"
        ));
        std::fs::write(&path, &good).unwrap();
        write_file(&path, 8, &7u32.to_le_bytes());
        assert!(matches!(
            AppEnd::attach(&path),
            Err(AttachError::UnsupportedVersion {
                found: 7,
                expected: VERSION
            })
        ));
        std::fs::write(&path, &good).unwrap();
        write_file(&path, 32, &2048u64.to_le_bytes());
        assert!(matches!(
            AppEnd::attach(&path),
            Err(AttachError::BadGeometry { .. })
        ));
        std::fs::write(&path, &good).unwrap();
        write_file(&path, TO_APP_OFFSET + 8, &9u32.to_le_bytes());
        assert!(matches!(
            AppEnd::attach(&path),
            Err(AttachError::BadRing {
                ring: "to-application",
                error: RegionError::UnsupportedVersion { found: 9 }
            })
        ));
        std::fs::write(&path, &good[..good.len() - 8]).unwrap();
        assert!(matches!(
            AppEnd::attach(&path),
            Err(AttachError::SizeMismatch { .. })
        ));
        std::fs::write(&path, &good[..100]).unwrap();
        assert!(matches!(
            AppEnd::attach(&path),
            Err(AttachError::TooShort { len: 100 })
        ));
        assert!(matches!(
            AppEnd::attach(path.with_extension("missing")),
            Err(AttachError::Io { .. })
        ));
        // A file that is not a channel is never overwritten by a reopen.
        std::fs::write(&path, vec![b'z'; 4096]).unwrap();
        assert!(matches!(
            GatewayEnd::create(&path, &SMALL, Start::Reopen),
            Err(CreateError::Existing(AttachError::BadMagic { .. }))
        ));
        std::fs::write(&path, vec![0; 100]).unwrap();
        assert!(matches!(
            GatewayEnd::create(&path, &SMALL, Start::Reopen),
            Err(CreateError::Existing(AttachError::TooShort { len: 100 }))
        ));
        // Starting fresh replaces it, leaving no staging file behind.
        assert!(GatewayEnd::create(&path, &SMALL, Start::Fresh).is_ok());
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn malformed_inbound_record_is_skipped_and_reported() {
        let (_dir, path) = file_channel();
        let mut gateway = GatewayEnd::create(&path, &SMALL, Start::Fresh).unwrap();
        gateway.try_deliver(1, 0, b"a").unwrap();
        gateway.try_deliver(2, 0, b"b").unwrap();
        // Turn record 1's kind byte into one no gateway writes.
        write_file(&path, TO_APP_OFFSET + gapless_shm::DATA_OFFSET + 8, &[77]);
        let mut app = AppEnd::attach(&path).unwrap();
        assert_eq!(
            app.try_recv(|r| r.seq()),
            Err(RecvError::Malformed(RecordError::UnknownKind(77)))
        );
        assert_eq!(recv_seq(&mut app), Some(2));
        assert_eq!(recv_seq(&mut app), None);
    }

    #[test]
    fn stats_written_by_the_gateway_are_read_by_anyone() {
        let (dir, path) = file_channel();
        let mut gateway = GatewayEnd::create(&path, &SMALL, Start::Fresh).unwrap();
        let stats = gateway.stats();
        stats.set_identity(b"S1", b"CLIENT", b"VENUE");
        stats.set_state(SessionState::Recovering);
        stats.add(Counter::MessagesIn, 3);
        stats.add(Counter::MessagesIn, 2);
        stats.add(Counter::GapsDetected, 1);
        stats.set_held(4);
        stats.record_recovery(500);
        stats.record_recovery(200);
        stats.touch(99);
        gateway.try_deliver(1, 0, b"m").unwrap();
        let snapshot = Channel::open(&path).unwrap().stats();
        assert_eq!(snapshot.state, SessionState::Recovering);
        assert_eq!(snapshot.messages_in, 5);
        assert_eq!(snapshot.gaps_detected, 1);
        assert_eq!(snapshot.app_delivered, 1);
        assert_eq!(snapshot.held, 4);
        assert_eq!(snapshot.recoveries, 2);
        assert_eq!(snapshot.last_recovery_nanos, 200);
        assert_eq!(snapshot.max_recovery_nanos, 500);
        assert_eq!(snapshot.updated_nanos, 99);
        assert_eq!(snapshot.to_app_pending, 40);
        assert_eq!(snapshot.from_app_pending, 0);
        assert_eq!(snapshot.session_name.as_bytes(), b"S1");
        assert_eq!(snapshot.sender_comp_id.as_bytes(), b"CLIENT");
        assert_eq!(snapshot.target_comp_id.as_bytes(), b"VENUE");
        // The counters block sits where the crate doc says.
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            bytes[COUNTERS_OFFSET..COUNTERS_OFFSET + 8],
            5u64.to_le_bytes()
        );
        assert_eq!(
            bytes[COUNTERS_OFFSET + 8..COUNTERS_OFFSET + 16],
            5u64.to_le_bytes()
        );
        assert_eq!(
            &bytes[COUNTERS_OFFSET + 192..COUNTERS_OFFSET + 198],
            b"CLIENT"
        );

        std::fs::write(dir.path().join("gapless/notes.txt"), b"x").unwrap();
        drop(
            GatewayEnd::create(
                channel_path(dir.path().join("gapless"), "A0"),
                &SMALL,
                Start::Fresh,
            )
            .unwrap(),
        );
        let listed = crate::list_channels(dir.path().join("gapless")).unwrap();
        assert_eq!(
            listed,
            [channel_path(dir.path().join("gapless"), "A0"), path]
        );
    }

    #[test]
    fn file_layout_is_as_documented() {
        let (_dir, path) = file_channel();
        drop(GatewayEnd::create(&path, &SMALL, Start::Fresh).unwrap());
        let bytes = std::fs::read(&path).unwrap();
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        assert_eq!(&bytes[0..8], b"GLCHANNL");
        assert_eq!(bytes[8..12], 2u32.to_le_bytes());
        assert_eq!(word(16), (896 + 1024 + 384 + 1024) as u64);
        assert_eq!(bytes.len() as u64, word(16));
        assert_eq!(word(24), 512);
        assert_eq!(word(32), 1024);
        assert_eq!(word(40), 896 + 1024);
        assert_eq!(word(48), 1024);
        assert_eq!(word(56), 200);
        assert_eq!(&bytes[512..520], b"GLSHRING");
        assert_eq!(&bytes[896 + 1024..896 + 1024 + 8], b"GLSHRING");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Deliver(usize),
        Event,
        Recv,
        RestartGateway,
        RestartApp,
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (1usize..=300).prop_map(Op::Deliver),
            1 => Just(Op::Event),
            4 => Just(Op::Recv),
            1 => Just(Op::RestartGateway),
            1 => Just(Op::RestartApp),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Through wrap-arounds of a small ring and restarts of either end, the application
        /// receives exactly what was delivered, in order, and every restarted gateway recovers
        /// the seq of the last record it had delivered.
        #[test]
        fn channel_matches_a_queue_model(ops in proptest::collection::vec(op(), 1..300)) {
            let (_dir, path) = file_channel();
            let mut gateway = GatewayEnd::create(&path, &SMALL, Start::Fresh).unwrap();
            let mut app = AppEnd::attach(&path).unwrap();
            let mut model = std::collections::VecDeque::new();
            let mut seq = 0u64;
            for op in ops {
                match op {
                    Op::Deliver(len) => {
                        let message = vec![seq as u8; len];
                        if gateway.try_deliver(seq + 1, 0, &message).is_ok() {
                            seq += 1;
                            model.push_back((seq, message));
                        }
                    }
                    Op::Event => {
                        // A reset: the seq goes back to 1.
                        if gateway.try_event(1, &SessionEvent::LoggedOn { reset: true }).is_ok() {
                            seq = 1;
                            model.push_back((1, Vec::new()));
                        }
                    }
                    Op::Recv => {
                        let got = app
                            .try_recv(|record| match record {
                                InboundRecord::Application { seq, message, .. } => (seq, message.to_vec()),
                                InboundRecord::Event { seq, .. } => (seq, Vec::new()),
                            })
                            .unwrap();
                        proptest::prop_assert_eq!(got, model.pop_front());
                    }
                    Op::RestartGateway => {
                        drop(gateway);
                        gateway = GatewayEnd::create(&path, &SMALL, Start::Reopen).unwrap();
                        proptest::prop_assert_eq!(gateway.last_delivered_seq(), seq);
                    }
                    Op::RestartApp => app = AppEnd::attach(&path).unwrap(),
                }
            }
        }
    }
}
