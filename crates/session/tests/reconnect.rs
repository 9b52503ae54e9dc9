//! Bytes queued for one connection never reach the next.

use gapless_codec::value::UtcTimestamp;
use gapless_dict::Version;
use gapless_session::{Instant, Now, Role, Session, SessionConfig, State};
use gapless_store::MemoryStore;

fn now() -> Now {
    Now::new(
        Instant::from_nanos(1),
        UtcTimestamp::from_unix_nanos(1_795_500_000_000_000_000),
    )
}

#[test]
fn logon_sent_unsent_logout_is_dropped_on_reconnect() {
    let config = SessionConfig::new(Version::Fix44, Role::Initiator, "GW", "VENUE");
    let mut session = Session::new(config, MemoryStore::new());
    session.handle_connect(now());
    assert_eq!(session.state(), State::LogonSent);
    // The first Logon never left (the connection failed at once): the next connection starts
    // with a fresh Logon alone.
    session.handle_disconnect(now());
    session.handle_connect(now());
    let bytes = session.poll_transmit().unwrap().to_vec();
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(text.matches("\x0135=A\x01").count(), 1, "{text}");
    assert!(text.contains("\x0134=2\x01"), "{text}");
}
