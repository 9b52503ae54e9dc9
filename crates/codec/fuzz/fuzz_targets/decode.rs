//! Arbitrary bytes as a receive buffer: decode until more input is needed, as the gateway does,
//! and check what `decode` promises about every answer.
#![no_main]

use gapless_codec::value::parse_u64;
use gapless_codec::{Decoded, FieldError, Limits, Message, Resync, checksum, decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The default limit, and a small one so that TooLarge is reached by short inputs too; both
    // ways of resynchronising after a wrong BodyLength.
    for max_message_len in [Limits::default().max_message_len, 96] {
        for resync in [Resync::NextBeginString, Resync::BodyLength] {
            consume(data, &Limits { max_message_len, resync });
        }
    }
});

fn consume(mut buf: &[u8], limits: &Limits) {
    while !buf.is_empty() {
        match decode(buf, limits) {
            Decoded::Incomplete => break,
            Decoded::Garbled(garbled) => {
                assert!(garbled.skip >= 1, "skip 0 would loop forever: {garbled:?}");
                assert!(
                    garbled.skip <= buf.len(),
                    "skip past the buffer: {garbled:?}"
                );
                buf = &buf[garbled.skip..];
            }
            Decoded::Message(message) => {
                assert!(message.len() <= buf.len());
                assert!(message.len() <= limits.max_message_len);
                assert_eq!(message.as_bytes(), &buf[..message.len()]);
                check_message(&message, limits);
                buf = &buf[message.len()..];
            }
        }
    }
}

fn check_message(message: &Message<'_>, limits: &Limits) {
    let bytes = message.as_bytes();

    // A message decodes to itself on its own.
    let Decoded::Message(again) = decode(bytes, limits) else {
        panic!("a decoded message does not decode on its own: {message:?}");
    };
    assert_eq!(again.len(), message.len());
    assert!(again.fields().eq(message.fields()));

    // Every field is at least `t=<SOH>`, so iteration must end within len / 3 fields.
    let mut count = 0;
    for field in message.fields().take(bytes.len() / 3 + 1) {
        count += 1;
        // `get` answers the first occurrence, whether indexed or scanned.
        let first = message
            .fields()
            .find(|f| f.tag == field.tag)
            .map(|f| f.value);
        assert_eq!(message.get(field.tag), first, "tag {}", field.tag);
        call_typed_accessors(message, field.tag);
    }
    assert!(count <= bytes.len() / 3, "field iteration does not end");
    assert_eq!(count, message.field_count());

    let fields: Vec<_> = message.fields().collect();
    assert_eq!(fields.first().map(|f| f.tag), Some(8));
    assert_eq!(fields.get(1).map(|f| f.tag), Some(9));
    assert_eq!(fields.get(2).map(|f| f.tag), Some(35));
    assert_eq!(fields.last().map(|f| f.tag), Some(10));
    assert_eq!(fields[0].value, message.begin_string());
    assert_eq!(fields[2].value, message.msg_type());

    // BodyLength counts the body; the checksum covers everything before `10=`.
    let body = message.body();
    assert_eq!(parse_u64(fields[1].value), Ok(body.len() as u64));
    let trailer_start = bytes.len() - 7;
    assert!(body.as_ptr_range().end == bytes[trailer_start..].as_ptr());
    assert_eq!(message.checksum(), checksum(&bytes[..trailer_start]));

    // Session accessors never panic.
    let _ = message.msg_seq_num();
    let _ = message.poss_dup();
    let _ = message.sending_time();
}

fn call_typed_accessors(message: &Message<'_>, tag: u32) {
    let value = message.require(tag);
    let u64_value = message.get_u64(tag);
    let _ = message.get_i64(tag);
    let _ = message.get_bool(tag);
    let _ = message.get_char(tag);
    let _ = message.get_timestamp(tag);
    let _ = message.get_decimal(tag);
    // A present, non-empty value only ever fails as invalid, never as missing.
    if value.is_ok() {
        assert!(!matches!(
            u64_value,
            Err(FieldError::Missing { .. } | FieldError::Empty { .. })
        ));
    }
}
