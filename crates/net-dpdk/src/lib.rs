//! # gapless-net-dpdk: kernel bypass behind the transport contract
//!
//! What this crate is: a [`gapless_transport::Transport`] whose TCP runs in user space
//! ([`TcpTransport`], on smoltcp: Ethernet, ARP, IPv4, TCP, one socket per FIX session) over a
//! network device; with the `dpdk` feature, the device is a DPDK port polled in bursts
//! ([`dpdk::DpdkDevice`]), set up from EAL arguments in configuration ([`dpdk::Eal`],
//! [`dpdk::Port`]). Sessions, the sequence checker and the store run on it unchanged.
//!
//! What it is not: a general TCP/IP stack (IPv4 only, no IP fragments, no TCP options beyond
//! smoltcp's window scaling and MSS), a driver (DPDK's poll-mode drivers are), or a scheduler:
//! the caller busy-polls, as with every other backend.
//!
//! ## What is and is not copied
//!
//! * **Receive.** A frame is handed to smoltcp in place, in the mbuf's data (no copy into a
//!   staging buffer), unless the driver chained it over several mbufs; then it is gathered into
//!   one scratch buffer. smoltcp then copies the TCP payload into its socket's ring buffer
//!   (copy 1): that is how smoltcp reorders and windows, and its ring is not contiguous.
//!   [`Transport::poll`](gapless_transport::Transport::poll) copies from the ring into the
//!   connection's contiguous receive buffer (copy 2), where FIX is parsed in place as on every
//!   other backend. So: two copies of the payload inbound, none of the frame.
//! * **Send.** [`Transport::send`](gapless_transport::Transport::send) copies into smoltcp's
//!   send ring (copy 1); smoltcp builds each frame, headers and payload, straight into a freshly
//!   allocated mbuf (copy 2, the segmentation copy), which is handed to the NIC queue as is.
//!
//! Parsing FIX straight from the mbuf, with no copy at all, needs a TCP receive path that keeps
//! in-order segments in their mbufs and copies only the messages that span two of them; smoltcp
//! does not offer that. The copies are of a few hundred bytes per message, in cache.
//!
//! ## Time
//!
//! smoltcp needs the time for retransmissions and the connect timeout. [`TcpTransport::poll_at`]
//! takes it as a parameter; `Transport::poll` reads the monotonic clock, like the other
//! backends' kernel calls do implicitly.
// Unsafe code only in the DPDK module, which calls C; the stack is safe Rust.
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(feature = "dpdk")]
#[allow(unsafe_code)]
pub mod dpdk;
mod stack;
#[cfg(test)]
mod wire;

pub use stack::{StackConfig, StackError, TcpTransport};
