//! What a receiver of the venue's stream checks: each report's position in the stream is its
//! ExecID (17), 1, 2, 3, ...; every position must arrive exactly once, in order.

use gapless_codec::{Message, tag};

/// The stream position of a report the venue streamed: its ExecID as a number. `None` for the
/// answer to an order (it carries the order's ClOrdID, 11) or anything else.
pub fn stream_position(msg: &Message<'_>) -> Option<u64> {
    if msg.get(tag::CL_ORD_ID).is_some() {
        return None;
    }
    msg.get(tag::EXEC_ID)
        .and_then(|id| std::str::from_utf8(id).ok()?.parse().ok())
}

/// Counts how a receiver saw the stream: in order, again, or out of order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamCheck {
    /// The position expected next.
    pub next: u64,
    /// Positions seen again.
    pub duplicates: u64,
    /// Positions past the next one, or reports without a position where one was due.
    pub out_of_order: u64,
}

impl Default for StreamCheck {
    fn default() -> Self {
        StreamCheck {
            next: 1,
            duplicates: 0,
            out_of_order: 0,
        }
    }
}

impl StreamCheck {
    /// Takes the next stream report's position (`None`: it had none).
    pub fn observe(&mut self, position: Option<u64>) {
        match position {
            Some(p) if p == self.next => self.next += 1,
            Some(p) if p < self.next => self.duplicates += 1,
            _ => self.out_of_order += 1,
        }
    }

    /// Reports received in order so far.
    pub fn in_order(&self) -> u64 {
        self.next - 1
    }

    /// Whether exactly `total` reports arrived, each once and in order.
    pub fn is_exact(&self, total: u64) -> bool {
        self.in_order() == total && self.duplicates == 0 && self.out_of_order == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_then_repeat_then_skip_are_told_apart() {
        let mut check = StreamCheck::default();
        for p in [1, 2, 2, 4, 3] {
            check.observe(Some(p));
        }
        check.observe(None);
        assert_eq!(check.in_order(), 3);
        assert_eq!((check.duplicates, check.out_of_order), (1, 2));
        assert!(!check.is_exact(3));
    }
}
