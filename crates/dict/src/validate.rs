//! Message validation against a [`SessionDictionary`], answering with a SessionRejectReason (373).
//!
//! [`validate`] makes one pass over the fields in wire order, reading repeating groups
//! structurally (nested groups included), and remembers the first problem of each kind. When
//! several problems are present, the one reported is chosen in this order, which follows
//! QuickFIX's `DataDictionary::validate` where it matters:
//!
//! 1. `18` ApplVerID (1128) names no known version (FIXT.1.1 sessions; checked before anything
//!    else because it decides which dictionary the body is read with);
//! 2. `14` tag specified out of required order: 8, 9, 35 not first, a header field after the
//!    body began, or a header or body field after the trailer began;
//! 3. `11` invalid MsgType;
//! 4. `1` required tag missing: header, trailer, body, then inside each group instance;
//! 5. field-level problems, the first field in wire order wins. On one field the checks run in
//!    QuickFIX's order: `13` tag appears more than once (outside groups), `4` tag specified without
//!    a value, `6` incorrect data format, `5` value is incorrect (enumerations, each element of a
//!    multiple-value type), `0` invalid tag number, `2` tag not defined for this message type,
//!    `16` incorrect NumInGroup count. A group member met before its group's delimiter, or twice
//!    in one instance, is `15` repeating group fields out of order, at that field.
//!
//! Group instances start at the delimiter (the group's first field); members may then come in
//! any order, as QuickFIX accepts. A field that is not a member of the current group ends it.
//!
//! Validation never allocates and never panics, whatever the message holds. (One consequence:
//! with `check_tag_numbers` off, repeats are tracked for at most 64 distinct tags above 10239,
//! tags no dictionary defines.)

use core::fmt;

use gapless_codec::{Field, Fields, Message, tag};

use crate::dictionary::MAX_GROUP_MEMBERS;
use crate::format::is_valid_format;
use crate::{Dictionary, FieldDef, GroupDef, MemberSet, MessageDef, SessionDictionary};

/// SessionRejectReason (373): why a message was rejected at the session level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u32)]
pub enum SessionRejectReason {
    InvalidTagNumber = 0,
    RequiredTagMissing = 1,
    TagNotDefinedForMessageType = 2,
    UndefinedTag = 3,
    TagSpecifiedWithoutValue = 4,
    ValueIsIncorrect = 5,
    IncorrectDataFormat = 6,
    DecryptionProblem = 7,
    SignatureProblem = 8,
    CompIdProblem = 9,
    SendingTimeAccuracyProblem = 10,
    InvalidMsgType = 11,
    XmlValidationError = 12,
    TagAppearsMoreThanOnce = 13,
    TagSpecifiedOutOfRequiredOrder = 14,
    RepeatingGroupFieldsOutOfOrder = 15,
    IncorrectNumInGroupCount = 16,
    NonDataValueIncludesFieldDelimiter = 17,
    InvalidUnsupportedApplVersion = 18,
    Other = 99,
}

impl SessionRejectReason {
    /// The value of SessionRejectReason (373).
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The reason with FIX code `code`.
    pub const fn from_code(code: u32) -> Option<Self> {
        use SessionRejectReason::*;
        Some(match code {
            0 => InvalidTagNumber,
            1 => RequiredTagMissing,
            2 => TagNotDefinedForMessageType,
            3 => UndefinedTag,
            4 => TagSpecifiedWithoutValue,
            5 => ValueIsIncorrect,
            6 => IncorrectDataFormat,
            7 => DecryptionProblem,
            8 => SignatureProblem,
            9 => CompIdProblem,
            10 => SendingTimeAccuracyProblem,
            11 => InvalidMsgType,
            12 => XmlValidationError,
            13 => TagAppearsMoreThanOnce,
            14 => TagSpecifiedOutOfRequiredOrder,
            15 => RepeatingGroupFieldsOutOfOrder,
            16 => IncorrectNumInGroupCount,
            17 => NonDataValueIncludesFieldDelimiter,
            18 => InvalidUnsupportedApplVersion,
            99 => Other,
            _ => return None,
        })
    }

    /// The FIX specification's wording, suitable for Text (58) of a Reject.
    pub const fn description(self) -> &'static str {
        use SessionRejectReason::*;
        match self {
            InvalidTagNumber => "Invalid tag number",
            RequiredTagMissing => "Required tag missing",
            TagNotDefinedForMessageType => "Tag not defined for this message type",
            UndefinedTag => "Undefined Tag",
            TagSpecifiedWithoutValue => "Tag specified without a value",
            ValueIsIncorrect => "Value is incorrect (out of range) for this tag",
            IncorrectDataFormat => "Incorrect data format for value",
            DecryptionProblem => "Decryption problem",
            SignatureProblem => "Signature problem",
            CompIdProblem => "CompID problem",
            SendingTimeAccuracyProblem => "SendingTime accuracy problem",
            InvalidMsgType => "Invalid MsgType",
            XmlValidationError => "XML Validation error",
            TagAppearsMoreThanOnce => "Tag appears more than once",
            TagSpecifiedOutOfRequiredOrder => "Tag specified out of required order",
            RepeatingGroupFieldsOutOfOrder => "Repeating group fields out of order",
            IncorrectNumInGroupCount => "Incorrect NumInGroup count for repeating group",
            NonDataValueIncludesFieldDelimiter => {
                "Non-data value includes field delimiter (SOH character)"
            }
            InvalidUnsupportedApplVersion => "Invalid/Unsupported Application Version",
            Other => "Other",
        }
    }
}

impl fmt::Display for SessionRejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.code())
    }
}

/// Why a message is rejected: the SessionRejectReason (373) and the RefTagID (371) it concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rejection {
    pub reason: SessionRejectReason,
    pub ref_tag: Option<u32>,
}

impl Rejection {
    const fn new(reason: SessionRejectReason, tag: u32) -> Self {
        Rejection {
            reason,
            ref_tag: Some(tag),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ref_tag {
            Some(tag) => write!(f, "{}, tag {tag}", self.reason),
            None => write!(f, "{}", self.reason),
        }
    }
}

impl std::error::Error for Rejection {}

/// Which checks [`validate`] makes. `Default` makes them all and, as QuickFIX does by default,
/// treats undefined user-defined tags like any other undefined tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationOptions {
    /// `0`: reject tags the dictionary does not define.
    pub check_tag_numbers: bool,
    /// Accept tags of the user-defined range 5000..=9999 that the dictionary does not define, in
    /// any message (no `0` or `2` for them).
    pub allow_user_defined_tags: bool,
    /// `1`: reject messages missing a required field or group.
    pub check_required: bool,
    /// `2`: reject fields the message's definition does not list.
    pub check_tags_in_message: bool,
    /// `4`: reject empty values.
    pub check_empty_values: bool,
    /// `5`: reject values outside a field's enumeration.
    pub check_enum_values: bool,
    /// `6`: reject values malformed for the field's type.
    pub check_data_format: bool,
    /// `11`: reject MsgTypes the dictionary does not define. When off, such a message's body gets
    /// the field-level checks only (`4`, `6`, `5`, `0`).
    pub check_msg_type: bool,
    /// `13`: reject a tag repeated outside repeating groups.
    pub check_repeated_tags: bool,
    /// `14`: reject header, body and trailer fields out of their sections' order.
    pub check_field_order: bool,
    /// `15` and `16`: reject malformed repeating groups.
    pub check_groups: bool,
    /// `18`: reject an ApplVerID (1128) naming no known version (FIXT.1.1 sessions).
    pub check_appl_ver_id: bool,
}

impl Default for ValidationOptions {
    fn default() -> Self {
        ValidationOptions {
            check_tag_numbers: true,
            allow_user_defined_tags: false,
            check_required: true,
            check_tags_in_message: true,
            check_empty_values: true,
            check_enum_values: true,
            check_data_format: true,
            check_msg_type: true,
            check_repeated_tags: true,
            check_field_order: true,
            check_groups: true,
            check_appl_ver_id: true,
        }
    }
}

/// The user-defined tag range of the FIX specification.
const USER_DEFINED_TAGS: core::ops::RangeInclusive<u32> = 5000..=9999;

/// Validates `msg` against `dict`. See the module documentation for the checks and their order.
pub fn validate(
    dict: &SessionDictionary,
    msg: &Message<'_>,
    opts: &ValidationOptions,
) -> Result<(), Rejection> {
    let session = match msg.get(tag::APPL_VER_ID) {
        Some(appl_ver_id) if dict.is_fixt() => match dict.with_appl_ver_id(appl_ver_id) {
            Ok(session) => session,
            Err(_) if opts.check_appl_ver_id => {
                return Err(Rejection::new(
                    SessionRejectReason::InvalidUnsupportedApplVersion,
                    tag::APPL_VER_ID,
                ));
            }
            Err(_) => *dict,
        },
        _ => *dict,
    };
    let message = session.message(msg.msg_type());

    let mut validator = Validator {
        opts,
        transport: session.transport(),
        application: session.application(),
        fields: msg.fields(),
        peeked: None,
        next_pos: 0,
        seen: TagSet::new(),
        out_of_order: None,
        group_required: None,
        first_field_error: None,
    };
    validator.walk(message);

    if let Some(rejection) = validator.out_of_order {
        return Err(rejection);
    }
    if message.is_none() && opts.check_msg_type {
        return Err(Rejection::new(
            SessionRejectReason::InvalidMsgType,
            tag::MSG_TYPE,
        ));
    }
    if opts.check_required {
        let transport = session.transport();
        // An unknown MsgType (with its check off) has no body to require anything of.
        let body = message.map_or(&[][..], |(_, m)| m.body().required());
        for required in [
            transport.header().required(),
            transport.trailer().required(),
            body,
        ] {
            if let Some(&(missing, _)) = required
                .iter()
                .find(|&&(tag, _)| !validator.seen.contains(tag))
            {
                return Err(Rejection::new(
                    SessionRejectReason::RequiredTagMissing,
                    missing,
                ));
            }
        }
        if let Some(rejection) = validator.group_required {
            return Err(rejection);
        }
    }
    validator.first_field_error.map_or(Ok(()), |(_, r)| Err(r))
}

/// Which part of the message the walk is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Header,
    Body,
    Trailer,
}

struct Validator<'a, 'm> {
    opts: &'m ValidationOptions,
    transport: &'static Dictionary,
    /// Reads the body of a message whose MsgType no dictionary defines.
    application: &'static Dictionary,
    fields: Fields<'a>,
    peeked: Option<Field<'a>>,
    /// The wire position of the next field `advance` returns.
    next_pos: usize,
    /// Tags met outside repeating groups.
    seen: TagSet,
    out_of_order: Option<Rejection>,
    /// The first required member missing from a group instance.
    group_required: Option<Rejection>,
    /// The field-level problem at the lowest wire position.
    first_field_error: Option<(usize, Rejection)>,
}

impl<'a> Validator<'a, '_> {
    fn peek(&mut self) -> Option<Field<'a>> {
        if self.peeked.is_none() {
            self.peeked = self.fields.next();
        }
        self.peeked
    }

    fn advance(&mut self) -> Option<(usize, Field<'a>)> {
        let field = self.peeked.take().or_else(|| self.fields.next())?;
        let pos = self.next_pos;
        self.next_pos += 1;
        Some((pos, field))
    }

    /// Keeps the problem at the lowest position; on a tie, the one found first.
    fn field_error(&mut self, pos: usize, reason: SessionRejectReason, tag: u32) {
        if self.first_field_error.is_none_or(|(first, _)| pos < first) {
            self.first_field_error = Some((pos, Rejection::new(reason, tag)));
        }
    }

    fn order_error(&mut self, tag: u32) {
        if self.opts.check_field_order && self.out_of_order.is_none() {
            self.out_of_order = Some(Rejection::new(
                SessionRejectReason::TagSpecifiedOutOfRequiredOrder,
                tag,
            ));
        }
    }

    fn is_allowed_user_tag(&self, tag: u32) -> bool {
        self.opts.allow_user_defined_tags && USER_DEFINED_TAGS.contains(&tag)
    }

    /// Walks the top level of the message, handing repeating groups to `walk_group`.
    fn walk(&mut self, message: Option<(&'static Dictionary, &'static MessageDef)>) {
        const FIRST_THREE: [u32; 3] = [tag::BEGIN_STRING, tag::BODY_LENGTH, tag::MSG_TYPE];
        let transport = self.transport;
        let mut section = Section::Header;
        while let Some((pos, field)) = self.advance() {
            if FIRST_THREE
                .get(pos)
                .is_some_and(|&expected| expected != field.tag)
            {
                self.order_error(field.tag);
            }
            let (place, member) = if let Some(member) = transport.header().get(field.tag) {
                (Section::Header, Some(member))
            } else if let Some(member) = transport.trailer().get(field.tag) {
                (Section::Trailer, Some(member))
            } else {
                let member = message.and_then(|(_, m)| m.body().get(field.tag));
                (Section::Body, member)
            };
            match (section, place) {
                (Section::Body | Section::Trailer, Section::Header)
                | (Section::Trailer, Section::Body) => self.order_error(field.tag),
                _ => section = place,
            }

            let fresh = self.seen.insert(field.tag);
            // Without a message definition its groups cannot be told apart, so neither can
            // legitimately repeated group members.
            let structured = place != Section::Body || message.is_some();
            if !fresh && structured && self.opts.check_repeated_tags {
                self.field_error(pos, SessionRejectReason::TagAppearsMoreThanOnce, field.tag);
            }

            let dict = match (place, message) {
                (Section::Body, Some((dict, _))) => dict,
                (Section::Body, None) => self.application,
                _ => transport,
            };
            let defined = dict.field(field.tag);
            self.check_value(pos, field, defined);
            if place == Section::Body
                && member.is_none()
                && message.is_some()
                && self.opts.check_tags_in_message
                && !(defined.is_none() && self.is_allowed_user_tag(field.tag))
            {
                self.field_error(
                    pos,
                    SessionRejectReason::TagNotDefinedForMessageType,
                    field.tag,
                );
            }
            if let Some(group) = member.and_then(|m| m.group()) {
                self.walk_group(dict, group, pos, field);
            }
        }
    }

    /// Checks `4`, `6`, `5` and `0` on one field, in QuickFIX's order.
    fn check_value(&mut self, pos: usize, field: Field<'a>, def: Option<&'static FieldDef>) {
        if field.value.is_empty() {
            if self.opts.check_empty_values {
                self.field_error(
                    pos,
                    SessionRejectReason::TagSpecifiedWithoutValue,
                    field.tag,
                );
            }
        } else if let Some(def) = def {
            if self.opts.check_data_format && !is_valid_format(def.field_type, field.value) {
                self.field_error(pos, SessionRejectReason::IncorrectDataFormat, field.tag);
            } else if self.opts.check_enum_values
                // MsgType's enumeration is the message table, checked as `11`.
                && field.tag != tag::MSG_TYPE
                && !def.is_allowed_value(field.value)
            {
                self.field_error(pos, SessionRejectReason::ValueIsIncorrect, field.tag);
            }
        }
        if def.is_none() && self.opts.check_tag_numbers && !self.is_allowed_user_tag(field.tag) {
            self.field_error(pos, SessionRejectReason::InvalidTagNumber, field.tag);
        }
    }

    /// Reads the instances of `group`, whose NumInGroup field `count` (at `count_pos`) has just
    /// been read, and checks their number.
    fn walk_group(
        &mut self,
        dict: &'static Dictionary,
        group: &'static GroupDef,
        count_pos: usize,
        count: Field<'a>,
    ) {
        let members = group.members();
        let delimiter = group.delimiter();
        let mut instances: u64 = 0;
        let mut instance = MemberBits::new();
        // A group that does not start with its delimiter has no countable instances; `15`
        // says what is wrong, a `16` on top would only mislead.
        let mut starts_with_delimiter = true;
        while let Some(next) = self.peek() {
            let Some(index) = members.position(next.tag) else {
                break;
            };
            if next.tag == delimiter {
                if instances > 0 {
                    self.check_instance_required(members, &instance);
                }
                instances += 1;
                instance = MemberBits::new();
            } else if instances == 0 {
                // Not consumed: the enclosing level reads it (and rejects it as misplaced).
                if self.opts.check_groups {
                    self.field_error(
                        self.next_pos,
                        SessionRejectReason::RepeatingGroupFieldsOutOfOrder,
                        next.tag,
                    );
                }
                starts_with_delimiter = false;
                break;
            } else if instance.contains(index) && self.opts.check_groups {
                self.field_error(
                    self.next_pos,
                    SessionRejectReason::RepeatingGroupFieldsOutOfOrder,
                    next.tag,
                );
            }
            instance.insert(index);
            let Some((pos, field)) = self.advance() else {
                break;
            };
            self.check_value(pos, field, dict.field(field.tag));
            if let Some(nested) = members.members().get(index).and_then(|m| m.group()) {
                self.walk_group(dict, nested, pos, field);
            }
        }
        if instances > 0 {
            self.check_instance_required(members, &instance);
        }
        let declared = gapless_codec::value::parse_u64(count.value);
        if self.opts.check_groups
            && starts_with_delimiter
            && declared.is_ok_and(|declared| declared != instances)
        {
            self.field_error(
                count_pos,
                SessionRejectReason::IncorrectNumInGroupCount,
                count.tag,
            );
        }
    }

    fn check_instance_required(&mut self, members: &MemberSet, instance: &MemberBits) {
        if self.group_required.is_some() {
            return;
        }
        let missing = members
            .required()
            .iter()
            .find(|&&(_, index)| !instance.contains(usize::from(index)));
        if let Some(&(tag, _)) = missing {
            self.group_required =
                Some(Rejection::new(SessionRejectReason::RequiredTagMissing, tag));
        }
    }
}

/// The tags met so far: a bit set over the tags every dictionary and the user-defined range
/// use, and a short list for larger tags (all undefined, so rare in anything but junk).
struct TagSet {
    low: [u64; TagSet::WORDS],
    high: [u32; TagSet::HIGH_CAPACITY],
    high_len: usize,
}

impl TagSet {
    const WORDS: usize = 160;
    /// Past this many distinct tags above the bit set, repeats of further ones go unnoticed:
    /// tracking them without allocating would cost a scan per field.
    const HIGH_CAPACITY: usize = 64;

    fn new() -> Self {
        TagSet {
            low: [0; Self::WORDS],
            high: [0; Self::HIGH_CAPACITY],
            high_len: 0,
        }
    }

    /// Adds `tag`; returns false if it was already there.
    fn insert(&mut self, tag: u32) -> bool {
        let (word, bit) = (tag as usize / 64, tag % 64);
        if let Some(w) = self.low.get_mut(word) {
            let fresh = *w & (1 << bit) == 0;
            *w |= 1 << bit;
            return fresh;
        }
        if self.high[..self.high_len].contains(&tag) {
            return false;
        }
        if let Some(slot) = self.high.get_mut(self.high_len) {
            *slot = tag;
            self.high_len += 1;
        }
        true
    }

    fn contains(&self, tag: u32) -> bool {
        let (word, bit) = (tag as usize / 64, tag % 64);
        match self.low.get(word) {
            Some(w) => w & (1 << bit) != 0,
            None => self.high[..self.high_len].contains(&tag),
        }
    }
}

/// The members of one group instance met so far, by position in the group.
struct MemberBits([u64; MemberBits::WORDS]);

impl MemberBits {
    const WORDS: usize = MAX_GROUP_MEMBERS.div_ceil(64);

    fn new() -> Self {
        MemberBits([0; Self::WORDS])
    }

    fn insert(&mut self, index: usize) {
        if let Some(w) = self.0.get_mut(index / 64) {
            *w |= 1 << (index % 64);
        }
    }

    fn contains(&self, index: usize) -> bool {
        self.0
            .get(index / 64)
            .is_some_and(|w| w & (1 << (index % 64)) != 0)
    }
}

#[cfg(test)]
mod tests;
