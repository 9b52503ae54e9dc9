//! One measured run: `gapless venue` (the library, on its own thread pinned to one core, busy
//! polling) and the Gapless gateway inline on the calling thread (pinned to the other core, busy
//! polling), with the application embedded on that same thread, as `gapless demo` does.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gapless_client::{AppEnd, ChannelConfig};
use gapless_dict::Version;
use gapless_runtime::{
    Backoff, ChannelPlan, Endpoint, Gateway, IdleStrategy, SessionPlan, StorePlan, open_session,
};
use gapless_session::{HoldLimits, QueueOverflow, Role, SessionConfig};
use gapless_store::Durability;
use gapless_transport::{SocketTransport, TransportConfig};
use gapless_venue::{Venue, VenueConfig, VenueReport};

use crate::BenchError;

/// The gateway as the application sees it from its loop.
pub type BenchGateway = Gateway<SocketTransport>;

/// An application embedded in the gateway's loop.
pub trait App {
    /// One pass: read the application ring, send what is due. Returns whether it did anything.
    fn step(&mut self, app: &mut AppEnd, gateway: &BenchGateway) -> bool;
    /// Whether the application has everything it waits for.
    fn done(&self) -> bool;
}

/// Where the two sides run, and where the gateway journals.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    pub gateway_cpu: usize,
    pub venue_cpu: usize,
    pub store: StoreChoice,
}

/// The gateway session's outbound store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreChoice {
    Memory,
    /// Memory-mapped files in a fresh directory under the system's temporary directory.
    File(Durability),
}

impl StoreChoice {
    /// The plan, and the directory to remove after the run.
    fn plan(self) -> std::io::Result<(StorePlan, Option<PathBuf>)> {
        match self {
            StoreChoice::Memory => Ok((StorePlan::Memory, None)),
            StoreChoice::File(durability) => {
                let path = std::env::temp_dir()
                    .join(format!("gapless-bench-store-{}", std::process::id()));
                if path.exists() {
                    std::fs::remove_dir_all(&path)?;
                }
                std::fs::create_dir_all(&path)?;
                Ok((
                    StorePlan::File {
                        path: path.clone(),
                        durability,
                    },
                    Some(path),
                ))
            }
        }
    }
}

/// How a run ended.
#[derive(Debug)]
pub struct Outcome {
    pub venue: VenueReport,
    /// The run hit its time limit before the application was done.
    pub timed_out: bool,
    /// Resident set of the process before and after the gateway's session was opened (its
    /// store, application channel and buffers), bytes.
    pub rss_before_session: u64,
    pub rss_after_session: u64,
}

/// The venue's defaults for a benchmark: FIX.4.4, in memory, no faults, busy polling.
pub fn venue_config() -> VenueConfig {
    let mut config = VenueConfig::acceptor("127.0.0.1:0".parse().expect("literal address"));
    config.version = Version::Fix44;
    config.idle = IdleStrategy::Spin;
    config.messages = 0;
    config
}

/// Runs `venue` against a Gapless gateway session (its configuration changed by `tweak`) and
/// `application` until the application is done, the venue ends, or `time_limit` passes.
pub fn run(
    venue: &VenueConfig,
    setup: Setup,
    time_limit: Duration,
    tweak: impl FnOnce(&mut SessionConfig),
    application: &mut impl App,
) -> Result<Outcome, BenchError> {
    let mut venue = venue.clone();
    venue.duration = Some(time_limit + Duration::from_secs(5));
    let bound = Venue::bind(&venue).map_err(|e| BenchError::Venue(e.to_string()))?;
    let addr = bound
        .local_addr()
        .ok_or_else(|| BenchError::Venue("the venue has no address".into()))?;

    let mut session = SessionConfig::new(venue.version, Role::Initiator, "GAPLESS", "VENUE");
    session.heartbeat_interval = Duration::from_secs(30);
    // Large gaps are the point of the gap sweep: the hold queue must not overflow during it.
    session.hold_limits = HoldLimits {
        max_messages: 4_000_000,
        max_bytes: 2 << 30,
        overflow: QueueOverflow::DropAndRerequest,
    };
    tweak(&mut session);
    let (store, store_dir) = setup
        .store
        .plan()
        .map_err(|e| BenchError::Start(format!("store directory: {e}")))?;
    let plan = SessionPlan {
        name: "bench".into(),
        session,
        endpoint: Endpoint::Connect {
            addr,
            backoff: Backoff {
                initial: Duration::from_millis(20),
                max: Duration::from_millis(500),
            },
        },
        store,
        channel: ChannelPlan {
            path: None,
            config: ChannelConfig {
                to_app_capacity: 16 << 20,
                ..ChannelConfig::default()
            },
            ..ChannelPlan::default()
        },
    };
    pin(setup.gateway_cpu);
    let rss_before_session = crate::memory::rss_bytes();
    let mut opened = open_session(&plan).map_err(|e| BenchError::Start(e.to_string()))?;
    let mut app = opened
        .client
        .take()
        .ok_or_else(|| BenchError::Start("no in-process channel".into()))?;
    let mut gateway = Gateway::new(
        SocketTransport::new(TransportConfig::default()),
        vec![opened],
        None,
    )
    .map_err(|e| BenchError::Start(e.to_string()))?;
    let rss_after_session = crate::memory::rss_bytes();

    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let mut timed_out = false;
    let report = std::thread::scope(|scope| {
        let stop = &stop;
        let venue_thread = scope.spawn(move || {
            pin(setup.venue_cpu);
            bound.run(stop, |_| {})
        });
        let mut shutdown_at: Option<Instant> = None;
        // Bounded: the time limit starts the shutdown, which is bounded in turn.
        loop {
            gateway.poll();
            application.step(&mut app, &gateway);
            if shutdown_at.is_none() {
                let out_of_time = started.elapsed() >= time_limit;
                if application.done() || venue_thread.is_finished() || out_of_time {
                    timed_out = out_of_time && !application.done();
                    gateway.begin_shutdown();
                    shutdown_at = Some(Instant::now());
                }
            } else if shutdown_at
                .is_some_and(|at| gateway.is_shut_down() || at.elapsed() > Duration::from_secs(3))
            {
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        venue_thread
            .join()
            .map_err(|_| BenchError::Venue("the venue panicked".into()))?
            .map_err(|e| BenchError::Venue(e.to_string()))
    });
    let unflushed = gateway.finish();
    if let Some(dir) = store_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    if let Some((_, error)) = unflushed.first() {
        return Err(BenchError::Start(format!(
            "store flush at the end: {error}"
        )));
    }
    Ok(Outcome {
        venue: report?,
        timed_out,
        rss_before_session,
        rss_after_session,
    })
}

/// Pins the calling thread; a benchmark that cannot pin says so and goes on.
pub fn pin(cpu: usize) {
    if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
        eprintln!("gapless-bench: cannot pin to CPU {cpu}; figures will be noisier");
    }
}
