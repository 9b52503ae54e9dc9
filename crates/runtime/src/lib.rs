//! # gapless-runtime: the gateway's threads, rings and transports, wired together
//!
//! What this crate is: the part of Gapless that runs. It opens each configured session's store
//! and application channel, listens and connects, and polls: the transport for bytes, the
//! sequence checker for a verdict on every inbound message, the sans-IO sessions for what to
//! deliver and send, and the application channels for orders. Time is read here
//! ([`Clock`]) and passed in to the protocol layers.
//!
//! What it is not: protocol logic (that is `gapless-session`, `gapless-codec`, `gapless-dict`),
//! the application (it talks to one through `gapless-client` channels), or a configuration file
//! format (the `gapless` binary maps its TOML onto [`RuntimeConfig`]).
//!
//! ## Inline mode
//!
//! [`Gateway`] does everything on one thread, pinned to `network_cpu`: see its module
//! documentation for the pass it makes and how back-pressure works. It is the default on hosts
//! with fewer than four cores ([`Mode::default_for`]).
//!
//! ## The sequence checker
//!
//! Both modes drive the checker through [`SequenceChecker`]: per framed item a verdict, plus
//! Reset on each new connection and Arm/Disarm as the session's state says. [`CheckerPlan`]
//! picks the software checker (the default) or, with the `hwsim` feature, the verilated RTL of
//! `hw/rtl` with the software checker as its shadow (docs/hw.md, "In the gateway").
//!
//! ## Crash recovery of the inbound sequence
//!
//! After a crash the session's store may be one message ahead of what the application received
//! (the store advanced, the process died before the ring commit) or behind it (a store without
//! per-message sync). [`open_session`] therefore takes the expected inbound MsgSeqNum from the
//! application channel when the channel already existed: the last MsgSeqNum committed to it, plus
//! one. Anything after it is asked for again and reaches the application exactly once.
#![forbid(unsafe_code)]

mod checker;
mod clock;
mod config;
mod gateway;
#[cfg(feature = "hwsim")]
mod hwsim;
mod idle;
mod log;
mod outlet;
mod session_io;
mod threaded;

use std::sync::atomic::{AtomicBool, Ordering};

pub use checker::SequenceChecker;
pub use clock::Clock;
pub use config::{
    Backoff, ChannelPlan, CheckerPlan, Endpoint, Mode, RuntimeConfig, SessionPlan, StorePlan,
    TransportKind,
};
pub use gateway::{Gateway, StartError};
#[cfg(feature = "hwsim")]
pub use hwsim::ShadowReport;
pub use idle::IdleStrategy;
pub use log::{Direction, LogWriter, Logger};
pub use session_io::{
    GatewayHooks, LogonCheck, LogonRequest, MAX_PENDING_CONNECTIONS, SharedLogonCheck,
};

use gapless_client::{AppEnd, Channel, GatewayEnd};
use gapless_session::Session;
use gapless_store::{AnyStore, FileStore, MemoryStore, MessageStore, StoreConfig};
use gapless_transport::{SocketTransport, TlsTransport, Transport, UringTransport};

/// Opens the store a plan names.
pub fn open_store(plan: &StorePlan) -> Result<AnyStore, gapless_store::OpenError> {
    Ok(match plan {
        StorePlan::Memory => AnyStore::Memory(MemoryStore::new()),
        StorePlan::File { path, durability } => {
            AnyStore::File(FileStore::open(path, StoreConfig::new(*durability))?)
        }
    })
}

/// A session with its store and channel open, ready for a [`Gateway`].
#[derive(Debug)]
pub struct OpenedSession {
    pub name: String,
    pub session: Session<AnyStore, GatewayHooks>,
    pub endpoint: Endpoint,
    pub channel: GatewayEnd,
    /// The application's end of an in-process channel.
    pub client: Option<AppEnd>,
}

/// Opens a session's store and application channel, and recovers its expected inbound number
/// from the channel (see the crate documentation).
pub fn open_session(plan: &SessionPlan) -> Result<OpenedSession, StartError> {
    let mut store = open_store(&plan.store).map_err(|error| StartError::Store {
        session: plan.name.clone(),
        error,
    })?;
    let channel_error = |error| StartError::Channel {
        session: plan.name.clone(),
        error,
    };
    let (channel, client) = match &plan.channel.path {
        Some(path) => (
            GatewayEnd::create(path, &plan.channel.config, plan.channel.start)
                .map_err(channel_error)?,
            None,
        ),
        None => {
            let (gateway_end, app_end) =
                Channel::anonymous(&plan.channel.config).map_err(channel_error)?;
            (gateway_end, Some(app_end))
        }
    };
    let longest_deliverable = plan.channel.config.to_app_capacity / 2 - 24;
    if plan.session.max_message_len > longest_deliverable {
        return Err(StartError::Invalid(format!(
            "session {}: max_message_len {} does not fit the application ring \
             (at most {longest_deliverable} with a {}-byte ring)",
            plan.name, plan.session.max_message_len, plan.channel.config.to_app_capacity
        )));
    }
    // A channel that has carried records knows exactly what the application was given; a
    // new one knows nothing, and the store is all there is.
    let delivered = channel.last_delivered_seq();
    if delivered > 0 && delivered.saturating_add(1) != store.next_target_seq() {
        let next = delivered.saturating_add(1);
        tracing::info!(
            session = %plan.name,
            store = store.next_target_seq(),
            channel = next,
            "expected inbound MsgSeqNum taken from the application channel"
        );
        store
            .set_next_target_seq(next)
            .map_err(|error| StartError::Invalid(format!("session {}: {error}", plan.name)))?;
    }
    let hooks = GatewayHooks::new(
        &plan.name,
        match &plan.endpoint {
            Endpoint::Accept { allowed_peers, .. } => allowed_peers.clone(),
            Endpoint::Connect { .. } => Vec::new(),
        },
    );
    let config = &plan.session;
    channel.stats().set_identity(
        plan.name.as_bytes(),
        config.sender_comp_id.as_bytes(),
        config.target_comp_id.as_bytes(),
    );
    Ok(OpenedSession {
        name: plan.name.clone(),
        session: Session::with_hooks(plan.session.clone(), store, hooks),
        endpoint: plan.endpoint.clone(),
        channel,
        client,
    })
}

/// Why a run ended early.
#[derive(Debug)]
pub enum RunError {
    Start(StartError),
    /// The transport could not be created (io_uring unavailable, say).
    Transport(std::io::Error),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Start(error) => error.fmt(f),
            RunError::Transport(error) => write!(f, "cannot create the transport: {error}"),
        }
    }
}

impl std::error::Error for RunError {}

impl From<StartError> for RunError {
    fn from(error: StartError) -> Self {
        RunError::Start(error)
    }
}

/// Runs `config` until `stop` is set, then shuts down cleanly (Logout handshakes, bounded by
/// `shutdown_timeout`, then the stores are flushed). Inline, everything runs on the calling
/// thread; threaded, the calling thread becomes the session thread.
pub fn run(config: &RuntimeConfig, stop: &AtomicBool) -> Result<(), RunError> {
    let transport_config = config.transport_config;
    let uring = config.uring;
    // TLS wraps the backend only when some address uses it: plaintext-only gateways keep the
    // bare backend.
    let tls = (!config.tls.is_empty()).then(|| config.tls.clone());
    match (config.transport, tls) {
        (TransportKind::Socket, None) => run_with(
            config,
            move || Ok(SocketTransport::new(transport_config)),
            stop,
        ),
        (TransportKind::Socket, Some(tls)) => run_with(
            config,
            move || {
                let inner = SocketTransport::new(transport_config);
                Ok(TlsTransport::new(inner, transport_config, tls))
            },
            stop,
        ),
        (TransportKind::Uring, None) => run_with(
            config,
            move || UringTransport::new(transport_config, uring).map_err(RunError::Transport),
            stop,
        ),
        (TransportKind::Uring, Some(tls)) => run_with(
            config,
            move || {
                let inner =
                    UringTransport::new(transport_config, uring).map_err(RunError::Transport)?;
                Ok(TlsTransport::new(inner, transport_config, tls))
            },
            stop,
        ),
    }
}

/// [`run`] over the transport `make_transport` creates (on the network core's thread): the
/// DPDK transport, say.
pub fn run_with<T: Transport + 'static>(
    config: &RuntimeConfig,
    make_transport: impl FnOnce() -> Result<T, RunError> + Send + 'static,
    stop: &AtomicBool,
) -> Result<(), RunError> {
    let sessions = config
        .sessions
        .iter()
        .map(open_session)
        .collect::<Result<Vec<_>, _>>()?;
    run_sessions(config, sessions, make_transport, stop)
}

/// [`run_with`] for sessions already opened with [`open_session`]: the embedded API. Take the
/// application's end of an in-process channel ([`OpenedSession::client`]) first. The
/// configuration's [`RuntimeConfig::logon_check`] is installed in every session's hooks.
pub fn run_sessions<T: Transport + 'static>(
    config: &RuntimeConfig,
    mut sessions: Vec<OpenedSession>,
    make_transport: impl FnOnce() -> Result<T, RunError> + Send + 'static,
    stop: &AtomicBool,
) -> Result<(), RunError> {
    if let Some(check) = &config.logon_check {
        for opened in &mut sessions {
            opened.session.hooks_mut().set_logon_check(check.clone());
        }
    }
    let (log, logger) = match &config.message_log {
        Some(dir) => {
            let names = config.sessions.iter().map(|s| s.name.clone()).collect();
            let (writer, logger) = Logger::start(dir, names, 16 << 20).map_err(StartError::Log)?;
            (Some(writer), Some(logger))
        }
        None => (None, None),
    };
    match config.mode {
        Mode::Inline => {
            if let Some(cpu) = config.network_cpu
                && !core_affinity::set_for_current(core_affinity::CoreId { id: cpu })
            {
                tracing::warn!(cpu, "cannot pin the gateway thread");
            }
            let mut gateway =
                Gateway::with_checker(make_transport()?, sessions, log, &config.checker)?;
            drive(&mut gateway, config, stop);
            for (session, error) in gateway.finish() {
                tracing::error!(%session, %error, "store flush failed at shutdown");
            }
        }
        Mode::Threaded => threaded::run(config, make_transport, sessions, log, stop)?,
    }
    if let Some(logger) = logger
        && let Err(error) = logger.join()
    {
        tracing::error!(%error, "message log failed");
    }
    Ok(())
}

/// Polls until `stop`, then until the shutdown completes or times out.
pub fn drive<T: Transport>(gateway: &mut Gateway<T>, config: &RuntimeConfig, stop: &AtomicBool) {
    let mut deadline = None;
    loop {
        let worked = gateway.poll();
        if deadline.is_none() && stop.load(Ordering::Relaxed) {
            gateway.begin_shutdown();
            deadline = Some(std::time::Instant::now() + config.shutdown_timeout);
        }
        if let Some(deadline) = deadline
            && (gateway.is_shut_down() || std::time::Instant::now() >= deadline)
        {
            return;
        }
        config.idle.idle(worked);
    }
}
