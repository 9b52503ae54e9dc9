//! The application's Logon hook: it sees the Logon and the peer's address, and a refusal closes
//! the connection without a byte sent. An initiator's configured credentials go out in its Logon.

use std::net::SocketAddr;

use gapless_codec::value::UtcTimestamp;
use gapless_codec::{Message, checksum, tag};
use gapless_dict::Version;
use gapless_session::{
    DisconnectReason, Event, Hooks, Instant, LogonCredentials, Now, Role, Session, SessionConfig,
    State,
};
use gapless_store::MemoryStore;

/// Accepts only user `trader` with password `secret`, from 127.0.0.1.
struct Credentials;

impl Hooks for Credentials {
    fn accept_logon(&mut self, logon: &Message<'_>, peer: Option<SocketAddr>) -> bool {
        logon.get(tag::USERNAME) == Some(b"trader")
            && logon.get(tag::PASSWORD) == Some(b"secret")
            && peer.is_some_and(|p| p.ip().is_loopback())
    }
}

fn logon(credentials: &str) -> Vec<u8> {
    let body = format!(
        "35=A\x0134=1\x0149=TW\x0152=20261124-06:00:00.000\x0156=ISLD\x0198=0\x01108=30\x01{credentials}"
    );
    let mut msg = format!("8=FIX.4.4\x019={}\x01{body}", body.len()).into_bytes();
    let sum = checksum(&msg);
    msg.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    msg
}

fn attempt(credentials: &str, peer: &str) -> (State, Vec<String>, bool) {
    let config = SessionConfig::new(Version::Fix44, Role::Acceptor, "ISLD", "TW");
    let mut session = Session::with_hooks(config, MemoryStore::new(), Credentials);
    let now = Now::new(
        Instant::from_nanos(1),
        UtcTimestamp::from_unix_nanos(1_795_500_000_000_000_000),
    );
    session.handle_connect_from(now, peer.parse().unwrap());
    let mut events = Vec::new();
    session.handle_bytes(now, &logon(credentials), |event| {
        events.push(match event {
            Event::LoggedOn { .. } => "logon".to_string(),
            Event::Disconnect(DisconnectReason::InvalidLogon) => "refused".to_string(),
            other => format!("{other:?}"),
        })
    });
    let sent_anything = session.poll_transmit().is_some();
    (session.state(), events, sent_anything)
}

#[test]
fn awaiting_logon_accepted_credentials_log_on() {
    let (state, events, sent) = attempt("553=trader\x01554=secret\x01", "127.0.0.1:40000");
    assert_eq!(
        (state, events, sent),
        (State::Active, vec!["logon".to_string()], true)
    );
}

#[test]
fn awaiting_logon_wrong_password_is_refused_silently() {
    let (state, events, sent) = attempt("553=trader\x01554=guess\x01", "127.0.0.1:40000");
    assert_eq!(
        (state, events, sent),
        (State::Disconnected, vec!["refused".to_string()], false)
    );
}

#[test]
fn awaiting_logon_unknown_address_is_refused_silently() {
    let (state, events, sent) = attempt("553=trader\x01554=secret\x01", "192.0.2.7:40000");
    assert_eq!(
        (state, events, sent),
        (State::Disconnected, vec!["refused".to_string()], false)
    );
}

#[test]
fn disconnected_connect_with_credentials_sends_them_in_logon() {
    let mut config = SessionConfig::new(Version::Fix44, Role::Initiator, "TW", "ISLD");
    config.logon_credentials = Some(LogonCredentials {
        username: "trader".into(),
        password: "secret".into(),
    });
    assert!(
        !format!("{config:?}").contains("secret"),
        "Debug shows the password"
    );
    let mut session = Session::new(config, MemoryStore::new());
    let now = Now::new(
        Instant::from_nanos(1),
        UtcTimestamp::from_unix_nanos(1_795_500_000_000_000_000),
    );
    session.handle_connect(now);
    let sent = session.poll_transmit().unwrap().to_vec();
    let gapless_codec::Decoded::Message(logon) =
        gapless_codec::decode(&sent, &gapless_codec::Limits::default())
    else {
        panic!("our Logon does not decode");
    };
    assert_eq!(logon.msg_type(), b"A");
    assert_eq!(logon.get(tag::USERNAME), Some(&b"trader"[..]));
    assert_eq!(logon.get(tag::PASSWORD), Some(&b"secret"[..]));
}
