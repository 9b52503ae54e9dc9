//! What the runtime runs: the sessions, their endpoints, stores and application channels, and
//! how the threads are laid out. The gateway binary builds this from its TOML file
//! (docs/configuration.md); embedders build it in code.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use gapless_client::{ChannelConfig, Start};
use gapless_session::SessionConfig;
use gapless_store::Durability;
use gapless_transport::{TlsSettings, TransportConfig, UringConfig};

use crate::{IdleStrategy, SharedLogonCheck};

/// How the work is spread over threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One thread does everything: network, checker, sessions, application rings. For hosts
    /// with few cores, where a second busy thread would starve the first.
    Inline,
    /// A pinned network core (transport, framing, checker, fast path) and a session thread
    /// (everything the checker diverts, timers, the application's orders), joined by
    /// shared-memory rings.
    Threaded,
}

impl Mode {
    /// The default for a host with `cores` CPUs: two busy-polling threads need two cores of their
    /// own plus one for everything else, so fewer than four cores run inline.
    pub fn default_for(cores: usize) -> Mode {
        if cores >= 4 {
            Mode::Threaded
        } else {
            Mode::Inline
        }
    }
}

/// Which transport carries the sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// Non-blocking sockets, busy-polled.
    Socket,
    /// io_uring.
    Uring,
}

/// Which sequence checker classifies inbound messages (docs/hw.md).
#[derive(Debug, Clone, Default)]
pub enum CheckerPlan {
    /// `gapless_seqcheck::Checker`, in software.
    #[default]
    Software,
    /// The verilated RTL of `hw/rtl` (feature `hwsim`), with the software checker as a shadow
    /// whose disagreements are counted in the report.
    #[cfg(feature = "hwsim")]
    Hwsim(crate::hwsim::ShadowReport),
}

/// Where a session's sent messages and sequence numbers are journaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorePlan {
    /// In memory: lost when the process ends.
    Memory,
    /// Memory-mapped files in this directory.
    File {
        path: PathBuf,
        durability: Durability,
    },
}

/// How a session reaches its peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Accept the peer's connection on `listen`. Sessions may share a listening address; the
    /// first Logon's CompIDs pick the session. `allowed_peers`, if not empty, lists the source
    /// addresses that may log on.
    Accept {
        listen: SocketAddr,
        allowed_peers: Vec<IpAddr>,
    },
    /// Connect to the peer, reconnecting after a loss with a backoff that doubles from
    /// `initial` up to `max`.
    Connect { addr: SocketAddr, backoff: Backoff },
}

/// Reconnection delays of an initiator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

/// A session's application channel (see `gapless-client`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelPlan {
    /// The channel file a trading process attaches to; `None` keeps the channel in this process
    /// (the embedded API: take the application's end with `Gateway::take_client`).
    pub path: Option<PathBuf>,
    pub config: ChannelConfig,
    /// Whether an existing channel file is reopened (keeping the application's position) or
    /// started over.
    pub start: Start,
}

impl Default for ChannelPlan {
    fn default() -> Self {
        ChannelPlan {
            path: None,
            config: ChannelConfig::default(),
            start: Start::Reopen,
        }
    }
}

/// One session the gateway runs.
#[derive(Debug, Clone)]
pub struct SessionPlan {
    /// A name unique among the sessions, used in logs, counters and the channel file name.
    pub name: String,
    pub session: SessionConfig,
    pub endpoint: Endpoint,
    pub store: StorePlan,
    pub channel: ChannelPlan,
}

/// Everything the runtime needs.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub sessions: Vec<SessionPlan>,
    pub mode: Mode,
    pub transport: TransportKind,
    pub transport_config: TransportConfig,
    /// io_uring's own settings (SQPOLL, registered buffers, multishot receive), with
    /// [`TransportKind::Uring`].
    pub uring: UringConfig,
    /// The CPU the network core (or, inline, the one thread) is pinned to.
    pub network_cpu: Option<usize>,
    /// The CPU the session thread is pinned to ([`Mode::Threaded`]).
    pub session_cpu: Option<usize>,
    pub idle: IdleStrategy,
    /// Where the FIX message log goes (one file per session); `None` for no log.
    pub message_log: Option<PathBuf>,
    /// How long shutdown waits for the Logout handshakes.
    pub shutdown_timeout: Duration,
    /// The addresses that speak TLS (listening addresses of acceptors, peer addresses of
    /// initiators); empty for none. [`crate::run`] then wraps the backend in a
    /// `gapless_transport::TlsTransport`.
    pub tls: TlsSettings,
    /// The application's check of incoming Logons (Username and Password); `None` accepts any
    /// Logon that passes the CompID and address checks.
    pub logon_check: Option<SharedLogonCheck>,
    /// The sequence checker, in either mode.
    pub checker: CheckerPlan,
}

impl RuntimeConfig {
    /// A configuration with these sessions and the defaults for this host.
    pub fn new(sessions: Vec<SessionPlan>) -> RuntimeConfig {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        RuntimeConfig {
            sessions,
            mode: Mode::default_for(cores),
            transport: TransportKind::Socket,
            transport_config: TransportConfig::default(),
            uring: UringConfig::default(),
            network_cpu: None,
            session_cpu: None,
            idle: IdleStrategy::Spin,
            message_log: None,
            shutdown_timeout: Duration::from_secs(5),
            tls: TlsSettings::default(),
            logon_check: None,
            checker: CheckerPlan::Software,
        }
    }
}
