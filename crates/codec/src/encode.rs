//! [`Encoder`]: writes a FIX message into a caller-provided buffer without allocating.
//!
//! The encoder writes BeginString, then leaves room for BodyLength, then MsgType and the fields in
//! the order they are given. [`Encoder::finish`] writes BodyLength into the room left for it (the
//! few bytes of `8=...` move up to meet it, so no padding appears on the wire) and appends the
//! CheckSum. The result is a slice of the caller's buffer.
//!
//! Field order is the caller's: FIX wants 8, 9, 35, the other header fields, the body, then 10.
//! Gapless writes header fields in ascending tag order, which is what [`StandardHeader`] does and
//! what most engines and the QuickFIX acceptance scripts expect, then body fields in ascending tag
//! order except inside repeating groups, which keep their defined order.

use core::fmt;

use crate::SOH;
use crate::frame::checksum;
use crate::message::{Field, FieldSyntaxError, walk_fields};
use crate::tag;
use crate::value::{Decimal, TimePrecision, UtcTimestamp, write_u64};

/// Why a message could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The buffer is too small for the message.
    BufferTooSmall { capacity: usize },
    /// A value is empty; FIX has no empty fields.
    EmptyValue { tag: u32 },
    /// A non-data value contains SOH, which would break framing.
    ValueContainsSoh { tag: u32 },
    /// A timestamp's year is outside 0000 to 9999.
    TimestampOutOfRange { tag: u32 },
    /// BeginString is empty, too long, or contains SOH.
    InvalidBeginString,
    /// Pre-encoded fields are not a sequence of `tag=value<SOH>` fields.
    MalformedFields(FieldSyntaxError),
    /// A tag the framing or the session writes (8, 9, 10, 34, 35, 49, 52, 56) among fields that
    /// may not carry it: it would break or contradict the message.
    SessionTag { tag: u32 },
    /// Tag 0: FIX tags start at 1.
    ZeroTag,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BufferTooSmall { capacity } => {
                write!(f, "message does not fit in a {capacity}-byte buffer")
            }
            EncodeError::EmptyValue { tag } => write!(f, "tag {tag} has an empty value"),
            EncodeError::ValueContainsSoh { tag } => write!(f, "tag {tag} value contains SOH"),
            EncodeError::TimestampOutOfRange { tag } => {
                write!(f, "tag {tag} timestamp is outside years 0000-9999")
            }
            EncodeError::InvalidBeginString => f.write_str("invalid BeginString"),
            EncodeError::MalformedFields(error) => write!(f, "malformed fields: {error}"),
            EncodeError::SessionTag { tag } => {
                write!(f, "tag {tag} belongs to the framing or the session header")
            }
            EncodeError::ZeroTag => f.write_str("tag 0 is not a FIX tag"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Tags an application's body fields may not carry: the framing's (8, 9, 10) and those the
/// session stamps (34, 35, 49, 52, 56).
pub const SESSION_OWNED_TAGS: [u32; 8] = [
    tag::BEGIN_STRING,
    tag::BODY_LENGTH,
    tag::CHECK_SUM,
    tag::MSG_SEQ_NUM,
    tag::MSG_TYPE,
    tag::SENDER_COMP_ID,
    tag::SENDING_TIME,
    tag::TARGET_COMP_ID,
];

/// Writes `tag=value<SOH>` fields into a borrowed buffer without allocating. Methods chain; the
/// first error sticks and is returned by [`FieldWriter::finish`] (or [`Encoder::finish`]), so a
/// sequence of calls needs one check. [`Encoder`] uses one for a whole message; an application
/// uses [`FieldWriter::body`] for the body fields a session will frame.
#[derive(Debug)]
pub struct FieldWriter<'b> {
    buf: &'b mut [u8],
    pos: usize,
    error: Option<EncodeError>,
    /// Tags refused with [`EncodeError::SessionTag`].
    reserved: &'static [u32],
}

/// Builds one message in a borrowed buffer: the framing here, the fields through the
/// [`FieldWriter`] it dereferences to.
#[derive(Debug)]
pub struct Encoder<'b> {
    fields: FieldWriter<'b>,
    /// Length of `8=<BeginString><SOH>`, written at offset 0.
    begin_string_len: usize,
    /// Where the body (`35=...`) starts; the bytes before it are room for `9=<digits><SOH>`.
    body_start: usize,
}

impl<'b> core::ops::Deref for Encoder<'b> {
    type Target = FieldWriter<'b>;

    fn deref(&self) -> &FieldWriter<'b> {
        &self.fields
    }
}

impl core::ops::DerefMut for Encoder<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.fields
    }
}

/// The header fields every message carries, written in ascending tag order by
/// [`Encoder::header`].
#[derive(Debug, Clone, Copy)]
pub struct StandardHeader<'h> {
    pub sender_comp_id: &'h [u8],
    pub target_comp_id: &'h [u8],
    pub msg_seq_num: u64,
    pub sending_time: UtcTimestamp,
    /// Precision for SendingTime and OrigSendingTime (FIX.4.0 and 4.1 allow only seconds).
    pub time_precision: TimePrecision,
    /// PossDupFlag (43), written only when set.
    pub poss_dup: bool,
    /// PossResend (97), written only when set.
    pub poss_resend: bool,
    /// OrigSendingTime (122), for resent messages.
    pub orig_sending_time: Option<UtcTimestamp>,
    pub sender_sub_id: Option<&'h [u8]>,
    pub target_sub_id: Option<&'h [u8]>,
    pub on_behalf_of_comp_id: Option<&'h [u8]>,
    pub deliver_to_comp_id: Option<&'h [u8]>,
    /// ApplVerID (1128), for FIXT.1.1 messages whose version differs from the session default.
    pub appl_ver_id: Option<&'h [u8]>,
}

impl<'h> StandardHeader<'h> {
    /// A header with the required fields and nothing optional.
    pub fn new(
        sender_comp_id: &'h [u8],
        target_comp_id: &'h [u8],
        msg_seq_num: u64,
        sending_time: UtcTimestamp,
        time_precision: TimePrecision,
    ) -> Self {
        StandardHeader {
            sender_comp_id,
            target_comp_id,
            msg_seq_num,
            sending_time,
            time_precision,
            poss_dup: false,
            poss_resend: false,
            orig_sending_time: None,
            sender_sub_id: None,
            target_sub_id: None,
            on_behalf_of_comp_id: None,
            deliver_to_comp_id: None,
            appl_ver_id: None,
        }
    }
}

/// BeginString values are short; the limit matches the decoder's.
const MAX_BEGIN_STRING_LEN: usize = 16;

/// The number of decimal digits in `n`.
fn decimal_digits(n: usize) -> usize {
    let mut digits = 1;
    let mut n = n / 10;
    while n > 0 {
        digits += 1;
        n /= 10;
    }
    digits
}

impl<'b> FieldWriter<'b> {
    /// Fields into `buf`, from its start.
    pub fn new(buf: &'b mut [u8]) -> Self {
        FieldWriter {
            buf,
            pos: 0,
            error: None,
            reserved: &[],
        }
    }

    /// An application's body fields into `buf`: the tags of [`SESSION_OWNED_TAGS`] are refused.
    pub fn body(buf: &'b mut [u8]) -> Self {
        FieldWriter {
            reserved: &SESSION_OWNED_TAGS,
            ..FieldWriter::new(buf)
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.pos
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }

    /// How many bytes the fields took, or the first error.
    pub fn finish(self) -> Result<usize, EncodeError> {
        match self.error {
            Some(error) => Err(error),
            None => Ok(self.pos),
        }
    }

    fn fail(&mut self, error: EncodeError) {
        self.error.get_or_insert(error);
    }

    /// Appends raw bytes, or records that the buffer is full.
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        match self.buf.get_mut(self.pos..self.pos + bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.pos += bytes.len();
            }
            None => self.fail(EncodeError::BufferTooSmall {
                capacity: self.buf.len(),
            }),
        }
    }

    #[inline]
    fn put_u64(&mut self, n: u64) {
        let mut digits = [0u8; 20];
        let len = write_u64(n, &mut digits);
        self.put(&digits[20 - len..]);
    }

    #[inline]
    fn put_tag(&mut self, tag: u32) {
        if tag == 0 {
            self.fail(EncodeError::ZeroTag);
        } else if self.reserved.contains(&tag) {
            self.fail(EncodeError::SessionTag { tag });
        }
        self.put_u64(u64::from(tag));
        self.put(b"=");
    }

    /// A field with a text or pre-formatted value. The value may not be empty or contain SOH.
    pub fn field(&mut self, tag: u32, value: &[u8]) -> &mut Self {
        if value.is_empty() {
            self.fail(EncodeError::EmptyValue { tag });
        } else if memchr::memchr(SOH, value).is_some() {
            self.fail(EncodeError::ValueContainsSoh { tag });
        }
        self.put_tag(tag);
        self.put(value);
        self.put(&[SOH]);
        self
    }

    /// A non-negative integer field (SeqNum, Length, NumInGroup, ...).
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

    /// A char field.
    pub fn char(&mut self, tag: u32, value: u8) -> &mut Self {
        self.field(tag, &[value])
    }

    /// A Boolean field, `Y` or `N`.
    pub fn bool(&mut self, tag: u32, value: bool) -> &mut Self {
        self.field(tag, if value { b"Y" } else { b"N" })
    }

    /// A UTCTimestamp field at the given precision.
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
            None => self.fail(EncodeError::TimestampOutOfRange { tag }),
        }
        self
    }

    /// A float field (Price, Qty, ...) from an exact decimal.
    pub fn decimal(&mut self, tag: u32, value: Decimal) -> &mut Self {
        let mut text = [0u8; Decimal::MAX_TEXT_LEN];
        let len = value.write(&mut text).unwrap_or(0);
        self.put_tag(tag);
        self.put(&text[..len]);
        self.put(&[SOH]);
        self
    }

    /// A length-prefixed data field: `length_tag=<len>` then `data_tag=<bytes>`. The bytes may
    /// contain SOH.
    pub fn data(&mut self, length_tag: u32, data_tag: u32, value: &[u8]) -> &mut Self {
        if value.is_empty() {
            self.fail(EncodeError::EmptyValue { tag: data_tag });
        }
        self.uint(length_tag, value.len() as u64);
        self.put_tag(data_tag);
        self.put(value);
        self.put(&[SOH]);
        self
    }

    /// Writes `fields` as they are, in order. A data-length field followed by its data field is
    /// written as that pair (see [`FieldWriter::data`]), so the data may hold SOH; everything else
    /// as [`FieldWriter::field`] does.
    pub fn copy_fields<'f>(&mut self, fields: impl IntoIterator<Item = Field<'f>>) -> &mut Self {
        let mut fields = fields.into_iter().peekable();
        while let Some(field) = fields.next() {
            match tag::data_tag_for_length(field.tag) {
                Some(data_tag) if fields.peek().is_some_and(|f| f.tag == data_tag) => {
                    let data = fields.next().map(|f| f.value).unwrap_or_default();
                    self.data(field.tag, data_tag, data);
                }
                _ => {
                    self.field(field.tag, field.value);
                }
            }
        }
        self
    }

    /// Appends fields that are already encoded as `tag=value<SOH>...`, after checking their
    /// syntax and that none of them is a framing or session-header tag.
    pub fn encoded_fields(&mut self, fields: &[u8]) -> &mut Self {
        let mut session_tag = None;
        let checked = walk_fields(fields, |field| {
            if SESSION_OWNED_TAGS.contains(&field.tag) {
                session_tag.get_or_insert(field.tag);
            }
        });
        match (checked, session_tag) {
            (Err(error), _) => self.fail(EncodeError::MalformedFields(error)),
            (Ok(()), Some(tag)) => self.fail(EncodeError::SessionTag { tag }),
            (Ok(()), None) => self.put(fields),
        }
        self
    }
}

impl<'b> Encoder<'b> {
    /// Starts a message of type `msg_type` for `begin_string` (for example `FIX.4.4`).
    pub fn new(buf: &'b mut [u8], begin_string: &[u8], msg_type: &[u8]) -> Self {
        let begin_string_len = 2 + begin_string.len() + 1;
        // Room for "9=", as many digits as the buffer's length has, and SOH.
        let body_start = begin_string_len + 2 + decimal_digits(buf.len()) + 1;
        let mut fields = FieldWriter::new(buf);
        if begin_string.is_empty()
            || begin_string.len() > MAX_BEGIN_STRING_LEN
            || begin_string.contains(&SOH)
        {
            fields.fail(EncodeError::InvalidBeginString);
        }
        fields.put(b"8=");
        fields.put(begin_string);
        fields.put(&[SOH]);
        fields.pos = body_start;
        fields.field(tag::MSG_TYPE, msg_type);
        Encoder {
            fields,
            begin_string_len,
            body_start,
        }
    }

    /// The standard header fields, in ascending tag order.
    pub fn header(&mut self, header: &StandardHeader<'_>) -> &mut Self {
        let precision = header.time_precision;
        self.uint(tag::MSG_SEQ_NUM, header.msg_seq_num);
        if header.poss_dup {
            self.bool(tag::POSS_DUP_FLAG, true);
        }
        self.field(tag::SENDER_COMP_ID, header.sender_comp_id);
        if let Some(id) = header.sender_sub_id {
            self.field(tag::SENDER_SUB_ID, id);
        }
        self.timestamp(tag::SENDING_TIME, header.sending_time, precision);
        self.field(tag::TARGET_COMP_ID, header.target_comp_id);
        if let Some(id) = header.target_sub_id {
            self.field(tag::TARGET_SUB_ID, id);
        }
        if header.poss_resend {
            self.bool(tag::POSS_RESEND, true);
        }
        if let Some(id) = header.on_behalf_of_comp_id {
            self.field(tag::ON_BEHALF_OF_COMP_ID, id);
        }
        if let Some(time) = header.orig_sending_time {
            self.timestamp(tag::ORIG_SENDING_TIME, time, precision);
        }
        if let Some(id) = header.deliver_to_comp_id {
            self.field(tag::DELIVER_TO_COMP_ID, id);
        }
        if let Some(version) = header.appl_ver_id {
            self.field(tag::APPL_VER_ID, version);
        }
        self
    }

    /// Writes BodyLength and CheckSum and returns the finished message, a slice of the buffer.
    pub fn finish(self) -> Result<&'b [u8], EncodeError> {
        let Encoder {
            mut fields,
            begin_string_len,
            body_start,
        } = self;
        if fields.pos + 7 > fields.buf.len() {
            fields.fail(EncodeError::BufferTooSmall {
                capacity: fields.buf.len(),
            });
        }
        if let Some(error) = fields.error {
            return Err(error);
        }
        let (buf, pos) = (fields.buf, fields.pos);
        let body_length = pos - body_start;
        // "9=<digits><SOH>" ends exactly where the body starts; "8=...<SOH>" moves up to meet it.
        let mut digits = [0u8; 20];
        let digits_len = write_u64(body_length as u64, &mut digits);
        let length_field_start = body_start - (2 + digits_len + 1);
        let start = length_field_start - begin_string_len;
        buf.copy_within(0..begin_string_len, start);
        let length_field = &mut buf[length_field_start..body_start];
        length_field[..2].copy_from_slice(b"9=");
        length_field[2..2 + digits_len].copy_from_slice(&digits[20 - digits_len..]);
        length_field[2 + digits_len] = SOH;

        let sum = checksum(&buf[start..pos]);
        let trailer = &mut buf[pos..pos + 7];
        trailer[..3].copy_from_slice(b"10=");
        trailer[3] = b'0' + sum / 100;
        trailer[4] = b'0' + sum / 10 % 10;
        trailer[5] = b'0' + sum % 10;
        trailer[6] = SOH;
        let buf: &'b [u8] = buf;
        Ok(&buf[start..pos + 7])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decoded, Limits, decode};

    fn show(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).replace('\x01', "|")
    }

    #[test]
    fn encoded_fields_append_checked_body_with_data_field() {
        let mut buf = [0u8; 256];
        let mut enc = Encoder::new(&mut buf, b"FIX.4.4", b"D");
        enc.encoded_fields(b"11=O1\x0195=3\x0196=a\x01b\x0155=X\x01");
        let msg = enc.finish().unwrap();
        let Decoded::Message(m) = decode(msg, &Limits::default()) else {
            panic!("does not decode: {}", show(msg));
        };
        assert_eq!(m.get(96), Some(&b"a\x01b"[..]));
        assert_eq!(m.get(55), Some(&b"X"[..]));
    }

    #[test]
    fn encoded_fields_refuse_bad_syntax_and_session_tags() {
        let mut buf = [0u8; 256];
        let mut enc = Encoder::new(&mut buf, b"FIX.4.4", b"D");
        enc.encoded_fields(b"11=O1");
        assert!(matches!(
            enc.finish(),
            Err(EncodeError::MalformedFields(
                FieldSyntaxError::MissingSoh { .. }
            ))
        ));
        let mut enc = Encoder::new(&mut buf, b"FIX.4.4", b"D");
        enc.encoded_fields(b"11=O1\x0110=000\x01");
        assert_eq!(enc.finish(), Err(EncodeError::SessionTag { tag: 10 }));
    }

    #[test]
    fn gap_fill_encodes_in_conformance_order() {
        let mut buf = [0u8; 256];
        let sent = UtcTimestamp::parse(b"20261124-06:07:35.123").unwrap();
        let orig = UtcTimestamp::parse(b"20261124-06:00:00.000").unwrap();
        let mut header = StandardHeader::new(b"ISLD", b"TW", 5, sent, TimePrecision::Millis);
        header.poss_dup = true;
        header.orig_sending_time = Some(orig);
        let mut enc = Encoder::new(&mut buf, b"FIX.4.2", b"4");
        enc.header(&header).uint(36, 9).bool(123, true);
        let msg = enc.finish().unwrap();
        let text = show(msg);
        assert!(
            text.starts_with(
                "8=FIX.4.2|9=91|35=4|34=5|43=Y|49=ISLD|52=20261124-06:07:35.123|56=TW|\
                 122=20261124-06:00:00.000|36=9|123=Y|10="
            ),
            "{text}"
        );
        let Decoded::Message(m) = decode(msg, &Limits::default()) else {
            panic!("encoder output does not decode: {text}");
        };
        assert_eq!(m.len(), msg.len());
        assert_eq!(m.get_u64(36), Ok(9));
    }

    #[test]
    fn every_value_type_round_trips() {
        let mut buf = [0u8; 512];
        let t = UtcTimestamp::parse(b"20261124-06:07:35.123456789").unwrap();
        let mut enc = Encoder::new(&mut buf, b"FIXT.1.1", b"D");
        enc.uint(34, u64::MAX)
            .int(5001, -42)
            .char(54, b'1')
            .bool(5002, false)
            .timestamp(60, t, TimePrecision::Nanos)
            .decimal(44, Decimal::new(-123_456, -3))
            .data(95, 96, b"x\x01y");
        let msg = enc.finish().unwrap();
        let Decoded::Message(m) = decode(msg, &Limits::default()) else {
            panic!("does not decode: {}", show(msg));
        };
        assert_eq!(m.get_u64(34), Ok(u64::MAX));
        assert_eq!(m.get_i64(5001), Ok(-42));
        assert_eq!(m.get_char(54), Ok(b'1'));
        assert_eq!(m.get_bool(5002), Ok(false));
        assert_eq!(m.get_timestamp(60), Ok(t));
        assert_eq!(m.get_decimal(44), Ok(Decimal::new(-123_456, -3)));
        assert_eq!(m.get(96), Some(&b"x\x01y"[..]));
    }

    #[test]
    fn small_buffer_is_an_error_not_a_panic() {
        // 8=FIX.4.4|9=30|35=0|34=1|49=SENDER|56=TARGET|10=nnn| is 52 bytes.
        for size in 0..=52 {
            let mut buf = vec![0u8; size];
            let mut enc = Encoder::new(&mut buf, b"FIX.4.4", b"0");
            enc.uint(34, 1).field(49, b"SENDER").field(56, b"TARGET");
            let result = enc.finish();
            if size < 52 {
                assert!(
                    matches!(result, Err(EncodeError::BufferTooSmall { .. })),
                    "size {size}"
                );
            } else {
                assert_eq!(result.map(<[u8]>::len), Ok(52));
            }
        }
    }

    #[test]
    fn bad_values_are_rejected() {
        let mut buf = [0u8; 128];
        let mut enc = Encoder::new(&mut buf, b"FIX.4.4", b"0");
        enc.field(58, b"a\x01b");
        assert_eq!(enc.finish(), Err(EncodeError::ValueContainsSoh { tag: 58 }));
        let mut enc = Encoder::new(&mut buf, b"FIX.4.4", b"0");
        enc.field(58, b"");
        assert_eq!(enc.finish(), Err(EncodeError::EmptyValue { tag: 58 }));
        let enc = Encoder::new(&mut buf, b"FIX\x014", b"0");
        assert_eq!(enc.finish(), Err(EncodeError::InvalidBeginString));
    }
}
