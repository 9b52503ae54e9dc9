//! # gapless-venue: a simulated exchange that misbehaves on purpose
//!
//! What this crate is: `gapless venue`, a FIX counterparty for tests, the demo and benchmarks. It
//! runs one FIX session (FIX.4.2, FIX.4.4, or FIX.5.0 SP2 and its predecessors over FIXT.1.1) as
//! acceptor or initiator on kernel TCP, built from the same parts as the gateway: the sans-IO
//! `gapless-session` with a `gapless-store` journal (in memory, or in files that survive a
//! restart so that sequence numbers continue) on `gapless-transport`'s non-blocking
//! [`SocketTransport`](gapless_transport::SocketTransport). After logon it:
//!
//! - streams `messages` unsolicited ExecutionReports at `rate` per second (or as fast as the
//!   connection takes them, never queueing more than one batch ahead), with ExecID (17) = the
//!   stream index 1, 2, 3, ..., so that a receiver can check that it saw each exactly once, in
//!   order;
//! - answers every NewOrderSingle with exactly one ExecutionReport echoing its ClOrdID (ExecType
//!   New, or a full fill), and counts ClOrdIDs that break `O1, O2, O3, ...`;
//! - damages its own outbound application messages on request through `gapless-sim`'s seeded
//!   fault injector (drop, duplicate, reorder, corrupt, cut), plus a forced gap at chosen
//!   MsgSeqNums and one forced disconnect. Logon and the other admin messages are never harmed,
//!   and resends only if asked, so the peer's recovery always converges: every message was
//!   journaled before it was damaged, and a ResendRequest brings it back.
//!
//! A run ends when the peer has confirmed the whole stream (a TestRequest it can only answer
//! after processing everything before it in order), when the peer logs out, when `stop` is set
//! or when `duration` elapses; the venue then logs out cleanly and returns a [`VenueReport`].
//!
//! What it is not: a matching engine (orders are acknowledged, never matched, and nothing is
//! kept about them but the ClOrdID check), a multi-session server (one session, one connection
//! at a time; a second connection is refused), or a network emulator (faults are whole FIX
//! messages; latency and bandwidth are the loopback's). ExecIDs and the order check start again
//! with every run, even when the store continues the sequence numbers.
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use gapless_venue::{Venue, VenueConfig};
//!
//! let mut config = VenueConfig::acceptor("127.0.0.1:0".parse().unwrap());
//! config.messages = 1_000;
//! config.faults.plan.drop = 0.01;
//! config.faults.gap_at = vec![100];
//! let venue = Venue::bind(&config).unwrap();
//! println!("listening on {:?}", venue.local_addr());
//! let report = venue.run(&AtomicBool::new(false), |progress| eprintln!("{progress}")).unwrap();
//! println!("{report}");
//! ```
#![forbid(unsafe_code)]

mod args;
mod config;
mod error;
mod exec;
mod faults;
mod report;
mod stream;
mod venue;

pub use args::{ApplVerArg, FixVersionArg, IdleArg, OrderReplyArg, RoleArg, VenueArgs};
pub use config::{Backoff, ConfigError, DEFAULT_PORT, FaultConfig, OrderReply, VenueConfig};
pub use error::{BindError, RunError, VenueError};
pub use gapless_runtime::IdleStrategy;
pub use gapless_session::Role;
pub use gapless_sim::FaultPlan;
pub use report::{EndReason, FaultCounts, VenueProgress, VenueReport};
pub use stream::{StreamCheck, stream_position};
pub use venue::{Venue, run};
