//! Crash test: a child process journals messages with `Durability::PerMessage` and reports
//! each durable MsgSeqNum on stdout; the parent SIGKILLs it at random moments, reopens the
//! store and checks that nothing reported durable was lost, that no torn record is returned
//! and that sequence numbers never go backwards.
//!
//! The child is this test binary itself, re-executed with `CHILD_ENV` set, running only
//! `crash_child`. Knobs: `GAPLESS_CRASH_KILLS` (default 200), `GAPLESS_CRASH_SEED`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use std::{env, fs, thread};

use gapless_store::{Durability, FileStore, MessageStore, StoreConfig};

const CHILD_ENV: &str = "GAPLESS_STORE_CRASH_CHILD";
/// Small segments, so kills also land in rollovers.
const SEGMENT_SIZE: u64 = 4096;
/// The child resets the sequence once an epoch reaches this MsgSeqNum.
const RESET_AT_SEQ: u64 = 150;

fn config() -> StoreConfig {
    StoreConfig::new(Durability::PerMessage).with_segment_size(SEGMENT_SIZE)
}

/// Message content derived from (epoch, seq), so any record can be checked for damage.
fn message(epoch: u32, seq: u64) -> Vec<u8> {
    let filler_len = ((seq * 37 + u64::from(epoch)) % 180) as usize;
    let filler = char::from(b'a' + (seq % 26) as u8)
        .to_string()
        .repeat(filler_len);
    format!("8=FIX.4.4|35=D|34={seq}|369={epoch}|58={filler}|10=000|").into_bytes()
}

fn sending_time(epoch: u32, seq: u64) -> i64 {
    seq as i64 * 1_000_000 + i64::from(epoch)
}

/// The child role: a no-op unless the parent set `CHILD_ENV`.
#[test]
fn crash_child() {
    let Some(dir) = env::var_os(CHILD_ENV) else {
        return;
    };
    let mut store = FileStore::open(&dir, config()).expect("child open");
    let mut out = std::io::stdout().lock();
    let mut say = |line: String| {
        // One write per line, so a kill never leaves a partial line in the pipe.
        out.write_all(format!("{line}\n").as_bytes())
            .and_then(|()| out.flush())
            .expect("stdout");
    };
    // The harness may already have written "test crash_child ... " without a newline.
    say(format!("\nready {}", store.epoch()));
    for n in 1u64..1_000_000 {
        let epoch = store.epoch();
        let seq = store.next_sender_seq();
        let appended = store
            .append(seq, sending_time(epoch, seq), &message(epoch, seq))
            .unwrap();
        assert!(appended.is_durable());
        say(format!("D {epoch} {seq}"));
        if n % 5 == 0 {
            let target = store.next_target_seq() + 1;
            store.set_next_target_seq(target).unwrap();
            say(format!("T {epoch} {target}"));
        }
        if n % 7 == 0 {
            // Skip a number now and then, as a session may after a gap fill.
            let sender = store.next_sender_seq() + 1;
            store.set_next_sender_seq(sender).unwrap();
            say(format!("S {epoch} {sender}"));
        }
        if seq >= RESET_AT_SEQ {
            say("r".to_owned());
            store.reset().unwrap();
            say(format!("R {}", store.epoch()));
        }
    }
}

/// What the parent knows must be true of the store, from what the child reported.
#[derive(Debug)]
struct Model {
    epoch: u32,
    durable: Vec<u64>,
    min_next_sender: u64,
    min_next_target: u64,
    reset_started: bool,
}

impl Model {
    fn apply_reset(&mut self, epoch: u32) {
        *self = Model {
            epoch,
            durable: Vec::new(),
            min_next_sender: 1,
            min_next_target: 1,
            reset_started: false,
        };
    }

    fn apply(&mut self, line: &str) {
        let fields: Vec<&str> = line.split(' ').collect();
        let number = |i: usize| -> u64 { fields[i].parse().expect(line) };
        match fields[0] {
            "D" | "T" | "S" => {
                assert_eq!(number(1), u64::from(self.epoch), "epoch in {line}");
                let value = number(2);
                match fields[0] {
                    "D" => {
                        self.durable.push(value);
                        self.min_next_sender = self.min_next_sender.max(value + 1);
                    }
                    "T" => self.min_next_target = self.min_next_target.max(value),
                    _ => self.min_next_sender = self.min_next_sender.max(value),
                }
            }
            "r" => self.reset_started = true,
            "R" => self.apply_reset(number(1) as u32),
            _ => {}
        }
    }

    /// Reopens the store and checks it against the model; returns messages verified.
    fn verify(&mut self, dir: &Path) -> usize {
        let store = FileStore::open(dir, config()).expect("parent reopen");
        if self.reset_started && store.epoch() == self.epoch + 1 {
            // Killed inside reset, after it took effect.
            self.apply_reset(store.epoch());
        }
        self.reset_started = false;
        assert_eq!(store.epoch(), self.epoch);
        for &seq in &self.durable {
            let stored = store
                .get(seq)
                .unwrap_or_else(|| panic!("durable seq {seq} lost"));
            assert_eq!(stored.bytes, message(self.epoch, seq), "seq {seq} damaged");
            assert_eq!(stored.sending_time_ns, sending_time(self.epoch, seq));
        }
        let mut verified = 0;
        let mut previous = 0;
        for stored in store.range(1, 0) {
            assert!(stored.seq > previous, "seq {} after {previous}", stored.seq);
            assert_eq!(
                stored.bytes,
                message(self.epoch, stored.seq),
                "torn seq {}",
                stored.seq
            );
            previous = stored.seq;
            verified += 1;
        }
        let max_durable = self.durable.iter().copied().max().unwrap_or(0);
        let next_sender = store.next_sender_seq();
        assert!(
            next_sender > max_durable,
            "next sender {next_sender} <= durable {max_durable}"
        );
        assert!(
            next_sender >= self.min_next_sender,
            "next sender went back to {next_sender}"
        );
        assert!(
            store.next_target_seq() >= self.min_next_target,
            "next target went back"
        );
        self.min_next_sender = next_sender;
        self.min_next_target = store.next_target_seq();
        verified
    }
}

/// splitmix64: a seeded generator, so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn sigkill_under_load_loses_nothing_durable() {
    if env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let kills = env_number("GAPLESS_CRASH_KILLS", 200);
    let seed = env_number("GAPLESS_CRASH_SEED", 0x5EED_CAFE);
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let exe = env::current_exe().unwrap();
    let mut model = Model {
        epoch: 1,
        durable: Vec::new(),
        min_next_sender: 1,
        min_next_target: 1,
        reset_started: false,
    };
    let started = Instant::now();
    let (mut verified, mut reported, mut resets) = (0usize, 0usize, 0usize);
    for kill in 0..kills {
        let stderr_path = dir.path().join("child-stderr");
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &store_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines) = mpsc::channel();
        let reader = thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            // Only whole lines count; a line cut by the kill has no newline.
            while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 && line.ends_with(b"\n") {
                let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                if lines_tx.send(text).is_err() {
                    break;
                }
                line.clear();
            }
        });
        // A quarter of the kills may land while the child is still opening (and repairing)
        // the store; the rest after it reported 0-59 more durable appends, so the child
        // makes progress, and then 0-4 ms further into its loop.
        let mut received = Vec::new();
        if rng.below(4) != 0 {
            let mut appends_to_await = rng.below(60);
            let mut ready = false;
            while !ready || appends_to_await > 0 {
                let line = lines
                    .recv_timeout(Duration::from_secs(30))
                    .unwrap_or_else(|_| {
                        panic!(
                            "child stalled: {}",
                            fs::read_to_string(&stderr_path).unwrap()
                        )
                    });
                if ready && line.starts_with("D ") {
                    appends_to_await -= 1;
                }
                if line.starts_with("ready") {
                    ready = true;
                } else if !ready {
                    assert!(
                        received.len() < 10,
                        "no ready line from the child: {received:?}"
                    );
                }
                received.push(line);
            }
        }
        thread::sleep(Duration::from_micros(rng.below(4_000)));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        reader.join().unwrap();
        received.extend(lines.try_iter());
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "child exited on its own ({status}) after kill {kill}: {}",
            fs::read_to_string(&stderr_path).unwrap()
        );
        for line in &received {
            reported += usize::from(line.starts_with("D "));
            resets += usize::from(line.starts_with("R "));
            model.apply(line);
        }
        verified += model.verify(&store_dir);
    }
    // Straight to stderr, past the harness's capture, so the summary shows in every run.
    writeln!(
        std::io::stderr(),
        "crash test: {kills} kills, {reported} appends reported durable, {verified} messages \
         verified after reopen, {resets} resets, seed {seed:#x}, {:.1?}",
        started.elapsed()
    )
    .unwrap();
    assert!(
        reported > 0 && resets > 0,
        "the kills never let the child make progress"
    );
}
