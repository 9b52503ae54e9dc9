//! Differential test: random and adversarial scenarios through the RTL and the software checker
//! must give identical descriptor sequences (timestamps masked). A failing scenario is shrunk
//! greedily and written to hw/tb/vectors/failing-<seed>.vec, where the vectors test replays it.
//!
//! HWSIM_MESSAGES sets how many descriptors to compare (default 100,000); HWSIM_SEED the first
//! seed (default fixed, so CI is reproducible).

use std::path::PathBuf;

use gapless_codec::checksum;
use gapless_hwsim::{Chunk, Drive, Event, MAX_MESSAGE_LEN, NUM_SESSIONS, differential, vector};
use gapless_seqcheck::Command;

/// splitmix64: small, fast, and good enough to pick test cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A scenario step before chunking: bytes of one session, or a command.
#[derive(Debug, Clone)]
enum Step {
    Bytes {
        session: u16,
        bytes: Vec<u8>,
        /// Beat boundaries inside `bytes`.
        splits: Vec<usize>,
        /// A read ends after these bytes.
        chunk_end: bool,
    },
    Command(Command),
}

/// Consecutive bytes of one session form a chunk until a chunk end, another session, or a
/// command.
fn events(steps: &[Step]) -> Vec<Event> {
    let mut events = Vec::new();
    let mut open: Option<Chunk> = None;
    for step in steps {
        match step {
            Step::Command(command) => {
                events.extend(open.take().map(Event::Chunk));
                events.push(Event::Command(*command));
            }
            Step::Bytes {
                session,
                bytes,
                splits,
                chunk_end,
            } => {
                if open.as_ref().is_some_and(|c| c.session != *session) {
                    events.extend(open.take().map(Event::Chunk));
                }
                let chunk = open.get_or_insert_with(|| Chunk {
                    session: *session,
                    bytes: Vec::new(),
                    splits: Vec::new(),
                });
                let base = chunk.bytes.len();
                chunk.splits.extend(splits.iter().map(|s| base + s));
                chunk.bytes.extend_from_slice(bytes);
                if *chunk_end {
                    events.extend(open.take().map(Event::Chunk));
                }
            }
        }
    }
    events.extend(open.map(Event::Chunk));
    events
}

/// A message with a correct BodyLength and CheckSum; `|` in `body` is SOH.
fn fix(begin_string: &str, body: &str) -> Vec<u8> {
    let body = body.replace('|', "\x01");
    let mut msg = format!("8={begin_string}\x019={}\x01{body}", body.len()).into_bytes();
    let sum = checksum(&msg);
    msg.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    msg
}

/// A message of exactly `total` bytes, padded with a Text field.
fn fix_of_len(head: &str, total: usize) -> Vec<u8> {
    // "8=FIX.4.4|9=" + digits + "|" + head + "58=" + pad + "|" + "10=nnn|"
    let mut pad = 0;
    for _ in 0..3 {
        let body_len = head.len() + 3 + pad + 1;
        let fixed = 12 + body_len.to_string().len() + 1 + 3 + 1 + 7;
        pad = total.saturating_sub(fixed + head.len());
    }
    fix("FIX.4.4", &format!("{head}58={}|", "p".repeat(pad)))
}

/// What one session's counterparty has sent, to aim sequence numbers near expected.
struct Counterparty {
    next_seq: u64,
}

struct Generator {
    rng: Rng,
    parties: Vec<Counterparty>,
    /// Resets sent while a session's stream held part of a message.
    mid_stream_resets: usize,
}

impl Generator {
    fn new(seed: u64) -> Generator {
        Generator {
            rng: Rng(seed),
            parties: (0..NUM_SESSIONS)
                .map(|_| Counterparty { next_seq: 1 })
                .collect(),
            mid_stream_resets: 0,
        }
    }

    fn header(&mut self, msg_type: &str, seq: u64) -> String {
        format!("35={msg_type}|34={seq}|49=CLIENT|56=VENUE|52=20261124-06:07:35.123|")
    }

    /// One message (or garbage) for `session`.
    fn message(&mut self, session: u16) -> Vec<u8> {
        let rng = &mut self.rng;
        let next = self.parties[usize::from(session)].next_seq;
        let roll = rng.below(1000);
        let app_type = *rng.pick(&["D", "8", "AE", "F", "j", ""]);
        let mut advance = 1;
        let msg = match roll {
            0..=399 => {
                let possdup = if rng.chance(10) { "43=Y|" } else { "" };
                let h = self.header(app_type, next);
                fix(
                    "FIX.4.4",
                    &format!("{h}{possdup}11=ord{next}|55=EUR/USD|54=1|38=100|"),
                )
            }
            400..=469 => {
                let t = *self.rng.pick(&["0", "1", "2", "3"]);
                let h = self.header(t, next);
                fix("FIX.4.4", &format!("{h}112=ping|"))
            }
            470..=519 => {
                let seq = next + 1 + self.rng.below(5);
                advance = seq + 1 - next;
                let h = self.header(app_type, seq);
                fix("FIX.4.2", &format!("{h}11=gap|"))
            }
            520..=569 => {
                let seq = next.saturating_sub(1 + self.rng.below(3)).max(1);
                advance = 0;
                let flag = *self.rng.pick(&["43=Y|", "43=N|", "", "43=y|", "43=YY|"]);
                let h = self.header(app_type, seq);
                fix("FIXT.1.1", &format!("{h}{flag}11=dup|"))
            }
            570..=599 => {
                let jump = self.rng.below(6);
                let flag = *self.rng.pick(&["123=Y|", "123=Y|", "123=N|"]);
                advance = jump.max(1);
                let h = self.header("4", next);
                fix("FIX.4.4", &format!("{h}43=Y|{flag}36={}|", next + jump))
            }
            600..=619 => {
                let new_seq = 1 + self.rng.below(next + 5);
                advance = 0;
                self.parties[usize::from(session)].next_seq = new_seq;
                let h = self.header("4", next);
                fix("FIX.4.4", &format!("{h}36={new_seq}|"))
            }
            620..=639 => {
                let t = *self.rng.pick(&["A", "5"]);
                let h = self.header(t, next);
                fix("FIX.4.4", &format!("{h}98=0|108=30|"))
            }
            640..=669 => {
                advance = 0;
                let seq_field = *self.rng.pick(&[
                    "34=x|",
                    "34=|",
                    "",
                    "34=18446744073709551616|",
                    "34=-1|",
                    "34=1 |",
                ]);
                fix(
                    "FIX.4.4",
                    &format!("35={app_type}|{seq_field}49=A|56=B|34={next}|"),
                )
            }
            670..=699 => {
                // Wrong CheckSum.
                let h = self.header(app_type, next);
                let mut m = fix("FIX.4.4", &format!("{h}11=x|"));
                let n = m.len();
                m[n - 2] = if m[n - 2] == b'9' { b'0' } else { m[n - 2] + 1 };
                m
            }
            700..=729 => {
                // Wrong BodyLength, too small or too large.
                let h = self.header(app_type, next);
                let body = format!("{h}11=bl|").replace('|', "\x01");
                let wrong = if self.rng.chance(50) {
                    body.len() + 1 + self.rng.below(200) as usize
                } else {
                    body.len().saturating_sub(1 + self.rng.below(20) as usize)
                };
                let mut m = format!("8=FIX.4.4\x019={wrong}\x01{body}").into_bytes();
                let sum = checksum(&m);
                m.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
                m
            }
            730..=779 => {
                // Truncated anywhere.
                let h = self.header(app_type, next);
                let m = fix("FIX.4.4", &format!("{h}11=trunc|58=text|"));
                let cut = 1 + self.rng.below(m.len() as u64 - 1) as usize;
                m[..cut].to_vec()
            }
            780..=809 => {
                // Garbage, often with pieces of a message start in it.
                let len = 1 + self.rng.below(40) as usize;
                let alphabet = b"8=FIX.4\x01|9310abc";
                let mut g: Vec<u8> = (0..len)
                    .map(|_| {
                        if self.rng.chance(80) {
                            *self.rng.pick(alphabet)
                        } else {
                            self.rng.next() as u8
                        }
                    })
                    .collect();
                if self.rng.chance(30) {
                    g.extend_from_slice(&b"8=FIX"[..1 + self.rng.below(4) as usize]);
                }
                g
            }
            810..=839 => {
                advance = 0;
                let bad = *self.rng.pick(&[
                    "034=1|",
                    "34x=1|",
                    "=1|",
                    "58|",
                    "4294967296=1|",
                    "95=3|96=ab|",
                    "95=x|96=abc|",
                    "95=|96=a|",
                    "95=99|96=abc|",
                    "58=a|99999999999=1|",
                    "95=18446744073709551616|96=a|",
                    "95=4294967296|96=a|",
                    "95=3|96=abcd|",
                    "95=2|58=x|",
                    "4294967295=1|34=007|",
                    "58=\x01|",
                ]);
                fix("FIX.4.4", &format!("35=D|34={next}|{bad}58=z|"))
            }
            840..=879 => {
                // Data fields holding SOH, '=' and "8=FIX"; a data tag without its length.
                let data = *self
                    .rng
                    .pick(&["a\x01b=c", "8=FIX.4.4\x01", "", "\x01\x01"]);
                let extra = if self.rng.chance(50) {
                    "96=plain|"
                } else {
                    "95=1|58=x|96=y|"
                };
                let h = self.header(app_type, next);
                let tag_pair = *self
                    .rng
                    .pick(&[(95, 96), (212, 213), (1468, 1469), (93, 89)]);
                fix(
                    "FIX.4.4",
                    &format!(
                        "{h}{}={}|{}={data}|{extra}",
                        tag_pair.0,
                        data.len(),
                        tag_pair.1
                    ),
                )
            }
            880..=909 => {
                // "8=FIX" inside a valid message, and repeated indexed tags (the first wins).
                let h = self.header(app_type, next);
                fix(
                    "FIX.4.4",
                    &format!("{h}58=xx8=FIX.4.4yy|34=999|43=Y|123=Y|36=77|"),
                )
            }
            910..=939 => {
                // Header edge cases.
                advance = 0;
                match self.rng.below(8) {
                    0 => fix("FIX.4.4.FIX.4.4.", &self.header("0", next)),
                    1 => fix("FIX.4.4.FIX.4.4.X", &self.header("0", next)),
                    2 => fix("", &self.header("0", next)),
                    3 => {
                        let body = self.header("0", next).replace('|', "\x01");
                        let mut m =
                            format!("8=FIX.4.4\x019=000{}\x01{body}", body.len()).into_bytes();
                        let sum = checksum(&m);
                        m.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
                        m
                    }
                    4 => b"8=FIX.4.4\x019=1234567890\x0135=0\x01".to_vec(),
                    5 if self.rng.chance(50) => b"8=FIX.4.4\x019=123456789\x0135=0\x01".to_vec(),
                    5 => b"8=FIX.4.4\x019=3\x0135=\x0110=000\x01".to_vec(),
                    6 => b"8=FIX.4.4\x0135=0\x019=5\x01".to_vec(),
                    _ => fix("FIX.4.4", "35=0|"),
                }
            }
            940..=944 => {
                // The largest message accepted, or one byte over.
                let over = usize::from(self.rng.chance(30));
                let h = self.header(app_type, next);
                if over == 1 {
                    advance = 0;
                }
                fix_of_len(&h, MAX_MESSAGE_LEN + over)
            }
            _ => {
                let h = self.header(app_type, next);
                fix("FIX.4.4", &format!("{h}34=5|11=ord|"))
            }
        };
        self.parties[usize::from(session)].next_seq += advance;
        msg
    }

    fn command(&mut self, session: u16) -> Command {
        let next = self.parties[usize::from(session)].next_seq;
        match self.rng.below(10) {
            0..=5 if self.rng.chance(70) => Command::arm(session, next),
            0..=5 => Command::arm(session, (next + self.rng.below(3)).saturating_sub(1).max(1)),
            6 => Command::disarm(session),
            7 => Command::reset(session),
            8 => Command::arm(session, 0),
            _ => Command {
                opcode: *self.rng.pick(&[0, 4, 255, 1]),
                session: session + NUM_SESSIONS * self.rng.below(2) as u16,
                expected: 3,
                ..Command::default()
            },
        }
    }

    fn scenario(&mut self, steps: usize) -> Vec<Step> {
        let mut out = Vec::with_capacity(steps);
        let mut session = 0u16;
        for s in 0..NUM_SESSIONS {
            out.push(Step::Command(Command::arm(s, 1)));
        }
        while out.len() < steps {
            if self.rng.chance(20) {
                session = self.rng.below(u64::from(NUM_SESSIONS)) as u16;
            }
            if self.rng.chance(20) {
                out.push(Step::Command(self.command(session)));
                continue;
            }
            let bytes = self.message(session);
            let chunk_end = self.rng.chance(40);
            // Sometimes a read ends inside the message, and another session's bytes come next.
            if bytes.len() > 1 && self.rng.chance(10) {
                let cut = 1 + self.rng.below(bytes.len() as u64 - 1) as usize;
                out.push(self.bytes_step(session, bytes[..cut].to_vec(), true));
                if self.rng.chance(30) {
                    let other = (session + 1) % NUM_SESSIONS;
                    let between = self.message(other);
                    out.push(self.bytes_step(other, between, true));
                }
                if self.rng.chance(25) {
                    // The connection drops mid-message and a new one starts a new stream at
                    // offset 0, where the rest of the message arrives as garbage, or not at all.
                    self.mid_stream_resets += 1;
                    out.push(Step::Command(Command::reset(session)));
                    if self.rng.chance(50) {
                        let next = self.parties[usize::from(session)].next_seq;
                        out.push(Step::Command(Command::arm(session, next)));
                        continue;
                    }
                }
                out.push(self.bytes_step(session, bytes[cut..].to_vec(), chunk_end));
            } else {
                out.push(self.bytes_step(session, bytes, chunk_end));
            }
        }
        out
    }

    fn bytes_step(&mut self, session: u16, bytes: Vec<u8>, chunk_end: bool) -> Step {
        let mut splits = Vec::new();
        if self.rng.chance(30) {
            for _ in 0..1 + self.rng.below(4) {
                splits.push(1 + self.rng.below(bytes.len() as u64) as usize);
            }
        }
        Step::Bytes {
            session,
            bytes,
            splits,
            chunk_end,
        }
    }
}

fn drive_for(rng: &mut Rng) -> Drive {
    if rng.chance(70) {
        Drive::default()
    } else {
        Drive {
            seed: rng.next(),
            consumer_stall: rng.below(200) as u8,
            producer_idle: rng.below(100) as u8,
        }
    }
}

fn fails(steps: &[Step], drive: Drive) -> bool {
    differential(&events(steps), drive).is_err()
}

/// Removes steps one at a time while the scenario still fails, then beat splits.
fn shrink(mut steps: Vec<Step>, drive: Drive) -> Vec<Step> {
    loop {
        let before = steps.len();
        let mut i = steps.len();
        while i > 0 {
            i -= 1;
            let mut candidate = steps.clone();
            candidate.remove(i);
            if fails(&candidate, drive) {
                steps = candidate;
            }
        }
        if steps.len() == before {
            break;
        }
    }
    for i in 0..steps.len() {
        let mut candidate = steps.clone();
        if let Step::Bytes { splits, .. } = &mut candidate[i]
            && !splits.is_empty()
        {
            splits.clear();
            if fails(&candidate, drive) {
                steps = candidate;
            }
        }
    }
    steps
}

#[test]
fn rtl_matches_the_software_checker_on_random_and_adversarial_streams() {
    let target: usize = std::env::var("HWSIM_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let first_seed: u64 = std::env::var("HWSIM_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    let started = std::time::Instant::now();
    let mut compared = 0;
    let mut verdicts = [0usize; 8];
    let mut mid_stream_resets = 0;
    let mut seed = first_seed;
    while compared < target {
        let mut generator = Generator::new(seed);
        let steps = generator.scenario(400);
        let drive = drive_for(&mut generator.rng);
        match differential(&events(&steps), drive) {
            Ok(descriptors) => {
                compared += descriptors.len();
                mid_stream_resets += generator.mid_stream_resets;
                for d in &descriptors {
                    verdicts[usize::from(d.verdict)] += 1;
                }
            }
            Err(mismatch) => {
                let small = shrink(steps, drive);
                let small_events = events(&small);
                let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../hw/tb/vectors");
                let path = dir.join(format!("failing-{seed}.vec"));
                let comment = format!(
                    "Shrunk from seed {seed} ({drive:?}); first mismatch:\n{}",
                    differential(&small_events, drive)
                        .err()
                        .map_or(mismatch.to_string(), |m| m.to_string())
                );
                std::fs::write(&path, vector::write(&small_events, &comment))
                    .expect("write the failing vector");
                panic!(
                    "seed {seed}: {mismatch}\nshrunk to {} steps in {}",
                    small.len(),
                    path.display()
                );
            }
        }
        seed += 1;
    }
    eprintln!(
        "compared {compared} descriptors from seeds {first_seed}..{seed} in {:.1?}; \
         by verdict 1..=7: {:?}; {mid_stream_resets} resets mid-message",
        started.elapsed(),
        &verdicts[1..]
    );
    assert!(
        verdicts[1..].iter().all(|&n| n > 0),
        "every verdict is exercised"
    );
    assert!(mid_stream_resets > 0, "resets mid-message are exercised");
}
