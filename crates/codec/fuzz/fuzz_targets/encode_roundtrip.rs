//! Fields derived from arbitrary bytes are encoded, then decoded: what comes back must be what
//! went in, field for field, or the encoder must have refused the input with the right error.
#![no_main]

use gapless_codec::tag::data_tag_for_length;
use gapless_codec::value::{Decimal, TimePrecision, UtcTimestamp, parse_i64, parse_u64};
use gapless_codec::{DATA_FIELDS, Decoded, EncodeError, Encoder, Limits, SOH, decode};
use libfuzzer_sys::fuzz_target;

/// One field the input asks for.
#[derive(Debug)]
enum Value<'a> {
    Text(&'a [u8]),
    Uint(u64),
    Int(i64),
    Char(u8),
    Bool(bool),
    Timestamp(UtcTimestamp, TimePrecision),
    Decimal(Decimal),
    /// Written with `Encoder::data` as the `DATA_FIELDS` pair at this index.
    Data(usize, &'a [u8]),
}

/// Reads fixed-size pieces off the front of the input; runs dry as zeros.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        head
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let head = self.bytes(N);
        out[..head.len()].copy_from_slice(head);
        out
    }

    fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }
}

const PRECISIONS: [TimePrecision; 4] = [
    TimePrecision::Seconds,
    TimePrecision::Millis,
    TimePrecision::Micros,
    TimePrecision::Nanos,
];

/// A tag the decoder reads as an ordinary field. Tags below 1 are not tags, and a data-length
/// tag or data tag written as a plain field would make the next field length-prefixed.
fn plain_tag(raw: [u8; 2]) -> u32 {
    let tag = u32::from(u16::from_le_bytes(raw)) + 1;
    let special =
        data_tag_for_length(tag).is_some() || DATA_FIELDS.iter().any(|&(_, data)| data == tag);
    if special { 5000 + tag % 1000 } else { tag }
}

fn next_field<'a>(input: &mut Input<'a>) -> (u32, Value<'a>) {
    let kind = input.u8();
    let tag = plain_tag(input.array());
    let value = match kind % 8 {
        0 => {
            let len = usize::from(input.u8() % 32);
            Value::Text(input.bytes(len))
        }
        1 => Value::Uint(u64::from_le_bytes(input.array())),
        2 => Value::Int(i64::from_le_bytes(input.array())),
        3 => Value::Char(input.u8()),
        4 => Value::Bool(input.u8() & 1 == 1),
        5 => {
            let secs = i64::from_le_bytes(input.array());
            let nanos = u32::from_le_bytes(input.array()) % 1_000_000_000;
            let precision = PRECISIONS[usize::from(input.u8() % 4)];
            Value::Timestamp(UtcTimestamp { secs, nanos }, precision)
        }
        6 => Value::Decimal(Decimal::new(
            i64::from_le_bytes(input.array()),
            input.u8() as i8,
        )),
        _ => {
            let pair = usize::from(input.u8()) % DATA_FIELDS.len();
            let len = usize::from(input.u8() % 32);
            Value::Data(pair, input.bytes(len))
        }
    };
    (tag, value)
}

/// The error the encoder must report for this field, if any.
fn expected_error(tag: u32, value: &Value<'_>) -> Option<EncodeError> {
    match *value {
        Value::Text([]) => Some(EncodeError::EmptyValue { tag }),
        Value::Text(text) if text.contains(&SOH) => Some(EncodeError::ValueContainsSoh { tag }),
        Value::Char(SOH) => Some(EncodeError::ValueContainsSoh { tag }),
        Value::Data(pair, []) => Some(EncodeError::EmptyValue {
            tag: DATA_FIELDS[pair].1,
        }),
        Value::Timestamp(time, precision) => {
            let mut out = [0u8; 27];
            time.write(precision, &mut out)
                .is_none()
                .then_some(EncodeError::TimestampOutOfRange { tag })
        }
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let msg_type_len = usize::from(input.u8() % 3) + 1;
    let msg_type = input.bytes(msg_type_len);
    let mut fields = Vec::new();
    while !input.0.is_empty() && fields.len() < 64 {
        fields.push(next_field(&mut input));
    }

    // At most 64 fields of at most 155 bytes each (a five-digit tag and a 147-byte decimal), so
    // the buffer is never too small and every refusal checked below is about the values.
    let mut buf = [0u8; 16 * 1024];
    let mut encoder = Encoder::new(&mut buf, b"FIX.4.4", msg_type);
    for (tag, value) in &fields {
        match *value {
            Value::Text(text) => encoder.field(*tag, text),
            Value::Uint(n) => encoder.uint(*tag, n),
            Value::Int(n) => encoder.int(*tag, n),
            Value::Char(c) => encoder.char(*tag, c),
            Value::Bool(b) => encoder.bool(*tag, b),
            Value::Timestamp(time, precision) => encoder.timestamp(*tag, time, precision),
            Value::Decimal(d) => encoder.decimal(*tag, d),
            Value::Data(pair, bytes) => {
                let (length_tag, data_tag) = DATA_FIELDS[pair];
                encoder.data(length_tag, data_tag, bytes)
            }
        };
    }
    // The first error sticks; MsgType is written first, so its error comes first.
    let first_error = expected_error(35, &Value::Text(msg_type)).or_else(|| {
        fields
            .iter()
            .find_map(|(tag, value)| expected_error(*tag, value))
    });
    let bytes = match (encoder.finish(), first_error) {
        (Ok(bytes), None) => bytes,
        (Err(error), Some(expected)) => {
            assert_eq!(error, expected);
            return;
        }
        (result, expected) => panic!("encoder gave {result:?}, expected error {expected:?}"),
    };

    let Decoded::Message(message) = decode(bytes, &Limits::default()) else {
        panic!(
            "encoder output does not decode: {:?}",
            decode(bytes, &Limits::default())
        );
    };
    assert_eq!(message.len(), bytes.len());
    assert_eq!(message.begin_string(), b"FIX.4.4");
    assert_eq!(message.msg_type(), msg_type);

    // Skip 8, 9 and 35 at the front and 10 at the back; what is left must match field for field.
    let decoded: Vec<_> = message.fields().collect();
    let mut body = decoded[3..decoded.len() - 1].iter();
    for (tag, value) in &fields {
        if let Value::Data(pair, bytes) = *value {
            let (length_tag, data_tag) = DATA_FIELDS[pair];
            let length = body.next().expect("length field missing");
            assert_eq!(
                (length.tag, parse_u64(length.value)),
                (length_tag, Ok(bytes.len() as u64))
            );
            let data = body.next().expect("data field missing");
            assert_eq!((data.tag, data.value), (data_tag, bytes));
            continue;
        }
        let field = body.next().expect("field missing");
        assert_eq!(field.tag, *tag);
        let text = field.value;
        match *value {
            Value::Text(expected) => assert_eq!(text, expected),
            Value::Uint(n) => assert_eq!(parse_u64(text), Ok(n)),
            Value::Int(n) => assert_eq!(parse_i64(text), Ok(n)),
            Value::Char(c) => assert_eq!(text, [c]),
            Value::Bool(b) => assert_eq!(text, if b { b"Y" } else { b"N" }),
            Value::Timestamp(time, precision) => {
                let (parsed, parsed_precision) =
                    UtcTimestamp::parse_with_precision(text).expect("timestamp reads back");
                let unit = 10u32.pow(9 - precision.fraction_digits() as u32);
                assert_eq!(parsed_precision, precision);
                assert_eq!(parsed.secs, time.secs);
                assert_eq!(parsed.nanos, time.nanos / unit * unit);
            }
            Value::Decimal(d) => match Decimal::parse(text) {
                Ok(parsed) => assert_eq!(parsed.cmp_value(&d), core::cmp::Ordering::Equal),
                // Parsing holds 18 significant digits; the writer may produce more.
                Err(_) => assert!(text.len() > 18, "{d:?} wrote {text:?}"),
            },
            Value::Data(..) => unreachable!("handled above"),
        }
    }
    assert!(body.next().is_none(), "extra fields decoded");
});
