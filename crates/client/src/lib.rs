//! # gapless-client: the application's side of a Gapless session
//!
//! What this crate is: the interface between the gateway and a trading application. The gateway
//! gives each FIX session a *channel*, one memory-mapped file (`/dev/shm/gapless/<session>.chan`
//! by default) holding a header, a live counters block and two single-producer single-consumer
//! rings (`gapless-shm`): one carries the session's inbound application messages, gap-free and
//! in MsgSeqNum order, and its session events to the application; the other carries the
//! application's messages to the gateway, which stamps the header and trailer and sends them.
//! The application attaches from its own process with [`AppEnd::attach`]; an application
//! embedded in the gateway's process uses [`Channel::anonymous`], the same API over anonymous
//! memory. `gapless stat` reads the counters with [`Channel::open`] and [`list_channels`].
//!
//! What it is not: a FIX engine (the gateway does sequencing, recovery, heartbeats and framing),
//! a message object model (records borrow the ring; parse them with `gapless-codec`), or a
//! blocking API: a full ring is an error value ([`SendError::Full`], [`DeliverError::Full`]),
//! an empty one is `None`, and waiting is the caller's idle strategy. The gateway stops reading
//! a session's socket while that session's application ring is full.
//!
//! ```
//! use gapless_client::{Channel, ChannelConfig, InboundRecord, OutboundRecord};
//!
//! let (mut gateway, mut app) = Channel::anonymous(&ChannelConfig::default()).unwrap();
//! app.try_send(b"D", |body| {
//!     body.field(11, b"O1").field(55, b"EURUSD").char(54, b'1').uint(38, 100);
//! })
//! .unwrap();
//! let taken = gateway.try_take(|record| match record {
//!     OutboundRecord::Send { msg_type, body } => (msg_type.to_vec(), body.len()),
//!     OutboundRecord::Logout { .. } => unreachable!(),
//! });
//! assert_eq!(taken.unwrap(), Some((b"D".to_vec(), 28)));
//!
//! gateway.try_deliver(7, 0, b"8=FIX.4.4\x019=5\x0135=0\x0110=163\x01").unwrap();
//! let seq = app.try_recv(|record| record.seq()).unwrap();
//! assert_eq!(seq, Some(7));
//! ```
//!
//! ## Guarantees
//!
//! - **Nothing lost, nothing twice across restarts.** The application's read position is the
//!   ring's `head`, in the file. A record is consumed (one store of `head`) only after the
//!   callback of [`AppEnd::try_recv`] returns, so an application killed at any instant resumes
//!   at the first record it had not finished: the callback may see that one record again if the
//!   process died between the callback's return and the commit, and sees no other twice. An
//!   application that keeps durable state of its own gets exactly-once with [`AppEnd::peek`],
//!   applying the record and recording that in its state, then [`AppEnd::commit`].
//! - **Exact recovery of the gateway's inbound position.** Every gateway-to-application record
//!   carries a `seq` (an application message's own MsgSeqNum; for an event, the last inbound
//!   MsgSeqNum accounted for). The application publishes the `seq` of each record it consumes
//!   (`progress`, see below) *before* it moves `head`. A restarted gateway's
//!   [`GatewayEnd::last_delivered_seq`] is the `seq` of the last committed record still in the
//!   ring (found by walking from `head`; the ring's producer also finds records committed after
//!   the last stored `tail`), or if the ring is empty, the published progress, which then
//!   belongs to the last record ever committed. So it is exact after a SIGKILL of the gateway or
//!   the application at any instant. A "max of counters" would not be: a sequence reset makes
//!   the newest `seq` smaller than older ones.
//! - **No allocation** on [`AppEnd::try_recv`], [`AppEnd::try_send`], [`GatewayEnd::try_deliver`],
//!   [`GatewayEnd::try_event`] and [`GatewayEnd::try_take`]: records are read in place and written
//!   in place (`tests/zero_alloc.rs`).
//! - One [`GatewayEnd`] and one [`AppEnd`] per channel across all processes; nothing enforces
//!   it, as with any SPSC ring. A gateway that delivers on one thread and takes orders on
//!   another splits its end ([`GatewayEnd::split`]) into a [`Delivery`] and an [`Orders`], each
//!   the only user of its ring.
//!
//! ## File layout (version 2; every integer little-endian)
//!
//! | offset | size | field |
//! | ---: | ---: | --- |
//! | 0 | 8 | magic `GLCHANNL`, written last when the file is created |
//! | 8 | 4 | layout version, 2 |
//! | 12 | 4 | reserved, 0 |
//! | 16 | 8 | file length in bytes |
//! | 24 | 8 | offset of the to-application ring block, 512 |
//! | 32 | 8 | capacity of its data area `A` (power of two, at least 256) |
//! | 40 | 8 | offset of the from-application ring block, `512 + 384 + A` |
//! | 48 | 8 | capacity of its data area `B` |
//! | 56 | 8 | `max_body_len`: the longest body a send may carry |
//! | 64 | 64 | reserved, 0 |
//! | 128 | 384 | live counters block (below) |
//! | 512 | 384 + A | to-application ring block (gateway produces, application consumes) |
//! | 896 + A | 384 + B | from-application ring block (application produces, gateway consumes) |
//!
//! The file is `896 + A + 384 + B` bytes. Each ring block is `gapless-shm`'s layout: a 128-byte
//! ring header (`GLSHRING`, version 2, capacity), the producer's `tail` at +128, the consumer's
//! `head` at +256 and its `progress` word at +264 (the to-application consumer keeps the `seq`
//! of the last record it consumed there), the data area at +384; records are a `u32` length
//! written last, a reserved `u32`, the payload, padding to 8 bytes.
//!
//! ### Live counters block (offset 128)
//!
//! Written only by the gateway, with relaxed or release stores; read by anyone.
//!
//! | offset | size | field |
//! | ---: | ---: | --- |
//! | 128 | 8 | session state code ([`SessionState::code`]) |
//! | 136 | 8 | messages in |
//! | 144 | 8 | messages out |
//! | 152 | 8 | application messages delivered |
//! | 160 | 8 | gaps detected |
//! | 168 | 8 | ResendRequests sent |
//! | 176 | 8 | ResendRequests answered |
//! | 184 | 8 | messages held behind a gap now |
//! | 192 | 8 | gap recoveries completed |
//! | 200 | 8 | last recovery time, ns |
//! | 208 | 8 | longest recovery time, ns |
//! | 216 | 8 | time of the last update, ns on the host's monotonic clock |
//! | 224 | 32 | reserved, 0 |
//! | 256 | 64 | session name, zero-padded |
//! | 320 | 32 | SenderCompID, zero-padded |
//! | 352 | 32 | TargetCompID, zero-padded |
//! | 384 | 128 | reserved, 0 |
//!
//! ### Gateway-to-application records
//!
//! | offset | size | field |
//! | ---: | ---: | --- |
//! | 0 | 1 | kind: 1 application message, 2 logged on, 3 gap detected, 4 recovered, 5 logged out, 6 disconnected |
//! | 1 | 1 | logged on: 1 if sequence numbers were reset; logged out, disconnected: [`Reason`] code; else 0 |
//! | 2 | 6 | reserved, 0 |
//! | 8 | 8 | `seq` |
//! | 16 | rest | application message: `received_nanos: u64` (when the gateway read it, on the host's monotonic clock: [`monotonic_nanos`]), then the whole message, `8=` to `10=nnn<SOH>`; gap detected: `begin: u64`, `end: u64`; recovered: `after_nanos: u64`; logged out, disconnected: reason text, at most 120 bytes; logged on: nothing |
//!
//! ### Application-to-gateway records
//!
//! | offset | size | field |
//! | ---: | ---: | --- |
//! | 0 | 1 | kind: 1 send, 2 logout |
//! | 1 | 1 | send: MsgType length `m`, 1 to 16; logout: 0 |
//! | 2 | 6 | reserved, 0 |
//! | 8 | m | send: MsgType |
//! | 8 + m | rest | send: body fields `tag=value<SOH>...`, none of 8, 9, 10, 34, 35, 49, 52, 56; logout: Text(58), may be empty |
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod body;
mod channel;
mod record;
mod stats;
mod time;

pub use body::BodyWriter;
pub use channel::{
    AppEnd, AttachError, CHANNEL_EXTENSION, COUNTERS_OFFSET, Channel, ChannelConfig, CreateError,
    DEFAULT_DIR, DeliverError, Delivery, GatewayEnd, MAGIC, Orders, RecvError, SendError, Start,
    TO_APP_OFFSET, VERSION, channel_path,
};
pub use record::{
    APPLICATION_HEADER_LEN, INBOUND_HEADER_LEN, InboundRecord, MAX_MSG_TYPE_LEN,
    MAX_REASON_TEXT_LEN, OUTBOUND_HEADER_LEN, OutboundRecord, Reason, RecordError, SessionEvent,
    decode_inbound, decode_outbound,
};
pub use stats::{
    COMP_ID_LEN, Counter, Name, SESSION_NAME_LEN, SessionState, StatsSnapshot, StatsWriter,
    list_channels,
};
pub use time::monotonic_nanos;
