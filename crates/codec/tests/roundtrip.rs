//! Property tests: whatever the encoder writes, the decoder reads back field for field, and a
//! stream of messages decodes to the same messages however the reads split it, with garbage
//! between messages skipped.

use gapless_codec::{Decoded, Encoder, Limits, decode, tag};
use proptest::prelude::*;

const BEGIN_STRINGS: [&str; 6] = [
    "FIX.4.0", "FIX.4.1", "FIX.4.2", "FIX.4.3", "FIX.4.4", "FIXT.1.1",
];

/// A generated message: BeginString, MsgType, plain fields and an optional data field.
#[derive(Debug, Clone)]
struct Generated {
    begin_string: &'static str,
    msg_type: String,
    fields: Vec<(u32, String)>,
    data: Option<Vec<u8>>,
}

fn plain_tag() -> impl Strategy<Value = u32> {
    (11u32..20_000).prop_filter("framing or data tag", |&t| {
        t != tag::CHECK_SUM
            && t != tag::MSG_TYPE
            && !gapless_codec::DATA_FIELDS
                .iter()
                .any(|&(len, data)| t == len || t == data)
    })
}

fn generated() -> impl Strategy<Value = Generated> {
    (
        prop::sample::select(&BEGIN_STRINGS[..]),
        "[0-9A-Za-z]{1,2}",
        prop::collection::vec((plain_tag(), "[ -~]{1,24}"), 0..30),
        prop::option::of(prop::collection::vec(any::<u8>(), 1..64)),
    )
        .prop_map(|(begin_string, msg_type, fields, data)| Generated {
            begin_string,
            msg_type,
            fields,
            data,
        })
}

fn encode(g: &Generated) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let mut encoder = Encoder::new(&mut buf, g.begin_string.as_bytes(), g.msg_type.as_bytes());
    for (tag, value) in &g.fields {
        encoder.field(*tag, value.as_bytes());
    }
    if let Some(data) = &g.data {
        encoder.data(95, 96, data);
    }
    encoder.finish().expect("generated messages fit").to_vec()
}

/// Decodes every message in `stream` fed in `chunks`, as a network read loop would.
fn decode_stream(stream: &[u8], chunk_sizes: &[usize]) -> (Vec<Vec<u8>>, usize) {
    let limits = Limits::default();
    let mut received = Vec::new();
    let mut messages = Vec::new();
    let mut garbled = 0;
    let mut offset = 0;
    let mut sizes = chunk_sizes.iter().cycle();
    while offset < stream.len() {
        let n = (*sizes.next().unwrap_or(&1)).clamp(1, stream.len() - offset);
        received.extend_from_slice(&stream[offset..offset + n]);
        offset += n;
        loop {
            match decode(&received, &limits) {
                Decoded::Message(m) => {
                    let len = m.len();
                    messages.push(m.as_bytes().to_vec());
                    received.drain(..len);
                }
                Decoded::Garbled(g) => {
                    garbled += 1;
                    received.drain(..g.skip);
                }
                Decoded::Incomplete => break,
            }
        }
    }
    (messages, garbled)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_decode_gives_the_same_fields(g in generated()) {
        let bytes = encode(&g);
        let Decoded::Message(m) = decode(&bytes, &Limits::default()) else {
            return Err(TestCaseError::fail("encoder output did not decode"));
        };
        prop_assert_eq!(m.len(), bytes.len());
        prop_assert_eq!(m.begin_string(), g.begin_string.as_bytes());
        prop_assert_eq!(m.msg_type(), g.msg_type.as_bytes());
        let mut expected: Vec<(u32, Vec<u8>)> =
            g.fields.iter().map(|(t, v)| (*t, v.as_bytes().to_vec())).collect();
        if let Some(data) = &g.data {
            expected.push((95, data.len().to_string().into_bytes()));
            expected.push((96, data.clone()));
        }
        let got: Vec<(u32, Vec<u8>)> = m
            .fields()
            .skip(3)
            .filter(|f| f.tag != tag::CHECK_SUM)
            .map(|f| (f.tag, f.value.to_vec()))
            .collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn any_split_of_a_stream_decodes_the_same_messages(
        messages in prop::collection::vec(generated(), 1..8),
        chunk_sizes in prop::collection::vec(1usize..200, 1..10),
    ) {
        let encoded: Vec<Vec<u8>> = messages.iter().map(encode).collect();
        let stream = encoded.concat();
        let (decoded, garbled) = decode_stream(&stream, &chunk_sizes);
        prop_assert_eq!(garbled, 0);
        prop_assert_eq!(decoded, encoded);
    }

    #[test]
    fn garbage_between_messages_is_skipped(
        messages in prop::collection::vec(generated(), 1..6),
        garbage in prop::collection::vec("[ -~]{1,40}", 6),
        chunk_sizes in prop::collection::vec(1usize..200, 1..10),
    ) {
        let encoded: Vec<Vec<u8>> = messages.iter().map(encode).collect();
        let mut stream = Vec::new();
        for (message, junk) in encoded.iter().zip(&garbage) {
            // Garbage holding no message start; the decoder must skip it whole.
            stream.extend_from_slice(junk.replace("8=FIX", "8=fix").as_bytes());
            stream.extend_from_slice(message);
        }
        let (decoded, garbled) = decode_stream(&stream, &chunk_sizes);
        prop_assert!(garbled >= 1);
        prop_assert_eq!(decoded, encoded);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_always_progress(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let limits = Limits {
            max_message_len: 256,
            ..Limits::default()
        };
        let mut rest = &bytes[..];
        loop {
            match decode(rest, &limits) {
                Decoded::Message(m) => {
                    prop_assert!(m.len() <= rest.len() && m.len() <= limits.max_message_len);
                    prop_assert!(m.fields().count() >= 4);
                    rest = &rest[m.len()..];
                }
                Decoded::Garbled(g) => {
                    prop_assert!(g.skip >= 1 && g.skip <= rest.len());
                    rest = &rest[g.skip..];
                }
                Decoded::Incomplete => break,
            }
        }
    }
}
