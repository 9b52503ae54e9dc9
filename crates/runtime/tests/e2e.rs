//! End to end over loopback: a `gapless venue` that drops and corrupts messages, forces a gap
//! and cuts the connection once; the gateway connecting to it, in both modes and on both
//! transports; and the application in another process, attached to the session's channel
//! file, which must see every ExecutionReport exactly once and in order. One test also kills
//! the application process mid-stream and starts another, which resumes where the first
//! stopped.
//!
//! With the `hwsim` feature, two more runs use the verilated RTL checker, with the software
//! checker as its shadow: any disagreement between them fails the run. `-- hwsim` (any argument)
//! runs only the cases whose name contains it.
//!
//! The application process is this test binary run again with the channel in the environment
//! (it has no test harness: `main` picks the role). The runs take turns (they spin, and the
//! machine may have two cores) and every wait is bounded.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gapless_client::{AppEnd, ChannelConfig, InboundRecord, Start, monotonic_nanos};
use gapless_codec::{Decoded, Limits, decode, tag};
use gapless_dict::Version;
use gapless_runtime::{
    Backoff, ChannelPlan, Endpoint, IdleStrategy, Mode, RuntimeConfig, SessionPlan, StorePlan,
    TransportKind,
};
use gapless_session::{Role, SessionConfig};
use gapless_store::Durability;
use gapless_transport::FeatureChoice;
use gapless_venue::{FaultConfig, FaultPlan, Venue, VenueConfig, VenueReport};

const MESSAGES: u64 = 20_000;
const TIME_LIMIT: Duration = Duration::from_secs(90);

const ENV_CHANNEL: &str = "GAPLESS_E2E_CHANNEL";
const ENV_OUT: &str = "GAPLESS_E2E_OUT";
const ENV_COUNT: &str = "GAPLESS_E2E_COUNT";

fn venue_config() -> VenueConfig {
    let mut config = VenueConfig::acceptor("127.0.0.1:0".parse().unwrap());
    config.messages = MESSAGES;
    config.rate = 20_000;
    config.idle = IdleStrategy::Yield;
    config.end_on_peer_logout = false;
    config.duration = Some(TIME_LIMIT);
    config.faults = FaultConfig {
        plan: FaultPlan {
            drop: 0.001,
            // Garbled messages too: framing errors mid-stream, on which the RTL checker may
            // decide only when the next message comes.
            corrupt: 0.002,
            ..FaultPlan::NONE
        },
        seed: 7,
        gap_at: vec![MESSAGES / 3],
        disconnect_after: Some(MESSAGES * 2 / 3),
        fault_resends: false,
    };
    config
}

fn gateway_config(
    venue: std::net::SocketAddr,
    dir: &Path,
    mode: Mode,
    transport: TransportKind,
) -> RuntimeConfig {
    let session = SessionConfig::new(Version::Fix44, Role::Initiator, "GAPLESS", "VENUE");
    let plan = SessionPlan {
        name: "e2e".into(),
        session,
        endpoint: Endpoint::Connect {
            addr: venue,
            backoff: Backoff {
                initial: Duration::from_millis(20),
                max: Duration::from_millis(500),
            },
        },
        store: StorePlan::File {
            path: dir.join("store"),
            durability: Durability::None,
        },
        channel: ChannelPlan {
            path: Some(channel_path(dir)),
            config: ChannelConfig::default(),
            start: Start::Fresh,
        },
    };
    let mut config = RuntimeConfig::new(vec![plan]);
    config.mode = mode;
    config.transport = transport;
    config.idle = IdleStrategy::Yield;
    config.message_log = Some(dir.join("log"));
    config
}

fn channel_path(dir: &Path) -> PathBuf {
    dir.join("e2e.chan")
}

/// Starts the application process on the channel, appending the ExecIDs it processes to `out`.
fn application(dir: &Path, out: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env(ENV_CHANNEL, channel_path(dir))
        .env(ENV_OUT, out)
        .env(ENV_COUNT, MESSAGES.to_string())
        .spawn()
        .unwrap()
}

/// The ExecIDs in the application's output, in the order processed.
fn processed(out: &Path) -> Vec<u64> {
    let Ok(file) = std::fs::File::open(out) else {
        return Vec::new();
    };
    std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

fn wait_for(child: &mut Child, deadline: Instant) -> bool {
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    false
}

/// Runs the venue, the gateway and the application; `kill_after` kills the application once it
/// has processed that many messages and starts another.
fn end_to_end(
    mode: Mode,
    transport: TransportKind,
    kill_after: Option<usize>,
    tweak: fn(&mut RuntimeConfig),
) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("processed");
    let venue = Venue::bind(&venue_config()).unwrap();
    let venue_addr = venue.local_addr().unwrap();
    let mut config = gateway_config(venue_addr, dir.path(), mode, transport);
    tweak(&mut config);
    let deadline = Instant::now() + TIME_LIMIT;
    let venue_stop = AtomicBool::new(false);
    let gateway_stop = AtomicBool::new(false);

    let report: VenueReport = std::thread::scope(|scope| {
        let venue_thread = scope.spawn(|| venue.run(&venue_stop, |_| {}));
        let gateway = scope.spawn(|| gapless_runtime::run(&config, &gateway_stop));
        // The channel file exists once the gateway has opened the session.
        while !channel_path(dir.path()).exists() {
            assert!(
                Instant::now() < deadline,
                "the gateway never created its channel"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut app = application(dir.path(), &out);
        if let Some(after) = kill_after {
            while processed(&out).len() < after {
                assert!(
                    Instant::now() < deadline,
                    "the application made no progress"
                );
                if let Ok(Some(status)) = app.try_wait() {
                    panic!("the application ended early: {status}");
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            app.kill().unwrap();
            let _ = app.wait();
            app = application(dir.path(), &out);
        }
        let finished = wait_for(&mut app, deadline);
        gateway_stop.store(true, Ordering::Relaxed);
        gateway.join().unwrap().unwrap();
        venue_stop.store(true, Ordering::Relaxed);
        let report = venue_thread.join().unwrap().unwrap();
        assert!(finished, "the application did not finish; venue: {report}");
        report
    });

    #[cfg(feature = "hwsim")]
    if let gapless_runtime::CheckerPlan::Hwsim(shadow) = &config.checker {
        println!("  {shadow}");
        assert_eq!(shadow.disagreements(), 0, "{shadow}");
        assert!(shadow.compared() >= MESSAGES, "{shadow}");
        assert!(
            shadow.garbled() > 0,
            "no garbled bytes reached the RTL: {shadow}"
        );
    }
    let ids = processed(&out);
    let expected: Vec<u64> = (1..=MESSAGES).collect();
    if ids != expected {
        let first_wrong = ids.iter().zip(&expected).position(|(a, b)| a != b);
        panic!(
            "{} ExecIDs processed, first difference at {first_wrong:?}; venue: {report}",
            ids.len()
        );
    }
    assert!(
        report.faults.dropped + report.faults.forced_gaps > 0
            && report.faults.corrupted > 0
            && report.faults.forced_disconnects == 1,
        "the faults did not happen: {report}"
    );
    assert!(report.resend_requests_answered > 0, "{report}");
    let log = std::fs::read_to_string(dir.path().join("log/e2e.messages.log")).unwrap();
    assert!(
        log.lines().any(|line| line.contains("\x0135=2\x01")),
        "no ResendRequest in the message log"
    );
}

/// One run: its name, the gateway's mode and transport, when to kill the application (after
/// how many messages), and any other change to the gateway's configuration.
struct Case {
    name: &'static str,
    mode: Mode,
    transport: TransportKind,
    kill_after: Option<usize>,
    tweak: fn(&mut RuntimeConfig),
}

/// The runs, one after the other.
const CASES: &[Case] = &[
    Case {
        name: "inline, sockets",
        mode: Mode::Inline,
        transport: TransportKind::Socket,
        kill_after: None,
        tweak: |_| {},
    },
    Case {
        name: "inline, io_uring",
        mode: Mode::Inline,
        transport: TransportKind::Uring,
        kill_after: None,
        tweak: |_| {},
    },
    Case {
        name: "threaded, sockets",
        mode: Mode::Threaded,
        transport: TransportKind::Socket,
        kill_after: None,
        tweak: |_| {},
    },
    Case {
        name: "threaded, io_uring",
        mode: Mode::Threaded,
        transport: TransportKind::Uring,
        kill_after: None,
        tweak: |_| {},
    },
    Case {
        name: "threaded, io_uring with registered buffers and multishot receive",
        mode: Mode::Threaded,
        transport: TransportKind::Uring,
        kill_after: None,
        tweak: |config| {
            config.uring.registered_buffers = FeatureChoice::Auto;
            config.uring.multishot_recv = FeatureChoice::Auto;
        },
    },
    Case {
        name: "inline, sockets, application killed half-way and restarted",
        mode: Mode::Inline,
        transport: TransportKind::Socket,
        kill_after: Some(MESSAGES as usize / 2),
        tweak: |_| {},
    },
    #[cfg(feature = "hwsim")]
    Case {
        name: "inline, sockets, hwsim checker",
        mode: Mode::Inline,
        transport: TransportKind::Socket,
        kill_after: None,
        tweak: hwsim_checker,
    },
    #[cfg(feature = "hwsim")]
    Case {
        name: "threaded, sockets, hwsim checker",
        mode: Mode::Threaded,
        transport: TransportKind::Socket,
        kill_after: None,
        tweak: hwsim_checker,
    },
];

#[cfg(feature = "hwsim")]
fn hwsim_checker(config: &mut RuntimeConfig) {
    config.checker = gapless_runtime::CheckerPlan::Hwsim(gapless_runtime::ShadowReport::default());
}

fn main() {
    if std::env::var_os(ENV_CHANNEL).is_some() {
        application_process();
        return;
    }
    let only = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    let cases = CASES.iter().filter(|case| {
        only.as_ref()
            .is_none_or(|only| case.name.contains(only.as_str()))
    });
    let mut ran = 0;
    for case in cases {
        ran += 1;
        let started = Instant::now();
        end_to_end(case.mode, case.transport, case.kill_after, case.tweak);
        println!(
            "end to end, {}: ok in {:.1} s",
            case.name,
            started.elapsed().as_secs_f64()
        );
    }
    assert!(ran > 0, "no case is named like {only:?}");
}

/// The application side, run in its own process by the runs above. It keeps what it has
/// processed in its output file and takes each record with peek, record, commit, so after a kill
/// it skips at most the one record it had recorded but not committed.
fn application_process() {
    let channel = std::env::var_os(ENV_CHANNEL).expect("started by an end-to-end run");
    let out = PathBuf::from(std::env::var_os(ENV_OUT).unwrap());
    let count: u64 = std::env::var(ENV_COUNT).unwrap().parse().unwrap();
    let mut last = processed(&out).last().copied().unwrap_or(0);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&out)
        .unwrap();
    let mut app = AppEnd::attach(&channel).unwrap();
    let deadline = Instant::now() + TIME_LIMIT;
    while last < count {
        assert!(Instant::now() < deadline, "stalled after ExecID {last}");
        let Some(record) = app.peek().unwrap() else {
            std::thread::yield_now();
            continue;
        };
        if let InboundRecord::Application {
            message,
            received_nanos,
            ..
        } = record
        {
            // The gateway's receive time is on the host clock this process reads too.
            let waited = monotonic_nanos().checked_sub(received_nanos);
            assert!(
                waited.is_some_and(|waited| waited < TIME_LIMIT.as_nanos() as u64),
                "received at {received_nanos} ns is not a recent time on this host's clock"
            );
            let Decoded::Message(msg) = decode(message, &Limits::default()) else {
                panic!("the gateway delivered a message that does not frame");
            };
            let id = msg
                .get(tag::EXEC_ID)
                .and_then(|id| std::str::from_utf8(id).ok()?.parse::<u64>().ok())
                .expect("every stream report has a numeric ExecID");
            // A record recorded before a kill and seen again is skipped; anything else out of
            // order is written down for the test to find.
            if id != last {
                // One write call per line: a kill cannot leave half a line behind.
                file.write_all(format!("{id}\n").as_bytes()).unwrap();
                last = id;
            }
        }
        app.commit();
    }
}
