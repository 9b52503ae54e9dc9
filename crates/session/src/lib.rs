//! # gapless-session: the FIX session layer, sans IO
//!
//! What this crate is: the state machine of one FIX session (FIX.4.0 to FIX.4.4, and FIXT.1.1
//! carrying FIX.5.0, SP1 and SP2): Logon and Logout, heartbeats and TestRequests, Rejects, and
//! above all gap recovery. On a gap it sends a ResendRequest at once, holds every later message
//! in MsgSeqNum order, lets nothing past the gap reach the application, drops duplicates, and
//! releases the held messages in order as soon as the gap is filled, so that the application
//! sees each message exactly once, in order. It answers the peer's ResendRequests from the
//! store, streaming, with admin messages collapsed into SequenceReset-GapFill runs.
//!
//! What it is not: it has no sockets, threads or clocks. The caller passes in bytes or decoded
//! messages and the time ([`Now`]), and takes out bytes to send, events and the next deadline.
//! Framing is `gapless-codec`'s, validation `gapless-dict`'s, journaling `gapless-store`'s.
//!
//! ## Calling order
//!
//! Methods come in three kinds: getters (`state`, `counters`, ...), input (`handle_*`, `send`,
//! `logout`) and output (`poll_*`). After every input call:
//!
//! 1. drain [`Session::poll_event`] until `None` (held messages are released here, in order);
//! 2. write out [`Session::poll_transmit`], reporting progress with [`Session::transmitted`];
//! 3. sleep or spin until [`Session::poll_timeout`], then call [`Session::handle_timeout`].
//!
//! On [`Event::Disconnect`], send whatever `poll_transmit` still returns (a Logout, say), then
//! close the connection.
//!
//! ```
//! use gapless_codec::value::UtcTimestamp;
//! use gapless_dict::Version;
//! use gapless_session::{Instant, Now, Role, Session, SessionConfig, State};
//! use gapless_store::MemoryStore;
//!
//! let config = SessionConfig::new(Version::Fix44, Role::Initiator, "CLIENT", "VENUE");
//! let mut session = Session::new(config, MemoryStore::new());
//! let now = Now::new(Instant::from_nanos(0), UtcTimestamp::from_unix_nanos(1_795_500_455_000_000_000));
//! session.handle_connect(now);
//! assert_eq!(session.state(), State::LogonSent);
//! let logon = session.poll_transmit().unwrap();
//! assert!(logon.starts_with(b"8=FIX.4.4\x019="));
//! ```
#![forbid(unsafe_code)]

mod config;
mod event;
mod hold;
mod outbound;
mod resend;
mod screen;
mod session;
mod time;

pub use config::{HoldLimits, LogonCredentials, QueueOverflow, ResendLimits, Role, SessionConfig};
pub use event::{Counters, DisconnectReason, Event};
pub use outbound::SendError;
pub use screen::InboundScreen;
pub use session::{DefaultHooks, Disposition, FastPathError, Hooks, Session, State};
pub use time::{Instant, Now};
