//! # gapless-codec: FIX tag=value, in place
//!
//! What this crate is: the lowest layer of Gapless. It finds complete FIX messages in a byte
//! stream ([`decode`]), checks their framing (BeginString first, BodyLength second, MsgType
//! third, a three-digit CheckSum last and correct), gives a view of each message that borrows
//! the receive buffer ([`Message`]), reads typed values without allocating ([`value`]), and
//! writes messages into a caller's buffer ([`Encoder`]).
//!
//! What it is not: it knows no data dictionary (which tags exist, which are required, which
//! values are allowed: see `gapless-dict`), no session rules (sequence numbers, resends: see
//! `gapless-session`), and no I/O. It never allocates on the decode and encode paths, never reads
//! a clock, and never panics on input.
//!
//! ```
//! use gapless_codec::{decode, Decoded, Encoder, Limits, StandardHeader};
//! use gapless_codec::value::{TimePrecision, UtcTimestamp};
//!
//! let mut buf = [0u8; 256];
//! let now = UtcTimestamp::from_unix_nanos(1_795_500_455_000_000_000);
//! let mut encoder = Encoder::new(&mut buf, b"FIX.4.4", b"0");
//! encoder.header(&StandardHeader::new(b"CLIENT", b"VENUE", 1, now, TimePrecision::Millis));
//! let bytes = encoder.finish().unwrap();
//!
//! let Decoded::Message(message) = decode(bytes, &Limits::default()) else { unreachable!() };
//! assert_eq!(message.msg_type(), b"0");
//! assert_eq!(message.msg_seq_num(), Ok(1));
//! ```
#![forbid(unsafe_code)]

mod encode;
mod frame;
mod message;
pub mod tag;
pub mod value;

pub use encode::{EncodeError, Encoder, FieldWriter, SESSION_OWNED_TAGS, StandardHeader};
pub use frame::{Decoded, FrameError, Garbled, Limits, Resync, checksum, decode};
pub use message::{Field, FieldError, FieldSyntaxError, Fields, Message, walk_fields};
pub use tag::DATA_FIELDS;

/// The FIX field delimiter, Start Of Header.
pub const SOH: u8 = 0x01;
