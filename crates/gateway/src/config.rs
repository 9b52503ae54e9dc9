//! The TOML configuration of `gapless acceptor`: the listening address and one table per session.
//!
//! Every table rejects unknown keys (`deny_unknown_fields`), so a misspelt key is an error that
//! names it instead of a silently ignored setting. `docs/configuration.md` documents each key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gapless_codec::Resync;
use gapless_dict::{ValidationOptions, Version};
use gapless_session::{HoldLimits, QueueOverflow, ResendLimits, Role, SessionConfig};
use gapless_store::Durability;
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
    pub acceptor: AcceptorConfig,
    #[serde(default, rename = "session")]
    pub sessions: Vec<SessionEntry>,
}

/// `[acceptor]`: where to listen.
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
    #[serde(default = "default_role")]
    pub role: RoleName,
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

/// How a session's store is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    Memory,
    File {
        path: PathBuf,
        durability: Durability,
    },
}

/// A session ready to run: its configuration and where its store lives.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    pub config: SessionConfig,
    pub store: StoreKind,
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

impl SessionEntry {
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
            None => StoreKind::Memory,
            Some(path) => StoreKind::File {
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
    fn parses_and_maps_to_session_config() {
        let config = Config::parse(EXAMPLE).unwrap();
        assert_eq!(config.acceptor.listen, "127.0.0.1:5001");
        let specs = config.sessions().unwrap();
        assert_eq!(specs.len(), 2);

        let tw44 = &specs[0].config;
        assert_eq!(tw44.version, Version::Fix44);
        assert_eq!(tw44.role, Role::Acceptor);
        assert!(tw44.reset_on_logon);
        assert_eq!(tw44.max_sending_time_skew, Some(Duration::from_secs(120)));
        assert_eq!(tw44.validation, Some(ValidationOptions::default()));
        assert_eq!(specs[0].store, StoreKind::Memory);
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
            StoreKind::File {
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
