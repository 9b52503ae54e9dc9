//! The command line of `gapless venue`, turned into a [`VenueConfig`].

use core::time::Duration;
use std::net::ToSocketAddrs;
use std::path::PathBuf;

use clap::{ArgAction, ValueEnum};
use gapless_dict::Version;
use gapless_runtime::IdleStrategy;
use gapless_session::Role;
use gapless_sim::FaultPlan;

use crate::config::{Backoff, ConfigError, DEFAULT_PORT, FaultConfig, OrderReply, VenueConfig};

/// Which side opens the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Acceptor,
    Initiator,
}

/// The session's BeginString.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FixVersionArg {
    #[value(name = "FIX.4.2", alias = "4.2")]
    Fix42,
    #[value(name = "FIX.4.4", alias = "4.4")]
    Fix44,
    #[value(name = "FIXT.1.1", alias = "fixt")]
    Fixt11,
}

/// The application version of a FIXT.1.1 session (DefaultApplVerID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApplVerArg {
    #[value(name = "FIX.5.0")]
    Fix50,
    #[value(name = "FIX.5.0SP1")]
    Fix50Sp1,
    #[value(name = "FIX.5.0SP2")]
    Fix50Sp2,
}

/// See [`OrderReply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OrderReplyArg {
    New,
    Fill,
}

/// See [`IdleStrategy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IdleArg {
    Spin,
    Yield,
    Sleep,
}

/// Options of `gapless venue`, the simulated exchange.
#[derive(clap::Args, Debug, Clone)]
pub struct VenueArgs {
    /// Listen for the gateway (acceptor) or connect to it (initiator, reconnecting).
    #[arg(long, value_enum, default_value_t = RoleArg::Acceptor)]
    pub role: RoleArg,
    /// Address to listen on or connect to.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0: the system picks one, shown in the first progress line) or
    /// connect to.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// BeginString of the session.
    #[arg(long, value_enum, default_value_t = FixVersionArg::Fix44)]
    pub fix_version: FixVersionArg,
    /// Application version of a FIXT.1.1 session.
    #[arg(long, value_enum, default_value_t = ApplVerArg::Fix50Sp2)]
    pub appl_ver: ApplVerArg,
    /// The venue's CompID.
    #[arg(long, default_value = "VENUE")]
    pub sender_comp_id: String,
    /// The gateway's CompID.
    #[arg(long, default_value = "GAPLESS")]
    pub target_comp_id: String,
    /// HeartBtInt in seconds (proposed as initiator; an acceptor takes the peer's).
    #[arg(long, default_value_t = 30)]
    pub heartbeat: u64,
    /// Keep the journal and sequence numbers in this directory, across restarts.
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// ExecutionReports to stream after logon (ExecID 1 to N).
    #[arg(long, default_value_t = 10_000)]
    pub messages: u64,
    /// Streamed messages per second; 0 is as fast as the connection takes them.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// How each NewOrderSingle is answered (one ExecutionReport either way).
    #[arg(long, value_enum, default_value_t = OrderReplyArg::New)]
    pub order_reply: OrderReplyArg,
    /// Probability that an application message is dropped.
    #[arg(long, default_value_t = 0.0)]
    pub drop: f64,
    /// Probability that an application message is sent twice.
    #[arg(long, default_value_t = 0.0)]
    pub duplicate: f64,
    /// Probability that an application message is held back behind later ones (reordered).
    #[arg(long, default_value_t = 0.0)]
    pub delay: f64,
    /// How many later messages a delayed one waits for, at most.
    #[arg(long, default_value_t = 3)]
    pub max_delay_messages: u32,
    /// Probability that one byte of an application message is changed.
    #[arg(long, default_value_t = 0.0)]
    pub corrupt: f64,
    /// Probability that the connection is cut at an application message.
    #[arg(long, default_value_t = 0.0)]
    pub cut: f64,
    /// Seed of the fault decisions: the same seed makes the same decisions.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Drop the message with these MsgSeqNums the first time they are sent (SEQ[,SEQ...]).
    #[arg(long, value_delimiter = ',', value_name = "SEQ")]
    pub gap_at: Vec<u64>,
    /// Cut the connection once, after this many streamed messages.
    #[arg(long, value_name = "N")]
    pub disconnect_after: Option<u64>,
    /// Let the faults harm resent (PossDup) messages too.
    #[arg(long)]
    pub fault_resends: bool,
    /// Once the stream is sent and the peer confirmed it, log out and exit.
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    pub logout_after_stream: bool,
    /// Exit when the peer logs out [default: true, false when duplicates or delays make the
    /// peer log out and back in].
    #[arg(long, action = ArgAction::Set)]
    pub end_on_peer_logout: Option<bool>,
    /// Log out and exit after this many seconds; 0 runs until stopped.
    #[arg(long, default_value_t = 0)]
    pub duration: u64,
    /// What the loop does when there is nothing to do.
    #[arg(long, value_enum, default_value_t = IdleArg::Yield)]
    pub idle: IdleArg,
    /// Sleep of `--idle sleep`, in microseconds.
    #[arg(long, default_value_t = 100)]
    pub sleep_micros: u64,
    /// First reconnect delay of an initiator, in milliseconds (doubling up to --reconnect-max-ms).
    #[arg(long, default_value_t = 100)]
    pub reconnect_initial_ms: u64,
    /// Longest reconnect delay of an initiator, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    pub reconnect_max_ms: u64,
    /// Progress report interval, in milliseconds.
    #[arg(long, default_value_t = 1_000)]
    pub progress_ms: u64,
}

impl VenueArgs {
    /// The configuration these options describe, resolved and checked.
    pub fn to_config(&self) -> Result<VenueConfig, ConfigError> {
        let address = format!("{}:{}", self.host, self.port);
        let addr = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| e.to_string())
            .and_then(|mut addrs| addrs.next().ok_or_else(|| "no address".to_owned()))
            .map_err(|reason| ConfigError::Address { address, reason })?;
        let faults = FaultConfig {
            plan: FaultPlan {
                cut: self.cut,
                drop: self.drop,
                corrupt: self.corrupt,
                duplicate: self.duplicate,
                delay: self.delay,
                max_delay_messages: self.max_delay_messages,
            },
            seed: self.seed,
            gap_at: self.gap_at.clone(),
            disconnect_after: self.disconnect_after,
            fault_resends: self.fault_resends,
        };
        let config = VenueConfig {
            role: match self.role {
                RoleArg::Acceptor => Role::Acceptor,
                RoleArg::Initiator => Role::Initiator,
            },
            addr,
            version: match (self.fix_version, self.appl_ver) {
                (FixVersionArg::Fix42, _) => Version::Fix42,
                (FixVersionArg::Fix44, _) => Version::Fix44,
                (FixVersionArg::Fixt11, ApplVerArg::Fix50) => Version::Fix50,
                (FixVersionArg::Fixt11, ApplVerArg::Fix50Sp1) => Version::Fix50Sp1,
                (FixVersionArg::Fixt11, ApplVerArg::Fix50Sp2) => Version::Fix50Sp2,
            },
            sender_comp_id: self.sender_comp_id.clone(),
            target_comp_id: self.target_comp_id.clone(),
            heartbeat_interval: Duration::from_secs(self.heartbeat),
            store_dir: self.store.clone(),
            messages: self.messages,
            rate: self.rate,
            order_reply: match self.order_reply {
                OrderReplyArg::New => OrderReply::New,
                OrderReplyArg::Fill => OrderReply::Fill,
            },
            end_on_peer_logout: self
                .end_on_peer_logout
                .unwrap_or(!faults.provokes_logouts()),
            faults,
            logout_after_stream: self.logout_after_stream,
            duration: (self.duration > 0).then(|| Duration::from_secs(self.duration)),
            idle: match self.idle {
                IdleArg::Spin => IdleStrategy::Spin,
                IdleArg::Yield => IdleStrategy::Yield,
                IdleArg::Sleep => IdleStrategy::Sleep(Duration::from_micros(self.sleep_micros)),
            },
            reconnect: Backoff {
                initial: Duration::from_millis(self.reconnect_initial_ms),
                max: Duration::from_millis(self.reconnect_max_ms),
            },
            progress_interval: Duration::from_millis(self.progress_ms),
        };
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        venue: VenueArgs,
    }

    fn parse(args: &[&str]) -> Result<VenueConfig, ConfigError> {
        let cli = Cli::try_parse_from(core::iter::once("venue").chain(args.iter().copied()))
            .expect("arguments parse");
        cli.venue.to_config()
    }

    #[test]
    fn no_options_give_the_default_config() {
        assert_eq!(parse(&[]), Ok(VenueConfig::default()));
    }

    #[test]
    fn fault_options_fill_the_plan() {
        let config = parse(&[
            "--drop",
            "0.01",
            "--duplicate",
            "0.002",
            "--delay",
            "0.05",
            "--max-delay-messages",
            "4",
            "--gap-at",
            "10,20",
            "--disconnect-after",
            "500",
            "--seed",
            "7",
        ])
        .unwrap();
        assert_eq!(config.faults.plan.drop, 0.01);
        assert_eq!(config.faults.plan.max_delay_messages, 4);
        assert_eq!(config.faults.gap_at, [10, 20]);
        assert_eq!(config.faults.disconnect_after, Some(500));
        assert_eq!(config.faults.seed, 7);
        // Duplicates make a correct peer log out and back in: that must not end the run.
        assert!(!config.end_on_peer_logout);
    }

    #[test]
    fn fixt_takes_the_application_version() {
        let config = parse(&["--fix-version", "FIXT.1.1", "--appl-ver", "FIX.5.0SP1"]).unwrap();
        assert_eq!(config.version, Version::Fix50Sp1);
        let config = parse(&["--fix-version", "4.2"]).unwrap();
        assert_eq!(config.version, Version::Fix42);
    }

    #[test]
    fn initiator_sleep_and_flags() {
        let config = parse(&[
            "--role",
            "initiator",
            "--idle",
            "sleep",
            "--sleep-micros",
            "50",
            "--logout-after-stream",
            "false",
            "--duration",
            "3",
        ])
        .unwrap();
        assert_eq!(config.role, Role::Initiator);
        assert_eq!(config.idle, IdleStrategy::Sleep(Duration::from_micros(50)));
        assert!(!config.logout_after_stream);
        assert_eq!(config.duration, Some(Duration::from_secs(3)));
    }

    #[test]
    fn probability_above_one_is_refused() {
        assert!(matches!(
            parse(&["--corrupt", "2"]),
            Err(ConfigError::Probability {
                option: "corrupt",
                ..
            })
        ));
    }
}
