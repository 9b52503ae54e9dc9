//! The TOML configuration of `gapless run` and `gapless acceptor`: the gateway's threads and
//! transport, the default listening address, and one table per session.
//!
//! Every table rejects unknown keys (`deny_unknown_fields`), so a misspelt key is an error that
//! names it instead of a silently ignored setting. `docs/configuration.md` documents each key.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use gapless_client::{ChannelConfig, Start};
use gapless_codec::Resync;
use gapless_dict::{ValidationOptions, Version};
use gapless_runtime::{
    Backoff, ChannelPlan, CheckerPlan, Endpoint, IdleStrategy, Mode, RuntimeConfig, SessionPlan,
    StorePlan, TransportKind,
};
use gapless_session::{HoldLimits, QueueOverflow, ResendLimits, Role, SessionConfig};
use gapless_store::Durability;
use gapless_transport::FeatureChoice;
use serde::Deserialize;

/// Why a configuration could not be loaded.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The TOML is malformed, or a key is unknown or has an invalid value (the message names it).
    Parse(String),
    /// The file parsed but describes something that cannot run.
    Invalid(String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Read { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
            ConfigError::Parse(message) => f.write_str(message.trim_end()),
            ConfigError::Invalid(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The whole configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub gateway: GatewayEntry,
    pub acceptor: Option<AcceptorConfig>,
    #[serde(default, rename = "session")]
    pub sessions: Vec<SessionEntry>,
}

/// `[gateway]`: threads, transport and where things live.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayEntry {
    /// `auto` (inline below four cores), `inline` or `threaded`.
    #[serde(default)]
    pub mode: ModeName,
    #[serde(default)]
    pub transport: TransportName,
    /// The CPU the network core is pinned to.
    pub network_cpu: Option<usize>,
    /// The CPU the session thread is pinned to (threaded mode).
    pub session_cpu: Option<usize>,
    #[serde(default)]
    pub idle: IdleName,
    /// With `idle = "sleep"`: microseconds per sleep.
    #[serde(default = "default_sleep_micros")]
    pub sleep_micros: u64,
    /// Directory of the application channels (one file per session).
    #[serde(default = "default_channel_dir")]
    pub channel_dir: PathBuf,
    /// Bytes in a channel's ring to the application (a power of two); half of it, less 24,
    /// bounds the longest inbound message.
    #[serde(default = "default_to_app_capacity")]
    pub to_app_capacity: usize,
    /// Bytes in a channel's ring from the application (a power of two).
    #[serde(default = "default_from_app_capacity")]
    pub from_app_capacity: usize,
    /// The longest body an application message may have.
    #[serde(default = "default_max_body_len")]
    pub max_body_len: usize,
    /// Directory of the FIX message logs; absent for no log.
    pub message_log: Option<PathBuf>,
    /// Seconds shutdown waits for the Logout handshakes.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout: u64,
    /// Enable SO_BUSY_POLL on sockets, in microseconds.
    pub busy_poll_micros: Option<u32>,
    /// With `transport = "uring"`.
    #[serde(default)]
    pub uring: UringEntry,
    /// `[gateway.dpdk]`: the DPDK port and addresses, with `transport = "dpdk"`.
    pub dpdk: Option<crate::dpdk::DpdkEntry>,
    /// `software` or `hwsim` (the verilated RTL; the `hwsim` build feature).
    #[serde(default)]
    pub checker: CheckerName,
}

/// Which sequence checker classifies inbound messages (docs/hw.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum CheckerName {
    /// The software checker.
    #[default]
    Software,
    /// The verilated RTL of hw/rtl, shadowed by the software checker.
    Hwsim,
}

impl CheckerName {
    /// The runtime's plan for `sessions` sessions; an error when this binary cannot run it.
    pub fn plan(self, sessions: usize) -> Result<CheckerPlan, ConfigError> {
        match self {
            CheckerName::Software => Ok(CheckerPlan::Software),
            #[cfg(feature = "hwsim")]
            CheckerName::Hwsim if sessions > usize::from(gapless_hwsim::NUM_SESSIONS) => {
                Err(ConfigError::Invalid(format!(
                    "checker = \"hwsim\": {sessions} sessions configured, the RTL model has {}",
                    gapless_hwsim::NUM_SESSIONS
                )))
            }
            #[cfg(feature = "hwsim")]
            CheckerName::Hwsim => Ok(CheckerPlan::Hwsim(gapless_runtime::ShadowReport::default())),
            #[cfg(not(feature = "hwsim"))]
            CheckerName::Hwsim => {
                let _ = sessions;
                Err(ConfigError::Invalid(
                    "checker = \"hwsim\" needs a gapless built with the hwsim feature \
                     (cargo build --release --features hwsim, with Verilator installed)"
                        .into(),
                ))
            }
        }
    }
}

/// `[gateway.uring]`: io_uring's options (docs/configuration.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UringEntry {
    /// Kernel-side submission polling with this idle time in milliseconds; absent is off.
    pub sqpoll_idle_ms: Option<u32>,
    #[serde(default)]
    pub registered_buffers: ChoiceName,
    #[serde(default)]
    pub multishot_recv: ChoiceName,
}

/// Whether to use an io_uring feature: `auto` where the kernel has it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChoiceName {
    Auto,
    On,
    #[default]
    Off,
}

impl ChoiceName {
    fn choice(self) -> FeatureChoice {
        match self {
            ChoiceName::Auto => FeatureChoice::Auto,
            ChoiceName::On => FeatureChoice::On,
            ChoiceName::Off => FeatureChoice::Off,
        }
    }
}

impl Default for GatewayEntry {
    fn default() -> Self {
        GatewayEntry {
            mode: ModeName::default(),
            transport: TransportName::default(),
            network_cpu: None,
            session_cpu: None,
            idle: IdleName::default(),
            sleep_micros: default_sleep_micros(),
            channel_dir: default_channel_dir(),
            to_app_capacity: default_to_app_capacity(),
            from_app_capacity: default_from_app_capacity(),
            max_body_len: default_max_body_len(),
            message_log: None,
            shutdown_timeout: default_shutdown_timeout(),
            busy_poll_micros: None,
            uring: UringEntry::default(),
            dpdk: None,
            checker: CheckerName::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModeName {
    #[default]
    Auto,
    Inline,
    Threaded,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransportName {
    #[default]
    Socket,
    Uring,
    /// Userspace TCP over a DPDK port (`[gateway.dpdk]`; the `dpdk` build feature).
    Dpdk,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdleName {
    #[default]
    Spin,
    Yield,
    Sleep,
}

/// `[acceptor]`: the default listening address of acceptor sessions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptorConfig {
    /// `HOST:PORT`, for example `127.0.0.1:5001`.
    pub listen: String,
}

/// One `[[session]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionEntry {
    /// Unique among the sessions; names the channel, log and counters. Default `SENDER-TARGET`.
    pub name: Option<String>,
    #[serde(default = "default_role")]
    pub role: RoleName,
    /// Acceptor: `HOST:PORT` to listen on, instead of `[acceptor] listen`.
    pub listen: Option<String>,
    /// Acceptor: source addresses allowed to log on; empty allows any.
    #[serde(default)]
    pub allowed_peers: Vec<String>,
    /// Acceptor: the Username (553) the peer's Logon must carry; initiator: the one we send.
    /// With `password_file` or `password_env` (docs/configuration.md).
    pub username: Option<String>,
    /// A file holding the password (a trailing newline is ignored).
    pub password_file: Option<PathBuf>,
    /// The name of an environment variable holding the password.
    pub password_env: Option<String>,
    /// TLS on this session's connection (`crate::security::TlsEntry`).
    pub tls: Option<crate::security::TlsEntry>,
    /// Initiator: `HOST:PORT` of the peer.
    pub connect: Option<String>,
    /// Initiator: first reconnection delay in milliseconds, doubling up to `reconnect_max_ms`.
    #[serde(default = "default_reconnect_initial_ms")]
    pub reconnect_initial_ms: u64,
    #[serde(default = "default_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
    /// The application channel file, instead of `<channel_dir>/<name>.chan`.
    pub channel: Option<PathBuf>,
    pub sender_comp_id: String,
    pub target_comp_id: String,
    /// `FIX.4.0` ... `FIX.4.4`, `FIX.5.0`, `FIX.5.0SP1`, `FIX.5.0SP2`.
    pub version: String,
    /// Seconds; an acceptor takes the peer's HeartBtInt from its Logon.
    #[serde(default = "default_heartbeat")]
    pub heartbeat: u64,
    #[serde(default = "default_logon_timeout")]
    pub logon_timeout: u64,
    #[serde(default = "default_logout_timeout")]
    pub logout_timeout: u64,
    #[serde(default)]
    pub reset_on_logon: bool,
    #[serde(default)]
    pub next_expected_msg_seq_num: bool,
    /// Seconds; 0 turns the SendingTime accuracy check off.
    #[serde(default = "default_sending_time_tolerance")]
    pub sending_time_tolerance: u64,
    #[serde(default = "default_true")]
    pub check_comp_ids: bool,
    #[serde(default)]
    pub validation: ValidationEntry,
    #[serde(default)]
    pub store: StoreEntry,
    #[serde(default)]
    pub hold: HoldEntry,
    #[serde(default)]
    pub resend: ResendEntry,
    /// Where decoding resumes after a message with a wrong BodyLength.
    #[serde(default)]
    pub resync: ResyncName,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResyncName {
    /// At the next `8=FIX`.
    #[default]
    NextBeginString,
    /// Past the next CheckSum at or after where BodyLength says the body ends (QuickFIX's way).
    BodyLength,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    Acceptor,
    Initiator,
}

/// `[session.validation]`: the data-dictionary checks, each on by default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationEntry {
    /// Off turns the dictionary off altogether; the switches below are then ignored.
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default = "default_true")]
    pub check_tag_numbers: bool,
    #[serde(default)]
    pub allow_user_defined_tags: bool,
    #[serde(default = "default_true")]
    pub check_required: bool,
    #[serde(default = "default_true")]
    pub check_tags_in_message: bool,
    #[serde(default = "default_true")]
    pub check_empty_values: bool,
    #[serde(default = "default_true")]
    pub check_enum_values: bool,
    #[serde(default = "default_true")]
    pub check_data_format: bool,
    #[serde(default = "default_true")]
    pub check_msg_type: bool,
    #[serde(default = "default_true")]
    pub check_repeated_tags: bool,
    #[serde(default = "default_true")]
    pub check_field_order: bool,
    #[serde(default = "default_true")]
    pub check_groups: bool,
    #[serde(default = "default_true")]
    pub check_appl_ver_id: bool,
}

impl Default for ValidationEntry {
    fn default() -> Self {
        let all = ValidationOptions::default();
        ValidationEntry {
            enabled: true,
            check_tag_numbers: all.check_tag_numbers,
            allow_user_defined_tags: all.allow_user_defined_tags,
            check_required: all.check_required,
            check_tags_in_message: all.check_tags_in_message,
            check_empty_values: all.check_empty_values,
            check_enum_values: all.check_enum_values,
            check_data_format: all.check_data_format,
            check_msg_type: all.check_msg_type,
            check_repeated_tags: all.check_repeated_tags,
            check_field_order: all.check_field_order,
            check_groups: all.check_groups,
            check_appl_ver_id: all.check_appl_ver_id,
        }
    }
}

impl ValidationEntry {
    fn options(&self) -> Option<ValidationOptions> {
        self.enabled.then_some(ValidationOptions {
            check_tag_numbers: self.check_tag_numbers,
            allow_user_defined_tags: self.allow_user_defined_tags,
            check_required: self.check_required,
            check_tags_in_message: self.check_tags_in_message,
            check_empty_values: self.check_empty_values,
            check_enum_values: self.check_enum_values,
            check_data_format: self.check_data_format,
            check_msg_type: self.check_msg_type,
            check_repeated_tags: self.check_repeated_tags,
            check_field_order: self.check_field_order,
            check_groups: self.check_groups,
            check_appl_ver_id: self.check_appl_ver_id,
        })
    }
}

/// `[session.store]`: where sent messages and sequence numbers are journaled.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreEntry {
    /// A directory for a file store; absent means an in-memory store.
    pub path: Option<PathBuf>,
    #[serde(default)]
    pub durability: DurabilityName,
    /// With `durability = "batched"`: sync after this many messages.
    #[serde(default = "default_batch")]
    pub batch: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DurabilityName {
    #[default]
    None,
    Batched,
    PerMessage,
}

/// `[session.hold]`: bounds on messages held behind a gap.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldEntry {
    #[serde(default = "default_max_held_messages")]
    pub max_messages: usize,
    #[serde(default = "default_max_held_bytes")]
    pub max_bytes: usize,
    #[serde(default)]
    pub overflow: OverflowName,
}

impl Default for HoldEntry {
    fn default() -> Self {
        let limits = HoldLimits::default();
        HoldEntry {
            max_messages: limits.max_messages,
            max_bytes: limits.max_bytes,
            overflow: OverflowName::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OverflowName {
    #[default]
    DropAndRerequest,
    Disconnect,
}

/// `[session.resend]`: bounds on ResendRequests, ours and the peer's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResendEntry {
    #[serde(default = "default_resend_per_second")]
    pub max_requests_per_second: u32,
    /// Ask for at most this many messages per ResendRequest; absent means to infinity.
    pub request_chunk: Option<u64>,
}

impl Default for ResendEntry {
    fn default() -> Self {
        ResendEntry {
            max_requests_per_second: default_resend_per_second(),
            request_chunk: None,
        }
    }
}

fn default_sleep_micros() -> u64 {
    50
}
fn default_channel_dir() -> PathBuf {
    PathBuf::from("/dev/shm/gapless")
}
fn default_to_app_capacity() -> usize {
    ChannelConfig::default().to_app_capacity * 8
}
fn default_from_app_capacity() -> usize {
    ChannelConfig::default().from_app_capacity
}
fn default_max_body_len() -> usize {
    ChannelConfig::default().max_body_len
}
fn default_shutdown_timeout() -> u64 {
    5
}
fn default_reconnect_initial_ms() -> u64 {
    500
}
fn default_reconnect_max_ms() -> u64 {
    30_000
}
fn default_role() -> RoleName {
    RoleName::Acceptor
}
fn default_heartbeat() -> u64 {
    30
}
fn default_logon_timeout() -> u64 {
    10
}
fn default_logout_timeout() -> u64 {
    2
}
fn default_sending_time_tolerance() -> u64 {
    120
}
fn default_true() -> bool {
    true
}
fn default_batch() -> u32 {
    64
}
fn default_max_held_messages() -> usize {
    HoldLimits::default().max_messages
}
fn default_max_held_bytes() -> usize {
    HoldLimits::default().max_bytes
}
fn default_resend_per_second() -> u32 {
    ResendLimits::default().max_requests_per_second
}

/// A session ready to run: its configuration and where its store lives.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    pub config: SessionConfig,
    pub store: StorePlan,
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Config::parse(&text)
    }

    /// Parses and checks TOML text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        config.sessions()?;
        Ok(config)
    }

    /// Every session, mapped to the session layer's configuration.
    pub fn sessions(&self) -> Result<Vec<SessionSpec>, ConfigError> {
        let mut specs: Vec<SessionSpec> = Vec::with_capacity(self.sessions.len());
        for entry in &self.sessions {
            let spec = entry.spec()?;
            let duplicate = specs.iter().any(|other| {
                other.config.version.begin_string() == spec.config.version.begin_string()
                    && other.config.sender_comp_id == spec.config.sender_comp_id
                    && other.config.target_comp_id == spec.config.target_comp_id
            });
            if duplicate {
                return Err(ConfigError::Invalid(format!(
                    "session {}->{} on {} is configured twice",
                    spec.config.sender_comp_id,
                    spec.config.target_comp_id,
                    spec.config.version.begin_string()
                )));
            }
            specs.push(spec);
        }
        Ok(specs)
    }
}

impl Config {
    /// The runtime configuration of `gapless run`; `listen_port` overrides the port of every
    /// acceptor session's listening address.
    pub fn runtime(&self, listen_port: Option<u16>) -> Result<RuntimeConfig, ConfigError> {
        let specs = self.sessions()?;
        let mut plans = Vec::with_capacity(specs.len());
        for (entry, spec) in self.sessions.iter().zip(specs) {
            let name = entry.name.clone().unwrap_or_else(|| {
                format!(
                    "{}-{}",
                    spec.config.sender_comp_id, spec.config.target_comp_id
                )
            });
            if plans.iter().any(|plan: &SessionPlan| plan.name == name) {
                return Err(ConfigError::Invalid(format!(
                    "two sessions are named {name}"
                )));
            }
            let endpoint = entry.endpoint(&name, self.acceptor.as_ref(), listen_port)?;
            let channel_path = entry
                .channel
                .clone()
                .unwrap_or_else(|| self.gateway.channel_dir.join(format!("{name}.chan")));
            plans.push(SessionPlan {
                name,
                session: spec.config,
                endpoint,
                store: spec.store,
                channel: ChannelPlan {
                    path: Some(channel_path),
                    config: ChannelConfig {
                        to_app_capacity: self.gateway.to_app_capacity,
                        from_app_capacity: self.gateway.from_app_capacity,
                        max_body_len: self.gateway.max_body_len,
                    },
                    start: Start::Reopen,
                },
            });
        }
        let mut runtime = RuntimeConfig::new(plans);
        let gateway = &self.gateway;
        match gateway.mode {
            ModeName::Auto => {}
            ModeName::Inline => runtime.mode = Mode::Inline,
            ModeName::Threaded => runtime.mode = Mode::Threaded,
        }
        runtime.transport = match gateway.transport {
            TransportName::Socket => TransportKind::Socket,
            TransportName::Uring => TransportKind::Uring,
            // Not a kernel transport: `gapless run` hands the runtime the DPDK transport itself
            // (crate::dpdk::run), and this field is unused.
            TransportName::Dpdk => TransportKind::Socket,
        };
        runtime.transport_config.busy_poll_micros = gateway.busy_poll_micros;
        runtime.uring.sqpoll_idle_ms = gateway.uring.sqpoll_idle_ms;
        runtime.uring.registered_buffers = gateway.uring.registered_buffers.choice();
        runtime.uring.multishot_recv = gateway.uring.multishot_recv.choice();
        runtime.network_cpu = gateway.network_cpu;
        runtime.session_cpu = gateway.session_cpu;
        runtime.idle = match gateway.idle {
            IdleName::Spin => IdleStrategy::Spin,
            IdleName::Yield => IdleStrategy::Yield,
            IdleName::Sleep => IdleStrategy::Sleep(Duration::from_micros(gateway.sleep_micros)),
        };
        runtime.message_log = gateway.message_log.clone();
        runtime.shutdown_timeout = Duration::from_secs(gateway.shutdown_timeout);
        let dpdk = gateway.transport == TransportName::Dpdk;
        crate::security::apply(&self.sessions, &mut runtime, dpdk)?;
        runtime.checker = gateway.checker.plan(runtime.sessions.len())?;
        Ok(runtime)
    }
}

/// Resolves `HOST:PORT`, naming `key` when it cannot.
fn socket_addr(session: &str, key: &str, text: &str) -> Result<SocketAddr, ConfigError> {
    text.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| {
            ConfigError::Invalid(format!(
                "session {session}: {key} = {text:?} is not a HOST:PORT address"
            ))
        })
}

impl SessionEntry {
    fn endpoint(
        &self,
        name: &str,
        acceptor: Option<&AcceptorConfig>,
        listen_port: Option<u16>,
    ) -> Result<Endpoint, ConfigError> {
        match self.role {
            RoleName::Initiator => {
                let Some(connect) = &self.connect else {
                    return Err(ConfigError::Invalid(format!(
                        "session {name}: an initiator needs connect = \"HOST:PORT\""
                    )));
                };
                Ok(Endpoint::Connect {
                    addr: socket_addr(name, "connect", connect)?,
                    backoff: Backoff {
                        initial: Duration::from_millis(self.reconnect_initial_ms.max(1)),
                        max: Duration::from_millis(
                            self.reconnect_max_ms.max(self.reconnect_initial_ms),
                        ),
                    },
                })
            }
            RoleName::Acceptor => {
                let text = self
                    .listen
                    .as_deref()
                    .or(acceptor.map(|a| a.listen.as_str()))
                    .ok_or_else(|| {
                        ConfigError::Invalid(format!(
                            "session {name}: an acceptor needs listen, or [acceptor] listen"
                        ))
                    })?;
                let mut listen = socket_addr(name, "listen", text)?;
                if let Some(port) = listen_port {
                    listen.set_port(port);
                }
                let allowed_peers = self
                    .allowed_peers
                    .iter()
                    .map(|peer| {
                        peer.parse::<IpAddr>().map_err(|_| {
                            ConfigError::Invalid(format!(
                                "session {name}: allowed_peers entry {peer:?} is not an IP address"
                            ))
                        })
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Endpoint::Accept {
                    listen,
                    allowed_peers,
                })
            }
        }
    }

    fn spec(&self) -> Result<SessionSpec, ConfigError> {
        let version = parse_version(&self.version).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "session {}->{}: unknown version {:?} (FIX.4.0 ... FIX.4.4, FIX.5.0, FIX.5.0SP1, FIX.5.0SP2)",
                self.sender_comp_id, self.target_comp_id, self.version
            ))
        })?;
        let role = match self.role {
            RoleName::Acceptor => Role::Acceptor,
            RoleName::Initiator => Role::Initiator,
        };
        let mut config =
            SessionConfig::new(version, role, &self.sender_comp_id, &self.target_comp_id);
        config.heartbeat_interval = Duration::from_secs(self.heartbeat);
        config.logon_timeout = Duration::from_secs(self.logon_timeout);
        config.logout_timeout = Duration::from_secs(self.logout_timeout);
        config.reset_on_logon = self.reset_on_logon;
        config.send_next_expected_msg_seq_num = self.next_expected_msg_seq_num;
        config.max_sending_time_skew = (self.sending_time_tolerance > 0)
            .then(|| Duration::from_secs(self.sending_time_tolerance));
        config.check_comp_ids = self.check_comp_ids;
        config.validation = self.validation.options();
        config.hold_limits = HoldLimits {
            max_messages: self.hold.max_messages,
            max_bytes: self.hold.max_bytes,
            overflow: match self.hold.overflow {
                OverflowName::DropAndRerequest => QueueOverflow::DropAndRerequest,
                OverflowName::Disconnect => QueueOverflow::Disconnect,
            },
        };
        config.resync = match self.resync {
            ResyncName::NextBeginString => Resync::NextBeginString,
            ResyncName::BodyLength => Resync::BodyLength,
        };
        config.resend_limits = ResendLimits {
            max_requests_per_second: self.resend.max_requests_per_second,
            request_chunk: self.resend.request_chunk,
        };
        let store = match &self.store.path {
            None => StorePlan::Memory,
            Some(path) => StorePlan::File {
                path: path.clone(),
                durability: match self.store.durability {
                    DurabilityName::None => Durability::None,
                    DurabilityName::Batched => Durability::Batched {
                        every: self.store.batch.max(1),
                    },
                    DurabilityName::PerMessage => Durability::PerMessage,
                },
            },
        };
        Ok(SessionSpec { config, store })
    }
}

/// A version by its configuration name; FIXT.1.1 alone is a transport, not a session version.
pub fn parse_version(name: &str) -> Option<Version> {
    Version::ALL
        .into_iter()
        .find(|v| v.name() == name && *v != Version::Fixt11)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[acceptor]
listen = "127.0.0.1:5001"

[[session]]
sender_comp_id = "ISLD"
target_comp_id = "TW44"
version = "FIX.4.4"
reset_on_logon = true

[[session]]
sender_comp_id = "ISLD"
target_comp_id = "TW50"
version = "FIX.5.0SP2"
heartbeat = 20
sending_time_tolerance = 0
check_comp_ids = false
validation = { check_empty_values = false }
store = { path = "/var/lib/gapless/tw50", durability = "batched", batch = 8 }
hold = { max_messages = 10, overflow = "disconnect" }
resend = { request_chunk = 500 }
resync = "body-length"
"#;

    #[test]
    fn example_gateway_file_maps_to_the_runtime() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/gateway.toml");
        let runtime = Config::load(&path).unwrap().runtime(None).unwrap();
        assert_eq!(runtime.sessions.len(), 2);
        let venue = &runtime.sessions[0];
        assert_eq!(venue.name, "venue");
        assert!(matches!(venue.endpoint, Endpoint::Connect { addr, .. } if addr.port() == 9878));
        assert_eq!(
            venue.channel.path.as_deref(),
            Some(Path::new("/dev/shm/gapless/venue.chan"))
        );
        let client = &runtime.sessions[1];
        let Endpoint::Accept {
            listen,
            allowed_peers,
        } = &client.endpoint
        else {
            panic!("client1 is an acceptor");
        };
        assert_eq!(listen.port(), 9880);
        assert_eq!(allowed_peers.len(), 1);
        assert_eq!(
            runtime.message_log.as_deref(),
            Some(Path::new("/var/log/gapless"))
        );
    }

    const TWO_SESSIONS_WITH_THE_RTL: &str = r#"
[gateway]
checker = "hwsim"
[acceptor]
listen = "127.0.0.1:5001"
[[session]]
sender_comp_id = "A"
target_comp_id = "B"
version = "FIX.4.4"
[[session]]
sender_comp_id = "A"
target_comp_id = "C"
version = "FIX.4.4"
"#;

    #[cfg(not(feature = "hwsim"))]
    #[test]
    fn hwsim_checker_without_the_feature_is_a_config_error() {
        let config = Config::parse(TWO_SESSIONS_WITH_THE_RTL).unwrap();
        let error = config.runtime(None).unwrap_err();
        assert!(error.to_string().contains("--features hwsim"), "{error}");
    }

    #[cfg(feature = "hwsim")]
    #[test]
    fn hwsim_checker_maps_to_the_runtime_up_to_the_model_sessions() {
        let config = Config::parse(TWO_SESSIONS_WITH_THE_RTL).unwrap();
        let runtime = config.runtime(None).unwrap();
        assert!(matches!(runtime.checker, CheckerPlan::Hwsim(_)));
        let mut text = TWO_SESSIONS_WITH_THE_RTL.to_string();
        for n in 0..gapless_hwsim::NUM_SESSIONS {
            text.push_str(&format!(
                "[[session]]\nsender_comp_id = \"A\"\ntarget_comp_id = \"X{n}\"\nversion = \"FIX.4.4\"\n"
            ));
        }
        let error = Config::parse(&text).unwrap().runtime(None).unwrap_err();
        assert!(error.to_string().contains("the RTL model has"), "{error}");
    }

    #[test]
    fn checker_defaults_to_software() {
        let runtime = Config::parse(EXAMPLE).unwrap().runtime(None).unwrap();
        assert!(matches!(runtime.checker, CheckerPlan::Software));
    }

    #[test]
    fn initiator_without_connect_is_named() {
        let text = "[[session]]\nrole = \"initiator\"\nsender_comp_id = \"A\"\ntarget_comp_id = \"B\"\nversion = \"FIX.4.4\"\n";
        let error = Config::parse(text).unwrap().runtime(None).unwrap_err();
        assert!(error.to_string().contains("connect"), "{error}");
    }

    #[test]
    fn parses_and_maps_to_session_config() {
        let config = Config::parse(EXAMPLE).unwrap();
        assert_eq!(config.acceptor.as_ref().unwrap().listen, "127.0.0.1:5001");
        let specs = config.sessions().unwrap();
        assert_eq!(specs.len(), 2);

        let tw44 = &specs[0].config;
        assert_eq!(tw44.version, Version::Fix44);
        assert_eq!(tw44.role, Role::Acceptor);
        assert!(tw44.reset_on_logon);
        assert_eq!(tw44.max_sending_time_skew, Some(Duration::from_secs(120)));
        assert_eq!(tw44.validation, Some(ValidationOptions::default()));
        assert_eq!(specs[0].store, StorePlan::Memory);
        assert_eq!(tw44.resync, Resync::NextBeginString);

        let tw50 = &specs[1].config;
        assert_eq!(tw50.version, Version::Fix50Sp2);
        assert_eq!(tw50.heartbeat_interval, Duration::from_secs(20));
        assert_eq!(tw50.max_sending_time_skew, None);
        assert!(!tw50.check_comp_ids);
        let validation = tw50.validation.unwrap();
        assert!(!validation.check_empty_values && validation.check_enum_values);
        assert_eq!(tw50.hold_limits.max_messages, 10);
        assert_eq!(tw50.hold_limits.overflow, QueueOverflow::Disconnect);
        assert_eq!(tw50.resend_limits.request_chunk, Some(500));
        assert_eq!(tw50.resync, Resync::BodyLength);
        assert_eq!(
            specs[1].store,
            StorePlan::File {
                path: PathBuf::from("/var/lib/gapless/tw50"),
                durability: Durability::Batched { every: 8 },
            }
        );
    }

    #[test]
    fn validation_can_be_switched_off() {
        let text = r#"
[acceptor]
listen = "127.0.0.1:5001"
[[session]]
sender_comp_id = "A"
target_comp_id = "B"
version = "FIX.4.2"
validation = { enabled = false }
"#;
        let specs = Config::parse(text).unwrap().sessions().unwrap();
        assert_eq!(specs[0].config.validation, None);
    }

    #[test]
    fn unknown_key_is_named() {
        let text = r#"
[acceptor]
listen = "127.0.0.1:5001"
[[session]]
sender_comp_id = "A"
target_comp_id = "B"
version = "FIX.4.2"
heartbeet = 30
"#;
        let error = Config::parse(text).unwrap_err().to_string();
        assert!(error.contains("heartbeet"), "{error}");
    }

    #[test]
    fn unknown_nested_key_is_named() {
        let text = r#"
[acceptor]
listen = "127.0.0.1:5001"
[[session]]
sender_comp_id = "A"
target_comp_id = "B"
version = "FIX.4.2"
validation = { check_everything = true }
"#;
        let error = Config::parse(text).unwrap_err().to_string();
        assert!(error.contains("check_everything"), "{error}");
    }

    #[test]
    fn invalid_value_is_named() {
        let text = r#"
[acceptor]
listen = "127.0.0.1:5001"
[[session]]
sender_comp_id = "A"
target_comp_id = "B"
version = "FIX.4.2"
store = { durability = "sometimes" }
"#;
        let error = Config::parse(text).unwrap_err().to_string();
        assert!(error.contains("durability"), "{error}");
    }

    #[test]
    fn unknown_version_and_duplicates_are_refused() {
        let session = |version: &str| {
            format!(
                "[[session]]\nsender_comp_id = \"A\"\ntarget_comp_id = \"B\"\nversion = \"{version}\"\n"
            )
        };
        let head = "[acceptor]\nlisten = \"127.0.0.1:1\"\n";
        let error = Config::parse(&format!("{head}{}", session("FIXT.1.1")))
            .unwrap_err()
            .to_string();
        assert!(error.contains("FIXT.1.1"), "{error}");
        let error = Config::parse(&format!(
            "{head}{}{}",
            session("FIX.4.4"),
            session("FIX.4.4")
        ))
        .unwrap_err()
        .to_string();
        assert!(error.contains("twice"), "{error}");
    }
}
