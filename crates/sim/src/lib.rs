//! # gapless-sim: deterministic simulation of FIX sessions under faults
//!
//! What this crate is:
//!
//! - [`fault`]: a fault injector for one direction of a FIX connection. It works on whole
//!   messages of a byte stream (drop, duplicate, corrupt, reorder by delaying behind later
//!   messages, cut the connection), driven by a [`FaultPlan`] and a seeded [`Rng`], and knows
//!   nothing of time or sockets. It is meant to be shared: the simulator here, the simulated
//!   venue and a FIX-aware proxy all inject faults through it.
//! - [`sim`]: a simulator of two `gapless-session` sessions, initiator and acceptor, over a
//!   link with latency, on a virtual clock. Both applications send numbered News messages; the
//!   link is damaged in both directions; connections are cut and re-established; either side is
//!   restarted from its store. Then the faults stop, and the run checks that every application
//!   message arrived exactly once and in order, that the sessions settled (logged on, no gap,
//!   nothing held, sequence numbers agreeing) within a bounded virtual time, and that the hold
//!   queues never exceeded their limits. One `u64` seed decides the whole run, so a failure
//!   replays exactly, with a trace.
//!
//! What it is not: a network emulator or a benchmark. Nothing here sleeps, reads a clock, opens a
//! socket or spawns a thread; the runtime's I/O is not exercised, and the virtual link delivers
//! bytes in whole messages.
#![forbid(unsafe_code)]

pub mod fault;
pub mod rng;
pub mod sim;

pub use fault::{Fault, FaultInjector, FaultPlan, Wire};
pub use rng::Rng;
pub use sim::{Failure, Intensity, QUIET_LIMIT, Report, run};
