//! What a strategy looks like: attach to a session's channel, send NewOrderSingles, print the
//! execution reports as they arrive.
//!
//! ```text
//! cargo run -p gapless-client --example strategy -- /dev/shm/gapless/SESSION.chan [ORDERS] [TIMEOUT_SECS]
//! ```
//!
//! Sends ORDERS (default 10) orders, ClOrdID `O1`, `O2`, ..., and exits once it has seen as many
//! execution reports (35=8), or after TIMEOUT_SECS (default 10) seconds.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gapless_client::{AppEnd, InboundRecord, SendError, SessionEvent, monotonic_nanos};
use gapless_codec::value::{Decimal, TimePrecision, UtcTimestamp};
use gapless_codec::{Decoded, Limits, decode};

fn usage() -> ExitCode {
    eprintln!("usage: strategy <channel-file> [orders] [timeout-secs]");
    ExitCode::from(2)
}

fn now() -> UtcTimestamp {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    UtcTimestamp::from_unix_nanos(nanos)
}

/// Sends NewOrderSingle number `n`. Buy 100 EURUSD at 1.0842 for even `n`, sell for odd.
fn send_order(app: &mut AppEnd, n: u64) -> Result<(), SendError> {
    let mut cl_ord_id = [0u8; 21];
    cl_ord_id[0] = b'O';
    let mut digits = [0u8; 20];
    let len = gapless_codec::value::write_u64(n, &mut digits);
    cl_ord_id[1..=len].copy_from_slice(&digits[20 - len..]);
    let transact_time = now();
    app.try_send(b"D", |body| {
        body.field(11, &cl_ord_id[..=len])
            .field(55, b"EURUSD")
            .char(54, if n.is_multiple_of(2) { b'1' } else { b'2' })
            .decimal(38, Decimal::new(100, 0))
            .char(40, b'2')
            .decimal(44, Decimal::new(10_842, -4))
            .timestamp(60, transact_time, TimePrecision::Micros);
    })
}

/// Prints an ExecutionReport with the time from the gateway reading it to this process reading
/// it; returns whether it was one.
fn print_execution_report(seq: u64, received_nanos: u64, message: &[u8]) -> bool {
    let wire_to_here = monotonic_nanos().saturating_sub(received_nanos);
    let Decoded::Message(message) = decode(message, &Limits::default()) else {
        println!("#{seq}: undecodable message");
        return false;
    };
    if message.msg_type() != b"8" {
        println!("#{seq}: 35={}", String::from_utf8_lossy(message.msg_type()));
        return false;
    }
    let text = |tag| String::from_utf8_lossy(message.get(tag).unwrap_or(b"-")).into_owned();
    println!(
        "#{seq}: execution report ClOrdID={} ExecType={} OrdStatus={} Symbol={} CumQty={} LeavesQty={} (wire to here {wire_to_here} ns)",
        text(11),
        text(150),
        text(39),
        text(55),
        text(14),
        text(151)
    );
    true
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        return usage();
    };
    let orders: u64 = match args.get(1).map(|s| s.parse()) {
        None => 10,
        Some(Ok(n)) => n,
        Some(Err(_)) => return usage(),
    };
    let timeout = match args.get(2).map(|s| s.parse()) {
        None => Duration::from_secs(10),
        Some(Ok(secs)) => Duration::from_secs(secs),
        Some(Err(_)) => return usage(),
    };
    let mut app = match AppEnd::attach(path) {
        Ok(app) => app,
        Err(error) => {
            eprintln!("{path}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let deadline = Instant::now() + timeout;
    let (mut sent, mut reports) = (0, 0);
    while reports < orders && Instant::now() < deadline {
        let mut busy = false;
        if sent < orders {
            match send_order(&mut app, sent + 1) {
                Ok(()) => {
                    sent += 1;
                    busy = true;
                }
                // Back-pressure: the gateway has not taken the earlier orders yet.
                Err(SendError::Full) => {}
                Err(error) => {
                    eprintln!("order {}: {error}", sent + 1);
                    return ExitCode::FAILURE;
                }
            }
        }
        let received = app.try_recv(|record| match record {
            InboundRecord::Application {
                seq,
                received_nanos,
                message,
            } => print_execution_report(seq, received_nanos, message),
            InboundRecord::Event { seq, event } => {
                match event {
                    SessionEvent::LoggedOut { reason, text }
                    | SessionEvent::Disconnected { reason, text } => println!(
                        "#{seq}: session ended ({reason:?}) {}",
                        String::from_utf8_lossy(text)
                    ),
                    event => println!("#{seq}: {event:?}"),
                }
                false
            }
        });
        match received {
            Ok(Some(is_report)) => {
                reports += u64::from(is_report);
                busy = true;
            }
            Ok(None) => {}
            Err(error) => eprintln!("{error}"),
        }
        if !busy {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    println!("sent {sent} orders, received {reports} execution reports");
    if reports < orders {
        eprintln!("timed out");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
