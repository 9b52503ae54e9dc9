//! # gapless-abuse: hostile FIX peers against a running gateway
//!
//! What this is: the attacks of the abuse campaign (`scripts/abuse-campaign.sh`,
//! docs/reliability.md) as data ([`attack::ATTACKS`]), each bounded in connections, bytes and
//! time, and the peer that runs them over loopback TCP ([`peer::Peer`]). Every attack checks,
//! from the peer's side, what the gateway must do: close a connection it cannot use, keep a
//! session it can use answering, answer no more ResendRequests than its limit. The campaign
//! script checks the rest (the gateway stays up, its memory, its log, the other sessions).
//!
//! What it is not: a fuzzer (the corpus inputs and their mutations are fixed by a seed, see
//! [`corpus`]), a load generator, or a FIX engine: it speaks just enough FIX to log on and probe.
#![forbid(unsafe_code)]

pub mod attack;
pub mod corpus;
pub mod peer;
