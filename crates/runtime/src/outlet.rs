//! The gateway's side of an application ring: what the application is given, in order, with a
//! backlog for what does not fit yet.

use std::collections::VecDeque;

use gapless_client::{APPLICATION_HEADER_LEN, Delivery, SessionEvent};

/// Something the application ring had no room for yet, in delivery order.
#[derive(Debug)]
enum Backlogged {
    Application {
        seq: u64,
        received_nanos: u64,
        message: Vec<u8>,
    },
    Event {
        seq: u64,
        event: SessionEvent<'static>,
    },
}

/// Delivers to one application ring. While anything waits in the backlog, everything after it
/// waits too, so order holds; the caller stops reading the session's connection meanwhile, so
/// the backlog holds at most what the session releases at once (bounded by its hold limits).
#[derive(Debug)]
pub(crate) struct Outlet {
    delivery: Delivery,
    backlog: VecDeque<Backlogged>,
}

impl Outlet {
    pub(crate) fn new(delivery: Delivery) -> Outlet {
        Outlet {
            delivery,
            backlog: VecDeque::new(),
        }
    }

    /// Application message `seq`, read at `received_nanos` (host monotonic clock), into the
    /// ring or the backlog.
    pub(crate) fn deliver(&mut self, seq: u64, received_nanos: u64, message: &[u8]) {
        if !self.backlog.is_empty()
            || self
                .delivery
                .try_deliver(seq, received_nanos, message)
                .is_err()
        {
            self.backlog.push_back(Backlogged::Application {
                seq,
                received_nanos,
                message: message.to_vec(),
            });
        }
    }

    /// A session event; `seq` is the last inbound MsgSeqNum it accounts for.
    pub(crate) fn event(&mut self, seq: u64, event: SessionEvent<'static>) {
        if !self.backlog.is_empty() || self.delivery.try_event(seq, &event).is_err() {
            self.backlog.push_back(Backlogged::Event { seq, event });
        }
    }

    /// Moves what waited into the ring, in order; returns whether anything moved.
    pub(crate) fn flush(&mut self) -> bool {
        let mut moved = false;
        while let Some(front) = self.backlog.front() {
            let fitted = match front {
                Backlogged::Application {
                    seq,
                    received_nanos,
                    message,
                } => self
                    .delivery
                    .try_deliver(*seq, *received_nanos, message)
                    .is_ok(),
                Backlogged::Event { seq, event } => self.delivery.try_event(*seq, event).is_ok(),
            };
            if !fitted {
                break;
            }
            self.backlog.pop_front();
            moved = true;
        }
        moved
    }

    /// Whether something waits for room.
    pub(crate) fn is_blocked(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// Whether a message of `len` bytes fits in the ring now, with nothing waiting before it.
    pub(crate) fn has_room_for(&self, len: usize) -> bool {
        // A record is its header and the message, behind the ring's 8-byte record header, padded
        // to 8; it may need padding to the end of the ring first: twice is a safe bound.
        let record = (len + APPLICATION_HEADER_LEN + 8).next_multiple_of(8);
        !self.is_blocked()
            && self.delivery.config().to_app_capacity - self.delivery.to_app_pending() >= 2 * record
    }
}
