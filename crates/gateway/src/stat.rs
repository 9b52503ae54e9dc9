//! `gapless stat`: every session's live counters, read from the counters block of its
//! application channel without touching the gateway's hot path (as aeron-stat reads Aeron's
//! counters file).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use gapless_client::{Channel, StatsSnapshot, list_channels};

pub fn run(dir: &Path, watch: Option<u64>) -> ExitCode {
    loop {
        match table(dir) {
            Ok(text) => print!("{text}"),
            Err(error) => {
                eprintln!("gapless stat: {}: {error}", dir.display());
                return ExitCode::FAILURE;
            }
        }
        let Some(millis) = watch else {
            return ExitCode::SUCCESS;
        };
        std::thread::sleep(Duration::from_millis(millis.max(50)));
        println!();
    }
}

/// The table for every channel in `dir`.
fn table(dir: &Path) -> std::io::Result<String> {
    let mut text = format!(
        "{:<24} {:<12} {:>10} {:>10} {:>10} {:>6} {:>8} {:>8} {:>6} {:>10} {:>10} {:>10}\n",
        "session",
        "state",
        "in",
        "out",
        "delivered",
        "gaps",
        "rr-sent",
        "rr-ansd",
        "held",
        "app-queue",
        "last-rec",
        "max-rec",
    );
    let paths = list_channels(dir)?;
    if paths.is_empty() {
        text.push_str("(no channels)\n");
    }
    for path in paths {
        match Channel::open(&path) {
            Ok(channel) => text.push_str(&row(&channel.stats())),
            Err(error) => text.push_str(&format!("{}: {error}\n", path.display())),
        }
    }
    Ok(text)
}

fn row(stats: &StatsSnapshot) -> String {
    format!(
        "{:<24} {:<12} {:>10} {:>10} {:>10} {:>6} {:>8} {:>8} {:>6} {:>10} {:>10} {:>10}\n",
        String::from_utf8_lossy(stats.session_name.as_bytes()),
        format!("{:?}", stats.state),
        stats.messages_in,
        stats.messages_out,
        stats.app_delivered,
        stats.gaps_detected,
        stats.resend_requests_sent,
        stats.resend_requests_answered,
        stats.held,
        stats.to_app_pending,
        micros(stats.last_recovery_nanos),
        micros(stats.max_recovery_nanos),
    )
}

fn micros(nanos: u64) -> String {
    if nanos == 0 {
        "-".into()
    } else {
        format!("{:.1}us", nanos as f64 / 1e3)
    }
}
