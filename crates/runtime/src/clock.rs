//! The runtime's clock: the one place the gateway reads time, passed to the sans-IO layers as
//! [`Now`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gapless_codec::value::UtcTimestamp;
use gapless_session::{Instant, Now};

/// Reads the host's monotonic clock ([`gapless_client::monotonic_nanos`], the same in every
/// thread and process, so the network core's and the session thread's instants compare, and an
/// application can subtract a record's receive time from its own reading) and derives UTC from
/// it, re-reading the UTC clock once a second so that a slewing NTP adjustment is followed
/// without a second clock read per poll.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// UTC nanoseconds at monotonic `utc_base_mono` nanoseconds.
    utc_base: i64,
    utc_base_mono: u64,
}

/// How often UTC is re-read.
const UTC_RESYNC: Duration = Duration::from_secs(1);

impl Clock {
    pub fn new() -> Clock {
        let mut clock = Clock {
            utc_base: 0,
            utc_base_mono: 0,
        };
        clock.resync(clock.monotonic_nanos());
        clock
    }

    fn resync(&mut self, mono: u64) {
        self.utc_base = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        self.utc_base_mono = mono;
    }

    /// Nanoseconds on the host's monotonic clock.
    pub fn monotonic_nanos(&self) -> u64 {
        gapless_client::monotonic_nanos()
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
