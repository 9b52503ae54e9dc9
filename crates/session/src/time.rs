//! Time as the session sees it: passed in, never read.
//!
//! The runtime reads its clocks and hands the session a [`Now`]: a monotonic [`Instant`] for
//! timers, and UTC for SendingTime (52). Tests and the simulator pass a virtual clock.

use core::time::Duration;

use gapless_codec::value::UtcTimestamp;

/// A point on a monotonic clock, in nanoseconds from an origin the caller chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant(nanos)
    }

    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// `self + duration`, saturating at the end of time.
    pub fn saturating_add(self, duration: Duration) -> Instant {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(nanos))
    }

    /// How long after `earlier` this is; zero if it is not after.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

/// The current time, as the caller read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// For timers.
    pub instant: Instant,
    /// For SendingTime (52) and the SendingTime accuracy check.
    pub utc: UtcTimestamp,
}

impl Now {
    pub const fn new(instant: Instant, utc: UtcTimestamp) -> Self {
        Now { instant, utc }
    }

    /// The same clocks moved forward by `duration`, for virtual time.
    pub fn advanced(self, duration: Duration) -> Now {
        let nanos = i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX);
        let utc = self.utc.unix_nanos().unwrap_or(0).saturating_add(nanos);
        Now {
            instant: self.instant.saturating_add(duration),
            utc: UtcTimestamp::from_unix_nanos(utc),
        }
    }
}

/// The session's timers, one slot each; the earliest armed one is the next deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Time to send a Heartbeat: nothing was sent for HeartBtInt.
    Heartbeat,
    /// Nothing received for 1.2 × HeartBtInt: send a TestRequest; after another interval with
    /// a TestRequest outstanding: disconnect.
    Idle,
    /// The Logon handshake did not finish in time.
    Logon,
    /// The peer did not answer our Logout in time.
    Logout,
    /// A gap made no progress for HeartBtInt: our ResendRequest or part of its answer was lost
    /// (dropped by a proxy, garbled), and nothing else would ever ask again.
    Recovery,
}

impl Timer {
    const COUNT: usize = 5;

    const fn index(self) -> usize {
        match self {
            Timer::Heartbeat => 0,
            Timer::Idle => 1,
            Timer::Logon => 2,
            Timer::Logout => 3,
            Timer::Recovery => 4,
        }
    }

    /// Recovery first: the ResendRequest it sends also serves as the heartbeat due at the same
    /// time.
    pub(crate) const ALL: [Timer; Timer::COUNT] = [
        Timer::Recovery,
        Timer::Heartbeat,
        Timer::Idle,
        Timer::Logon,
        Timer::Logout,
    ];
}

/// Deadlines of the [`Timer`]s, in an array: no allocation, no ordering structure to maintain.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimerTable {
    deadlines: [Option<Instant>; Timer::COUNT],
}

impl TimerTable {
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer.index()] = Some(at);
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    pub(crate) fn stop_all(&mut self) {
        self.deadlines = [None; Timer::COUNT];
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Whether `timer` is armed and due at `now`.
    pub(crate) fn is_due(&self, timer: Timer, now: Instant) -> bool {
        self.deadlines[timer.index()].is_some_and(|d| d <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_table_earliest_deadline_wins() {
        let mut timers = TimerTable::default();
        assert_eq!(timers.next_deadline(), None);
        timers.set(Timer::Idle, Instant::from_nanos(50));
        timers.set(Timer::Heartbeat, Instant::from_nanos(30));
        assert_eq!(timers.next_deadline(), Some(Instant::from_nanos(30)));
        let due: Vec<Timer> = Timer::ALL
            .into_iter()
            .filter(|&t| timers.is_due(t, Instant::from_nanos(40)))
            .collect();
        assert_eq!(due, [Timer::Heartbeat]);
        timers.stop(Timer::Heartbeat);
        assert_eq!(timers.next_deadline(), Some(Instant::from_nanos(50)));
    }

    #[test]
    fn instant_arithmetic_saturates() {
        let end = Instant::from_nanos(u64::MAX - 1).saturating_add(Duration::from_secs(1));
        assert_eq!(end, Instant::from_nanos(u64::MAX));
        assert_eq!(Instant::from_nanos(1).saturating_since(end), Duration::ZERO);
    }
}
