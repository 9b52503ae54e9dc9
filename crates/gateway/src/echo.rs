//! The conformance test application: what `gapless acceptor` runs behind each session so that
//! QuickFIX's session acceptance scripts have an application to talk to.
//!
//! * NewOrderSingle (35=D) is echoed back: the message is copied, the session writes the
//!   standard header anew (so PossDupFlag and OrigSendingTime are not copied). An order with PossResend (97=Y) whose
//!   ClOrdID was already seen since the last logon is dropped silently.
//! * SecurityDefinition (35=d, FIX.4.2 and later) and Email (35=C) are echoed the same way.
//! * Anything else is refused as an unsupported message type (BusinessMessageReject 380=3, or a
//!   Reject before FIX.4.2).
//!
//! Echoed body fields go out in ascending tag order, each repeating group kept whole behind its
//! NumInGroup field, which is the order the scripts compare against.

use std::collections::HashSet;

use gapless_codec::{Field, Message, tag};
use gapless_dict::{GroupDef, SessionDictionary, Version};
use gapless_session::{Now, SendError, Session};
use gapless_store::MessageStore;

const NEW_ORDER_SINGLE: &[u8] = b"D";
const SECURITY_DEFINITION: &[u8] = b"d";
const EMAIL: &[u8] = b"C";
/// BusinessRejectReason (380) 3: unsupported message type.
const UNSUPPORTED_MESSAGE_TYPE: u32 = 3;

/// The echo application of one session.
#[derive(Debug)]
pub struct EchoApp {
    version: Version,
    dictionary: SessionDictionary,
    /// ClOrdIDs of the orders seen since the last logon, to drop PossResend repeats.
    seen_orders: HashSet<Vec<u8>>,
}

impl EchoApp {
    pub fn new(version: Version) -> Self {
        EchoApp {
            version,
            dictionary: SessionDictionary::new(version),
            seen_orders: HashSet::new(),
        }
    }

    /// A new logon starts a new set of seen orders.
    pub fn on_logon(&mut self) {
        self.seen_orders.clear();
    }

    /// An application message delivered by the session, in sequence.
    pub fn on_message<S: MessageStore>(
        &mut self,
        session: &mut Session<S>,
        now: Now,
        msg: &Message<'_>,
    ) -> Result<(), SendError> {
        let msg_type = msg.msg_type();
        let echoed = match msg_type {
            NEW_ORDER_SINGLE => {
                let id = msg.get(tag::CL_ORD_ID).unwrap_or_default().to_vec();
                let first_time = self.seen_orders.insert(id);
                if !first_time && msg.get_bool(tag::POSS_RESEND) == Ok(true) {
                    return Ok(());
                }
                true
            }
            SECURITY_DEFINITION => self.version >= Version::Fix42,
            EMAIL => true,
            _ => false,
        };
        if !echoed {
            // A session Reject before FIX.4.2, which has no BusinessMessageReject.
            let text = if self.version <= Version::Fix41 {
                "Unsupported message type"
            } else {
                "Unsupported Message Type"
            };
            session.send_business_reject(now, msg, UNSUPPORTED_MESSAGE_TYPE, text)?;
            return Ok(());
        }
        // The copy keeps the application's header fields (PossResend, routing); the session
        // writes its own and drops PossDupFlag and OrigSendingTime.
        let transport = self.dictionary.transport();
        let header: Vec<Field<'_>> = msg
            .fields()
            .filter(|f| transport.is_header_field(f.tag))
            .collect();
        let body = self.body_in_order(msg);
        session.send_with_header(now, msg_type, &header, |encoder| {
            encoder.copy_fields(body.iter().copied());
        })?;
        Ok(())
    }

    /// The body fields of `msg` in ascending tag order, each group whole behind its count.
    fn body_in_order<'a>(&self, msg: &Message<'a>) -> Vec<Field<'a>> {
        let transport = self.dictionary.transport();
        let fields: Vec<Field<'a>> = msg
            .fields()
            .filter(|f| !transport.is_header_field(f.tag) && !transport.is_trailer_field(f.tag))
            .collect();
        let definition = self.dictionary.message(msg.msg_type()).map(|(_, def)| def);
        // Units of consecutive fields that move together: a field, or a count and its group.
        let mut units: Vec<&[Field<'a>]> = Vec::new();
        let mut start = 0;
        while start < fields.len() {
            let group = definition.and_then(|def| def.group(fields[start].tag));
            let end = match group {
                Some(group) => group_end(&fields, start + 1, group),
                None => start + 1,
            };
            units.push(&fields[start..end]);
            start = end;
        }
        units.sort_by_key(|unit| unit[0].tag);
        units.concat()
    }
}

/// Where the instances of `group` that start at `start` end.
fn group_end(fields: &[Field<'_>], mut start: usize, group: &GroupDef) -> usize {
    while let Some(field) = fields.get(start) {
        let Some(member) = group.members().get(field.tag) else {
            break;
        };
        start = match member.group() {
            Some(nested) => group_end(fields, start + 1, nested),
            None => start + 1,
        };
    }
    start
}

#[cfg(test)]
mod tests {
    use gapless_codec::value::UtcTimestamp;
    use gapless_codec::{Decoded, Limits, checksum, decode};
    use gapless_session::{Disposition, Instant, Role, SessionConfig};
    use gapless_store::MemoryStore;

    use super::*;

    /// 2026-11-23T06:00:00Z.
    const START: i64 = 1_795_413_600_000_000_000;
    const TIME: &str = "20261123-06:00:00";

    fn now() -> Now {
        Now::new(Instant::from_nanos(1), UtcTimestamp::from_unix_nanos(START))
    }

    /// A message from the peer `TW`, with BodyLength and CheckSum.
    fn message(version: Version, fields: &str) -> Vec<u8> {
        let body = fields.replace('|', "\x01");
        let begin = version.begin_string();
        let mut msg = format!("8={begin}\x019={}\x01{body}", body.len()).into_bytes();
        let sum = checksum(&msg);
        msg.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
        msg
    }

    /// Feeds `fields` to the session, the echo application behind it, and returns what the
    /// session sent, `|`-separated, without 9, 10 and the variable 52.
    fn exchange(
        session: &mut Session<MemoryStore>,
        app: &mut EchoApp,
        version: Version,
        fields: &str,
    ) -> Vec<String> {
        let bytes = message(version, fields);
        let Decoded::Message(msg) = decode(&bytes, &Limits::default()) else {
            panic!("test message does not decode");
        };
        if session.handle_message(now(), &msg) == Disposition::Deliver {
            app.on_message(session, now(), &msg).unwrap();
        }
        while session.poll_event().is_some() {}
        let mut sent: Vec<Vec<String>> = Vec::new();
        while let Some(bytes) = session.poll_transmit() {
            let n = bytes.len();
            let text = String::from_utf8_lossy(bytes).into_owned();
            for field in text.split('\x01').filter(|f| !f.is_empty()) {
                if field.starts_with("8=") {
                    sent.push(Vec::new());
                } else if !["9=", "10=", "52="].iter().any(|t| field.starts_with(t)) {
                    sent.last_mut()
                        .expect("starts with 8=")
                        .push(field.to_string());
                }
            }
            session.transmitted(n);
        }
        sent.into_iter().map(|fields| fields.join("|")).collect()
    }

    fn logged_on(version: Version) -> (Session<MemoryStore>, EchoApp) {
        let config = SessionConfig::new(version, Role::Acceptor, "ISLD", "TW");
        let mut session = Session::new(config, MemoryStore::new());
        let mut app = EchoApp::new(version);
        session.handle_connect(now());
        let logon = format!("35=A|34=1|49=TW|52={TIME}|56=ISLD|98=0|108=30|");
        let sent = exchange(&mut session, &mut app, version, &logon);
        assert_eq!(sent.len(), 1, "{sent:?}");
        app.on_logon();
        (session, app)
    }

    #[test]
    fn order_is_echoed_with_body_in_tag_order_and_possresend_kept() {
        let (mut session, mut app) = logged_on(Version::Fix44);
        let order = format!(
            "35=D|49=TW|34=2|56=ISLD|52={TIME}|97=Y|40=1|55=MSFT|60={TIME}|54=1|21=3|11=id|"
        );
        let sent = exchange(&mut session, &mut app, Version::Fix44, &order);
        assert_eq!(
            sent,
            [format!(
                "35=D|34=2|49=ISLD|56=TW|97=Y|11=id|21=3|40=1|54=1|55=MSFT|60={TIME}"
            )]
        );
        // The same ClOrdID again with PossResend: already seen, dropped.
        let again = format!(
            "35=D|34=3|49=TW|52={TIME}|56=ISLD|97=Y|11=id|21=3|40=1|54=1|55=MSFT|60={TIME}|"
        );
        assert!(exchange(&mut session, &mut app, Version::Fix44, &again).is_empty());
    }

    #[test]
    fn group_stays_behind_its_count() {
        let (mut session, mut app) = logged_on(Version::Fix44);
        let definition = format!(
            "35=d|34=2|49=TW|52={TIME}|56=ISLD|320=R1|322=ID1|323=1|55=TBS|454=1|455=ALT|456=4|22=8|"
        );
        let sent = exchange(&mut session, &mut app, Version::Fix44, &definition);
        assert_eq!(
            sent,
            ["35=d|34=2|49=ISLD|56=TW|22=8|55=TBS|320=R1|322=ID1|323=1|454=1|455=ALT|456=4"]
        );
    }

    #[test]
    fn unsupported_type_is_refused_per_version() {
        let (mut session, mut app) = logged_on(Version::Fix42);
        let news = format!("35=B|34=2|49=TW|52={TIME}|56=ISLD|148=Hi|33=1|58=line|");
        let sent = exchange(&mut session, &mut app, Version::Fix42, &news);
        assert_eq!(
            sent,
            ["35=j|34=2|49=ISLD|56=TW|45=2|58=Unsupported Message Type|372=B|380=3"]
        );

        let (mut session, mut app) = logged_on(Version::Fix40);
        let news = format!("35=B|34=2|49=TW|52={TIME}|56=ISLD|33=1|58=line|");
        let sent = exchange(&mut session, &mut app, Version::Fix40, &news);
        assert_eq!(
            sent,
            ["35=3|34=2|49=ISLD|56=TW|45=2|58=Unsupported message type"]
        );
    }
}
