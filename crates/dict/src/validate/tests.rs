use gapless_codec::{Decoded, Limits, decode};
use proptest::prelude::*;

use super::*;
use crate::Version;

use SessionRejectReason::*;

/// A well-framed message: `body` is written with `|` for SOH and starts at MsgType (35);
/// BodyLength and CheckSum are computed.
fn frame(begin_string: &str, body: &str) -> Vec<u8> {
    let body = body.replace('|', "\x01");
    let mut out = format!("8={begin_string}\x019={}\x01{body}", body.len()).into_bytes();
    let sum = gapless_codec::checksum(&out);
    out.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    out
}

fn check_with(
    session: SessionDictionary,
    body: &str,
    opts: &ValidationOptions,
) -> Result<(), Rejection> {
    let bytes = frame(session.transport().version().begin_string(), body);
    match decode(&bytes, &Limits::default()) {
        Decoded::Message(message) => validate(&session, &message, opts),
        other => panic!("test message does not decode: {other:?}"),
    }
}

fn check(version: Version, body: &str) -> Result<(), Rejection> {
    check_with(
        SessionDictionary::new(version),
        body,
        &ValidationOptions::default(),
    )
}

fn rejected(reason: SessionRejectReason, tag: u32) -> Result<(), Rejection> {
    Err(Rejection {
        reason,
        ref_tag: Some(tag),
    })
}

const HEADER: &str = "49=CLIENT|56=VENUE|34=2|52=20240102-10:00:00.000|";
const HEADER_SECONDS: &str = "49=CLIENT|56=VENUE|34=2|52=20240102-10:00:00|";

fn fix42_order(extra: &str) -> String {
    format!(
        "35=D|{HEADER}11=ORD1|21=1|55=IBM|54=1|60=20240102-10:00:00|38=100|40=2|44=10.5|{extra}"
    )
}

#[test]
fn reason_codes_match_fix() {
    assert_eq!(InvalidTagNumber.code(), 0);
    assert_eq!(IncorrectNumInGroupCount.code(), 16);
    assert_eq!(InvalidUnsupportedApplVersion.code(), 18);
    assert_eq!(Other.code(), 99);
    for code in (0..=18).chain([99]) {
        assert_eq!(
            SessionRejectReason::from_code(code).map(|r| r.code()),
            Some(code)
        );
    }
    assert_eq!(SessionRejectReason::from_code(19), None);
}

#[test]
fn fix40_new_order_single_valid_passes() {
    let body = format!("35=D|{HEADER_SECONDS}11=ORD1|21=1|55=IBM|54=1|38=100|40=1|");
    assert_eq!(check(Version::Fix40, &body), Ok(()));
}

#[test]
fn fix40_logon_valid_passes() {
    let body = format!("35=A|{HEADER_SECONDS}98=0|108=30|");
    assert_eq!(check(Version::Fix40, &body), Ok(()));
}

#[test]
fn fix41_new_order_single_valid_passes() {
    let body = format!("35=D|{HEADER_SECONDS}11=ORD1|21=1|55=IBM|54=2|38=100|40=1|59=0|");
    assert_eq!(check(Version::Fix41, &body), Ok(()));
}

#[test]
fn fix42_new_order_single_valid_passes() {
    assert_eq!(check(Version::Fix42, &fix42_order("18=1 5|")), Ok(()));
}

#[test]
fn fix42_heartbeat_valid_passes() {
    assert_eq!(check(Version::Fix42, &format!("35=0|{HEADER}")), Ok(()));
}

#[test]
fn fix43_new_order_single_valid_passes() {
    let body = format!("35=D|{HEADER}11=ORD1|21=1|55=IBM|54=1|60=20240102-10:00:00|38=100|40=1|");
    assert_eq!(check(Version::Fix43, &body), Ok(()));
}

#[test]
fn fix44_new_order_single_with_nested_parties_passes() {
    let body = format!(
        "35=D|{HEADER}11=ORD1|453=2|448=DESK|447=D|452=1|802=2|523=ALICE|803=2|523=FIRM|803=1|\
         448=BROKER|447=D|452=3|55=IBM|54=1|60=20240102-10:00:00.000|38=100|40=1|"
    );
    assert_eq!(check(Version::Fix44, &body), Ok(()));
}

#[test]
fn fix44_header_with_hops_group_passes() {
    let body = format!("35=0|{HEADER}627=2|628=HUB1|629=20240102-09:59:59.000|628=HUB2|");
    assert_eq!(check(Version::Fix44, &body), Ok(()));
}

#[test]
fn fix44_signature_in_trailer_passes() {
    let body = format!("35=0|{HEADER}93=3|89=a\x01b|");
    assert_eq!(check(Version::Fix44, &body), Ok(()));
}

#[test]
fn fixt11_fix50sp2_new_order_single_passes() {
    let session = SessionDictionary::fixt(Version::Fix50Sp2);
    let body =
        format!("35=D|{HEADER}11=ORD1|1450=SD|55=IBM|54=1|60=20240102-10:00:00.000|38=100|40=1|");
    assert_eq!(
        check_with(session, &body, &ValidationOptions::default()),
        Ok(())
    );
}

#[test]
fn fixt11_logon_reads_its_body_from_fixt11() {
    let session = SessionDictionary::fixt(Version::Fix50Sp2);
    let body = format!("35=A|{HEADER}98=0|108=30|1137=9|");
    assert_eq!(
        check_with(session, &body, &ValidationOptions::default()),
        Ok(())
    );
    let body = format!("35=A|{HEADER}98=0|108=30|");
    assert_eq!(
        check_with(session, &body, &ValidationOptions::default()),
        rejected(RequiredTagMissing, 1137)
    );
}

#[test]
fn fixt11_appl_ver_id_selects_the_application_dictionary() {
    let session = SessionDictionary::fixt(Version::Fix50Sp2);
    // Seniority (1450) exists in FIX.5.0 SP2 but not in SP1.
    let order = "11=ORD1|1450=SD|55=IBM|54=1|60=20240102-10:00:00.000|38=100|40=1|";
    let sp1 = format!("35=D|{HEADER}1128=8|{order}");
    assert_eq!(
        check_with(session, &sp1, &ValidationOptions::default()),
        rejected(InvalidTagNumber, 1450)
    );
    let sp2 = format!("35=D|{HEADER}1128=9|{order}");
    assert_eq!(
        check_with(session, &sp2, &ValidationOptions::default()),
        Ok(())
    );
}

#[test]
fn fixt11_fix50_and_sp1_messages_pass_with_their_appl_ver_id() {
    for (version, id) in [(Version::Fix50, "7"), (Version::Fix50Sp1, "8")] {
        let body = format!(
            "35=D|{HEADER}1128={id}|11=ORD1|55=IBM|54=1|60=20240102-10:00:00.000|38=100|40=1|"
        );
        let session = SessionDictionary::fixt(Version::Fix50Sp2);
        assert_eq!(
            check_with(session, &body, &ValidationOptions::default()),
            Ok(()),
            "{version}"
        );
        assert_eq!(
            check_with(
                SessionDictionary::fixt(version),
                &body,
                &ValidationOptions::default()
            ),
            Ok(())
        );
    }
}

#[test]
fn fixt11_unknown_appl_ver_id_rejects_18() {
    let session = SessionDictionary::fixt(Version::Fix50Sp2);
    let body = format!("35=D|{HEADER}1128=1|11=ORD1|");
    assert_eq!(
        check_with(session, &body, &ValidationOptions::default()),
        rejected(InvalidUnsupportedApplVersion, 1128)
    );
}

#[test]
fn fixt11_application_message_without_application_dictionary_rejects_11() {
    let session = SessionDictionary::new(Version::Fixt11);
    let body = format!("35=D|{HEADER}11=ORD1|");
    assert_eq!(
        check_with(session, &body, &ValidationOptions::default()),
        rejected(InvalidMsgType, 35)
    );
}

#[test]
fn fix42_undefined_tag_rejects_0() {
    assert_eq!(
        check(Version::Fix42, &fix42_order("12345=x|")),
        rejected(InvalidTagNumber, 12345)
    );
}

#[test]
fn fix42_user_defined_tag_rejects_0_unless_allowed() {
    let body = fix42_order("7001=x|");
    assert_eq!(
        check(Version::Fix42, &body),
        rejected(InvalidTagNumber, 7001)
    );
    let opts = ValidationOptions {
        allow_user_defined_tags: true,
        ..ValidationOptions::default()
    };
    let session = SessionDictionary::new(Version::Fix42);
    assert_eq!(check_with(session, &body, &opts), Ok(()));
    // The range ends at 9999.
    assert_eq!(
        check_with(session, &fix42_order("10001=x|"), &opts),
        rejected(InvalidTagNumber, 10001)
    );
}

#[test]
fn fix42_new_order_single_missing_required_tag_rejects_1() {
    let body = format!("35=D|{HEADER}11=ORD1|21=1|54=1|60=20240102-10:00:00|40=1|");
    assert_eq!(
        check(Version::Fix42, &body),
        rejected(RequiredTagMissing, 55)
    );
}

#[test]
fn fix42_missing_required_header_field_rejects_1() {
    let body = "35=0|49=CLIENT|56=VENUE|52=20240102-10:00:00|";
    assert_eq!(
        check(Version::Fix42, body),
        rejected(RequiredTagMissing, 34)
    );
}

#[test]
fn fix42_group_instance_missing_required_member_rejects_1() {
    // In FIX.4.2 every NoMDEntries instance needs MDEntryPx (270).
    let body = format!("35=W|{HEADER}55=IBM|268=2|269=0|270=10|269=1|");
    assert_eq!(
        check(Version::Fix42, &body),
        rejected(RequiredTagMissing, 270)
    );
    let body = format!("35=W|{HEADER}55=IBM|268=2|269=0|270=10|269=1|270=11|");
    assert_eq!(check(Version::Fix42, &body), Ok(()));
}

#[test]
fn fix42_heartbeat_with_order_field_rejects_2() {
    let body = format!("35=0|{HEADER}11=ORD1|");
    assert_eq!(
        check(Version::Fix42, &body),
        rejected(TagNotDefinedForMessageType, 11)
    );
}

#[test]
fn fix42_empty_value_rejects_4() {
    assert_eq!(
        check(Version::Fix42, &fix42_order("58=|")),
        rejected(TagSpecifiedWithoutValue, 58)
    );
}

#[test]
fn fix42_value_outside_enumeration_rejects_5() {
    let body = fix42_order("").replace("54=1", "54=Z");
    assert_eq!(check(Version::Fix42, &body), rejected(ValueIsIncorrect, 54));
}

#[test]
fn fix42_multiple_value_string_checks_each_element_rejects_5() {
    assert_eq!(
        check(Version::Fix42, &fix42_order("18=1 @|")),
        rejected(ValueIsIncorrect, 18)
    );
}

#[test]
fn fix42_malformed_values_reject_6() {
    let qty = fix42_order("").replace("38=100", "38=1OO");
    assert_eq!(
        check(Version::Fix42, &qty),
        rejected(IncorrectDataFormat, 38)
    );
    let time = fix42_order("").replace("60=20240102-10:00:00", "60=20240102");
    assert_eq!(
        check(Version::Fix42, &time),
        rejected(IncorrectDataFormat, 60)
    );
    let seq = "35=0|49=CLIENT|56=VENUE|34=two|52=20240102-10:00:00|";
    assert_eq!(
        check(Version::Fix42, seq),
        rejected(IncorrectDataFormat, 34)
    );
}

#[test]
fn fix42_unknown_msg_type_rejects_11() {
    let body = format!("35=ZZ|{HEADER}");
    assert_eq!(check(Version::Fix42, &body), rejected(InvalidMsgType, 35));
}

#[test]
fn fix42_repeated_tag_rejects_13() {
    assert_eq!(
        check(Version::Fix42, &fix42_order("55=MSFT|")),
        rejected(TagAppearsMoreThanOnce, 55)
    );
}

#[test]
fn repeated_large_undefined_tag_rejects_13_when_tag_numbers_are_not_checked() {
    let session = SessionDictionary::new(Version::Fix42);
    let opts = ValidationOptions {
        check_tag_numbers: false,
        check_tags_in_message: false,
        ..ValidationOptions::default()
    };
    let body = fix42_order("100001=a|100002=b|100001=c|");
    assert_eq!(
        check_with(session, &body, &opts),
        rejected(TagAppearsMoreThanOnce, 100001)
    );
    assert_eq!(
        check_with(session, &fix42_order("100001=a|"), &opts),
        Ok(())
    );
}

#[test]
fn fix42_header_field_after_body_rejects_14() {
    let body = "35=D|49=CLIENT|56=VENUE|34=2|11=ORD1|52=20240102-10:00:00|21=1|55=IBM|54=1|\
                60=20240102-10:00:00|40=1|";
    assert_eq!(
        check(Version::Fix42, body),
        rejected(TagSpecifiedOutOfRequiredOrder, 52)
    );
}

#[test]
fn fix44_body_field_after_trailer_rejects_14() {
    let body = format!("35=0|{HEADER}93=3|89=abc|112=TEST|");
    assert_eq!(
        check(Version::Fix44, &body),
        rejected(TagSpecifiedOutOfRequiredOrder, 112)
    );
}

#[test]
fn fix44_group_member_before_delimiter_rejects_15() {
    let body = format!(
        "35=D|{HEADER}11=ORD1|453=1|447=D|448=DESK|452=1|55=IBM|54=1|60=20240102-10:00:00|38=1|40=1|"
    );
    assert_eq!(
        check(Version::Fix44, &body),
        rejected(RepeatingGroupFieldsOutOfOrder, 447)
    );
}

#[test]
fn fix44_group_member_twice_in_one_instance_rejects_15() {
    let body = format!(
        "35=D|{HEADER}11=ORD1|453=1|448=DESK|447=D|447=D|55=IBM|54=1|60=20240102-10:00:00|38=1|40=1|"
    );
    assert_eq!(
        check(Version::Fix44, &body),
        rejected(RepeatingGroupFieldsOutOfOrder, 447)
    );
}

#[test]
fn fix44_num_in_group_too_large_rejects_16() {
    let body = format!(
        "35=D|{HEADER}11=ORD1|453=2|448=DESK|447=D|55=IBM|54=1|60=20240102-10:00:00|38=1|40=1|"
    );
    assert_eq!(
        check(Version::Fix44, &body),
        rejected(IncorrectNumInGroupCount, 453)
    );
}

#[test]
fn fix44_num_in_group_too_small_rejects_16() {
    let body = format!(
        "35=D|{HEADER}11=ORD1|453=1|448=A|448=B|55=IBM|54=1|60=20240102-10:00:00|38=1|40=1|"
    );
    assert_eq!(
        check(Version::Fix44, &body),
        rejected(IncorrectNumInGroupCount, 453)
    );
}

#[test]
fn fix44_nested_group_count_mismatch_rejects_16_on_the_inner_group() {
    let body = format!(
        "35=D|{HEADER}11=ORD1|453=1|448=DESK|802=3|523=ALICE|523=BOB|55=IBM|54=1|\
         60=20240102-10:00:00|38=1|40=1|"
    );
    assert_eq!(
        check(Version::Fix44, &body),
        rejected(IncorrectNumInGroupCount, 802)
    );
}

#[test]
fn fix44_header_group_count_mismatch_rejects_16() {
    let body = format!("35=0|{HEADER}627=3|628=HUB1|");
    assert_eq!(
        check(Version::Fix44, &body),
        rejected(IncorrectNumInGroupCount, 627)
    );
}

#[test]
fn fix44_bad_value_inside_group_rejects_5() {
    let body = format!(
        "35=D|{HEADER}11=ORD1|453=1|448=DESK|803=9|55=IBM|54=1|60=20240102-10:00:00|38=1|40=1|"
    );
    // 803 is not a member of NoPartyIDs (only of the nested NoPartySubIDs): it ends the group.
    assert_eq!(
        check(Version::Fix44, &body),
        rejected(TagNotDefinedForMessageType, 803)
    );
    let body = format!(
        "35=D|{HEADER}11=ORD1|453=1|448=DESK|452=999|55=IBM|54=1|60=20240102-10:00:00|38=1|40=1|"
    );
    assert_eq!(
        check(Version::Fix44, &body),
        rejected(ValueIsIncorrect, 452)
    );
}

#[test]
fn order_error_is_reported_before_undefined_tag() {
    let body = "35=0|49=CLIENT|56=VENUE|12345=x|34=2|52=20240102-10:00:00|";
    assert_eq!(
        check(Version::Fix42, body),
        rejected(TagSpecifiedOutOfRequiredOrder, 34)
    );
}

#[test]
fn required_tag_is_reported_before_field_level_problems() {
    // Bad Side and missing Symbol: QuickFIX checks required fields first.
    let body = format!("35=D|{HEADER}11=ORD1|21=1|54=Z|60=20240102-10:00:00|40=1|");
    assert_eq!(
        check(Version::Fix42, &body),
        rejected(RequiredTagMissing, 55)
    );
}

#[test]
fn invalid_tag_is_reported_before_tag_not_in_message() {
    let body = format!("35=0|{HEADER}11=ORD1|12345=x|");
    assert_eq!(
        check(Version::Fix42, &body),
        rejected(TagNotDefinedForMessageType, 11)
    );
    let body = format!("35=0|{HEADER}12345=x|11=ORD1|");
    assert_eq!(
        check(Version::Fix42, &body),
        rejected(InvalidTagNumber, 12345)
    );
}

#[test]
fn format_is_checked_before_enumeration_on_one_field() {
    let body = fix42_order("").replace("54=1", "54=12");
    assert_eq!(
        check(Version::Fix42, &body),
        rejected(IncorrectDataFormat, 54)
    );
}

#[test]
fn disabled_checks_let_the_message_through() {
    let session = SessionDictionary::new(Version::Fix42);
    let none = ValidationOptions {
        check_tag_numbers: false,
        allow_user_defined_tags: false,
        check_required: false,
        check_tags_in_message: false,
        check_empty_values: false,
        check_enum_values: false,
        check_data_format: false,
        check_msg_type: false,
        check_repeated_tags: false,
        check_field_order: false,
        check_groups: false,
        check_appl_ver_id: false,
    };
    let messy = "35=D|49=CLIENT|11=ORD1|56=VENUE|34=2|52=x|54=Z|54=1|58=|12345=y|108=30|";
    assert_eq!(check_with(session, messy, &none), Ok(()));
    let unknown = format!("35=ZZ|{HEADER}55=A|55=B|");
    assert_eq!(check_with(session, &unknown, &none), Ok(()));
}

#[test]
fn unknown_msg_type_with_check_off_still_checks_fields() {
    let session = SessionDictionary::new(Version::Fix42);
    let opts = ValidationOptions {
        check_msg_type: false,
        ..ValidationOptions::default()
    };
    let body = format!("35=ZZ|{HEADER}38=abc|");
    assert_eq!(
        check_with(session, &body, &opts),
        rejected(IncorrectDataFormat, 38)
    );
    // The header is still known, so its required fields still are.
    let body = "35=ZZ|49=CLIENT|56=VENUE|52=20240102-10:00:00|";
    assert_eq!(
        check_with(session, body, &opts),
        rejected(RequiredTagMissing, 34)
    );
}

#[test]
fn every_version_accepts_its_heartbeat() {
    for version in Version::ALL {
        let body = match version {
            Version::Fix40 | Version::Fix41 => format!("35=0|{HEADER_SECONDS}"),
            _ => format!("35=0|{HEADER}"),
        };
        assert_eq!(check(version, &body), Ok(()), "{version}");
    }
}

proptest! {
    /// Whatever fields a well-framed message holds, validation answers without panicking.
    #[test]
    fn validate_never_panics(
        fields in proptest::collection::vec(
            (prop_oneof![1u32..1700, 5000u32..5010, 1_000_000u32..1_000_010],
             "[ -~]{0,6}"),
            0..24,
        ),
        version_index in 0usize..Version::ALL.len(),
    ) {
        let version = Version::ALL[version_index];
        let mut body = format!("35=D|{HEADER}");
        for (tag, value) in &fields {
            // Data-length tags would need a matching data field to frame; keep framing valid.
            if gapless_codec::tag::data_tag_for_length(*tag).is_none() {
                body.push_str(&format!("{tag}={}|", value.replace('|', "/")));
            }
        }
        let bytes = frame(version.begin_string(), &body);
        if let Decoded::Message(message) = decode(&bytes, &Limits::default()) {
            let session = SessionDictionary::new(version);
            let _ = validate(&session, &message, &ValidationOptions::default());
        }
    }
}
