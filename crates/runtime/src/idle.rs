//! What a polling loop does when a pass found no work.

use std::time::Duration;

/// How a polling thread waits for work. A pinned core on an isolated CPU spins; a test, or a
/// thread that shares its core, yields or sleeps so that it does not starve its neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleStrategy {
    /// Busy-poll: lowest latency, one core at 100 %.
    Spin,
    /// Give the core to another runnable thread, then poll again.
    Yield,
    /// Sleep this long after a pass without work.
    Sleep(Duration),
}

impl IdleStrategy {
    /// Called after every pass; `worked` says whether the pass did anything.
    #[inline]
    pub fn idle(&self, worked: bool) {
        if worked {
            return;
        }
        match *self {
            IdleStrategy::Spin => std::hint::spin_loop(),
            IdleStrategy::Yield => std::thread::yield_now(),
            IdleStrategy::Sleep(duration) => std::thread::sleep(duration),
        }
    }
}
