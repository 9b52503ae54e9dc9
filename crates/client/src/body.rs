//! [`BodyWriter`]: the application's body fields, written straight into the outbound ring.

use core::fmt;

use gapless_codec::value::{Decimal, TimePrecision, UtcTimestamp, write_u64};
use gapless_codec::{SOH, tag};

/// Tags the gateway writes itself: the framing (8, 9, 10) and the header it stamps (34, 35, 49,
/// 52, 56). A body carrying one would contradict the message the gateway builds.
pub const GATEWAY_TAGS: [u32; 8] = [
    tag::BEGIN_STRING,
    tag::BODY_LENGTH,
    tag::CHECK_SUM,
    tag::MSG_SEQ_NUM,
    tag::MSG_TYPE,
    tag::SENDER_COMP_ID,
    tag::SENDING_TIME,
    tag::TARGET_COMP_ID,
];

/// Why a body field was refused. The first refusal sticks: later fields are ignored and the send
/// fails with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    /// FIX has no empty fields.
    EmptyValue { tag: u32 },
    /// A non-data value holds SOH, which would end the field early.
    ValueContainsSoh { tag: u32 },
    /// The gateway writes this tag (see [`GATEWAY_TAGS`]); tag 0 is no tag.
    ReservedTag { tag: u32 },
    /// A timestamp outside the years 0000 to 9999.
    TimestampOutOfRange { tag: u32 },
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::EmptyValue { tag } => write!(f, "tag {tag} has an empty value"),
            BodyError::ValueContainsSoh { tag } => write!(f, "tag {tag} value contains SOH"),
            BodyError::ReservedTag { tag } => {
                write!(
                    f,
                    "tag {tag} is written by the gateway, not the application"
                )
            }
            BodyError::TimestampOutOfRange { tag } => {
                write!(f, "tag {tag} timestamp is outside years 0000-9999")
            }
        }
    }
}

impl std::error::Error for BodyError {}

/// What stopped a body from being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteError {
    /// More bytes than the room the ring granted.
    Overflow,
    Field(BodyError),
}

/// Writes `tag=value<SOH>` fields into the space claimed in the ring. Methods chain; the first
/// error sticks and fails the send, so the caller checks once, on the result of `try_send`.
#[derive(Debug)]
pub struct BodyWriter<'b> {
    buf: &'b mut [u8],
    pos: usize,
    error: Option<WriteError>,
}

impl<'b> BodyWriter<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        BodyWriter {
            buf,
            pos: 0,
            error: None,
        }
    }

    /// The body's length or the first error.
    pub(crate) fn finish(self) -> Result<usize, WriteError> {
        match self.error {
            Some(error) => Err(error),
            None => Ok(self.pos),
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.pos
    }

    /// Whether no field has been written.
    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }

    fn fail(&mut self, error: BodyError) {
        self.error.get_or_insert(WriteError::Field(error));
    }

    fn put(&mut self, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        match self.buf.get_mut(self.pos..self.pos + bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.pos += bytes.len();
            }
            None => self.error = Some(WriteError::Overflow),
        }
    }

    fn put_u64(&mut self, n: u64) {
        let mut digits = [0u8; 20];
        let len = write_u64(n, &mut digits);
        self.put(&digits[20 - len..]);
    }

    fn put_tag(&mut self, tag: u32) {
        if tag == 0 || GATEWAY_TAGS.contains(&tag) {
            self.fail(BodyError::ReservedTag { tag });
        }
        self.put_u64(u64::from(tag));
        self.put(b"=");
    }

    /// A field with a text or pre-formatted value: not empty, no SOH.
    pub fn field(&mut self, tag: u32, value: &[u8]) -> &mut Self {
        if value.is_empty() {
            self.fail(BodyError::EmptyValue { tag });
        } else if memchr::memchr(SOH, value).is_some() {
            self.fail(BodyError::ValueContainsSoh { tag });
        }
        self.put_tag(tag);
        self.put(value);
        self.put(&[SOH]);
        self
    }

    /// A non-negative integer field (quantities in whole units, NumInGroup, ...).
    pub fn uint(&mut self, tag: u32, value: u64) -> &mut Self {
        self.put_tag(tag);
        self.put_u64(value);
        self.put(&[SOH]);
        self
    }

    /// A signed integer field.
    pub fn int(&mut self, tag: u32, value: i64) -> &mut Self {
        self.put_tag(tag);
        if value < 0 {
            self.put(b"-");
        }
        self.put_u64(value.unsigned_abs());
        self.put(&[SOH]);
        self
    }

    /// A char field (Side, OrdType, ...).
    pub fn char(&mut self, tag: u32, value: u8) -> &mut Self {
        self.field(tag, &[value])
    }

    /// A Boolean field, `Y` or `N`.
    pub fn bool(&mut self, tag: u32, value: bool) -> &mut Self {
        self.field(tag, if value { b"Y" } else { b"N" })
    }

    /// A float field (Price, OrderQty, ...) from an exact decimal.
    pub fn decimal(&mut self, tag: u32, value: Decimal) -> &mut Self {
        let mut text = [0u8; Decimal::MAX_TEXT_LEN];
        let len = value.write(&mut text).unwrap_or(0);
        self.put_tag(tag);
        self.put(&text[..len]);
        self.put(&[SOH]);
        self
    }

    /// A UTCTimestamp field (TransactTime, ...) at the given precision.
    pub fn timestamp(
        &mut self,
        tag: u32,
        value: UtcTimestamp,
        precision: TimePrecision,
    ) -> &mut Self {
        let mut text = [0u8; 27];
        match value.write(precision, &mut text) {
            Some(len) => {
                self.put_tag(tag);
                self.put(&text[..len]);
                self.put(&[SOH]);
            }
            None => self.fail(BodyError::TimestampOutOfRange { tag }),
        }
        self
    }

    /// A length-prefixed data field pair, `length_tag=<len>` then `data_tag=<bytes>`; the bytes
    /// may hold SOH.
    pub fn data(&mut self, length_tag: u32, data_tag: u32, value: &[u8]) -> &mut Self {
        if value.is_empty() {
            self.fail(BodyError::EmptyValue { tag: data_tag });
        }
        self.uint(length_tag, value.len() as u64);
        self.put_tag(data_tag);
        self.put(value);
        self.put(&[SOH]);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(
        capacity: usize,
        fields: impl FnOnce(&mut BodyWriter<'_>),
    ) -> Result<Vec<u8>, WriteError> {
        let mut buf = vec![0u8; capacity];
        let mut writer = BodyWriter::new(&mut buf);
        fields(&mut writer);
        let len = writer.finish()?;
        Ok(buf[..len].to_vec())
    }

    #[test]
    fn fields_are_written_as_tag_value_soh() {
        let body = write(256, |w| {
            w.field(11, b"O1")
                .char(54, b'1')
                .uint(38, 100)
                .int(44, -5)
                .bool(114, false)
                .decimal(44, Decimal::new(12345, -2))
                .timestamp(60, UtcTimestamp::from_unix_nanos(0), TimePrecision::Millis)
                .data(95, 96, b"a\x01b");
        })
        .unwrap();
        assert_eq!(
            body,
            b"11=O1\x0154=1\x0138=100\x0144=-5\x01114=N\x0144=123.45\x01\
              60=19700101-00:00:00.000\x0195=3\x0196=a\x01b\x01"
                .to_vec()
        );
    }

    #[test]
    fn gateway_tag_is_refused() {
        for tag in GATEWAY_TAGS {
            assert_eq!(
                write(64, |w| {
                    w.uint(tag, 1);
                }),
                Err(WriteError::Field(BodyError::ReservedTag { tag }))
            );
        }
    }

    #[test]
    fn first_error_sticks() {
        let result = write(64, |w| {
            w.field(58, b"").field(58, b"a\x01").uint(34, 1);
        });
        assert_eq!(
            result,
            Err(WriteError::Field(BodyError::EmptyValue { tag: 58 }))
        );
        let result = write(64, |w| {
            w.field(58, b"a\x01");
        });
        assert_eq!(
            result,
            Err(WriteError::Field(BodyError::ValueContainsSoh { tag: 58 }))
        );
    }

    #[test]
    fn full_buffer_overflows() {
        assert_eq!(
            write(8, |w| {
                w.field(55, b"TOOLONGSYMBOL");
            }),
            Err(WriteError::Overflow)
        );
        assert_eq!(
            write(6, |w| {
                w.field(55, b"AB");
            })
            .unwrap(),
            b"55=AB\x01"
        );
    }
}
