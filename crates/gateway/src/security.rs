//! The per-session access-control and TLS keys of the configuration, mapped onto the runtime:
//! `username` with `password_file` or `password_env` (an acceptor checks them in the peer's
//! Logon, an initiator sends them in its own), and `tls = { ... }`.
//!
//! Passwords are read from a file or the environment, never written in the configuration, and
//! never appear in an error message or a log line.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use gapless_runtime::{Endpoint, LogonRequest, RuntimeConfig, SharedLogonCheck};
use gapless_session::LogonCredentials;
use gapless_transport::{TlsClientFiles, TlsServerFiles};
use serde::Deserialize;

use crate::config::{ConfigError, RoleName, SessionEntry};

/// `tls = { ... }` of a session. An acceptor gives `cert` and `key` (and `client_ca` to require
/// client certificates); an initiator gives `ca` and `server_name` (and `cert` and `key` to
/// present a client certificate).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsEntry {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub client_ca: Option<PathBuf>,
    pub ca: Option<PathBuf>,
    pub server_name: Option<String>,
}

/// What an acceptor session expects in the peer's Logon.
struct Expected {
    session: String,
    username: String,
    password: String,
}

/// Equal-length comparison that looks at every byte, so the time taken does not say how much of
/// a guess was right.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

fn invalid(session: &str, what: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid(format!("session {session}: {what}"))
}

impl SessionEntry {
    /// The password from `password_file` (trailing newline removed) or `password_env`.
    fn password(&self, session: &str) -> Result<Option<String>, ConfigError> {
        match (&self.password_file, &self.password_env) {
            (Some(_), Some(_)) => Err(invalid(
                session,
                "give password_file or password_env, not both",
            )),
            (Some(path), None) => {
                let text = std::fs::read_to_string(path).map_err(|error| {
                    invalid(
                        session,
                        format!("password_file {}: {error}", path.display()),
                    )
                })?;
                Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()))
            }
            (None, Some(name)) => std::env::var(name).map(Some).map_err(|_| {
                invalid(
                    session,
                    format!("password_env: environment variable {name} is not set"),
                )
            }),
            (None, None) => Ok(None),
        }
    }

    /// The username and password, if configured; one without the other is an error.
    fn credentials(&self, session: &str) -> Result<Option<(String, String)>, ConfigError> {
        match (&self.username, self.password(session)?) {
            (Some(username), Some(password)) => Ok(Some((username.clone(), password))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(invalid(
                session,
                "username needs password_file or password_env",
            )),
            (None, Some(_)) => Err(invalid(session, "a password needs a username")),
        }
    }
}

impl TlsEntry {
    fn server_files(&self, session: &str) -> Result<TlsServerFiles, ConfigError> {
        if self.ca.is_some() || self.server_name.is_some() {
            return Err(invalid(
                session,
                "an acceptor's tls takes cert, key and client_ca (ca and server_name are for initiators)",
            ));
        }
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Ok(TlsServerFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.client_ca.clone(),
            }),
            _ => Err(invalid(session, "an acceptor's tls needs cert and key")),
        }
    }

    fn client_files(&self, session: &str) -> Result<TlsClientFiles, ConfigError> {
        if self.client_ca.is_some() {
            return Err(invalid(
                session,
                "client_ca is for acceptors; an initiator's tls takes ca, server_name, cert and key",
            ));
        }
        let (Some(ca), Some(server_name)) = (&self.ca, &self.server_name) else {
            return Err(invalid(
                session,
                "an initiator's tls needs ca and server_name",
            ));
        };
        let client_cert = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            (None, None) => None,
            _ => return Err(invalid(session, "tls cert and key go together")),
        };
        Ok(TlsClientFiles {
            ca: ca.clone(),
            server_name: server_name.clone(),
            client_cert,
        })
    }
}

/// What one address needs, to check that the sessions sharing it agree.
#[derive(Debug, PartialEq, Eq)]
enum AddressTls {
    Plain,
    Server(TlsServerFiles),
    Client(TlsClientFiles),
}

/// Maps the sessions' credentials and TLS keys onto `runtime` (whose sessions are `entries`, in
/// order). `dpdk`: the DPDK transport, which has no TLS.
pub fn apply(
    entries: &[SessionEntry],
    runtime: &mut RuntimeConfig,
    dpdk: bool,
) -> Result<(), ConfigError> {
    let mut expected = Vec::new();
    let mut addresses: HashMap<SocketAddr, (String, AddressTls)> = HashMap::new();
    for (entry, plan) in entries.iter().zip(runtime.sessions.iter_mut()) {
        let name = plan.name.clone();
        let credentials = entry.credentials(&name)?;
        let (addr, tls) = match (&plan.endpoint, entry.role) {
            (Endpoint::Accept { listen, .. }, RoleName::Acceptor) => {
                if let Some((username, password)) = credentials {
                    expected.push(Expected {
                        session: name.clone(),
                        username,
                        password,
                    });
                }
                let tls = match &entry.tls {
                    Some(tls) => AddressTls::Server(tls.server_files(&name)?),
                    None => AddressTls::Plain,
                };
                (*listen, tls)
            }
            (Endpoint::Connect { addr, .. }, RoleName::Initiator) => {
                plan.session.logon_credentials =
                    credentials.map(|(username, password)| LogonCredentials { username, password });
                let tls = match &entry.tls {
                    Some(tls) => AddressTls::Client(tls.client_files(&name)?),
                    None => AddressTls::Plain,
                };
                (*addr, tls)
            }
            _ => return Err(invalid(&name, "endpoint does not match the role")),
        };
        if dpdk && tls != AddressTls::Plain {
            return Err(invalid(
                &name,
                "tls is not available with transport = \"dpdk\"",
            ));
        }
        match addresses.get(&addr) {
            Some((other, other_tls)) if *other_tls != tls => {
                return Err(invalid(
                    &name,
                    format!("{addr} is shared with session {other}, whose tls settings differ"),
                ));
            }
            Some(_) => {}
            None => {
                addresses.insert(addr, (name, tls));
            }
        }
    }
    for (addr, (session, tls)) in addresses {
        let loaded = match tls {
            AddressTls::Plain => Ok(()),
            AddressTls::Server(files) => files
                .load()
                .and_then(|config| runtime.tls.add_server(addr, config)),
            AddressTls::Client(files) => files
                .load()
                .and_then(|client| runtime.tls.add_client(addr, client)),
        };
        loaded.map_err(|error| invalid(&session, format!("tls: {error}")))?;
    }
    if !expected.is_empty() {
        let check = move |request: &LogonRequest<'_>| {
            expected
                .iter()
                .find(|e| e.session == request.session)
                .is_none_or(|e| {
                    // Both compared in full, whichever fails first.
                    let user =
                        same_secret(request.username.unwrap_or_default(), e.username.as_bytes());
                    let password =
                        same_secret(request.password.unwrap_or_default(), e.password.as_bytes());
                    user & password
                })
        };
        runtime.logon_check = Some(SharedLogonCheck(Arc::new(check)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn runtime(text: &str) -> Result<RuntimeConfig, ConfigError> {
        Config::parse(text)?.runtime(None)
    }

    const ACCEPTOR: &str = "[[session]]\nlisten = \"127.0.0.1:7001\"\nsender_comp_id = \"GW\"\ntarget_comp_id = \"C1\"\nversion = \"FIX.4.4\"\n";

    #[test]
    fn initiator_credentials_from_a_file_go_into_the_logon() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret\n").unwrap();
        let text = format!(
            "[[session]]\nrole = \"initiator\"\nconnect = \"127.0.0.1:7002\"\nsender_comp_id = \"C1\"\ntarget_comp_id = \"GW\"\nversion = \"FIX.4.4\"\nusername = \"trader\"\npassword_file = \"{}\"\n",
            file.display()
        );
        let runtime = runtime(&text).unwrap();
        let credentials = runtime.sessions[0]
            .session
            .logon_credentials
            .as_ref()
            .unwrap();
        assert_eq!(
            (credentials.username.as_str(), credentials.password.as_str()),
            ("trader", "s3cret")
        );
        assert!(runtime.logon_check.is_none());
    }

    #[test]
    fn acceptor_credentials_install_a_check_that_names_the_session() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret").unwrap();
        let text = format!(
            "{ACCEPTOR}username = \"trader\"\npassword_file = \"{}\"\n",
            file.display()
        );
        let runtime = runtime(&text).unwrap();
        let SharedLogonCheck(check) = runtime.logon_check.unwrap();
        let request = |session, password: &'static [u8]| LogonRequest {
            session,
            username: Some(b"trader"),
            password: Some(password),
            peer: None,
        };
        assert!(check.check(&request("GW-C1", b"s3cret")));
        assert!(!check.check(&request("GW-C1", b"s3cret!")));
        assert!(check.check(&request("another", b"anything")));
    }

    #[test]
    fn username_without_password_is_refused() {
        let error = runtime(&format!("{ACCEPTOR}username = \"trader\"\n")).unwrap_err();
        assert!(
            error.to_string().contains("password_file or password_env"),
            "{error}"
        );
    }

    #[test]
    fn inline_password_key_is_unknown() {
        let error =
            runtime(&format!("{ACCEPTOR}username = \"u\"\npassword = \"p\"\n")).unwrap_err();
        assert!(error.to_string().contains("password"), "{error}");
    }

    #[test]
    fn acceptor_tls_without_key_is_refused() {
        let error = runtime(&format!("{ACCEPTOR}tls = {{ cert = \"/x.crt\" }}\n")).unwrap_err();
        assert!(error.to_string().contains("cert and key"), "{error}");
    }

    #[test]
    fn plaintext_and_tls_sessions_on_one_address_are_refused() {
        let second = ACCEPTOR.replace("C1", "C2");
        let text = format!("{ACCEPTOR}tls = {{ cert = \"/x.crt\", key = \"/x.key\" }}\n{second}");
        let error = runtime(&text).unwrap_err();
        assert!(error.to_string().contains("tls settings differ"), "{error}");
    }

    #[test]
    fn same_secret_needs_every_byte() {
        assert!(same_secret(b"hunter2", b"hunter2"));
        assert!(!same_secret(b"hunter3", b"hunter2"));
        assert!(!same_secret(b"hunter", b"hunter2"));
        assert!(!same_secret(b"", b"x"));
    }
}
