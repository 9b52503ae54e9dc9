//! [`Message`]: a view of one well-framed FIX message that borrows the receive buffer.
//!
//! A message is built by [`crate::decode`], which checks the framing and then makes one pass over
//! the fields. That pass checks every field's syntax and records where the session-level fields
//! are, so that [`Message::get`] answers for them in O(1). Other fields are found by iterating.

use core::fmt;

use crate::SOH;
use crate::tag;
use crate::value::{self, Decimal, UtcTimestamp, ValueError};

/// One `tag=value` field. The value never includes the SOH that ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub tag: u32,
    pub value: &'a [u8],
}

/// Why the bytes between the header and the trailer are not a sequence of `tag=value<SOH>` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldSyntaxError {
    /// A tag is empty, has a non-digit, starts with `0`, or does not fit in 32 bits.
    InvalidTag { offset: usize },
    /// A field has no `=` after its tag.
    MissingEquals { offset: usize },
    /// A field runs to the end of the body without its SOH.
    MissingSoh { offset: usize },
    /// A length-prefixed data field is longer than the message, or is not followed by SOH.
    DataLengthMismatch { offset: usize, tag: u32 },
    /// The field before a data field does not hold a valid length.
    InvalidDataLength { offset: usize, tag: u32 },
}

impl fmt::Display for FieldSyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FieldSyntaxError::InvalidTag { offset } => write!(f, "invalid tag at offset {offset}"),
            FieldSyntaxError::MissingEquals { offset } => {
                write!(f, "field without '=' at offset {offset}")
            }
            FieldSyntaxError::MissingSoh { offset } => {
                write!(f, "field without SOH at offset {offset}")
            }
            FieldSyntaxError::DataLengthMismatch { offset, tag } => {
                write!(
                    f,
                    "data field {tag} at offset {offset} does not match its length"
                )
            }
            FieldSyntaxError::InvalidDataLength { offset, tag } => {
                write!(f, "invalid length for data field {tag} at offset {offset}")
            }
        }
    }
}

impl std::error::Error for FieldSyntaxError {}

/// Why a typed accessor could not return a field's value. Each kind maps to one
/// SessionRejectReason (373): missing is 1, empty is 4, invalid is 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldError {
    /// The field is not in the message.
    Missing { tag: u32 },
    /// The field is present with an empty value.
    Empty { tag: u32 },
    /// The value is not of the field's type.
    Invalid { tag: u32, error: ValueError },
}

impl FieldError {
    /// The tag the error is about (RefTagID, 371).
    pub fn tag(&self) -> u32 {
        match *self {
            FieldError::Missing { tag } | FieldError::Empty { tag } => tag,
            FieldError::Invalid { tag, .. } => tag,
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldError::Missing { tag } => write!(f, "required tag {tag} missing"),
            FieldError::Empty { tag } => write!(f, "tag {tag} specified without a value"),
            FieldError::Invalid { tag, error } => write!(f, "tag {tag}: {error}"),
        }
    }
}

impl std::error::Error for FieldError {}

/// The tags whose position the field pass records, in slot order. These are what the session
/// layer and the sequence checker read on every message.
const INDEXED_TAGS: [u32; 24] = [
    tag::MSG_SEQ_NUM,
    tag::POSS_DUP_FLAG,
    tag::SENDER_COMP_ID,
    tag::SENDER_SUB_ID,
    tag::SENDING_TIME,
    tag::TARGET_COMP_ID,
    tag::TARGET_SUB_ID,
    tag::POSS_RESEND,
    tag::ON_BEHALF_OF_COMP_ID,
    tag::ORIG_SENDING_TIME,
    tag::DELIVER_TO_COMP_ID,
    tag::LAST_MSG_SEQ_NUM_PROCESSED,
    tag::APPL_VER_ID,
    tag::BEGIN_SEQ_NO,
    tag::END_SEQ_NO,
    tag::NEW_SEQ_NO,
    tag::GAP_FILL_FLAG,
    tag::HEART_BT_INT,
    tag::TEST_REQ_ID,
    tag::RESET_SEQ_NUM_FLAG,
    tag::NEXT_EXPECTED_MSG_SEQ_NUM,
    tag::ENCRYPT_METHOD,
    tag::DEFAULT_APPL_VER_ID,
    tag::TEXT,
];

/// [`TAG_CLASS`] entry of a tag the field pass has nothing to do for.
const PLAIN: u8 = u8::MAX;
/// [`TAG_CLASS`] entry of MsgType (35).
const MSG_TYPE_CLASS: u8 = u8::MAX - 1;
/// [`TAG_CLASS`] entry of a data-length tag (RawDataLength, XmlDataLen, ...).
const DATA_LENGTH_CLASS: u8 = u8::MAX - 2;
/// Every indexed and data-length tag is below this.
const TAG_CLASS_LEN: usize = 1470;

/// What the field pass does with each tag, in one table load instead of a search per field: an
/// indexed tag's slot, or one of the classes above. Built at compile time from [`INDEXED_TAGS`]
/// and [`tag::DATA_FIELDS`] (a tag beyond the table's end fails the build).
const TAG_CLASS: [u8; TAG_CLASS_LEN] = {
    let mut table = [PLAIN; TAG_CLASS_LEN];
    let mut i = 0;
    while i < INDEXED_TAGS.len() {
        table[INDEXED_TAGS[i] as usize] = i as u8;
        i += 1;
    }
    let mut j = 0;
    while j < tag::DATA_FIELDS.len() {
        table[tag::DATA_FIELDS[j].0 as usize] = DATA_LENGTH_CLASS;
        j += 1;
    }
    table[tag::MSG_TYPE as usize] = MSG_TYPE_CLASS;
    table
};

#[inline(always)]
fn tag_class(tag: u32) -> u8 {
    TAG_CLASS.get(tag as usize).copied().unwrap_or(PLAIN)
}

/// The slot of an indexed tag.
#[inline]
fn slot(tag: u32) -> Option<usize> {
    let class = usize::from(tag_class(tag));
    (class < INDEXED_TAGS.len()).then_some(class)
}

/// Where a value lies in the message: `start..start + len`. `len == u32::MAX` means absent.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    const ABSENT: Span = Span {
        start: 0,
        len: u32::MAX,
    };
}

/// A well-framed FIX message: `8=...|9=...|35=...|...|10=nnn|`, borrowing the buffer it was read
/// from. Created by [`crate::decode`]; the framing, the checksum and every field's syntax have
/// been checked. What the fields mean is not checked here: that is `gapless-dict`'s and the
/// session's job.
#[derive(Clone)]
pub struct Message<'a> {
    bytes: &'a [u8],
    begin_string: Span,
    msg_type: Span,
    /// Offset of `10=`.
    trailer_start: u32,
    field_count: u32,
    indexed: [Span; INDEXED_TAGS.len()],
}

impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Shown the way FIX logs show messages: SOH as '|'.
        f.write_str("Message(")?;
        for &b in self.bytes {
            let c = if b == SOH { '|' } else { char::from(b) };
            fmt::Write::write_char(f, if c.is_ascii() { c } else { '?' })?;
        }
        f.write_str(")")
    }
}

impl<'a> Message<'a> {
    /// Indexes a message whose framing [`crate::decode`] has checked: `bytes` starts with
    /// `8=<begin string><SOH>9=<digits><SOH>35=`, `body_start` is the offset just after the SOH
    /// that ends the BodyLength field, and `trailer_start` is the offset of `10=`.
    pub(crate) fn index(
        bytes: &'a [u8],
        begin_string_end: usize,
        body_start: usize,
        trailer_start: usize,
    ) -> Result<Message<'a>, FieldSyntaxError> {
        let mut message = Message {
            bytes,
            begin_string: Span {
                start: 2,
                len: (begin_string_end - 2) as u32,
            },
            msg_type: Span::ABSENT,
            trailer_start: trailer_start as u32,
            field_count: 3, // 8, 9 and 10, which the framing has checked
            indexed: [Span::ABSENT; INDEXED_TAGS.len()],
        };
        let mut cursor = FieldCursor::new(bytes, body_start, trailer_start);
        while !cursor.at_end() {
            let field = cursor.next_field()?;
            message.note(&field);
            if field.class == DATA_LENGTH_CLASS
                && let Some(data) = cursor.data_field(&field)?
            {
                message.note(&data);
            }
        }
        Ok(message)
    }

    /// Counts a field and records its position if it is one the index keeps.
    #[inline(always)]
    fn note(&mut self, field: &RawField) {
        self.field_count += 1;
        let span = Span {
            start: field.start as u32,
            len: (field.end - field.start) as u32,
        };
        // The first occurrence wins; repeated tags are the dictionary's to reject (373=13).
        if let Some(indexed) = self.indexed.get_mut(usize::from(field.class)) {
            if *indexed == Span::ABSENT {
                *indexed = span;
            }
        } else if field.class == MSG_TYPE_CLASS && self.msg_type == Span::ABSENT {
            self.msg_type = span;
        }
    }

    fn span(&self, span: Span) -> &'a [u8] {
        let start = span.start as usize;
        &self.bytes[start..start + span.len as usize]
    }

    /// The whole message, from `8=` to the SOH after the checksum.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The message's length in bytes, checksum included.
    #[allow(clippy::len_without_is_empty)] // a framed message is never empty
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// BeginString (8), for example `FIX.4.2` or `FIXT.1.1`.
    pub fn begin_string(&self) -> &'a [u8] {
        self.span(self.begin_string)
    }

    /// MsgType (35), for example `D` or `AE`.
    pub fn msg_type(&self) -> &'a [u8] {
        self.span(self.msg_type)
    }

    /// The body from MsgType (35) up to and including the SOH before `10=`: the bytes BodyLength
    /// counts.
    pub fn body(&self) -> &'a [u8] {
        &self.bytes[self.msg_type.start as usize - 3..self.trailer_start as usize]
    }

    /// CheckSum (10), already verified.
    pub fn checksum(&self) -> u8 {
        let t = self.trailer_start as usize + 3;
        let digits = &self.bytes[t..t + 3];
        // The framing accepted three digits summing to the checksum, so this cannot exceed 255.
        digits
            .iter()
            .fold(0u16, |n, &d| n * 10 + u16::from(d - b'0')) as u8
    }

    /// The number of fields, 8, 9, 35 and 10 included.
    pub fn field_count(&self) -> usize {
        self.field_count as usize
    }

    /// Every field in wire order, 8, 9, 35 and 10 included.
    pub fn fields(&self) -> Fields<'a> {
        Fields {
            cursor: FieldCursor::new(self.bytes, 0, self.bytes.len()),
            after_length: None,
        }
    }

    /// The first value of `tag`: O(1) for the session-level tags the field pass indexes, a scan
    /// for the others.
    pub fn get(&self, tag: u32) -> Option<&'a [u8]> {
        match tag {
            tag::BEGIN_STRING => Some(self.begin_string()),
            tag::MSG_TYPE => Some(self.msg_type()),
            _ => match slot(tag) {
                Some(slot) => {
                    let span = self.indexed[slot];
                    (span != Span::ABSENT).then(|| self.span(span))
                }
                None => self.fields().find(|f| f.tag == tag).map(|f| f.value),
            },
        }
    }

    /// The value of a required field: missing and empty are errors.
    pub fn require(&self, tag: u32) -> Result<&'a [u8], FieldError> {
        match self.get(tag) {
            None => Err(FieldError::Missing { tag }),
            Some([]) => Err(FieldError::Empty { tag }),
            Some(value) => Ok(value),
        }
    }

    fn typed<T>(
        &self,
        tag: u32,
        parse: impl FnOnce(&[u8]) -> Result<T, ValueError>,
    ) -> Result<T, FieldError> {
        parse(self.require(tag)?).map_err(|error| FieldError::Invalid { tag, error })
    }

    /// A non-negative integer field (SeqNum, Length, NumInGroup, ...).
    pub fn get_u64(&self, tag: u32) -> Result<u64, FieldError> {
        self.typed(tag, value::parse_u64)
    }

    /// A signed integer field.
    pub fn get_i64(&self, tag: u32) -> Result<i64, FieldError> {
        self.typed(tag, value::parse_i64)
    }

    /// A Boolean (Y/N) field.
    pub fn get_bool(&self, tag: u32) -> Result<bool, FieldError> {
        self.typed(tag, value::parse_bool)
    }

    /// A char field.
    pub fn get_char(&self, tag: u32) -> Result<u8, FieldError> {
        self.typed(tag, value::parse_char)
    }

    /// A UTCTimestamp field, at any of the four precisions.
    pub fn get_timestamp(&self, tag: u32) -> Result<UtcTimestamp, FieldError> {
        self.typed(tag, UtcTimestamp::parse)
    }

    /// A float field (Price, Qty, Amt, ...) as an exact decimal.
    pub fn get_decimal(&self, tag: u32) -> Result<Decimal, FieldError> {
        self.typed(tag, Decimal::parse)
    }

    /// MsgSeqNum (34).
    pub fn msg_seq_num(&self) -> Result<u64, FieldError> {
        self.get_u64(tag::MSG_SEQ_NUM)
    }

    /// PossDupFlag (43); absent means `N`.
    pub fn poss_dup(&self) -> Result<bool, FieldError> {
        match self.get(tag::POSS_DUP_FLAG) {
            None => Ok(false),
            Some(_) => self.get_bool(tag::POSS_DUP_FLAG),
        }
    }

    /// SendingTime (52).
    pub fn sending_time(&self) -> Result<UtcTimestamp, FieldError> {
        self.get_timestamp(tag::SENDING_TIME)
    }
}

/// The fields of a [`Message`] in wire order. See [`Message::fields`].
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    cursor: FieldCursor<'a>,
    /// The data-length field just returned, whose data field may come next.
    after_length: Option<RawField>,
}

impl<'a> Fields<'a> {
    fn field(&self, raw: RawField) -> Field<'a> {
        Field {
            tag: raw.tag,
            value: &self.cursor.bytes[raw.start..raw.end],
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        // The message was checked when it was indexed, so a syntax error cannot occur here; if
        // one did, ending the iteration is the safe answer.
        if let Some(length) = self.after_length.take()
            && let Some(data) = self.cursor.data_field(&length).ok()?
        {
            return Some(self.field(data));
        }
        if self.cursor.at_end() {
            return None;
        }
        let field = self.cursor.next_field().ok()?;
        if field.class == DATA_LENGTH_CLASS {
            self.after_length = Some(field);
        }
        Some(self.field(field))
    }
}

/// Iterates `bytes` as a sequence of `tag=value<SOH>` fields (data fields read by their length)
/// and gives each field to `visit`; the first syntax error stops the walk. This is how
/// pre-encoded body fields (from an application ring, say) are checked before they are sent.
pub fn walk_fields<'a>(
    bytes: &'a [u8],
    mut visit: impl FnMut(Field<'a>),
) -> Result<(), FieldSyntaxError> {
    let mut cursor = FieldCursor::new(bytes, 0, bytes.len());
    while !cursor.at_end() {
        let field = cursor.next_field()?;
        visit(Field {
            tag: field.tag,
            value: &bytes[field.start..field.end],
        });
        if field.class == DATA_LENGTH_CLASS
            && let Some(data) = cursor.data_field(&field)?
        {
            visit(Field {
                tag: data.tag,
                value: &bytes[data.start..data.end],
            });
        }
    }
    Ok(())
}

/// Splits `bytes[pos..end]` into fields, honouring length-prefixed data fields.
#[derive(Debug, Clone)]
struct FieldCursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    end: usize,
}

/// One field's position: the tag, its [`TAG_CLASS`] entry, and where its value lies.
#[derive(Debug, Clone, Copy)]
struct RawField {
    tag: u32,
    class: u8,
    start: usize,
    end: usize,
}

impl<'a> FieldCursor<'a> {
    fn new(bytes: &'a [u8], pos: usize, end: usize) -> Self {
        FieldCursor { bytes, pos, end }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    /// The next field; call only when not [`FieldCursor::at_end`].
    // Always inlined into the field pass, its hot loop: as a call, its result went through
    // memory on every field (measured in docs/performance.md).
    #[inline(always)]
    fn next_field(&mut self) -> Result<RawField, FieldSyntaxError> {
        let field_start = self.pos;
        let (tag, start) = read_tag(self.bytes, field_start, self.end)?;
        let Some(end) = find_byte(self.bytes, start, self.end, SOH) else {
            return Err(FieldSyntaxError::MissingSoh {
                offset: field_start,
            });
        };
        self.pos = end + 1;
        let class = tag_class(tag);
        Ok(RawField {
            tag,
            class,
            start,
            end,
        })
    }

    /// After a data-length field: if the data field it announces comes next, reads it by its
    /// length (it may contain SOH) and returns it; otherwise leaves the cursor where it was.
    #[cold]
    fn data_field(&mut self, length: &RawField) -> Result<Option<RawField>, FieldSyntaxError> {
        let Some(data_tag) = tag::data_tag_for_length(length.tag) else {
            return Ok(None);
        };
        let len = value::parse_u64(&self.bytes[length.start..length.end])
            .ok()
            .and_then(|len| usize::try_from(len).ok())
            .ok_or(FieldSyntaxError::InvalidDataLength {
                offset: self.pos,
                tag: data_tag,
            })?;
        if self.at_end() {
            return Ok(None);
        }
        let field_start = self.pos;
        let (tag, start) = read_tag(self.bytes, field_start, self.end)?;
        if tag != data_tag {
            return Ok(None);
        }
        let end = start.saturating_add(len);
        if end >= self.end || self.bytes[end] != SOH {
            return Err(FieldSyntaxError::DataLengthMismatch {
                offset: field_start,
                tag,
            });
        }
        self.pos = end + 1;
        Ok(Some(RawField {
            tag,
            class: PLAIN,
            start,
            end,
        }))
    }
}

/// Reads the tag of the field at `pos`; returns the tag and the offset just after its `=`.
#[inline(always)]
fn read_tag(bytes: &[u8], pos: usize, end: usize) -> Result<(u32, usize), FieldSyntaxError> {
    // A tag is a positive integer written without leading zeros.
    if bytes.get(pos) == Some(&b'0') {
        return Err(FieldSyntaxError::InvalidTag { offset: pos });
    }
    let Some(equals) = find_byte(bytes, pos, end, b'=') else {
        return Err(FieldSyntaxError::MissingEquals { offset: pos });
    };
    let digits = &bytes[pos..equals];
    let mut tag: u64 = 0;
    for &b in digits {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            // An SOH first means this field has no '='; the '=' found belongs to a later one.
            return Err(if b == SOH {
                FieldSyntaxError::MissingEquals { offset: pos }
            } else {
                FieldSyntaxError::InvalidTag { offset: pos }
            });
        }
        // Wrapping is harmless: more than ten digits is rejected below.
        tag = tag.wrapping_mul(10).wrapping_add(u64::from(digit));
    }
    if digits.is_empty() || digits.len() > MAX_TAG_DIGITS || tag > u64::from(u32::MAX) {
        return Err(FieldSyntaxError::InvalidTag { offset: pos });
    }
    Ok((tag as u32, equals + 1))
}

/// `u32::MAX` has ten digits.
const MAX_TAG_DIGITS: usize = 10;

/// `0x01` in every byte.
const LOW_BITS: u64 = 0x0101_0101_0101_0101;
/// `0x80` in every byte.
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The offset of the first `needle` in `bytes[from..end]`, testing eight bytes per step.
///
/// Fields are short but many: one word test per eight bytes costs a fraction of a byte loop
/// (measured in docs/performance.md), and memchr's call overhead does not pay off on values of
/// a few bytes.
#[inline(always)]
fn find_byte(bytes: &[u8], from: usize, end: usize, needle: u8) -> Option<usize> {
    let end = end.min(bytes.len());
    let mut i = from;
    while i + 8 <= end {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[i..i + 8]);
        // Bytes equal to `needle` become zero; the classic zero-byte test then flags them.
        // Only its lowest flag is exact (a borrow can flag a byte above a match), and only the
        // lowest is used.
        let x = u64::from_le_bytes(word) ^ (LOW_BITS * u64::from(needle));
        let found = x.wrapping_sub(LOW_BITS) & !x & HIGH_BITS;
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    bytes[i.min(end)..end]
        .iter()
        .position(|&b| b == needle)
        .map(|n| i + n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_byte_agrees_with_a_byte_loop() {
        let bytes: Vec<u8> = (0..300u32).map(|i| (i * 7 % 5) as u8).collect();
        for from in 0..40 {
            for end in from..bytes.len() {
                for needle in 0..5u8 {
                    let expected = bytes[from..end]
                        .iter()
                        .position(|&b| b == needle)
                        .map(|n| from + n);
                    assert_eq!(find_byte(&bytes, from, end, needle), expected);
                }
            }
        }
    }

    #[test]
    fn tag_class_table_marks_every_special_tag() {
        for &(length, data) in tag::DATA_FIELDS {
            assert_eq!(tag_class(length), DATA_LENGTH_CLASS);
            assert_eq!(tag_class(data), PLAIN);
        }
        assert_eq!(tag_class(tag::MSG_TYPE), MSG_TYPE_CLASS);
        assert_eq!(tag_class(55), PLAIN);
        assert_eq!(tag_class(u32::MAX), PLAIN);
    }

    #[test]
    fn indexed_tags_match_their_slots() {
        for (i, &t) in INDEXED_TAGS.iter().enumerate() {
            assert_eq!(slot(t), Some(i), "tag {t}");
        }
    }

    #[test]
    fn read_tag_rejects_leading_zero_and_overflow() {
        assert_eq!(
            read_tag(b"034=1\x01", 0, 6),
            Err(FieldSyntaxError::InvalidTag { offset: 0 })
        );
        assert_eq!(
            read_tag(b"99999999999=1\x01", 0, 14),
            Err(FieldSyntaxError::InvalidTag { offset: 0 })
        );
        assert_eq!(
            read_tag(b"=1\x01", 0, 3),
            Err(FieldSyntaxError::InvalidTag { offset: 0 })
        );
        assert_eq!(
            read_tag(b"34\x01", 0, 3),
            Err(FieldSyntaxError::MissingEquals { offset: 0 })
        );
        assert_eq!(read_tag(b"34=5\x01", 0, 5), Ok((34, 3)));
    }
}
