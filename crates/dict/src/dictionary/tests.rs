use super::*;

fn all() -> impl Iterator<Item = &'static Dictionary> {
    Version::ALL.into_iter().map(Dictionary::get)
}

#[test]
fn every_dictionary_reports_its_own_version() {
    for version in Version::ALL {
        assert_eq!(Dictionary::get(version).version(), version);
    }
}

#[test]
fn lookup_tables_agree_with_the_definitions() {
    fn check_set(set: &MemberSet) {
        let required: Vec<(u32, u16)> = set
            .members()
            .iter()
            .enumerate()
            .filter(|(_, m)| m.is_required())
            .map(|(i, m)| (m.tag(), i as u16))
            .collect();
        assert_eq!(set.required(), required.as_slice());
        for &(tag, index) in set.by_tag {
            assert_eq!(set.position(tag), Some(usize::from(index)));
        }
        let found = (0..=set.slots.len() as u32 + 1)
            .filter(|&tag| set.position(tag).is_some())
            .count();
        assert!(set.slots.is_empty() || found == set.by_tag.len());
        for member in set.members() {
            if let Some(group) = member.group() {
                check_set(group.members());
            }
        }
    }
    for dict in all() {
        for field in dict.fields() {
            assert_eq!(
                dict.field(field.tag).map(|f| f.tag),
                Some(field.tag),
                "{dict:?}"
            );
        }
        let defined = (0..=dict.field_slots.len() as u32 + 1)
            .filter(|&tag| dict.field(tag).is_some())
            .count();
        assert_eq!(defined, dict.fields().len(), "{dict:?}");
        assert!(dict.field(u32::MAX).is_none());
        check_set(dict.header());
        check_set(dict.trailer());
        for message in dict.messages() {
            check_set(message.body());
        }
    }
}

#[test]
fn every_table_is_sorted_for_binary_search() {
    fn check_set(set: &MemberSet) {
        assert!(set.by_tag.windows(2).all(|w| w[0].0 < w[1].0));
        for member in set.members() {
            if let Some(group) = member.group() {
                assert_eq!(group.count_tag(), member.tag());
                check_set(group.members());
            }
        }
    }
    for dict in all() {
        assert!(
            dict.fields.windows(2).all(|w| w[0].tag < w[1].tag),
            "{dict:?}"
        );
        assert!(
            dict.field_names.windows(2).all(|w| w[0].0 < w[1].0),
            "{dict:?}"
        );
        assert!(
            dict.messages
                .windows(2)
                .all(|w| w[0].msg_type < w[1].msg_type),
            "{dict:?}"
        );
        for field in dict.fields {
            assert!(
                field.values.windows(2).all(|w| w[0].value < w[1].value),
                "{}",
                field.name
            );
        }
        check_set(dict.header());
        check_set(dict.trailer());
        for message in dict.messages {
            check_set(message.body());
        }
    }
}

#[test]
fn every_member_is_a_defined_field() {
    fn check_set(dict: &Dictionary, set: &MemberSet) {
        for member in set.members() {
            assert!(
                dict.field(member.tag()).is_some(),
                "{dict:?} tag {}",
                member.tag()
            );
            if let Some(group) = member.group() {
                // FIX.4.0 to 4.2 type their counts as plain `int`.
                let count = dict.field(group.count_tag()).map(|f| f.field_type);
                assert!(
                    matches!(count, Some(FieldType::NumInGroup | FieldType::Int)),
                    "{dict:?} {}",
                    member.tag()
                );
                check_set(dict, group.members());
            }
        }
    }
    for dict in all() {
        check_set(dict, dict.header());
        check_set(dict, dict.trailer());
        for message in dict.messages() {
            check_set(dict, message.body());
        }
    }
}

#[test]
fn fields_are_found_by_tag_and_by_name() {
    let fix42 = Dictionary::get(Version::Fix42);
    let side = fix42.field(54).unwrap();
    assert_eq!(side.name, "Side");
    assert_eq!(side.field_type, FieldType::Char);
    assert_eq!(side.enum_value(b"1").map(|v| v.description), Some("BUY"));
    assert!(side.enum_value(b"Z").is_none());
    assert_eq!(fix42.field_by_name("ClOrdID").map(|f| f.tag), Some(11));
    assert!(fix42.field_by_name("NoSuchField").is_none());
    assert!(fix42.field(99_999).is_none());
    assert_eq!(
        fix42.field(18).map(|f| f.field_type),
        Some(FieldType::MultipleValueString)
    );
    assert_eq!(fix42.is_allowed_value(18, b"1 5"), Some(true));
    assert_eq!(fix42.is_allowed_value(18, b"1 %"), Some(false));
    assert_eq!(fix42.is_allowed_value(99_999, b"1"), None);
}

#[test]
fn fix40_and_fix41_char_fields_are_strings() {
    for version in [Version::Fix40, Version::Fix41] {
        let dict = Dictionary::get(version);
        assert_eq!(dict.field(8).map(|f| f.field_type), Some(FieldType::String));
    }
}

#[test]
fn later_versions_use_the_newer_types() {
    let sp2 = Dictionary::get(Version::Fix50Sp2);
    let types: Vec<FieldType> = sp2.fields().iter().map(|f| f.field_type).collect();
    for expected in [
        FieldType::UtcTimestamp,
        FieldType::LocalMktDate,
        FieldType::MonthYear,
        FieldType::TzTimeOnly,
        FieldType::XmlData,
        FieldType::MultipleCharValue,
        FieldType::MultipleStringValue,
        FieldType::Percentage,
    ] {
        assert!(types.contains(&expected), "{expected:?}");
    }
    let fix40 = Dictionary::get(Version::Fix40);
    assert_eq!(fix40.field(52).map(|f| f.field_type), Some(FieldType::Time));
}

#[test]
fn messages_are_found_by_msg_type_with_their_category() {
    let fix44 = Dictionary::get(Version::Fix44);
    let order = fix44.message(b"D").unwrap();
    assert_eq!(order.name(), "NewOrderSingle");
    assert_eq!(order.category(), Category::App);
    assert!(fix44.is_admin(b"A"));
    assert!(!fix44.is_admin(b"D"));
    assert!(!fix44.is_admin(b"ZZ"));
    assert!(fix44.message(b"AE").is_some());
    assert!(fix44.message(b"").is_none());
    // Components are flattened: Symbol comes from Instrument, ClOrdID is required.
    assert!(order.body().contains(55));
    assert!(order.body().get(11).is_some_and(Member::is_required));
}

#[test]
fn fix50_dictionaries_hold_application_messages_only() {
    for version in [Version::Fix50, Version::Fix50Sp1, Version::Fix50Sp2] {
        let dict = Dictionary::get(version);
        assert!(dict.header().members().is_empty());
        assert!(dict.trailer().members().is_empty());
        assert!(
            dict.messages()
                .iter()
                .all(|m| m.category() == Category::App)
        );
    }
    let fixt = Dictionary::get(Version::Fixt11);
    assert!(
        fixt.messages()
            .iter()
            .all(|m| m.category() == Category::Admin)
    );
    assert!(fixt.is_header_field(1128));
    assert!(fixt.is_trailer_field(10));
}

#[test]
fn groups_are_nested_with_their_delimiter_first() {
    let fix44 = Dictionary::get(Version::Fix44);
    let parties = fix44.group(Some(b"D"), 453).unwrap();
    assert_eq!(parties.count_tag(), 453);
    assert_eq!(parties.delimiter(), 448);
    let sub_ids = parties.members().get(802).and_then(Member::group).unwrap();
    assert_eq!(sub_ids.delimiter(), 523);
    let hops = fix44.group(None, 627).unwrap();
    assert_eq!(hops.delimiter(), 628);
    assert!(fix44.is_header_field(627));
    assert!(!fix44.is_header_field(628));
    assert!(fix44.group(Some(b"D"), 55).is_none());
}

#[test]
fn optional_component_makes_its_required_fields_optional() {
    // FIX.4.4 MarketDataSnapshotFullRefresh's required MDFullGrp makes NoMDEntries required, and
    // MDEntryType required in each instance; NewOrderSingle's Parties component is optional.
    let fix44 = Dictionary::get(Version::Fix44);
    let snapshot = fix44.message(b"W").unwrap();
    assert!(snapshot.body().get(268).is_some_and(Member::is_required));
    let entries = snapshot.group(268).unwrap();
    assert!(entries.members().get(269).is_some_and(Member::is_required));
    let order = fix44.message(b"D").unwrap();
    assert!(order.body().get(453).is_some_and(|m| !m.is_required()));
}

#[test]
fn data_field_pairs_match_the_codec_table() {
    let mut from_dictionaries: Vec<(u32, u32)> = all()
        .flat_map(|dict| dict.data_fields().iter().copied())
        .collect();
    from_dictionaries.sort();
    from_dictionaries.dedup();
    assert_eq!(from_dictionaries, gapless_codec::DATA_FIELDS);
    for pair in [(95, 96), (212, 213), (93, 89), (90, 91), (1184, 1185)] {
        assert!(from_dictionaries.contains(&pair), "{pair:?}");
    }
}
