//! The figures: what each subcommand runs, measures and checks.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gapless_client::{AppEnd, InboundRecord, SessionEvent, monotonic_nanos};
use gapless_codec::value::{TimePrecision, UtcTimestamp, write_u64};
use gapless_codec::{Decoded, Limits, decode, tag};
use gapless_venue::{FaultConfig, StreamCheck, stream_position};
use hdrhistogram::Histogram;

use crate::harness::{self, App, BenchGateway};
use crate::memory::{peak_rss_bytes, rss_bytes};
use crate::report::{Results, new_histogram};
use crate::{BenchError, Options};

/// Held messages between two readings of the resident set during a gap.
const RSS_PROBE_STEP: u64 = 500;

/// Orders sent per pass of the loop at most, so that the gateway keeps polling under load.
const SENDS_PER_PASS: u32 = 64;

fn rate_label(rate: u64) -> String {
    match rate {
        0 => "max".into(),
        r if r % 1_000 == 0 => format!("{}k", r / 1_000),
        r => r.to_string(),
    }
}

fn unix_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// Takes every record in the application ring; `on` sees each. Returns whether any came.
fn drain(app: &mut AppEnd, errors: &mut u64, mut on: impl FnMut(InboundRecord<'_>)) -> bool {
    let mut worked = false;
    // Bounded by the ring's contents; a pass takes at most this many so that the gateway polls.
    for _ in 0..4_096 {
        match app.try_recv(&mut on) {
            Ok(Some(())) => worked = true,
            Ok(None) => break,
            Err(_) => {
                *errors += 1;
                break;
            }
        }
    }
    worked
}

fn memory_note(outcome: &harness::Outcome) -> String {
    format!(
        "session opened: RSS +{:.1} MiB; process peak RSS {:.1} MiB (gateway, venue and application)",
        mib(outcome
            .rss_after_session
            .saturating_sub(outcome.rss_before_session)),
        mib(peak_rss_bytes())
    )
}

// ---------------------------------------------------------------------------------------------
// Round trip

/// Orders O1..On, each answered by the venue with one ExecutionReport echoing its ClOrdID.
#[derive(Debug)]
struct RoundTrip {
    total: u64,
    warmup: u64,
    /// Between intended send times; 0 is closed loop (or windowed).
    interval_ns: u64,
    /// When not 0: orders as fast as the ring takes them, at most this many unanswered.
    window: u64,
    /// The schedule's origin, set at logon.
    base: Option<Instant>,
    sent: u64,
    answered: u64,
    /// Intended send time of order n, ns after `base`; `u64::MAX` once answered.
    intended: Vec<u64>,
    first_measured_intended: Option<u64>,
    last_reply: u64,
    histogram: Histogram<u64>,
    unexpected: u64,
    errors: u64,
}

impl RoundTrip {
    fn on_reply(&mut self, message: &[u8]) {
        let Some(base) = self.base else {
            self.unexpected += 1;
            return;
        };
        let now = nanos(base.elapsed());
        let Decoded::Message(msg) = decode(message, &Limits::default()) else {
            self.unexpected += 1;
            return;
        };
        let number = msg
            .get(tag::CL_ORD_ID)
            .and_then(|id| id.strip_prefix(b"O"))
            .and_then(|digits| std::str::from_utf8(digits).ok()?.parse::<usize>().ok());
        let Some(slot) = number.and_then(|n| self.intended.get_mut(n)) else {
            self.unexpected += 1;
            return;
        };
        if *slot == u64::MAX {
            self.unexpected += 1;
            return;
        }
        let intended = std::mem::replace(slot, u64::MAX);
        self.answered += 1;
        if number.is_some_and(|n| n as u64 > self.warmup) {
            self.first_measured_intended.get_or_insert(intended);
            self.last_reply = now;
            let _ = self.histogram.record(now.saturating_sub(intended).max(1));
        }
    }

    fn send(&mut self, app: &mut AppEnd, intended: u64) -> bool {
        let number = self.sent + 1;
        let mut id = [0u8; 21];
        id[0] = b'O';
        let mut digits = [0u8; 20];
        let len = write_u64(number, &mut digits);
        id[1..=len].copy_from_slice(&digits[20 - len..]);
        let now = UtcTimestamp::from_unix_nanos(unix_nanos());
        let sent = app.try_send(b"D", |body| {
            body.field(tag::CL_ORD_ID, &id[..=len])
                .char(21, b'1')
                .field(tag::SYMBOL, b"GAPL")
                .char(tag::SIDE, b'1')
                .timestamp(tag::TRANSACT_TIME, now, TimePrecision::Micros)
                .uint(tag::ORDER_QTY, 100)
                .char(tag::ORD_TYPE, b'2')
                .field(44, b"101.25");
        });
        if sent.is_err() {
            return false;
        }
        self.sent = number;
        self.intended[number as usize] = intended;
        true
    }
}

impl App for RoundTrip {
    fn step(&mut self, app: &mut AppEnd, _gateway: &BenchGateway) -> bool {
        let mut logged_on = false;
        let mut errors = self.errors;
        let worked = drain(app, &mut errors, |record| match record {
            InboundRecord::Application { message, .. } => self.on_reply(message),
            InboundRecord::Event {
                event: SessionEvent::LoggedOn { .. },
                ..
            } => logged_on = true,
            InboundRecord::Event { .. } => {}
        });
        self.errors = errors;
        if logged_on && self.base.is_none() {
            self.base = Some(Instant::now());
        }
        let Some(base) = self.base else {
            return worked;
        };
        if self.window > 0 {
            let mut sent_any = false;
            for _ in 0..SENDS_PER_PASS {
                if self.sent >= self.total || self.sent - self.answered >= self.window {
                    break;
                }
                if !self.send(app, nanos(base.elapsed())) {
                    break;
                }
                sent_any = true;
            }
            return worked || sent_any;
        }
        if self.interval_ns == 0 {
            if self.answered == self.sent && self.sent < self.total {
                let now = nanos(base.elapsed());
                return self.send(app, now) || worked;
            }
            return worked;
        }
        let now = nanos(base.elapsed());
        let mut sent_any = false;
        for _ in 0..SENDS_PER_PASS {
            if self.sent >= self.total {
                break;
            }
            let due = self.sent * self.interval_ns;
            if due > now || !self.send(app, due) {
                break;
            }
            sent_any = true;
        }
        worked || sent_any
    }

    fn done(&self) -> bool {
        self.answered >= self.total
    }
}

/// `roundtrip`: see the crate documentation.
pub fn roundtrip(options: &Options, results: &Results) -> Result<(), BenchError> {
    let rate = options.number("rate")?;
    let count = options.number("count")?;
    let window = options.number_or("window", 0)?;
    let warmup = options.number_or("warmup", if window > 0 { 0 } else { count / 10 })?;
    let time_limit = Duration::from_secs(options.number_or("time-limit", 60)?);
    let default_name = if window > 0 {
        "tput-orders.gapless".to_string()
    } else {
        format!("rt-{}.gapless", rate_label(rate))
    };
    let name = options.str_or("name", &default_name).to_string();
    let total = warmup + count;
    let mut app = RoundTrip {
        total,
        warmup,
        interval_ns: 1_000_000_000u64.checked_div(rate).unwrap_or(0),
        window,
        base: None,
        sent: 0,
        answered: 0,
        intended: vec![u64::MAX; total as usize + 1],
        first_measured_intended: None,
        last_reply: 0,
        histogram: new_histogram(),
        unexpected: 0,
        errors: 0,
    };
    let venue = harness::venue_config();
    let outcome = harness::run(&venue, options.setup()?, time_limit, |_| {}, &mut app)?;
    if app.unexpected != 0 || app.errors != 0 || outcome.venue.order_violations != 0 {
        return Err(BenchError::Check(format!(
            "{name}: {} unexpected replies, {} ring errors, {} ClOrdID violations at the venue",
            app.unexpected, app.errors, outcome.venue.order_violations
        )));
    }
    let span = app
        .last_reply
        .saturating_sub(app.first_measured_intended.unwrap_or(0));
    let achieved = (span > 0).then(|| app.histogram.len() as f64 / (span as f64 / 1e9));
    let mut note = if window > 0 {
        format!(
            "orders as fast as the ring takes them, at most {window} unanswered; msg/s = \
             ExecutionReports per second; latency from actual send, queueing included"
        )
    } else if rate == 0 {
        "closed loop, one order in flight".to_string()
    } else {
        format!(
            "open loop, offered {rate}/s, achieved {:.0}/s, latency from intended send time",
            achieved.unwrap_or(0.0)
        )
    };
    if outcome.timed_out {
        note.push_str(&format!(
            "; TIME LIMIT: {} of {} answered",
            app.answered, total
        ));
    }
    note.push_str("; ");
    note.push_str(&memory_note(&outcome));
    results.latency(&name, &app.histogram, achieved, &note)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Stream: wire (venue TransactTime) to application, gateway read to application, and throughput

/// The venue's stream as the application checks it: ExecID 1, 2, 3, ... exactly once, in order.
#[derive(Debug)]
struct Stream {
    total: u64,
    check: StreamCheck,
    bytes: u64,
    first_at: Option<Instant>,
    last_at: Option<Instant>,
    latency: Histogram<u64>,
    /// From the gateway reading a message's bytes to the application reading its record.
    read_to_app: Histogram<u64>,
    errors: u64,
    // Gap figures.
    gaps: u64,
    recovery: Histogram<u64>,
    recovery_nanos_total: u64,
    held_peak: u64,
    held_bytes_at_peak: u64,
    rss_at_detection: u64,
    rss_at_peak: u64,
    next_rss_probe: u64,
}

impl Stream {
    fn new(total: u64) -> Stream {
        Stream {
            total,
            check: StreamCheck::default(),
            bytes: 0,
            first_at: None,
            last_at: None,
            latency: new_histogram(),
            read_to_app: new_histogram(),
            errors: 0,
            gaps: 0,
            recovery: new_histogram(),
            recovery_nanos_total: 0,
            held_peak: 0,
            held_bytes_at_peak: 0,
            rss_at_detection: 0,
            rss_at_peak: 0,
            next_rss_probe: 0,
        }
    }

    fn on_message(&mut self, received_nanos: u64, message: &[u8]) {
        let in_gateway = monotonic_nanos().saturating_sub(received_nanos);
        let _ = self.read_to_app.record(in_gateway.max(1));
        let now = Instant::now();
        let wall = unix_nanos();
        self.first_at.get_or_insert(now);
        self.last_at = Some(now);
        self.bytes += message.len() as u64;
        let Decoded::Message(msg) = decode(message, &Limits::default()) else {
            self.check.observe(None);
            return;
        };
        self.check.observe(stream_position(&msg));
        // Resent messages carry their original TransactTime: their latency is the recovery's,
        // measured apart.
        if msg.poss_dup() != Ok(true)
            && let Ok(sent) = msg.get_timestamp(tag::TRANSACT_TIME)
            && let Some(sent) = sent.unix_nanos()
        {
            let _ = self
                .latency
                .record(u64::try_from(wall - sent).unwrap_or(0).max(1));
        }
    }

    fn on_event(&mut self, event: &SessionEvent<'_>) {
        match *event {
            SessionEvent::GapDetected { .. } => {
                self.gaps += 1;
                self.rss_at_detection = rss_bytes();
                self.next_rss_probe = RSS_PROBE_STEP;
            }
            SessionEvent::Recovered { after_nanos } => {
                self.recovery_nanos_total += after_nanos;
                let _ = self.recovery.record(after_nanos.max(1));
            }
            _ => {}
        }
    }

    fn check(&self, name: &str) -> Result<(), BenchError> {
        if !self.check.is_exact(self.total) || self.errors != 0 {
            return Err(BenchError::Check(format!(
                "{name}: {} of {} ExecutionReports in order, {} duplicates, {} out of \
                 order, {} ring errors",
                self.check.in_order(),
                self.total,
                self.check.duplicates,
                self.check.out_of_order,
                self.errors
            )));
        }
        Ok(())
    }

    fn rate(&self) -> Option<f64> {
        let (first, last) = (self.first_at?, self.last_at?);
        let seconds = last.duration_since(first).as_secs_f64();
        (seconds > 0.0).then(|| self.check.in_order().saturating_sub(1) as f64 / seconds)
    }
}

impl App for Stream {
    fn step(&mut self, app: &mut AppEnd, gateway: &BenchGateway) -> bool {
        let mut errors = self.errors;
        let worked = drain(app, &mut errors, |record| match record {
            InboundRecord::Application {
                received_nanos,
                message,
                ..
            } => self.on_message(received_nanos, message),
            InboundRecord::Event { event, .. } => self.on_event(&event),
        });
        self.errors = errors;
        if self.gaps > 0
            && let Some((_, session)) = gateway.sessions().next()
        {
            let counters = session.counters();
            if counters.held_now > self.held_peak {
                self.held_peak = counters.held_now;
                self.held_bytes_at_peak = counters.held_bytes_now;
                if counters.held_now >= self.next_rss_probe {
                    self.rss_at_peak = rss_bytes();
                    self.next_rss_probe = counters.held_now + RSS_PROBE_STEP;
                }
            }
        }
        worked
    }

    fn done(&self) -> bool {
        self.check.in_order() >= self.total
    }
}

/// `stream`: see the crate documentation.
pub fn stream(options: &Options, results: &Results) -> Result<(), BenchError> {
    let rate = options.number("rate")?;
    let count = options.number("count")?;
    let time_limit = Duration::from_secs(options.number_or("time-limit", 60)?);
    let default_name = if rate == 0 {
        "throughput.gapless".to_string()
    } else {
        format!("wire-{}.gapless", rate_label(rate))
    };
    let read_to_app_name = format!("read-to-app-{}.gapless", rate_label(rate));
    let name = options.str_or("name", &default_name).to_string();
    let mut venue = harness::venue_config();
    venue.messages = count;
    venue.rate = rate;
    let mut app = Stream::new(count);
    let outcome = harness::run(&venue, options.setup()?, time_limit, |_| {}, &mut app)?;
    app.check(&name)?;
    let mean_len = app.bytes as f64 / count.max(1) as f64;
    let note = format!(
        "venue TransactTime (µs, truncated: up to +1 µs) to application read; {} offered; \
         ExecutionReports of {mean_len:.0} bytes on average; {}",
        if rate == 0 {
            "as fast as the connection takes them".to_string()
        } else {
            format!("{rate}/s")
        },
        memory_note(&outcome)
    );
    results.latency(&name, &app.latency, app.rate(), &note)?;
    results.latency(
        &read_to_app_name,
        &app.read_to_app,
        app.rate(),
        "from the gateway's receive call returning the message's last bytes to the application \
         taking its record from the ring (host monotonic clock, both ends); no QuickFIX \
         counterpart: its application callback sees no receive time",
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Gap recovery

/// `gap`: see the crate documentation.
pub fn gap(options: &Options, results: &Results) -> Result<(), BenchError> {
    let size = options.number("size")?.max(1);
    let repeats = options.number_or("repeats", 1)?.max(1);
    let stream_rate = options.number_or("stream-rate", 50_000)?;
    let time_limit = Duration::from_secs(options.number_or("time-limit", 120)?);
    let name = options
        .str_or("name", &format!("gap-{size}.gapless"))
        .to_string();
    // Runs of `size` MsgSeqNums dropped after 1,000 in order, each a fifth of a second of the
    // stream (or `size` messages) after the last, so that one recovery ends before the next gap.
    let spacing = size.max(stream_rate / 5).max(2_000);
    let first = 1_001;
    let mut gap_at = Vec::with_capacity((size * repeats) as usize);
    for k in 0..repeats {
        let start = first + k * (size + spacing);
        gap_at.extend(start..start + size);
    }
    let last = gap_at.last().copied().unwrap_or(first);
    let count = last + spacing;
    let mut venue = harness::venue_config();
    venue.messages = count;
    venue.rate = stream_rate;
    venue.faults = FaultConfig {
        gap_at,
        ..FaultConfig::none()
    };
    // 0 (the default): ResendRequests to infinity (EndSeqNo 0), the session's default; N: at
    // most N messages per ResendRequest (`ResendLimits::request_chunk`).
    let chunk = options.number_or("request-chunk", 0)?;
    let mut app = Stream::new(count);
    let outcome = harness::run(
        &venue,
        options.setup()?,
        time_limit,
        |session| session.resend_limits.request_chunk = (chunk > 0).then_some(chunk),
        &mut app,
    )?;
    app.check(&name)?;
    let recovered = app.recovery.len();
    // A recovery slower than the spacing merges two runs into one gap: counted, not failed.
    if app.gaps == 0 || recovered != app.gaps || outcome.venue.faults.forced_gaps != size * repeats
    {
        return Err(BenchError::Check(format!(
            "{name}: {} gaps detected, {recovered} recovered, {} messages dropped; expected \
             {repeats} gaps of {size}",
            app.gaps, outcome.venue.faults.forced_gaps
        )));
    }
    let resend_rate = (app.recovery_nanos_total > 0)
        .then(|| (size * repeats) as f64 / (app.recovery_nanos_total as f64 / 1e9));
    let payload_per_message = app
        .held_bytes_at_peak
        .checked_div(app.held_peak)
        .unwrap_or(0);
    let rss_per_message = if app.held_peak >= RSS_PROBE_STEP
        && app.rss_at_peak > app.rss_at_detection
    {
        format!(
            "at most {} B/msg RSS growth (an upper bound: ring pages first touched meanwhile count)",
            (app.rss_at_peak - app.rss_at_detection) / app.held_peak
        )
    } else {
        "RSS growth not sampled (fewer than 500 held)".to_string()
    };
    let note = format!(
        "{} gaps of {size} forced, {} detected{}; ResendRequest {}; Recovered.after_nanos; msg/s = messages recovered per second of recovery (venue resent \
         {} in {} answers); stream {stream_rate}/s; held peak {} msgs, {payload_per_message} B \
         payload/msg, {rss_per_message}; {}",
        repeats,
        app.gaps,
        if app.gaps < repeats {
            " (runs merged while recovering)"
        } else {
            ""
        },
        if chunk > 0 {
            format!("in chunks of {chunk}")
        } else {
            "to infinity (EndSeqNo 0)".to_string()
        },
        outcome.venue.messages_resent,
        outcome.venue.resend_requests_answered,
        app.held_peak,
        memory_note(&outcome)
    );
    results.latency(&name, &app.recovery, resend_rate, &note)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Loopback TCP ping-pong

fn read_exact_spinning(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
) -> std::io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match stream.read(&mut buf[got..]) {
            Ok(0) => return Ok(false),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err(std::io::Error::new(ErrorKind::TimedOut, "no reply in time"));
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn write_all_spinning(stream: &mut TcpStream, mut buf: &[u8]) -> std::io::Result<()> {
    while !buf.is_empty() {
        match stream.write(buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `loopback`: see the crate documentation.
pub fn loopback(options: &Options, results: &Results) -> Result<(), BenchError> {
    let count = options.number("count")?;
    let warmup = options.number_or("warmup", count / 10)?;
    let out_bytes = options.number_or("out-bytes", 171)? as usize;
    let in_bytes = options.number_or("in-bytes", 200)? as usize;
    let setup = options.setup()?;
    let name = options.str_or("name", "loopback.tcp").to_string();
    let io = |e: std::io::Error| BenchError::Io(format!("loopback: {e}"));
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io)?;
    let addr = listener.local_addr().map_err(io)?;
    let mut histogram = new_histogram();
    std::thread::scope(|scope| -> Result<(), BenchError> {
        let server = scope.spawn(move || -> std::io::Result<()> {
            harness::pin(setup.venue_cpu);
            let (mut stream, _) = listener.accept()?;
            stream.set_nodelay(true)?;
            stream.set_nonblocking(true)?;
            let mut request = vec![0u8; out_bytes];
            let reply = vec![b'r'; in_bytes];
            // Ends when the client closes; each wait is bounded by the deadline.
            while read_exact_spinning(
                &mut stream,
                &mut request,
                Instant::now() + Duration::from_secs(10),
            )? {
                write_all_spinning(&mut stream, &reply)?;
            }
            Ok(())
        });
        harness::pin(setup.gateway_cpu);
        let mut stream = TcpStream::connect(addr).map_err(io)?;
        stream.set_nodelay(true).map_err(io)?;
        stream.set_nonblocking(true).map_err(io)?;
        let request = vec![b'q'; out_bytes];
        let mut reply = vec![0u8; in_bytes];
        for i in 0..warmup + count {
            let start = Instant::now();
            write_all_spinning(&mut stream, &request).map_err(io)?;
            if !read_exact_spinning(&mut stream, &mut reply, start + Duration::from_secs(5))
                .map_err(io)?
            {
                return Err(BenchError::Io("loopback: the server closed early".into()));
            }
            if i >= warmup {
                let _ = histogram.record(nanos(start.elapsed()).max(1));
            }
        }
        drop(stream);
        server
            .join()
            .map_err(|_| BenchError::Io("loopback server panicked".into()))?
            .map_err(io)
    })?;
    let note = format!(
        "kernel TCP ping-pong on loopback, {out_bytes} B out, {in_bytes} B back, both sides \
         busy polling on their own core: the floor of a round trip"
    );
    results.latency(&name, &histogram, None, &note)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Figures from other programs

/// `ingest`: qf_bench's `--latencies` file (little-endian u64 nanoseconds) into a histogram.
pub fn ingest(options: &Options, results: &Results) -> Result<(), BenchError> {
    let path = options.str("latencies")?;
    let bytes = std::fs::read(path).map_err(|e| BenchError::Io(format!("{path}: {e}")))?;
    if bytes.is_empty() || bytes.len() % 8 != 0 {
        return Err(BenchError::Check(format!(
            "{path}: {} bytes is not a list of u64 latencies",
            bytes.len()
        )));
    }
    let mut histogram = new_histogram();
    for chunk in bytes.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let _ = histogram.record(u64::from_le_bytes(word).max(1));
    }
    let rate = match options.str_or("rate", "") {
        "" => None,
        text => Some(
            text.parse::<f64>()
                .map_err(|_| BenchError::Usage(format!("--rate {text}: not a number")))?,
        ),
    };
    results.latency(
        options.str("name")?,
        &histogram,
        rate,
        options.str_or("note", ""),
    )?;
    Ok(())
}
