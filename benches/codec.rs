//! Codec benchmarks: Gapless against fefix 0.7 on the same bytes, doing the same work.
//!
//! Decoding, per message, on both sides: frame the message, check BodyLength, verify the
//! CheckSum, split every field, then read MsgType and SenderCompID as bytes, MsgSeqNum as an
//! integer and SendingTime as a timestamp. Encoding: a NewOrderSingle with the standard header and
//! ten body fields, into a buffer reused across iterations. Validation: the same messages checked
//! against the FIX.4.4 dictionary with every check on (what the gateway's inbound screen does),
//! beside the decode of the same bytes as the in-run reference. Results: docs/performance.md.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fefix::prelude::*;
use fefix::tagvalue::{Config, FvWrite};
use gapless_codec::value::{Decimal, TimePrecision, UtcTimestamp};
use gapless_codec::{Decoded, EncodeError, Encoder, Limits, StandardHeader, checksum, decode};
use gapless_dict::{SessionDictionary, ValidationOptions, Version, validate};

/// A partial fill as a venue sends it: 23 fields, 200 bytes framed.
const EXECUTION_REPORT: &str = "35=8|34=1042|49=VENUE|52=20261124-06:07:35.123|56=CLIENT01|\
    6=101.25|11=ORD123|14=300|17=X4567|31=101.25|32=300|37=V7890123|38=500|39=1|40=2|\
    44=101.50|54=1|55=AAPL|150=F|151=200|";

/// The order the fill answers: 18 fields, 171 bytes framed.
const NEW_ORDER_SINGLE: &str = "35=D|34=1041|49=CLIENT01|52=20261124-06:07:35.100|56=VENUE|\
    1=ACC-42|11=ORD123|21=1|38=500|40=2|44=101.50|54=1|55=AAPL|59=0|\
    60=20261124-06:07:35.099|";

/// Frames a `|`-separated FIX.4.4 body: BeginString, a correct BodyLength and a correct CheckSum.
fn frame(body: &str) -> Vec<u8> {
    let body = body.replace('|', "\x01");
    let mut message = format!("8=FIX.4.4\x019={}\x01{body}", body.len()).into_bytes();
    let sum = checksum(&message);
    message.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    message
}

/// What both decoders hand back: MsgType's and SenderCompID's lengths, MsgSeqNum, and the
/// seconds of SendingTime. Returning them (criterion black-boxes the result) keeps either side
/// from skipping a read; the values are compared once before timing.
type HeaderSummary = (usize, usize, u64, u32);

fn gapless_header(bytes: &[u8], limits: &Limits) -> Option<HeaderSummary> {
    let Decoded::Message(message) = decode(bytes, limits) else {
        return None;
    };
    let sending_time = message.sending_time().ok()?;
    Some((
        message.msg_type().len(),
        message.get(49)?.len(),
        message.msg_seq_num().ok()?,
        sending_time.secs.rem_euclid(60) as u32,
    ))
}

fn fefix_header(
    decoder: &mut fefix::tagvalue::Decoder<Config>,
    bytes: &[u8],
) -> Option<HeaderSummary> {
    let message = decoder.decode(bytes).ok()?;
    let sending_time: fefix::fix_values::Timestamp = message.fv(fix44::SENDING_TIME).ok()?;
    Some((
        message.fv_raw(fix44::MSG_TYPE)?.len(),
        message.fv_raw(fix44::SENDER_COMP_ID)?.len(),
        message.fv(fix44::MSG_SEQ_NUM).ok()?,
        sending_time.time().second(),
    ))
}

fn decoding(c: &mut Criterion) {
    let limits = Limits::default();
    // SOH separator and checksum verification are fefix's defaults; set them anyway so the
    // comparison does not depend on them.
    let mut fefix_decoder = fefix::tagvalue::Decoder::<Config>::new(Dictionary::fix44());
    fefix_decoder.config_mut().set_separator(0x01);
    fefix_decoder.config_mut().set_verify_checksum(true);

    for (name, body) in [
        ("execution_report", EXECUTION_REPORT),
        ("new_order_single", NEW_ORDER_SINGLE),
    ] {
        let bytes = frame(body);
        // Both sides must accept the message and agree on what they read.
        let ours = gapless_header(&bytes, &limits).expect("gapless rejects the message");
        let theirs = fefix_header(&mut fefix_decoder, &bytes).expect("fefix rejects the message");
        assert_eq!(ours, theirs);

        let mut group = c.benchmark_group(format!("decode/{name} ({} bytes)", bytes.len()));
        group.throughput(Throughput::Elements(1));
        group.bench_function("gapless", |b| {
            b.iter(|| gapless_header(black_box(&bytes), &limits))
        });
        group.bench_function("fefix 0.7", |b| {
            b.iter(|| fefix_header(&mut fefix_decoder, black_box(&bytes)))
        });
        group.finish();
    }
}

/// The NewOrderSingle of `NEW_ORDER_SINGLE`, written with Gapless's encoder.
fn gapless_new_order(
    buf: &mut [u8],
    sending_time: UtcTimestamp,
    transact_time: UtcTimestamp,
) -> Result<&[u8], EncodeError> {
    let header = StandardHeader::new(
        b"CLIENT01",
        b"VENUE",
        black_box(1041),
        sending_time,
        TimePrecision::Millis,
    );
    let mut encoder = Encoder::new(buf, b"FIX.4.4", b"D");
    encoder
        .header(&header)
        .field(1, b"ACC-42")
        .field(11, b"ORD123")
        .char(21, b'1')
        .decimal(38, black_box(Decimal::new(500, 0)))
        .char(40, b'2')
        .decimal(44, black_box(Decimal::new(10_150, -2)))
        .char(54, b'1')
        .field(55, b"AAPL")
        .char(59, b'0')
        .timestamp(60, transact_time, TimePrecision::Millis);
    encoder.finish()
}

fn encoding(c: &mut Criterion) {
    let sending_time = UtcTimestamp::parse(b"20261124-06:07:35.100").expect("valid timestamp");
    let transact_time = UtcTimestamp::parse(b"20261124-06:07:35.099").expect("valid timestamp");
    // The encoder writes exactly the bytes the decoding benchmark reads.
    let mut check = [0u8; 512];
    let encoded = gapless_new_order(&mut check, sending_time, transact_time).expect("encodes");
    assert_eq!(encoded, frame(NEW_ORDER_SINGLE));

    let mut group = c.benchmark_group("encode/new_order_single");
    group.throughput(Throughput::Elements(1));

    let mut buf = [0u8; 512];
    group.bench_function("gapless", |b| {
        b.iter(|| {
            gapless_new_order(&mut buf, black_box(sending_time), black_box(transact_time))
                .map(<[u8]>::len)
        })
    });

    // fefix has no exact decimal type without extra features: prices and quantities go through
    // its f64 path, timestamps through its own Timestamp type.
    let fefix_sending_time = fefix::fix_values::Timestamp::new(
        fefix::fix_values::Date::new(2026, 11, 24).expect("valid date"),
        fefix::fix_values::Time::from_hmsm(6, 7, 35, 100).expect("valid time"),
    );
    let fefix_transact_time = fefix::fix_values::Timestamp::new(
        fefix::fix_values::Date::new(2026, 11, 24).expect("valid date"),
        fefix::fix_values::Time::from_hmsm(6, 7, 35, 99).expect("valid time"),
    );
    let mut fefix_encoder = fefix::tagvalue::Encoder::<Config>::default();
    let mut fefix_buf = Vec::with_capacity(512);
    group.bench_function("fefix 0.7", |b| {
        b.iter(|| {
            fefix_buf.clear();
            let mut message = fefix_encoder.start_message(b"FIX.4.4", &mut fefix_buf, b"D");
            message.set_fv(&34, black_box(1041u64));
            message.set_fv(&49, b"CLIENT01" as &[u8]);
            message.set_fv(&52, black_box(fefix_sending_time.clone()));
            message.set_fv(&56, b"VENUE" as &[u8]);
            message.set_fv(&1, b"ACC-42" as &[u8]);
            message.set_fv(&11, b"ORD123" as &[u8]);
            message.set_fv(&21, b"1" as &[u8]);
            message.set_fv(&38, black_box(500.0f64));
            message.set_fv(&40, b"2" as &[u8]);
            message.set_fv(&44, black_box(101.5f64));
            message.set_fv(&54, b"1" as &[u8]);
            message.set_fv(&55, b"AAPL" as &[u8]);
            message.set_fv(&59, b"0" as &[u8]);
            message.set_fv(&60, black_box(fefix_transact_time.clone()));
            message.wrap().len()
        })
    });
    group.finish();
}

fn validation(c: &mut Criterion) {
    let limits = Limits::default();
    let dictionary = SessionDictionary::new(Version::Fix44);
    let options = ValidationOptions::default();
    for (name, body) in [
        ("execution_report", EXECUTION_REPORT),
        ("new_order_single", NEW_ORDER_SINGLE),
    ] {
        let bytes = frame(body);
        let Decoded::Message(message) = decode(&bytes, &limits) else {
            panic!("{name} does not frame");
        };
        validate(&dictionary, &message, &options).expect("the dictionary accepts the message");
        let mut group = c.benchmark_group(format!("validate/{name} ({} bytes)", bytes.len()));
        group.throughput(Throughput::Elements(1));
        group.bench_function("decode (reference)", |b| {
            b.iter(|| decode(black_box(&bytes), &limits))
        });
        group.bench_function("validate", |b| {
            b.iter(|| validate(&dictionary, black_box(&message), &options))
        });
        group.finish();
    }
}

criterion_group!(benches, decoding, encoding, validation);
criterion_main!(benches);
