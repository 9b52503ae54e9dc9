//! The network core's fast path: the screen it applies to in-order application messages, the
//! session accounting for messages it did not see, and the arrival time a held message keeps.

use gapless_codec::value::UtcTimestamp;
use gapless_codec::{Decoded, Limits, checksum, decode};
use gapless_dict::Version;
use gapless_session::{Event, Instant, Now, Role, Session, SessionConfig, State};
use gapless_store::MemoryStore;

const T0: i64 = 1_795_500_000_000_000_000;

fn now() -> Now {
    Now::new(Instant::from_nanos(1), UtcTimestamp::from_unix_nanos(T0))
}

fn message(fields: &str) -> Vec<u8> {
    let body = fields.replace('|', "\x01");
    let mut msg = format!("8=FIX.4.4\x019={}\x01{body}", body.len()).into_bytes();
    let sum = checksum(&msg);
    msg.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    msg
}

fn report(seq: u64, extra: &str) -> Vec<u8> {
    message(&format!(
        "35=8|34={seq}|49=TW|52=20261124-06:00:00.000|56=ISLD|{extra}6=0|14=0|17=E{seq}|37=O|39=0|54=1|55=X|150=0|151=1|"
    ))
}

fn logged_on() -> Session<MemoryStore> {
    let config = SessionConfig::new(Version::Fix44, Role::Acceptor, "ISLD", "TW");
    let mut session = Session::new(config, MemoryStore::new());
    session.handle_connect(now());
    let logon = message("35=A|34=1|49=TW|52=20261124-06:00:00.000|56=ISLD|98=0|108=30|");
    session.handle_bytes(now(), &logon, |_| {});
    assert_eq!(session.state(), State::Active);
    session
}

fn passes(session: &Session<MemoryStore>, bytes: &[u8]) -> bool {
    let Decoded::Message(msg) = decode(bytes, &Limits::default()) else {
        panic!("test message does not decode");
    };
    session.inbound_screen().passes(now(), &msg)
}

#[test]
fn active_fast_path_advances_expected_without_events() {
    let mut session = logged_on();
    assert!(passes(&session, &report(2, "")));
    session.handle_fast_path(now(), 2).unwrap();
    assert_eq!(session.next_target_seq(), 3);
    assert_eq!(session.counters().messages_received, 2);
    assert!(session.poll_event().is_none());
}

#[test]
fn active_fast_path_out_of_order_is_refused_and_changes_nothing() {
    let mut session = logged_on();
    let error = session.handle_fast_path(now(), 5).unwrap_err();
    assert_eq!((error.seq, error.expected), (5, 2));
    assert_eq!(session.next_target_seq(), 2);
}

#[test]
fn recovering_fast_path_is_refused() {
    let mut session = logged_on();
    session.handle_bytes(now(), &report(4, ""), |_| {});
    assert!(session.is_recovering());
    assert!(session.handle_fast_path(now(), 2).is_err());
}

#[test]
fn screen_refuses_what_the_session_must_judge() {
    let session = logged_on();
    let wrong_sender = report(2, "").replace_bytes("49=TW", "49=XX");
    assert!(!passes(&session, &wrong_sender), "CompID");
    assert!(
        !passes(&session, &report(2, "43=Y|122=20261124-05:59:00.000|")),
        "PossDup"
    );
    let late = report(2, "").replace_bytes("52=20261124-06:00:00.000", "52=20261124-05:00:00.000");
    assert!(!passes(&session, &late), "SendingTime");
    let invalid = message("35=8|34=2|49=TW|52=20261124-06:00:00.000|56=ISLD|17=E2|");
    assert!(!passes(&session, &invalid), "missing required fields");
}

#[test]
fn disconnected_fast_path_still_advances_what_the_application_has() {
    let mut session = logged_on();
    session.handle_disconnect(now());
    session.handle_fast_path(now(), 2).unwrap();
    assert_eq!(session.next_target_seq(), 3);
    assert_eq!(session.state(), State::Disconnected);
}

/// Replaces the first occurrence of a field, re-framing the message.
trait ReplaceBytes {
    fn replace_bytes(&self, from: &str, to: &str) -> Vec<u8>;
}

impl ReplaceBytes for Vec<u8> {
    fn replace_bytes(&self, from: &str, to: &str) -> Vec<u8> {
        let text = String::from_utf8(self.clone()).unwrap();
        let start = text.find("35=").unwrap();
        let end = text.rfind("10=").unwrap();
        message(&text[start..end].replacen(from, to, 1).replace('\x01', "|"))
    }
}

#[test]
fn recovering_release_carries_each_message_arrival_time() {
    let mut session = logged_on();
    let at = |nanos| {
        Now::new(
            Instant::from_nanos(nanos),
            UtcTimestamp::from_unix_nanos(T0),
        )
    };
    session.handle_bytes(at(10), &report(3, ""), |_| {});
    session.handle_bytes(at(20), &report(4, ""), |_| {});
    assert!(session.is_recovering());
    let mut released = Vec::new();
    session.handle_bytes(at(30), &report(2, ""), |event| {
        if let Event::Application { seq, received, .. } = event {
            released.push((seq, received.as_nanos()));
        }
    });
    assert_eq!(released, [(2, 30), (3, 10), (4, 20)]);
}
