//! The `gapless` binary as an operator runs it: `gapless venue` and `gapless run --config` as
//! two processes on loopback, an application attached to the session's channel file, `gapless
//! stat` reading the live counters, and SIGTERM ending the run with a Logout handshake.

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gapless_client::{AppEnd, InboundRecord};
use gapless_codec::{Decoded, Limits, decode, tag};

const GAPLESS: &str = env!("CARGO_BIN_EXE_gapless");
const MESSAGES: u64 = 5_000;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(dir: &Path, venue_port: u16) -> String {
    format!(
        r#"
[gateway]
mode = "inline"
idle = "yield"
channel_dir = "{dir}/channels"
message_log = "{dir}/log"

[[session]]
name = "venue"
role = "initiator"
connect = "127.0.0.1:{venue_port}"
sender_comp_id = "GAPLESS"
target_comp_id = "VENUE"
version = "FIX.4.4"
heartbeat = 5
reconnect_initial_ms = 50
store = {{ path = "{dir}/store" }}
"#,
        dir = dir.display()
    )
}

/// Kills the child if the test fails before it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn run_venue_stat_and_sigterm_work_together() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let venue = Command::new(GAPLESS)
        .args([
            "venue",
            "--port",
            &port.to_string(),
            "--messages",
            &MESSAGES.to_string(),
        ])
        .args([
            "--gap-at",
            "1000,3000",
            "--drop",
            "0.001",
            "--logout-after-stream",
            "false",
        ])
        .args(["--duration", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut venue = Reaped(venue);
    let config_path = dir.path().join("gapless.toml");
    std::fs::write(&config_path, config(dir.path(), port)).unwrap();
    let gateway = Command::new(GAPLESS)
        .args(["run", "--config"])
        .arg(&config_path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut gateway = Reaped(gateway);

    let channel = dir.path().join("channels/venue.chan");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !channel.exists() {
        assert!(Instant::now() < deadline, "no channel file");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut app = AppEnd::attach(&channel).unwrap();
    let mut next_exec_id = 1;
    let mut orders = 0;
    while next_exec_id <= MESSAGES {
        assert!(
            Instant::now() < deadline,
            "stalled at ExecID {next_exec_id}"
        );
        let exec_id = app
            .try_recv(|record| match record {
                InboundRecord::Application { message, .. } => {
                    match decode(message, &Limits::default()) {
                        Decoded::Message(msg) if msg.get(tag::CL_ORD_ID).is_none() => msg
                            .get(tag::EXEC_ID)
                            .and_then(|id| std::str::from_utf8(id).ok()?.parse::<u64>().ok()),
                        _ => None,
                    }
                }
                InboundRecord::Event { .. } => None,
            })
            .unwrap();
        match exec_id {
            Some(Some(id)) => {
                assert_eq!(id, next_exec_id, "out of order or duplicated");
                next_exec_id += 1;
                if id % 500 == 0 {
                    orders += 1;
                    let id = format!("O{orders}");
                    app.try_send(b"D", |body| {
                        body.field(tag::CL_ORD_ID, id.as_bytes())
                            .field(tag::SYMBOL, b"AAPL")
                            .char(tag::SIDE, b'1')
                            .uint(tag::ORDER_QTY, 100)
                            .char(tag::ORD_TYPE, b'1')
                            .field(tag::TRANSACT_TIME, b"20261124-10:00:00.000");
                    })
                    .unwrap();
                }
            }
            Some(None) => {}
            None => std::thread::yield_now(),
        }
    }

    // Every report is in: the counters settle at logged on, nothing held.
    let stat_deadline = Instant::now() + Duration::from_secs(10);
    let row = loop {
        let stat = Command::new(GAPLESS)
            .args(["stat", "--dir"])
            .arg(dir.path().join("channels"))
            .output()
            .unwrap();
        let table = String::from_utf8_lossy(&stat.stdout).into_owned();
        assert!(stat.status.success(), "{table}");
        let row = table
            .lines()
            .find(|l| l.starts_with("venue "))
            .unwrap_or_else(|| panic!("{table}"))
            .to_string();
        let fields: Vec<&str> = row.split_whitespace().collect();
        if fields[1] == "Active" && fields[8] == "0" {
            break row;
        }
        assert!(
            Instant::now() < stat_deadline,
            "counters never settled: {table}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let fields: Vec<u64> = row
        .split_whitespace()
        .skip(2)
        .take(7)
        .map(|f| f.parse().unwrap())
        .collect();
    let (delivered, gaps, resend_requests) = (fields[2], fields[3], fields[4]);
    assert!(delivered >= MESSAGES, "{row}");
    assert!(
        gaps >= 1 && resend_requests >= 2,
        "the forced gaps were not counted: {row}"
    );

    // SIGTERM: the gateway logs out, the venue answers, both end.
    let pid = gateway.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = wait_exit(&mut gateway.0, Duration::from_secs(10)).expect("gateway did not stop");
    assert!(status.success(), "gateway exit: {status}");
    let venue_status =
        wait_exit(&mut venue.0, Duration::from_secs(10)).expect("venue did not stop");
    assert!(venue_status.success());
    let mut report = String::new();
    venue
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut report)
        .unwrap();
    assert!(
        report.contains(&format!(
            "{orders} received, {orders} acknowledged, 0 out of sequence"
        )),
        "{report}"
    );
    let log = std::fs::read_to_string(dir.path().join("log/venue.messages.log")).unwrap();
    let logouts = log.lines().filter(|l| l.contains("\x0135=5\x01")).count();
    assert_eq!(
        logouts,
        2,
        "Logout handshake: ours and the venue's answer:\n{}",
        log.lines().rev().take(4).collect::<Vec<_>>().join("\n")
    );
}
