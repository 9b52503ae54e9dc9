//! Runs every scenario in `testdata/*.scn` against the session, for each FIX version the
//! scenario names. The format is described in `testdata/README.md`.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gapless_codec::value::UtcTimestamp;
use gapless_codec::{Decoded, Limits, Resync, checksum, decode};
use gapless_dict::Version;
use gapless_session::{
    DisconnectReason, Event, Instant, Now, QueueOverflow, Role, Session, SessionConfig,
};
use gapless_store::MemoryStore;

/// 2026-11-24T06:00:00Z, where every scenario's clock starts.
const START_UTC_NANOS: i64 = 1_795_500_000_000_000_000;

struct Run {
    name: String,
    version: Version,
    session: Session<MemoryStore>,
    now: Now,
    /// Messages the session sent, not yet matched by `out`.
    sent: VecDeque<Vec<u8>>,
    unframed: Vec<u8>,
    delivered: VecDeque<u64>,
    events: VecDeque<String>,
}

fn version_named(name: &str) -> Version {
    Version::ALL
        .into_iter()
        .find(|v| v.name() == name && *v != Version::Fixt11)
        .unwrap_or_else(|| panic!("unknown version {name}"))
}

fn describe(event: &Event<'_>) -> Option<String> {
    Some(match event {
        Event::LoggedOn { reset } => format!("logon{}", if *reset { " reset" } else { "" }),
        Event::GapDetected { begin, end } => format!("gap {begin} {end}"),
        Event::Recovered { .. } => "recovered".into(),
        Event::RejectSent { ref_seq, reason } => format!("reject-sent {ref_seq} {reason}"),
        Event::RejectReceived { ref_seq } => format!("reject-received {ref_seq}"),
        Event::Disconnect(reason) => format!("disconnect {}", reason_name(*reason)),
        Event::Application { .. } => return None,
    })
}

fn reason_name(reason: DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::LoggedOut => "logged-out",
        DisconnectReason::InvalidLogon => "invalid-logon",
        DisconnectReason::LogonTimeout => "logon-timeout",
        DisconnectReason::LogoutTimeout => "logout-timeout",
        DisconnectReason::HeartbeatTimeout => "heartbeat-timeout",
        DisconnectReason::SeqNumTooLow => "seqnum-too-low",
        DisconnectReason::HeaderProblem => "header-problem",
        DisconnectReason::HoldQueueOverflow => "hold-overflow",
        DisconnectReason::StoreFailure => "store-failure",
        _ => "other",
    }
}

impl Run {
    fn new(name: String, version: Version) -> Self {
        let config = SessionConfig::new(version, Role::Acceptor, "ISLD", "TW");
        Run {
            name,
            version,
            session: Session::new(config, MemoryStore::new()),
            now: Now::new(
                Instant::from_nanos(1_000_000_000),
                UtcTimestamp::from_unix_nanos(START_UTC_NANOS),
            ),
            sent: VecDeque::new(),
            unframed: Vec::new(),
            delivered: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    fn configure(&mut self, settings: &str) {
        let mut config = self.session.config().clone();
        for setting in settings.split_whitespace() {
            let (key, value) = setting.split_once('=').expect("key=value");
            match key {
                "role" => {
                    config.role = match value {
                        "initiator" => Role::Initiator,
                        _ => Role::Acceptor,
                    }
                }
                "reset_on_logon" => config.reset_on_logon = value == "y",
                "heartbeat" => config.heartbeat_interval = Duration::from_secs(parse(value)),
                "chunk" => config.resend_limits.request_chunk = Some(parse(value)),
                "max_held" => config.hold_limits.max_messages = parse(value) as usize,
                "overflow" => {
                    config.hold_limits.overflow = match value {
                        "disconnect" => QueueOverflow::Disconnect,
                        _ => QueueOverflow::DropAndRerequest,
                    }
                }
                "validation" => {
                    if value == "off" {
                        config.validation = None;
                    }
                }
                "next_expected" => config.send_next_expected_msg_seq_num = value == "y",
                "resync" => {
                    config.resync = match value {
                        "body-length" => Resync::BodyLength,
                        _ => Resync::NextBeginString,
                    }
                }
                "resend_per_second" => {
                    config.resend_limits.max_requests_per_second = parse(value) as u32
                }
                _ => panic!("unknown config key {key}"),
            }
        }
        self.session = Session::new(config, MemoryStore::new());
    }

    /// Expands `<TIME>`, `<TIME+N>`, `<TIME-N>` and `<INF>`, and `|` to SOH.
    fn expand(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find('<') {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('>').expect("closing >") + start;
            let token = &rest[start + 1..end];
            let value = if let Some(text) = token.strip_prefix("NEWS:") {
                // News (35=B) as each version defines it: FIX.4.0 has no Headline.
                if self.version == Version::Fix40 {
                    format!("33=1|58={text}")
                } else {
                    format!("148=Hello|33=1|58={text}")
                }
            } else if token == "APPLVERID" {
                self.version
                    .appl_ver_id()
                    .expect("application version")
                    .to_string()
            } else if token == "INF" {
                if self.version <= Version::Fix41 {
                    "999999"
                } else {
                    "0"
                }
                .to_string()
            } else if let Some(offset) = token.strip_prefix("TIME") {
                let seconds: i64 = if offset.is_empty() {
                    0
                } else {
                    offset.parse().expect("offset")
                };
                let nanos = self.now.utc.unix_nanos().unwrap() + seconds * 1_000_000_000;
                let mut buf = [0u8; 27];
                let precision = if self.version <= Version::Fix41 {
                    gapless_codec::value::TimePrecision::Seconds
                } else {
                    gapless_codec::value::TimePrecision::Millis
                };
                let n = UtcTimestamp::from_unix_nanos(nanos)
                    .write(precision, &mut buf)
                    .unwrap();
                String::from_utf8(buf[..n].to_vec()).unwrap()
            } else {
                panic!("unknown placeholder <{token}>")
            };
            out.push_str(&value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out.replace('|', "\x01")
    }

    /// A complete message from body fields: BeginString, BodyLength and CheckSum added.
    fn message(&self, fields: &str) -> Vec<u8> {
        let body = self.expand(fields);
        let mut msg = format!(
            "8={}\x019={}\x01{body}",
            self.version.begin_string(),
            body.len()
        )
        .into_bytes();
        let sum = checksum(&msg);
        msg.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
        msg
    }

    fn feed(&mut self, bytes: &[u8]) {
        let mut pending = std::mem::take(&mut self.unframed);
        pending.extend_from_slice(bytes);
        let mut delivered = Vec::new();
        let mut events = Vec::new();
        let used = self
            .session
            .handle_bytes(self.now, &pending, |event| match event {
                Event::Application { seq, .. } => delivered.push(seq),
                other => events.extend(describe(&other)),
            });
        self.unframed = pending[used..].to_vec();
        self.delivered.extend(delivered);
        self.events.extend(events);
        self.collect_output();
    }

    fn collect_output(&mut self) {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Application { seq, .. } => self.delivered.push_back(seq),
                other => self.events.extend(describe(&other)),
            }
        }
        let mut bytes = Vec::new();
        while let Some(out) = self.session.poll_transmit() {
            let n = out.len();
            bytes.extend_from_slice(out);
            self.session.transmitted(n);
        }
        let mut rest = &bytes[..];
        while let Decoded::Message(m) = decode(rest, &Limits::default()) {
            self.sent.push_back(m.as_bytes().to_vec());
            rest = &rest[m.len()..];
        }
        assert!(
            rest.is_empty(),
            "{}: session sent unframed bytes",
            self.name
        );
    }

    /// Compares a sent message with an expected field list; `*` matches any value.
    fn check_out(&mut self, expected: &str) -> Result<(), String> {
        let Some(sent) = self.sent.pop_front() else {
            return Err(format!("expected {expected}, but nothing was sent"));
        };
        let shown = String::from_utf8_lossy(&sent).replace('\x01', "|");
        let Decoded::Message(m) = decode(&sent, &Limits::default()) else {
            unreachable!()
        };
        if m.begin_string() != self.version.begin_string().as_bytes() {
            return Err(format!("wrong BeginString in {shown}"));
        }
        let got: Vec<(u32, Vec<u8>)> = m
            .fields()
            .filter(|f| ![8, 9, 10].contains(&f.tag))
            .map(|f| (f.tag, f.value.to_vec()))
            .collect();
        let wanted: Vec<(u32, String)> = self
            .expand(expected)
            .split('\x01')
            .filter(|f| !f.is_empty())
            .map(|f| {
                let (tag, value) = f.split_once('=').expect("tag=value");
                (tag.parse().expect("tag"), value.to_string())
            })
            .collect();
        let matches = got.len() == wanted.len()
            && got.iter().zip(&wanted).all(|((gt, gv), (wt, wv))| {
                gt == wt && (wv == "*" || gv.as_slice() == wv.as_bytes())
            });
        if matches {
            Ok(())
        } else {
            Err(format!("expected {expected}\n   got {shown}"))
        }
    }

    fn step(&mut self, command: &str, argument: &str) -> Result<(), String> {
        match command {
            "config" => self.configure(argument),
            "connect" => {
                self.session.handle_connect(self.now);
                self.collect_output();
            }
            "disconnect" => {
                self.session.handle_disconnect(self.now);
                self.collect_output();
            }
            "in" => {
                let msg = self.message(argument);
                self.feed(&msg);
            }
            "raw" => {
                let bytes = self.expand(argument);
                self.feed(bytes.as_bytes());
            }
            "send" => {
                let (msg_type, fields) = argument.split_once(' ').unwrap_or((argument, ""));
                let fields = self.expand(fields);
                let sent = self.session.send(self.now, msg_type.as_bytes(), |body| {
                    for field in fields.split('\x01').filter(|f| !f.is_empty()) {
                        let (tag, value) = field.split_once('=').expect("tag=value");
                        body.field(parse(tag) as u32, value.as_bytes());
                    }
                });
                sent.map_err(|e| format!("send failed: {e}"))?;
                self.collect_output();
            }
            "out" => self.check_out(argument)?,
            "quiet" => {
                if let Some(sent) = self.sent.front() {
                    return Err(format!(
                        "expected nothing sent, got {}",
                        String::from_utf8_lossy(sent).replace('\x01', "|")
                    ));
                }
            }
            "deliver" => {
                for seq in argument.split_whitespace() {
                    let seq: u64 = parse(seq);
                    match self.delivered.pop_front() {
                        Some(got) if got == seq => {}
                        got => return Err(format!("expected delivery of {seq}, got {got:?}")),
                    }
                }
            }
            "event" => match self.events.pop_front() {
                Some(got) if got == argument => {}
                got => return Err(format!("expected event {argument}, got {got:?}")),
            },
            "advance" => {
                let seconds: f64 = argument.trim_end_matches('s').parse().expect("seconds");
                let target = self.now.advanced(Duration::from_secs_f64(seconds));
                // Fire every deadline on the way, at its time.
                while let Some(deadline) = self.session.poll_timeout() {
                    if deadline > target.instant {
                        break;
                    }
                    let step = deadline.saturating_since(self.now.instant);
                    self.now = self.now.advanced(step);
                    self.session.handle_timeout(self.now);
                    self.collect_output();
                }
                self.now = target;
            }
            "state" => {
                let state = format!("{:?}", self.session.state()).to_lowercase();
                if state != argument {
                    return Err(format!("expected state {argument}, got {state}"));
                }
            }
            "next_target" => check_number("next_target", self.session.next_target_seq(), argument)?,
            "next_sender" => check_number("next_sender", self.session.next_sender_seq(), argument)?,
            "counter" => {
                let (name, value) = argument.split_once(' ').expect("counter NAME VALUE");
                let counters = self.session.counters();
                let actual = match name {
                    "duplicates_dropped" => counters.duplicates_dropped,
                    "resend_requests_sent" => counters.resend_requests_sent,
                    "resend_requests_throttled" => counters.resend_requests_throttled,
                    "garbled_dropped" => counters.garbled_dropped,
                    "hold_overflows" => counters.hold_overflows,
                    "held_now" => counters.held_now,
                    "gaps_detected" => counters.gaps_detected,
                    _ => panic!("unknown counter {name}"),
                };
                check_number(name, actual, value)?;
            }
            _ => panic!("unknown command {command}"),
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), String> {
        let mut leftovers = String::new();
        for sent in &self.sent {
            let _ = writeln!(
                leftovers,
                "  unexpected output {}",
                String::from_utf8_lossy(sent).replace('\x01', "|")
            );
        }
        for seq in &self.delivered {
            let _ = writeln!(leftovers, "  unexpected delivery of {seq}");
        }
        for event in &self.events {
            let _ = writeln!(leftovers, "  unexpected event {event}");
        }
        if leftovers.is_empty() {
            Ok(())
        } else {
            Err(leftovers)
        }
    }
}

fn parse(value: &str) -> u64 {
    value
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {value}"))
}

fn check_number(name: &str, actual: u64, expected: &str) -> Result<(), String> {
    if actual == parse(expected) {
        Ok(())
    } else {
        Err(format!("{name} is {actual}, expected {expected}"))
    }
}

fn run_scenario(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("readable scenario");
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let versions: Vec<Version> = text
        .lines()
        .find_map(|l| l.strip_prefix("versions "))
        .map(|v| v.split_whitespace().map(version_named).collect())
        .unwrap_or_else(|| vec![Version::Fix44]);
    let mut failures = Vec::new();
    for version in versions {
        let mut run = Run::new(name.clone(), version);
        let mut failed = false;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') || line.starts_with("versions ") {
                continue;
            }
            let (command, argument) = line.split_once(' ').unwrap_or((line, ""));
            if let Err(e) = run.step(command, argument.trim()) {
                failures.push(format!(
                    "{name}:{} [{}] {line}\n  {e}",
                    number + 1,
                    version.name()
                ));
                failed = true;
                break;
            }
        }
        if !failed && let Err(e) = run.finish() {
            failures.push(format!("{name} [{}] ended with\n{e}", version.name()));
        }
    }
    failures
}

#[test]
fn scenarios() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("testdata directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "scn"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no scenarios in {}", dir.display());
    let failures: Vec<String> = paths.iter().flat_map(|p| run_scenario(p)).collect();
    println!("{} scenario files", paths.len());
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
