//! What a venue run tells its caller: progress while it runs, a report when it ends.

use core::fmt;
use core::time::Duration;
use std::net::SocketAddr;

/// Faults injected into the venue's outbound messages, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub dropped: u64,
    pub duplicated: u64,
    /// Held back behind later messages: reordered.
    pub delayed: u64,
    pub corrupted: u64,
    /// Connections cut at random.
    pub cuts: u64,
    /// Messages dropped by `--gap-at`.
    pub forced_gaps: u64,
    /// Connections cut by `--disconnect-after`.
    pub forced_disconnects: u64,
}

impl FaultCounts {
    pub fn total(&self) -> u64 {
        self.dropped
            + self.duplicated
            + self.delayed
            + self.corrupted
            + self.cuts
            + self.forced_gaps
            + self.forced_disconnects
    }
}

impl fmt::Display for FaultCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} dropped, {} duplicated, {} reordered, {} corrupted, {} cuts, {} forced gaps, \
             {} forced disconnects",
            self.dropped,
            self.duplicated,
            self.delayed,
            self.corrupted,
            self.cuts,
            self.forced_gaps,
            self.forced_disconnects
        )
    }
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// The stream was sent, the peer confirmed it had processed all of it, and the venue logged
    /// out.
    StreamAcknowledged,
    /// The peer logged out.
    PeerLoggedOut,
    /// The caller's `stop` flag was set.
    Stopped,
    /// `duration` elapsed.
    DurationElapsed,
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EndReason::StreamAcknowledged => "stream acknowledged",
            EndReason::PeerLoggedOut => "peer logged out",
            EndReason::Stopped => "stopped",
            EndReason::DurationElapsed => "duration elapsed",
        })
    }
}

/// Counts while the venue runs, passed to the progress callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VenueProgress {
    pub elapsed: Duration,
    /// The acceptor's address (with the port the system chose for port 0).
    pub listening: Option<SocketAddr>,
    pub logged_on: bool,
    pub streamed: u64,
    pub orders_received: u64,
    pub resend_requests_answered: u64,
    pub messages_resent: u64,
    pub faults: u64,
    pub reconnects: u64,
    pub next_sender_seq: u64,
    pub next_target_seq: u64,
}

impl fmt::Display for VenueProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.1}s {}: {} streamed, {} orders, {} resend requests answered ({} resent), \
             {} faults, {} reconnects, seq out {} in {}",
            self.elapsed.as_secs_f64(),
            Status(self),
            self.streamed,
            self.orders_received,
            self.resend_requests_answered,
            self.messages_resent,
            self.faults,
            self.reconnects,
            self.next_sender_seq,
            self.next_target_seq
        )
    }
}

/// "logged on", or what the venue is waiting for.
struct Status<'a>(&'a VenueProgress);

impl fmt::Display for Status<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0.logged_on, self.0.listening) {
            (true, _) => f.write_str("logged on"),
            (false, Some(addr)) => write!(f, "listening on {addr}"),
            (false, None) => f.write_str("not logged on"),
        }
    }
}

/// What a venue run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VenueReport {
    pub end: EndReason,
    /// Stream ExecutionReports sent (each once; resends are counted apart).
    pub streamed: u64,
    pub faults: FaultCounts,
    pub resend_requests_answered: u64,
    /// Messages resent from the journal (gap fills not included).
    pub messages_resent: u64,
    pub gap_fills_sent: u64,
    pub orders_received: u64,
    /// Orders answered with their ExecutionReport.
    pub orders_acknowledged: u64,
    /// ClOrdIDs that broke `O1, O2, O3, ...`: repeated, out of order, skipped or foreign.
    pub order_violations: u64,
    /// Application messages other than NewOrderSingle, answered with a BusinessMessageReject.
    pub other_messages: u64,
    pub logons: u64,
    /// Logons after the first.
    pub reconnects: u64,
    pub next_sender_seq: u64,
    pub next_target_seq: u64,
    pub duration: Duration,
}

impl fmt::Display for VenueReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.duration.as_secs_f64();
        let rate = if seconds > 0.0 {
            self.streamed as f64 / seconds
        } else {
            0.0
        };
        writeln!(
            f,
            "venue: {} after {seconds:.3}s: {} ExecutionReports streamed ({rate:.0}/s)",
            self.end, self.streamed
        )?;
        writeln!(f, "  faults: {}", self.faults)?;
        writeln!(
            f,
            "  recovery: {} resend requests answered, {} messages resent, {} gap fills",
            self.resend_requests_answered, self.messages_resent, self.gap_fills_sent
        )?;
        writeln!(
            f,
            "  orders: {} received, {} acknowledged, {} out of sequence; {} other messages",
            self.orders_received,
            self.orders_acknowledged,
            self.order_violations,
            self.other_messages
        )?;
        write!(
            f,
            "  session: {} logons ({} reconnects), next MsgSeqNum out {} in {}",
            self.logons, self.reconnects, self.next_sender_seq, self.next_target_seq
        )
    }
}
