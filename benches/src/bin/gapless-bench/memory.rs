//! Resident memory of this process, from `/proc/self/status` (Linux). Zero where it cannot be
//! read, which the reports then show as zero rather than guess.

/// Reads one `Vm...:  N kB` line of `/proc/self/status`, in bytes.
fn status_bytes(key: &str) -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The current resident set (VmRSS).
pub fn rss_bytes() -> u64 {
    status_bytes("VmRSS")
}

/// The peak resident set so far (VmHWM).
pub fn peak_rss_bytes() -> u64 {
    status_bytes("VmHWM")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touched_pages_raise_the_resident_set() {
        let before = rss_bytes();
        assert!(before > 0, "VmRSS unreadable");
        let block = vec![1u8; 64 << 20];
        let after = rss_bytes();
        assert!(after >= before + (48 << 20), "{before} -> {after}");
        assert!(peak_rss_bytes() >= after);
        drop(block);
    }
}
