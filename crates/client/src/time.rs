//! The host's monotonic clock, shared by the gateway and the applications attached to it.

/// Nanoseconds on the host's monotonic clock (`CLOCK_MONOTONIC`): the clock the gateway stamps
/// application records with ([`InboundRecord::Application`](crate::InboundRecord)), the same in
/// every process of the host, so an application subtracts the stamp from this to get the time
/// from the network to itself.
pub fn monotonic_nanos() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the call's duration; CLOCK_MONOTONIC is
    // always present on Linux, so the call cannot fail and leaves `now` written. (glibc's
    // wrapper, not a hand-parsed vDSO: profilers such as valgrind must still see the clock.)
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    // The monotonic clock counts from boot: never negative.
    (now.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(now.tv_nsec as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_clock_agrees_with_std_instant() {
        let before = monotonic_nanos();
        let elapsed = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let measured = elapsed.elapsed().as_nanos() as u64;
        let after = monotonic_nanos();
        assert!(
            after - before >= measured,
            "{} < {measured}",
            after - before
        );
    }
}
