//! The application side of `scripts/dpdk-e2e.sh`: attaches to one session's channel of a running
//! `gapless run`, sends NewOrderSingles one at a time and checks everything that comes back.
//!
//! ```text
//! order_flow <channel-file> --orders 10000 --stream 10000 [--timeout 120]
//! ```
//!
//! Against `gapless venue`, two kinds of ExecutionReport arrive, interleaved:
//!
//! * the venue's unsolicited stream, ExecID (17) `1, 2, 3, ...`: each must arrive exactly once,
//!   in order, up to `--stream`;
//! * the answer to each order, ExecID `E<k>`, echoing the order's ClOrdID (11) `O<k>`: exactly
//!   one answer per order, for the order outstanding (one order is in flight at a time, so the
//!   time from sending it to reading its answer is a round trip through the gateway, the
//!   network and the venue).
//!
//! It waits (bounded) for the channel file and the session's logon. It exits 0 only if all
//! `--orders` orders were answered, the whole stream arrived with no duplicate, gap or
//! reordering, and the session never ended under it; it then prints the round trips'
//! percentiles. The session's gap detection and recovery events are counted and printed.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gapless_client::{AppEnd, InboundRecord, SendError, SessionEvent};
use gapless_codec::value::{Decimal, TimePrecision, UtcTimestamp, parse_u64, write_u64};
use gapless_codec::{Decoded, Limits, decode, tag};

/// What the command line asks for.
struct Args {
    channel: String,
    orders: u64,
    stream: u64,
    timeout: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let channel = args.next().ok_or("missing the channel file")?;
    let (mut orders, mut stream, mut timeout) = (10_000, 10_000, 120);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag}: missing value"))?;
        let number: u64 = value
            .parse()
            .map_err(|_| format!("{flag}: {value:?} is not a number"))?;
        match flag.as_str() {
            "--orders" => orders = number,
            "--stream" => stream = number,
            "--timeout" => timeout = number,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(Args {
        channel,
        orders,
        stream,
        timeout: Duration::from_secs(timeout),
    })
}

fn utc_now() -> UtcTimestamp {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    UtcTimestamp::from_unix_nanos(nanos)
}

/// `prefix` followed by the decimal digits of `n`, in `buf`.
fn id_text(prefix: u8, n: u64, buf: &mut [u8; 21]) -> &[u8] {
    let mut digits = [0u8; 20];
    let len = write_u64(n, &mut digits);
    buf[0] = prefix;
    buf[1..=len].copy_from_slice(&digits[20 - len..]);
    &buf[..=len]
}

/// Sends NewOrderSingle `O<n>`.
fn send_order(app: &mut AppEnd, n: u64) -> Result<(), SendError> {
    let mut buf = [0u8; 21];
    let cl_ord_id = id_text(b'O', n, &mut buf);
    let transact_time = utc_now();
    app.try_send(b"D", |body| {
        body.field(tag::CL_ORD_ID, cl_ord_id)
            .field(tag::SYMBOL, b"EURUSD")
            .char(tag::SIDE, if n.is_multiple_of(2) { b'1' } else { b'2' })
            .decimal(tag::ORDER_QTY, Decimal::new(100, 0))
            .char(tag::ORD_TYPE, b'2')
            .decimal(tag::PRICE, Decimal::new(10_842, -4))
            .timestamp(tag::TRANSACT_TIME, transact_time, TimePrecision::Micros);
    })
}

/// Everything the application checked.
#[derive(Debug, Default)]
struct Checks {
    logged_on: bool,
    /// The session ended (logout or disconnect) while the run was not done.
    ended: Option<String>,
    /// The next stream ExecID expected.
    next_exec_id: u64,
    stream_duplicates: u64,
    stream_skips: u64,
    /// Answers for no outstanding order, for another order, or repeated.
    stray_answers: u64,
    /// Application messages that are not ExecutionReports, or that lack ExecID.
    foreign: u64,
    gaps: u64,
    recoveries: u64,
    answered: u64,
    /// The ClOrdID number of the order in flight, and when it was sent.
    in_flight: Option<(u64, Instant)>,
    round_trips: Vec<Duration>,
}

impl Checks {
    fn application(&mut self, message: &[u8]) {
        let Decoded::Message(message) = decode(message, &Limits::default()) else {
            self.foreign += 1;
            return;
        };
        let Some(exec_id) = message
            .get(tag::EXEC_ID)
            .filter(|_| message.msg_type() == b"8")
        else {
            self.foreign += 1;
            return;
        };
        if let Some(digits) = exec_id.strip_prefix(b"E") {
            // An order's answer: it must echo the order in flight.
            let order = message
                .get(tag::CL_ORD_ID)
                .and_then(|id| id.strip_prefix(b"O"))
                .and_then(|n| parse_u64(n).ok());
            match (self.in_flight, order, parse_u64(digits)) {
                (Some((n, sent)), Some(echoed), Ok(_)) if echoed == n => {
                    self.round_trips.push(sent.elapsed());
                    self.answered += 1;
                    self.in_flight = None;
                }
                _ => self.stray_answers += 1,
            }
            return;
        }
        match parse_u64(exec_id) {
            Ok(n) if n == self.next_exec_id => self.next_exec_id += 1,
            Ok(n) if n > self.next_exec_id => {
                self.stream_skips += 1;
                self.next_exec_id = n + 1;
            }
            Ok(_) => self.stream_duplicates += 1,
            Err(_) => self.foreign += 1,
        }
    }

    fn event(&mut self, event: &SessionEvent<'_>) {
        match event {
            SessionEvent::LoggedOn { .. } => self.logged_on = true,
            SessionEvent::GapDetected { .. } => self.gaps += 1,
            SessionEvent::Recovered { .. } => self.recoveries += 1,
            SessionEvent::LoggedOut { reason, text }
            | SessionEvent::Disconnected { reason, text } => {
                if self.logged_on {
                    self.ended = Some(format!("{reason:?} {}", String::from_utf8_lossy(text)));
                }
            }
        }
    }

    fn errors(&self) -> u64 {
        self.stream_duplicates + self.stream_skips + self.stray_answers + self.foreign
    }
}

/// The `p`-th percentile (0 to 100) of sorted `values`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Attaches to the channel, retrying until `deadline`: the gateway creates it when it starts.
fn attach(path: &str, deadline: Instant) -> Result<AppEnd, String> {
    loop {
        match AppEnd::attach(path) {
            Ok(app) => return Ok(app),
            Err(error) if Instant::now() >= deadline => return Err(format!("{path}: {error}")),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn run(args: &Args) -> Result<Checks, String> {
    let start = Instant::now();
    let deadline = start + args.timeout;
    let mut app = attach(&args.channel, deadline)?;
    let mut checks = Checks {
        next_exec_id: 1,
        ..Checks::default()
    };
    let mut sent = 0;
    loop {
        let done = checks.answered == args.orders && checks.next_exec_id > args.stream;
        if done {
            return Ok(checks);
        }
        if let Some(why) = &checks.ended {
            return Err(format!("the session ended before the run was done: {why}"));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "not done after {:?}: {} of {} orders answered, stream at ExecID {} of {}",
                args.timeout,
                checks.answered,
                args.orders,
                checks.next_exec_id - 1,
                args.stream
            ));
        }
        if checks.logged_on && checks.in_flight.is_none() && sent < args.orders {
            match send_order(&mut app, sent + 1) {
                Ok(()) => {
                    sent += 1;
                    checks.in_flight = Some((sent, Instant::now()));
                }
                // Back-pressure: the gateway has not taken the earlier records yet.
                Err(SendError::Full) => {}
                Err(error) => return Err(format!("order {}: {error}", sent + 1)),
            }
        }
        // Busy-polls: the round trips are measured from here.
        app.try_recv(|record| match record {
            InboundRecord::Application { message, .. } => checks.application(message),
            InboundRecord::Event { event, .. } => checks.event(&event),
        })
        .map_err(|error| format!("channel: {error}"))?;
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("order_flow: {error}");
            eprintln!(
                "usage: order_flow <channel-file> [--orders N] [--stream N] [--timeout SECS]"
            );
            return ExitCode::from(2);
        }
    };
    let mut checks = match run(&args) {
        Ok(checks) => checks,
        Err(error) => {
            eprintln!("order_flow: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "app: stream ExecID 1..={} in order: {} duplicates, {} skips; {} orders answered, {} stray answers, {} foreign messages; session: {} gaps detected, {} recovered",
        checks.next_exec_id - 1,
        checks.stream_duplicates,
        checks.stream_skips,
        checks.answered,
        checks.stray_answers,
        checks.foreign,
        checks.gaps,
        checks.recoveries
    );
    checks.round_trips.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let rt = &checks.round_trips;
    println!(
        "app: order round trip (us): p50 {:.1} p90 {:.1} p99 {:.1} p99.9 {:.1} max {:.1} over {}",
        us(percentile(rt, 50.0)),
        us(percentile(rt, 90.0)),
        us(percentile(rt, 99.0)),
        us(percentile(rt, 99.9)),
        us(percentile(rt, 100.0)),
        rt.len()
    );
    if checks.errors() > 0 {
        eprintln!("order_flow: FAILED: {} errors", checks.errors());
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
