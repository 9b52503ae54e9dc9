//! Crash tests across processes: this binary spawns itself as the child (the role in
//! `GAPLESS_CRASH_ROLE`) and SIGKILLs it at random moments.
//!
//! 1. An application child consumes a stream the parent produces, logging each record's seq
//!    from inside the `try_recv` callback, and is killed mid-stream again and again; each new
//!    child reattaches. The children's logs, joined, are every record in order, and a record
//!    appears twice only as the first record of a child repeating the last record of the child
//!    before: the one whose callback ran but whose commit the kill prevented.
//! 2. A gateway child delivers records from `last_delivered_seq() + 1` on and is killed at
//!    random moments, the ring sometimes full, sometimes empty; the parent consumes and demands
//!    every seq exactly once, in order: a recovered seq one too low would repeat a record, one
//!    too high would skip one.
//!
//! `harness = false`: `main` runs the scenarios (or the child's role). `GAPLESS_CRASH_SEED`
//! replays a run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use gapless_client::{
    AppEnd, ChannelConfig, DeliverError, GatewayEnd, InboundRecord, SessionEvent, Start,
};

const ROLE: &str = "GAPLESS_CRASH_ROLE";
const PATH: &str = "GAPLESS_CRASH_PATH";
const LOG: &str = "GAPLESS_CRASH_LOG";
const RECORDS: u64 = 20_000;
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

fn config() -> ChannelConfig {
    ChannelConfig {
        to_app_capacity: 1 << 12,
        from_app_capacity: 1 << 12,
        max_body_len: 256,
    }
}

/// The message for `seq`: its own number, then filler whose length varies with it, so that
/// records wrap at every offset and a torn record shows.
fn message(seq: u64, out: &mut [u8; 128]) -> &[u8] {
    let text = seq.to_string();
    let len = text.len() + 1 + (seq % 61) as usize;
    out[..text.len()].copy_from_slice(text.as_bytes());
    out[text.len()] = b'|';
    out[text.len() + 1..len].fill(b'a' + (seq % 26) as u8);
    &out[..len]
}

/// Every 97th record is an event, so that recovery also reads events' seqs.
fn is_event(seq: u64) -> bool {
    seq.is_multiple_of(97)
}

fn deliver(gateway: &mut GatewayEnd, seq: u64) -> Result<(), DeliverError> {
    if is_event(seq) {
        gateway.try_event(
            seq,
            &SessionEvent::GapDetected {
                begin: seq,
                end: seq + 1,
            },
        )
    } else {
        let mut buf = [0u8; 128];
        gateway.try_deliver(seq, 0, message(seq, &mut buf))
    }
}

/// The record's seq if it is the one the producer wrote for that seq.
fn check(record: InboundRecord<'_>) -> Result<u64, String> {
    let seq = record.seq();
    let mut buf = [0u8; 128];
    let intact = match record {
        InboundRecord::Application { message: m, .. } => {
            !is_event(seq) && m == message(seq, &mut buf)
        }
        InboundRecord::Event { event, .. } => {
            is_event(seq)
                && event
                    == SessionEvent::GapDetected {
                        begin: seq,
                        end: seq + 1,
                    }
        }
    };
    if intact {
        Ok(seq)
    } else {
        Err(format!("record {seq} is not what was written: {record:?}"))
    }
}

/// How far the stream may go before kill number `kills + 1`: the stream is released in steps
/// so that it cannot end before every kill has happened.
fn allowance(kills: u32, total_kills: u32) -> u64 {
    RECORDS * u64::from(kills + 1) / u64::from(total_kills + 1)
}

/// When to kill the next child: soon enough to land while it works, sometimes before it has
/// even attached.
fn next_kill(rng: &mut Rng) -> Instant {
    Instant::now() + Duration::from_micros(300 + rng.below(4_000))
}

/// A small xorshift: the test needs varied timings, not statistics.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn spawn(role: &str, path: &Path, log: &Path) -> Child {
    Command::new(std::env::current_exe().expect("own executable"))
        .env(ROLE, role)
        .env(PATH, path)
        .env(LOG, log)
        .spawn()
        .expect("spawn child")
}

fn kill(child: &mut Child) {
    // SIGKILL on Unix; the child may have finished already.
    let _ = child.kill();
    child.wait().expect("reap child");
}

/// Child role: the application. Logs `seq` from inside the callback, one `write` a line.
fn application_child(path: &Path, log: &Path) -> i32 {
    let mut app = AppEnd::attach(path).expect("attach");
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
        .expect("log");
    log.write_all(b"start\n").expect("log");
    let deadline = Instant::now() + CHILD_DEADLINE;
    while Instant::now() < deadline {
        let received = app.try_recv(|record| {
            let seq = check(record)?;
            let mut line = [0u8; 24];
            let mut cursor = &mut line[..];
            writeln!(cursor, "{seq}").expect("line fits");
            let len = 24 - cursor.len();
            log.write_all(&line[..len]).expect("log");
            Ok::<u64, String>(seq)
        });
        match received {
            Ok(Some(Ok(RECORDS))) => return 0,
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(torn))) => {
                eprintln!("{torn}");
                return 3;
            }
            Ok(None) => std::thread::yield_now(),
            Err(error) => {
                eprintln!("{error}");
                return 4;
            }
        }
    }
    2
}

/// Child role: the gateway. Resumes after the last delivered seq, and logs whether it found that
/// seq in records still in the ring or in the application's published progress.
fn gateway_child(path: &Path, log: &Path) -> i32 {
    let mut gateway = GatewayEnd::create(path, &config(), Start::Reopen).expect("reopen");
    let source: &[u8] = if gateway.to_app_pending() > 0 {
        b"ring\n"
    } else {
        b"progress\n"
    };
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
        .and_then(|mut log| log.write_all(source))
        .expect("log");
    let deadline = Instant::now() + CHILD_DEADLINE;
    let mut seq = gateway.last_delivered_seq() + 1;
    while seq <= RECORDS {
        match deliver(&mut gateway, seq) {
            Ok(()) => seq += 1,
            Err(DeliverError::Full) if Instant::now() < deadline => std::thread::yield_now(),
            Err(error) => {
                eprintln!("seq {seq}: {error}");
                return 2;
            }
        }
    }
    0
}

fn application_killed_mid_stream_resumes_without_loss(rng: &mut Rng, dir: &Path) {
    const KILLS: u32 = 30;
    let path = dir.join("app-crash.chan");
    let log = dir.join("app-crash.log");
    let mut gateway = GatewayEnd::create(&path, &config(), Start::Fresh).expect("create");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut child = spawn("application", &path, &log);
    let mut kills = 0;
    let mut kill_at = next_kill(rng);
    let mut next = 1;
    loop {
        assert!(Instant::now() < deadline, "no progress: {next} delivered");
        if next <= allowance(kills, KILLS) && deliver(&mut gateway, next).is_ok() {
            next += 1;
            continue;
        }
        if kills < KILLS && Instant::now() >= kill_at {
            kill(&mut child);
            kills += 1;
            child = spawn("application", &path, &log);
            kill_at = next_kill(rng);
        } else if let Some(status) = child.try_wait().expect("child status") {
            // A child exits successfully only once it has consumed the last record.
            assert!(status.success(), "application child failed: {status}");
            assert!(next > RECORDS, "child finished before the stream did");
            break;
        } else {
            std::thread::yield_now();
        }
    }
    assert_eq!(kills, KILLS);
    let log = std::fs::read_to_string(&log).expect("read log");
    let mut expected = 1;
    let mut repeats = 0;
    let mut children = 0;
    for segment in log.split("start\n") {
        if segment.is_empty() && children == 0 {
            continue;
        }
        children += 1;
        for (i, line) in segment.lines().enumerate() {
            let seq: u64 = line.parse().expect("log line");
            if seq == expected {
                expected += 1;
            } else if i == 0 && seq + 1 == expected {
                // The previous child's last record: its callback ran, the kill beat the commit.
                repeats += 1;
            } else {
                panic!("child {children} logged {seq} where {expected} was due");
            }
        }
    }
    assert_eq!(expected, RECORDS + 1, "records missing");
    println!(
        "application killed {kills} times ({children} children): {RECORDS} records each \
         consumed once; {repeats} callbacks repeated the record whose commit a kill prevented"
    );
}

fn gateway_killed_at_random_points_recovers_last_seq(rng: &mut Rng, dir: &Path) {
    const KILLS: u32 = 60;
    let path = dir.join("gateway-crash.chan");
    let log = dir.join("gateway-crash.log");
    drop(GatewayEnd::create(&path, &config(), Start::Fresh).expect("create"));
    let mut app = AppEnd::attach(&path).expect("attach");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut child = spawn("gateway", &path, &log);
    let mut kills = 0;
    let mut kill_at = next_kill(rng);
    let mut expected = 1;
    // Phases of slow reading let the ring fill, so some kills find it full and some empty.
    let mut slow_until = Instant::now();
    while expected <= RECORDS {
        assert!(Instant::now() < deadline, "no progress: {expected} due");
        if kills < KILLS && Instant::now() >= kill_at {
            kill(&mut child);
            kills += 1;
            child = spawn("gateway", &path, &log);
            kill_at = next_kill(rng);
            if rng.below(3) == 0 {
                slow_until = Instant::now() + Duration::from_micros(rng.below(10_000));
            }
        }
        if Instant::now() < slow_until || expected > allowance(kills, KILLS) {
            std::thread::yield_now();
            continue;
        }
        match app.try_recv(check).expect("ring intact") {
            Some(Ok(seq)) => {
                assert_eq!(seq, expected, "after {kills} kills");
                expected += 1;
            }
            Some(Err(torn)) => panic!("{torn}"),
            None => {
                if let Some(status) = child.try_wait().expect("child status") {
                    assert!(status.success(), "gateway child failed: {status}");
                }
                std::thread::yield_now();
            }
        }
    }
    kill(&mut child);
    assert_eq!(kills, KILLS);
    assert_eq!(app.try_recv(check).expect("ring intact"), None);
    let log = std::fs::read_to_string(&log).expect("read log");
    let from_ring = log.lines().filter(|l| *l == "ring").count();
    let from_progress = log.lines().filter(|l| *l == "progress").count();
    println!(
        "gateway killed {kills} times: {RECORDS} records each delivered once, in order; \
         {from_ring} restarts recovered the seq from records in the ring, {from_progress} from \
         the application's progress"
    );
}

fn main() {
    let role = std::env::var(ROLE).ok();
    let path = std::env::var_os(PATH).map(PathBuf::from);
    let log = std::env::var_os(LOG).map(PathBuf::from);
    match (role.as_deref(), path, log) {
        (Some("application"), Some(path), Some(log)) => {
            std::process::exit(application_child(&path, &log))
        }
        (Some("gateway"), Some(path), Some(log)) => std::process::exit(gateway_child(&path, &log)),
        (Some(role), ..) => panic!("unknown child role {role}"),
        (None, ..) => {}
    }
    let seed = std::env::var("GAPLESS_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64);
            nanos | 1
        });
    println!("crash tests, GAPLESS_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    application_killed_mid_stream_resumes_without_loss(&mut rng, dir.path());
    gateway_killed_at_random_points_recovers_last_seq(&mut rng, dir.path());
}
