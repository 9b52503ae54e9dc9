//! Real messages of every FIX version: each decodes, reads back its fields, and re-encodes to the
//! same bytes.

use gapless_codec::value::{Decimal, TimePrecision, UtcTimestamp};
use gapless_codec::{Decoded, Encoder, Limits, Message, decode, tag};

mod common;
use common::fix;

/// (BeginString, body) of one real message per version.
const MESSAGES: &[(&str, &str)] = &[
    // FIX.4.0 NewOrderSingle: second-precision times, 21/HandlInst and 40/OrdType.
    (
        "FIX.4.0",
        "35=D|34=12|49=BUYSIDE|52=20261124-06:07:35|56=SELLSIDE|11=ORD-40|21=1|38=500|40=2|44=25.5|54=1|55=IBM|",
    ),
    // FIX.4.1 Logon.
    (
        "FIX.4.1",
        "35=A|34=1|49=TW41|52=20261124-06:07:35|56=ISLD|98=0|108=30|",
    ),
    // FIX.4.2 ExecutionReport with millisecond SendingTime.
    (
        "FIX.4.2",
        "35=8|34=77|49=ISLD|52=20261124-06:07:35.123|56=TW42|6=25.5|11=ORD-42|14=100|17=X-1|20=0|31=25.5|32=100|37=O-1|38=500|39=1|54=1|55=IBM|150=1|151=400|",
    ),
    // FIX.4.3 ResendRequest.
    (
        "FIX.4.3",
        "35=2|34=9|49=TW43|52=20261124-06:07:35.001|56=ISLD|7=3|16=0|",
    ),
    // FIX.4.4 MarketDataSnapshotFullRefresh with a repeating group.
    (
        "FIX.4.4",
        "35=W|34=1001|49=VENUE|52=20261124-06:07:35.123456|56=CLIENT|55=EUR/USD|268=2|269=0|270=1.08125|271=1000000|269=1|270=1.08131|271=2000000|",
    ),
    // FIX.4.4 SequenceReset-GapFill, resent.
    (
        "FIX.4.4",
        "35=4|34=5|43=Y|49=ISLD|52=20261124-06:07:35.123|56=TW44|122=20261124-06:00:00.000|36=9|123=Y|",
    ),
    // FIXT.1.1 Logon with DefaultApplVerID FIX.5.0SP2.
    (
        "FIXT.1.1",
        "35=A|34=1|49=TW50SP2|52=20261124-06:07:35.123|56=ISLD|98=0|108=30|141=Y|789=1|1137=9|",
    ),
    // FIX.5.0SP2 ExecutionReport over FIXT.1.1, nanosecond TransactTime, ApplVerID in the header.
    (
        "FIXT.1.1",
        "35=8|34=2|49=ISLD|52=20261124-06:07:35.123|56=TW50SP2|1128=9|6=0|11=ORD-5|14=0|17=X-5|37=O-5|39=0|54=2|55=MSFT|60=20261124-06:07:35.123456789|150=0|151=10|",
    ),
    // FIX.4.2 News with a length-prefixed data field holding SOH and '='.
    (
        "FIX.4.2",
        "35=B|34=3|49=ISLD|52=20261124-06:07:35.123|56=TW42|148=Headline|33=1|58=line one|95=8|96=a\x01b=c\x01d=|",
    ),
];

fn decoded(bytes: &[u8]) -> Message<'_> {
    match decode(bytes, &Limits::default()) {
        Decoded::Message(m) => m,
        other => panic!("{other:?} for {}", String::from_utf8_lossy(bytes)),
    }
}

/// Re-encodes every field after 35 in order, keeping data fields' lengths.
fn reencode<'b>(message: &Message<'_>, out: &'b mut [u8]) -> &'b [u8] {
    let mut encoder = Encoder::new(out, message.begin_string(), message.msg_type());
    encoder.copy_fields(message.fields().skip(3).filter(|f| f.tag != tag::CHECK_SUM));
    encoder.finish().expect("fits")
}

#[test]
fn every_version_decodes_and_reencodes_identically() {
    let mut out = [0u8; 1024];
    for &(begin_string, body) in MESSAGES {
        let bytes = fix(begin_string, body);
        let message = decoded(&bytes);
        assert_eq!(message.begin_string(), begin_string.as_bytes());
        assert_eq!(message.len(), bytes.len());
        let body_fields = body.matches('|').count();
        assert_eq!(
            message.field_count(),
            body_fields + 3,
            "{begin_string} {body}"
        );
        assert_eq!(
            reencode(&message, &mut out),
            &bytes[..],
            "{begin_string} {body}"
        );
    }
}

#[test]
fn header_fields_read_typed() {
    let bytes = fix(MESSAGES[5].0, MESSAGES[5].1);
    let m = decoded(&bytes);
    assert_eq!(m.msg_type(), b"4");
    assert_eq!(m.msg_seq_num(), Ok(5));
    assert_eq!(m.poss_dup(), Ok(true));
    assert_eq!(m.get_u64(tag::NEW_SEQ_NO), Ok(9));
    assert_eq!(m.get_bool(tag::GAP_FILL_FLAG), Ok(true));
    assert_eq!(
        m.get_timestamp(tag::ORIG_SENDING_TIME),
        Ok(UtcTimestamp::parse(b"20261124-06:00:00.000").unwrap())
    );
    assert_eq!(m.get(tag::SENDER_COMP_ID), Some(&b"ISLD"[..]));
    assert_eq!(m.get(tag::TARGET_COMP_ID), Some(&b"TW44"[..]));
}

#[test]
fn fix40_times_have_second_precision() {
    let bytes = fix(MESSAGES[0].0, MESSAGES[0].1);
    let m = decoded(&bytes);
    let (_, precision) =
        UtcTimestamp::parse_with_precision(m.get(tag::SENDING_TIME).unwrap()).unwrap();
    assert_eq!(precision, TimePrecision::Seconds);
    assert_eq!(m.get_decimal(44), Ok(Decimal::new(255, -1)));
    assert_eq!(m.poss_dup(), Ok(false));
}

#[test]
fn fixt_messages_carry_appl_ver_id() {
    let logon = fix(MESSAGES[6].0, MESSAGES[6].1);
    let m = decoded(&logon);
    assert_eq!(m.get(tag::DEFAULT_APPL_VER_ID), Some(&b"9"[..]));
    assert_eq!(m.get_bool(tag::RESET_SEQ_NUM_FLAG), Ok(true));
    assert_eq!(m.get_u64(tag::NEXT_EXPECTED_MSG_SEQ_NUM), Ok(1));
    let report = fix(MESSAGES[7].0, MESSAGES[7].1);
    let m = decoded(&report);
    assert_eq!(m.get(tag::APPL_VER_ID), Some(&b"9"[..]));
    let (_, precision) = UtcTimestamp::parse_with_precision(m.get(60).unwrap()).unwrap();
    assert_eq!(precision, TimePrecision::Nanos);
}

#[test]
fn repeating_group_fields_iterate_in_order() {
    let bytes = fix(MESSAGES[4].0, MESSAGES[4].1);
    let m = decoded(&bytes);
    let prices: Vec<&[u8]> = m
        .fields()
        .filter(|f| f.tag == 270)
        .map(|f| f.value)
        .collect();
    assert_eq!(prices, [&b"1.08125"[..], b"1.08131"]);
    // get() answers the first instance.
    assert_eq!(m.get(270), Some(&b"1.08125"[..]));
}

#[test]
fn typed_accessors_report_missing_empty_and_invalid() {
    use gapless_codec::FieldError;
    let bytes = fix("FIX.4.2", "35=0|34=x|49=|52=20261124-06:07:35|56=B|");
    let m = decoded(&bytes);
    assert!(matches!(
        m.msg_seq_num(),
        Err(FieldError::Invalid { tag: 34, .. })
    ));
    assert_eq!(m.require(49), Err(FieldError::Empty { tag: 49 }));
    assert_eq!(m.require(112), Err(FieldError::Missing { tag: 112 }));
}

#[test]
fn bad_input_gets_typed_errors() {
    use gapless_codec::{FrameError, Garbled};
    let garbled = |buf: &[u8]| match decode(buf, &Limits::default()) {
        Decoded::Garbled(Garbled { error, skip }) => {
            assert!(skip >= 1 && skip <= buf.len());
            error
        }
        other => panic!("{other:?}"),
    };
    let good = fix("FIX.4.2", "35=0|34=2|49=A|52=20261124-06:07:35|56=B|");
    // Truncated: waits for more.
    assert!(matches!(
        decode(&good[..good.len() - 1], &Limits::default()),
        Decoded::Incomplete
    ));
    // Oversized.
    let limits = Limits {
        max_message_len: 32,
        ..Limits::default()
    };
    assert!(matches!(
        decode(&good, &limits),
        Decoded::Garbled(Garbled {
            error: FrameError::TooLarge { .. },
            ..
        })
    ));
    // Non-numeric BodyLength.
    assert_eq!(
        garbled(b"8=FIX.4.2\x019=abc\x0135=0\x0110=000\x01"),
        FrameError::InvalidBodyLength
    );
    // Missing SOH after a field: the body does not end where BodyLength says.
    let text = String::from_utf8(good.clone()).unwrap();
    // One byte short, so the next message's first byte is read as the end of this one.
    let no_soh = text.replacen("\x0156=B", "56=B", 1) + &text;
    assert!(matches!(
        garbled(no_soh.as_bytes()),
        FrameError::ChecksumNotLast | FrameError::ChecksumMismatch { .. }
    ));
    // 10= not last: BodyLength runs past the checksum field into another field.
    let body = "35=0\x0134=2\x0149=A\x0156=B\x0110=123\x0158=x\x01";
    let not_last = format!("8=FIX.4.2\x019={}\x01{body}garbage", body.len());
    assert_eq!(garbled(not_last.as_bytes()), FrameError::ChecksumNotLast);
}
