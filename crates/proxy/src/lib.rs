//! # gapless-proxy: hostile conditions between two FIX engines, and a recording application
//!
//! What this crate is: the pieces of the interoperability and crash scripts
//! (`scripts/interop-quickfix.sh`, `scripts/crash-campaign.sh`; docs/interop.md).
//!
//! - [`Direction`]: one direction of a proxied FIX connection. It frames the byte stream into
//!   whole messages and hands each to the simulation's one fault injector
//!   ([`gapless_sim::fault::FaultInjector`]), which drops, duplicates, delays, corrupts or cuts
//!   with seeded probabilities. On top of that it drops chosen MsgSeqNums deterministically, the
//!   first time each is sent without PossDupFlag=Y, so a script can induce exactly one gap at a
//!   known place and the resend passes. Admin messages and resends can be spared the seeded
//!   faults ([`Spare`]), as `gapless venue` spares them, so that recovery always converges.
//! - [`Recorder`]: the bookkeeping of a test application that must see every message exactly
//!   once and in order: each application message's id (ClOrdID `O<n>` of a NewOrderSingle,
//!   ExecID `<n>` of an ExecutionReport) is appended to a file before the channel record is
//!   committed, so the check spans restarts of the gateway and of the application.
//!
//! The binaries: `gapless-proxy` (TCP, one connection pair at a time, blocking sockets, one
//! thread per direction) and `gapless-recorder` (attaches to a Gapless application channel,
//! sends NewOrderSingles or ExecutionReports, records what it receives).
//!
//! What it is not: a production component, a FIX engine (it never answers a message) or a
//! second fault injector: every probabilistic fault comes from `gapless-sim`.
#![forbid(unsafe_code)]

mod direction;
mod recorder;

pub use direction::{Direction, DirectionStats, Output, Spare};
pub use recorder::{AppId, IdStream, Outcome, RecordError, Recorder, app_id};
