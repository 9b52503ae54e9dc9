//! `gapless demo`: the gateway against a faulty simulated venue, on loopback, in under 30 s.
//!
//! A `gapless venue` runs on its own thread and streams ExecutionReports (ExecID 1, 2, 3, ...)
//! while its fault injector drops, duplicates and reorders some of them and cuts the connection
//! once. The gateway connects to it as initiator and runs inline on this thread, with an
//! embedded application that reads the session's application ring: it checks that every
//! ExecID arrives exactly once and in order, sends an order every few hundred reports and
//! times the venue's answer, and records latencies and recovery times in HdrHistograms. A
//! duplicate without PossDupFlag is a protocol violation that FIX answers with a Logout, so the
//! gateway logs out, reconnects and recovers from where it was. The demo fails (exit status 1)
//! if anything was lost, duplicated or reordered.
//!
//! `--checker hwsim` (a binary built with the `hwsim` feature) classifies inbound messages with
//! the verilated RTL checker instead of the software one, which then runs as its shadow: the
//! demo also fails if the two disagree on any verdict.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gapless_client::{AppEnd, ChannelConfig, InboundRecord, SessionEvent};
use gapless_codec::value::{TimePrecision, UtcTimestamp};
use gapless_codec::{Decoded, Limits, decode, tag};
use gapless_dict::Version;
use gapless_runtime::{
    Backoff, ChannelPlan, CheckerPlan, Endpoint, Gateway, SessionPlan, StorePlan, open_session,
};
use gapless_session::{Role, SessionConfig, State};
use gapless_transport::{SocketTransport, TransportConfig};
use gapless_venue::{
    FaultConfig, FaultPlan, OrderReply, StreamCheck, Venue, VenueConfig, VenueReport,
    stream_position,
};
use hdrhistogram::Histogram;

use crate::config::CheckerName;

/// What the demo runs.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub messages: u64,
    pub seed: u64,
    pub version: Version,
    pub checker: CheckerName,
}

/// The whole run must end within this.
const TIME_LIMIT: Duration = Duration::from_secs(28);
/// The venue's stream rate, messages per second: fast, yet slow enough to watch.
const RATE: u64 = 20_000;
/// The application sends an order after every this many reports.
const ORDER_EVERY: u64 = 250;

/// What the embedded application saw.
#[derive(Debug)]
struct AppView {
    stream: StreamCheck,
    gaps: u64,
    recoveries: u64,
    logons: u64,
    disconnects: u64,
    orders_sent: u64,
    /// When each order was sent, by its number.
    order_sent_at: Vec<Option<Instant>>,
    order_replies: u64,
    /// Venue TransactTime to application, microseconds.
    latency: Histogram<u64>,
    /// Order to its ExecutionReport, microseconds.
    round_trip: Histogram<u64>,
    /// Gap detection to release of the last held message, microseconds.
    recovery: Histogram<u64>,
}

impl AppView {
    fn new(messages: u64) -> AppView {
        let histogram = || Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
        AppView {
            stream: StreamCheck::default(),
            gaps: 0,
            recoveries: 0,
            logons: 0,
            disconnects: 0,
            orders_sent: 0,
            order_sent_at: vec![None; (messages / ORDER_EVERY + 2) as usize],
            order_replies: 0,
            latency: histogram(),
            round_trip: histogram(),
            recovery: histogram(),
        }
    }

    fn received(&self) -> u64 {
        self.stream.in_order()
    }

    /// Takes every record waiting in the application ring.
    fn read(&mut self, app: &mut AppEnd) -> bool {
        let mut worked = false;
        loop {
            let record = app.try_recv(|record| match record {
                InboundRecord::Application { message, .. } => self.on_message(message),
                InboundRecord::Event { event, .. } => self.on_event(&event),
            });
            match record {
                Ok(Some(())) => worked = true,
                Ok(None) => return worked,
                Err(error) => {
                    eprintln!("demo: application ring: {error}");
                    return worked;
                }
            }
        }
    }

    fn on_message(&mut self, bytes: &[u8]) {
        let Decoded::Message(msg) = decode(bytes, &Limits::default()) else {
            self.stream.observe(None);
            return;
        };
        if let Some(cl_ord_id) = msg.get(tag::CL_ORD_ID) {
            let number = std::str::from_utf8(&cl_ord_id[1..])
                .ok()
                .and_then(|n| n.parse::<usize>().ok());
            if let Some(sent) = number.and_then(|n| self.order_sent_at.get_mut(n)?.take()) {
                self.order_replies += 1;
                let _ = self.round_trip.record(micros(sent.elapsed()));
            }
            return;
        }
        self.stream.observe(stream_position(&msg));
        if let Ok(sent) = msg.get_timestamp(tag::TRANSACT_TIME)
            && let Some(sent) = sent.unix_nanos()
        {
            let now = utc_now().unix_nanos().unwrap_or(sent);
            let _ = self
                .latency
                .record(u64::try_from((now - sent) / 1_000).unwrap_or(0).max(1));
        }
    }

    fn on_event(&mut self, event: &SessionEvent<'_>) {
        match *event {
            SessionEvent::LoggedOn { .. } => self.logons += 1,
            SessionEvent::GapDetected { .. } => self.gaps += 1,
            SessionEvent::Recovered { after_nanos } => {
                self.recoveries += 1;
                let _ = self.recovery.record((after_nanos / 1_000).max(1));
            }
            SessionEvent::LoggedOut { .. } | SessionEvent::Disconnected { .. } => {
                self.disconnects += 1
            }
        }
    }

    /// Sends the next order when it is due, while the stream lasts (the venue ends when its
    /// stream is acknowledged, and would not answer an order sent after that).
    fn maybe_order(&mut self, app: &mut AppEnd, messages: u64) {
        if self.received() + ORDER_EVERY > messages {
            return;
        }
        let due = self.received() / ORDER_EVERY;
        if self.orders_sent >= due {
            return;
        }
        let number = self.orders_sent + 1;
        let mut digits = [0u8; 20];
        let digits_len = gapless_codec::value::write_u64(number, &mut digits);
        let mut id = [0u8; 21];
        id[0] = b'O';
        id[1..=digits_len].copy_from_slice(&digits[20 - digits_len..]);
        let len = 1 + digits_len;
        let sent = app.try_send(b"D", |body| {
            body.field(tag::CL_ORD_ID, &id[..len])
                .field(tag::SYMBOL, b"AAPL")
                .char(tag::SIDE, b'1')
                .uint(tag::ORDER_QTY, 100)
                .char(tag::ORD_TYPE, b'1')
                .timestamp(tag::TRANSACT_TIME, utc_now(), TimePrecision::Micros);
        });
        if sent.is_ok() {
            self.orders_sent = number;
            if let Some(slot) = self.order_sent_at.get_mut(number as usize) {
                *slot = Some(Instant::now());
            }
        }
    }
}

fn utc_now() -> UtcTimestamp {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    UtcTimestamp::from_unix_nanos(nanos)
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Runs the demo; `Err` says what went wrong.
pub fn run(config: &DemoConfig) -> Result<(), String> {
    let checker = config.checker.plan(1).map_err(|e| e.to_string())?;
    let started = Instant::now();
    println!(
        "gapless demo: {} ExecutionReports from a faulty venue ({}), seed {}",
        config.messages,
        config.version.name(),
        config.seed
    );
    let mut venue_config = VenueConfig::acceptor("127.0.0.1:0".parse().expect("address"));
    venue_config.version = config.version;
    venue_config.messages = config.messages;
    venue_config.order_reply = OrderReply::Fill;
    venue_config.rate = RATE;
    venue_config.end_on_peer_logout = false;
    venue_config.duration = Some(TIME_LIMIT);
    venue_config.faults = FaultConfig {
        plan: FaultPlan {
            drop: 0.0005,
            // A duplicate without PossDupFlag makes FIX log out ("MsgSeqNum too low"): a few.
            duplicate: 0.00004,
            delay: 0.0001,
            max_delay_messages: 3,
            ..FaultPlan::NONE
        },
        seed: config.seed,
        gap_at: vec![config.messages / 4],
        disconnect_after: Some(config.messages / 2),
        fault_resends: false,
    };
    let venue = Venue::bind(&venue_config).map_err(|e| format!("venue: {e}"))?;
    let venue_addr = venue.local_addr().ok_or("venue has no address")?;
    let venue_stop = AtomicBool::new(false);

    let mut session = SessionConfig::new(config.version, Role::Initiator, "GAPLESS", "VENUE");
    session.heartbeat_interval = Duration::from_secs(5);
    let plan = SessionPlan {
        name: "demo".into(),
        session,
        endpoint: Endpoint::Connect {
            addr: venue_addr,
            backoff: Backoff {
                initial: Duration::from_millis(50),
                max: Duration::from_secs(1),
            },
        },
        store: StorePlan::Memory,
        channel: ChannelPlan {
            path: None,
            config: ChannelConfig {
                to_app_capacity: 4 << 20,
                ..ChannelConfig::default()
            },
            ..ChannelPlan::default()
        },
    };
    let mut opened = open_session(&plan).map_err(|e| e.to_string())?;
    let mut app = opened.client.take().ok_or("no in-process channel")?;
    let mut gateway = Gateway::with_checker(
        SocketTransport::new(TransportConfig::default()),
        vec![opened],
        None,
        &checker,
    )
    .map_err(|e| e.to_string())?;

    let mut view = AppView::new(config.messages);
    let report: Result<VenueReport, String> = std::thread::scope(|scope| {
        let venue_thread = scope.spawn(|| venue.run(&venue_stop, |_| {}));
        let mut next_progress = Instant::now() + Duration::from_secs(1);
        let mut shutdown_at = None;
        loop {
            let mut worked = gateway.poll();
            worked |= view.read(&mut app);
            view.maybe_order(&mut app, config.messages);
            if Instant::now() >= next_progress {
                next_progress += Duration::from_secs(1);
                println!(
                    "  {:>5.1}s  {:>8} delivered  {:>3} gaps  {:>3} recovered  {:>2} reconnects  {:>5} orders answered",
                    started.elapsed().as_secs_f64(),
                    view.received(),
                    view.gaps,
                    view.recoveries,
                    view.logons.saturating_sub(1),
                    view.order_replies
                );
            }
            let venue_done = venue_thread.is_finished();
            let all_in =
                view.received() >= config.messages && view.order_replies >= view.orders_sent;
            if shutdown_at.is_none() && (venue_done || all_in || started.elapsed() >= TIME_LIMIT) {
                gateway.begin_shutdown();
                shutdown_at = Some(Instant::now());
            }
            if shutdown_at
                .is_some_and(|at| gateway.is_shut_down() || at.elapsed() > Duration::from_secs(3))
            {
                break;
            }
            if !worked {
                std::thread::yield_now();
            }
        }
        venue_stop.store(true, Ordering::Relaxed);
        let report = venue_thread
            .join()
            .map_err(|_| "the venue panicked".to_string())?;
        report.map_err(|e| format!("venue: {e}"))
    });
    view.read(&mut app);
    let state = gateway.session_state("demo");
    let _ = gateway.finish();
    let report = report?;
    summarize(config, &view, &report, started.elapsed(), state, &checker)
}

fn summarize(
    config: &DemoConfig,
    view: &AppView,
    report: &VenueReport,
    elapsed: Duration,
    state: Option<State>,
    checker: &CheckerPlan,
) -> Result<(), String> {
    let percentiles = |h: &Histogram<u64>| {
        if h.is_empty() {
            return "none".to_string();
        }
        format!(
            "p50 {} us, p99 {} us, p99.9 {} us, max {} us ({} samples)",
            h.value_at_quantile(0.50),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max(),
            h.len()
        )
    };
    println!();
    println!("{report}");
    println!();
    println!(
        "gateway and application after {:.1} s:",
        elapsed.as_secs_f64()
    );
    println!(
        "  delivered exactly once, in order: {} of {} ExecutionReports ({} duplicates, {} out of order)",
        view.received(),
        config.messages,
        view.stream.duplicates,
        view.stream.out_of_order
    );
    println!(
        "  gaps detected {}, recovered {}; logons {} (after {} disconnects or logouts)",
        view.gaps, view.recoveries, view.logons, view.disconnects
    );
    println!("  recovery time:        {}", percentiles(&view.recovery));
    println!("  venue to application: {}", percentiles(&view.latency));
    println!(
        "  order round trip:     {} ({} of {} answered)",
        percentiles(&view.round_trip),
        view.order_replies,
        view.orders_sent
    );
    println!("  session state at the end: {state:?}");
    match checker {
        CheckerPlan::Software => println!("  sequence checker: software"),
        #[cfg(feature = "hwsim")]
        CheckerPlan::Hwsim(shadow) => {
            println!("  sequence checker: the RTL (hwsim): {shadow}");
            if shadow.disagreements() > 0 || shadow.compared() == 0 {
                return Err("the RTL checker and the software checker disagreed".into());
            }
        }
    }
    if !view.stream.is_exact(config.messages) {
        return Err("the application did not receive every report exactly once, in order".into());
    }
    if report.order_violations != 0 || view.order_replies != view.orders_sent {
        return Err("orders were lost, repeated or unanswered".into());
    }
    if view.gaps == 0 || view.recoveries < view.gaps.min(1) {
        return Err("no gap was recovered: the faults did not take effect".into());
    }
    println!("demo passed");
    Ok(())
}
