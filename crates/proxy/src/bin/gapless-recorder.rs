//! # gapless-recorder: the test application of the interoperability and crash scripts
//!
//! Attaches to a Gapless session's application channel and
//! - sends `--send N` application messages through it (`AppEnd::try_send`): NewOrderSingles
//!   with ClOrdID `O1..ON` (`--send-kind order`) or ExecutionReports with ExecID `1..N`
//!   (`--send-kind exec`), at most `--rate` per second (0: as fast as the ring takes them);
//! - records every application message it receives durably, exactly as
//!   `crates/runtime/tests/e2e.rs` does: peek the record, append `<MsgSeqNum> <id>` to
//!   `--record FILE` and flush it, then commit the record. Killed at any instant and started
//!   again, it resumes where it was and counts nothing twice.
//!
//! It ends when it has sent everything and received id `--expect` (and acknowledgement
//! `--expect-acks`), or after `--timeout` seconds, and prints `gapless-recorder: sent=S` and
//! the [`Recorder::summary`](gapless_proxy::Recorder::summary). Exit status 0 only if ids 1 to
//! `--expect` (and acknowledgements 1 to `--expect-acks`) arrived exactly once, in order,
//! nothing else arrived, and everything was sent.
//!
//! What it is not: durable on its sending side. How many messages it has sent lives in memory,
//! so a killed recorder would send from 1 again; the scripts kill the gateway, not the recorder.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, ValueEnum};
use gapless_client::{AppEnd, InboundRecord, SendError};
use gapless_codec::value::{Decimal, TimePrecision, UtcTimestamp};
use gapless_proxy::{Outcome, Recorder};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    Order,
    Exec,
}

#[derive(Debug, Parser)]
#[command(
    name = "gapless-recorder",
    about = "Send and record through a Gapless channel"
)]
struct Args {
    /// The session's channel file (`<channel_dir>/<name>.chan`).
    #[arg(long)]
    channel: std::path::PathBuf,
    /// The record of received messages, appended to (and read back when it exists).
    #[arg(long)]
    record: std::path::PathBuf,
    /// Application messages to send.
    #[arg(long, default_value_t = 0)]
    send: u64,
    #[arg(long, value_enum, default_value_t = Kind::Order)]
    send_kind: Kind,
    /// The session's BeginString family: FIX.4.2 ExecutionReports carry ExecTransType (20).
    #[arg(long, default_value = "FIX.4.4")]
    version: String,
    /// Most messages sent per second; 0 is as fast as the ring takes them.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// The id of the last application message expected.
    #[arg(long, default_value_t = 0)]
    expect: u64,
    /// The last order acknowledgement expected (ExecutionReports with ExecID `E<k>` echoing
    /// ClOrdID `O<n>`, as `gapless venue` answers orders).
    #[arg(long, default_value_t = 0)]
    expect_acks: u64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// How long to wait for the channel file to appear.
    #[arg(long, default_value_t = 30)]
    attach_timeout: u64,
}

fn now() -> UtcTimestamp {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    UtcTimestamp::from_unix_nanos(nanos)
}

fn send(app: &mut AppEnd, kind: Kind, fix42: bool, n: u64) -> Result<(), SendError> {
    let mut digits = [0u8; 20];
    let len = gapless_codec::value::write_u64(n, &mut digits);
    let id = &digits[20 - len..];
    let time = now();
    match kind {
        Kind::Order => app.try_send(b"D", |body| {
            let mut cl_ord_id = [0u8; 21];
            cl_ord_id[0] = b'O';
            cl_ord_id[1..=len].copy_from_slice(id);
            body.field(11, &cl_ord_id[..=len])
                .char(21, b'1')
                .field(55, b"GAPL")
                .char(54, b'1')
                .timestamp(60, time, TimePrecision::Millis)
                .decimal(38, Decimal::new(100, 0))
                .char(40, b'2')
                .decimal(44, Decimal::new(10_125, -2));
        }),
        Kind::Exec => app.try_send(b"8", |body| {
            let mut order_id = [0u8; 21];
            order_id[0] = b'G';
            order_id[1..=len].copy_from_slice(id);
            body.field(37, &order_id[..=len]).field(17, id);
            if fix42 {
                body.char(20, b'0');
            }
            body.char(150, b'0')
                .char(39, b'0')
                .field(55, b"GAPL")
                .char(54, b'1')
                .decimal(38, Decimal::new(100, 0))
                .decimal(151, Decimal::new(100, 0))
                .decimal(14, Decimal::new(0, 0))
                .decimal(6, Decimal::new(0, 0));
        }),
    }
}

fn attach(args: &Args) -> Result<AppEnd, String> {
    let deadline = Instant::now() + Duration::from_secs(args.attach_timeout);
    loop {
        match AppEnd::attach(&args.channel) {
            Ok(app) => return Ok(app),
            Err(error) if Instant::now() >= deadline => {
                return Err(format!("{}: {error}", args.channel.display()));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut recorder = match Recorder::open(&args.record) {
        Ok(recorder) => recorder,
        Err(error) => {
            eprintln!("gapless-recorder: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut app = match attach(&args) {
        Ok(app) => app,
        Err(error) => {
            eprintln!("gapless-recorder: {error}");
            return ExitCode::FAILURE;
        }
    };
    let fix42 = args.version == "FIX.4.2";
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.timeout);
    let (mut sent, mut events) = (0u64, 0u64);
    let mut failed = false;
    let done = |recorder: &Recorder, sent: u64| {
        sent >= args.send
            && recorder.stream().highest >= args.expect
            && recorder.acks().highest >= args.expect_acks
    };
    while !done(&recorder, sent) && Instant::now() < deadline {
        let mut busy = false;
        let allowed = if args.rate == 0 {
            args.send
        } else {
            (start.elapsed().as_micros() as u64).saturating_mul(args.rate) / 1_000_000 + 1
        };
        if sent < args.send.min(allowed) {
            match send(&mut app, args.send_kind, fix42, sent + 1) {
                Ok(()) => {
                    sent += 1;
                    busy = true;
                }
                Err(SendError::Full) => {}
                Err(error) => {
                    eprintln!("gapless-recorder: send {}: {error}", sent + 1);
                    failed = true;
                    break;
                }
            }
        }
        let outcome = match app.peek() {
            Ok(None) => None,
            Ok(Some(InboundRecord::Application { seq, message, .. })) => {
                Some(recorder.observe(seq, message))
            }
            Ok(Some(InboundRecord::Event { seq, event })) => {
                events += 1;
                eprintln!("gapless-recorder: #{seq} {event:?}");
                Some(Ok(Outcome::Foreign))
            }
            Err(error) => {
                eprintln!("gapless-recorder: {error}");
                failed = true;
                break;
            }
        };
        match outcome {
            None => {}
            Some(Ok(_)) => {
                app.commit();
                busy = true;
            }
            Some(Err(error)) => {
                eprintln!("gapless-recorder: {error}");
                failed = true;
                break;
            }
        }
        if !busy {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    println!(
        "gapless-recorder: sent={sent} {} events={events}",
        recorder.summary()
    );
    let exact = recorder.stream().exactly_once_in_order(args.expect)
        && recorder.acks().exactly_once_in_order(args.expect_acks)
        && recorder.foreign() == 0;
    if failed || sent < args.send || !exact {
        if Instant::now() >= deadline {
            eprintln!("gapless-recorder: timed out");
        }
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
