//! What a venue run is configured with, as a plain struct for Rust callers; the command line
//! fills it from [`VenueArgs`](crate::VenueArgs).

use core::fmt;
use core::time::Duration;
use std::net::SocketAddr;
use std::path::PathBuf;

use gapless_dict::Version;
use gapless_runtime::IdleStrategy;
use gapless_session::Role;
use gapless_sim::FaultPlan;

/// The port `gapless venue` listens on (or connects to) unless told otherwise.
pub const DEFAULT_PORT: u16 = 9878;

/// How the venue answers a NewOrderSingle: always with exactly one ExecutionReport, so that a
/// round trip is one message each way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderReply {
    /// ExecType New: the order rests, nothing filled.
    New,
    /// The order is filled in full at its price (at 100 for a market order).
    Fill,
}

/// Faults injected into the venue's outbound messages. Logon and the other admin messages are
/// never harmed, nor (unless `fault_resends`) messages resent with PossDupFlag, so that the
/// peer's recovery always converges.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// Probabilities per application message, applied by `gapless_sim`'s injector.
    pub plan: FaultPlan,
    pub seed: u64,
    /// Drop the message with each of these MsgSeqNums the first time it is sent (never a
    /// Logon), forcing a gap the peer must recover.
    pub gap_at: Vec<u64>,
    /// Cut the connection once, at the first application message after this many streamed
    /// ExecutionReports.
    pub disconnect_after: Option<u64>,
    /// Let the plan harm resent messages too. Recovery may then take several rounds.
    pub fault_resends: bool,
}

impl FaultConfig {
    /// No faults at all: the venue's bytes go to the socket untouched. A delay probability
    /// set later reorders by up to 3 messages.
    pub fn none() -> Self {
        FaultConfig {
            plan: FaultPlan {
                max_delay_messages: 3,
                ..FaultPlan::NONE
            },
            seed: 1,
            gap_at: Vec::new(),
            disconnect_after: None,
            fault_resends: false,
        }
    }

    pub fn is_none(&self) -> bool {
        self.plan.is_none() && self.gap_at.is_empty() && self.disconnect_after.is_none()
    }

    /// Whether a correct peer will log out because of these faults: a duplicate, or a message
    /// delayed past its resend, arrives again without PossDupFlag, which FIX answers with a
    /// Logout ("MsgSeqNum too low").
    pub fn provokes_logouts(&self) -> bool {
        self.plan.duplicate > 0.0 || (self.plan.delay > 0.0 && self.plan.max_delay_messages > 0)
    }
}

/// Reconnect delays of an initiator: doubling from `initial` up to `max`, back to `initial`
/// after a successful logon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

/// A venue run.
#[derive(Debug, Clone, PartialEq)]
pub struct VenueConfig {
    /// Acceptor: listen on `addr` for the one session's connections. Initiator: connect to
    /// `addr`, reconnecting with `reconnect` backoff.
    pub role: Role,
    pub addr: SocketAddr,
    /// FIX.4.2 to FIX.4.4, or FIX.5.0 to FIX.5.0 SP2 over FIXT.1.1 (sent as DefaultApplVerID).
    pub version: Version,
    pub sender_comp_id: String,
    pub target_comp_id: String,
    /// The HeartBtInt proposed as initiator; as acceptor the peer's Logon decides.
    pub heartbeat_interval: Duration,
    /// Journal and sequence numbers in a `gapless-store` FileStore in this directory, so that
    /// a restarted venue continues its numbering; in memory when `None`.
    pub store_dir: Option<PathBuf>,
    /// Unsolicited ExecutionReports streamed after logon, ExecID 1 to `messages`.
    pub messages: u64,
    /// Streamed messages per second; 0 streams as fast as the transport takes them.
    pub rate: u64,
    pub order_reply: OrderReply,
    pub faults: FaultConfig,
    /// Once the stream is sent, ask the peer to confirm it has everything (a TestRequest whose
    /// Heartbeat can only come after every earlier message was processed in order), then log
    /// out and end. Has no effect when `messages` is 0.
    pub logout_after_stream: bool,
    /// End when the peer logs out. Turn it off when faults make the peer log out and log on
    /// again (see [`FaultConfig::provokes_logouts`]).
    pub end_on_peer_logout: bool,
    /// End (logging out cleanly) after this long.
    pub duration: Option<Duration>,
    pub idle: IdleStrategy,
    pub reconnect: Backoff,
    /// How often the progress callback is called.
    pub progress_interval: Duration,
}

impl VenueConfig {
    /// An acceptor on `addr` with the defaults of `gapless venue`: FIX.4.4, VENUE to GAPLESS,
    /// 30 s heartbeats, 10,000 ExecutionReports as fast as possible, no faults, in memory.
    pub fn acceptor(addr: SocketAddr) -> Self {
        VenueConfig {
            role: Role::Acceptor,
            addr,
            version: Version::Fix44,
            sender_comp_id: "VENUE".into(),
            target_comp_id: "GAPLESS".into(),
            heartbeat_interval: Duration::from_secs(30),
            store_dir: None,
            messages: 10_000,
            rate: 0,
            order_reply: OrderReply::New,
            faults: FaultConfig::none(),
            logout_after_stream: true,
            end_on_peer_logout: true,
            duration: None,
            idle: IdleStrategy::Yield,
            reconnect: Backoff {
                initial: Duration::from_millis(100),
                max: Duration::from_secs(5),
            },
            progress_interval: Duration::from_secs(1),
        }
    }

    /// As [`VenueConfig::acceptor`], connecting to `addr` instead.
    pub fn initiator(addr: SocketAddr) -> Self {
        VenueConfig {
            role: Role::Initiator,
            ..VenueConfig::acceptor(addr)
        }
    }

    /// Checks what the types do not.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(Version::Fix42..=Version::Fix44).contains(&self.version)
            && !(Version::Fix50..=Version::Fix50Sp2).contains(&self.version)
        {
            return Err(ConfigError::UnsupportedVersion(self.version));
        }
        check_comp_id("sender-comp-id", &self.sender_comp_id)?;
        check_comp_id("target-comp-id", &self.target_comp_id)?;
        let plan = &self.faults.plan;
        for (option, value) in [
            ("drop", plan.drop),
            ("duplicate", plan.duplicate),
            ("delay", plan.delay),
            ("corrupt", plan.corrupt),
            ("cut", plan.cut),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(ConfigError::Probability { option, value });
            }
        }
        if self.faults.gap_at.contains(&0) {
            return Err(ConfigError::GapAtZero);
        }
        if self.reconnect.initial.is_zero() || self.reconnect.initial > self.reconnect.max {
            return Err(ConfigError::Backoff);
        }
        if self.progress_interval.is_zero() {
            return Err(ConfigError::ProgressInterval);
        }
        Ok(())
    }
}

impl Default for VenueConfig {
    /// The acceptor on 127.0.0.1:9878.
    fn default() -> Self {
        VenueConfig::acceptor(SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)))
    }
}

fn check_comp_id(option: &'static str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() || value.bytes().any(|b| b == 0x01 || b == b'=') {
        return Err(ConfigError::CompId { option });
    }
    Ok(())
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    /// Only FIX.4.2 to 4.4 and FIX.5.0 to 5.0 SP2 ExecutionReports are written.
    UnsupportedVersion(Version),
    /// A CompID that is empty or contains SOH or `=`.
    CompId {
        option: &'static str,
    },
    /// A fault probability outside 0 to 1.
    Probability {
        option: &'static str,
        value: f64,
    },
    /// `--gap-at 0`: MsgSeqNums start at 1.
    GapAtZero,
    /// The reconnect backoff must start above zero and not above its maximum.
    Backoff,
    ProgressInterval,
    /// The host and port do not name an address.
    Address {
        address: String,
        reason: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnsupportedVersion(version) => write!(
                f,
                "unsupported version {version:?}: use FIX.4.2 to FIX.4.4 or FIX.5.0 to FIX.5.0SP2"
            ),
            ConfigError::CompId { option } => {
                write!(f, "--{option} must be non-empty, without SOH or '='")
            }
            ConfigError::Probability { option, value } => {
                write!(f, "--{option} {value} is not a probability from 0 to 1")
            }
            ConfigError::GapAtZero => f.write_str("--gap-at: MsgSeqNums start at 1"),
            ConfigError::Backoff => {
                f.write_str("reconnect backoff must start above zero and not exceed its maximum")
            }
            ConfigError::ProgressInterval => f.write_str("progress interval must be above zero"),
            ConfigError::Address { address, reason } => {
                write!(f, "cannot resolve {address}: {reason}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        let config = VenueConfig::default();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.addr.port(), DEFAULT_PORT);
        assert!(config.faults.is_none());
    }

    #[test]
    fn invalid_probability_is_refused() {
        let mut config = VenueConfig::default();
        config.faults.plan.drop = 1.5;
        assert_eq!(
            config.validate(),
            Err(ConfigError::Probability {
                option: "drop",
                value: 1.5
            })
        );
        config.faults.plan.drop = f64::NAN;
        assert!(config.validate().is_err());
    }

    #[test]
    fn fix40_and_bare_fixt_are_refused() {
        for version in [Version::Fix40, Version::Fix41, Version::Fixt11] {
            let config = VenueConfig {
                version,
                ..VenueConfig::default()
            };
            assert_eq!(
                config.validate(),
                Err(ConfigError::UnsupportedVersion(version))
            );
        }
    }

    #[test]
    fn comp_id_with_soh_is_refused() {
        let config = VenueConfig {
            sender_comp_id: "VEN\x01UE".into(),
            ..VenueConfig::default()
        };
        assert_eq!(
            config.validate(),
            Err(ConfigError::CompId {
                option: "sender-comp-id"
            })
        );
    }

    #[test]
    fn duplicates_and_delays_provoke_logouts_drops_do_not() {
        let mut faults = FaultConfig::none();
        faults.plan.drop = 0.1;
        faults.gap_at = vec![5];
        assert!(!faults.provokes_logouts());
        faults.plan.max_delay_messages = 0;
        faults.plan.delay = 0.1;
        assert!(!faults.provokes_logouts(), "no delay without a distance");
        faults.plan.max_delay_messages = 2;
        assert!(faults.provokes_logouts());
    }
}
