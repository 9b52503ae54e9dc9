//! The runtime's clock: the one place the gateway reads time, passed to the sans-IO layers as
//! [`Now`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gapless_codec::value::UtcTimestamp;
use gapless_session::{Instant, Now};

/// Reads the monotonic clock and derives UTC from it, re-reading the UTC clock once a second so
/// that a slewing NTP adjustment is followed without a second clock read per poll.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: std::time::Instant,
    /// UTC nanoseconds at monotonic `utc_base_mono` nanoseconds.
    utc_base: i64,
    utc_base_mono: u64,
}

/// How often UTC is re-read.
const UTC_RESYNC: Duration = Duration::from_secs(1);

impl Clock {
    pub fn new() -> Clock {
        let mut clock = Clock {
            origin: std::time::Instant::now(),
            utc_base: 0,
            utc_base_mono: 0,
        };
        clock.resync(0);
        clock
    }

    fn resync(&mut self, mono: u64) {
        self.utc_base = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        self.utc_base_mono = mono;
    }

    /// Nanoseconds since the clock was created.
    pub fn monotonic_nanos(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The time now.
    pub fn now(&mut self) -> Now {
        let mono = self.monotonic_nanos();
        if mono.saturating_sub(self.utc_base_mono) >= UTC_RESYNC.as_nanos() as u64 {
            self.resync(mono);
        }
        let since_base = i64::try_from(mono - self.utc_base_mono).unwrap_or(i64::MAX);
        Now::new(
            Instant::from_nanos(mono),
            UtcTimestamp::from_unix_nanos(self.utc_base.saturating_add(since_base)),
        )
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}
