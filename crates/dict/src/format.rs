//! Data-format checks by field type (SessionRejectReason 6, IncorrectDataFormat).
//!
//! Numbers, chars, booleans, UTC timestamps and times of day are read with `gapless-codec`'s
//! parsers, so what validation accepts is exactly what the engine can read. Dates, month-years
//! and the time-zoned types are checked here.

use gapless_codec::value::{self, Decimal, UtcTimestamp};

use crate::FieldType;

/// Whether `value` is well formed for `field_type`. An empty value is malformed for every type
/// with a syntax; free-text types (String, Data, Country, ...) accept anything.
pub fn is_valid_format(field_type: FieldType, value: &[u8]) -> bool {
    match field_type {
        FieldType::Int => value::parse_i64(value).is_ok(),
        FieldType::Length | FieldType::NumInGroup | FieldType::SeqNum | FieldType::TagNum => {
            value::parse_u64(value).is_ok()
        }
        FieldType::DayOfMonth => matches!(value::parse_u64(value), Ok(1..=31)),
        FieldType::Float
        | FieldType::Qty
        | FieldType::Price
        | FieldType::PriceOffset
        | FieldType::Amt
        | FieldType::Percentage => Decimal::parse(value).is_ok(),
        FieldType::Char => value::parse_char(value).is_ok(),
        FieldType::Boolean => value::parse_bool(value).is_ok(),
        FieldType::MultipleCharValue => {
            !value.is_empty()
                && value
                    .split(|&b| b == b' ')
                    .all(|c| value::parse_char(c).is_ok())
        }
        FieldType::UtcTimestamp | FieldType::Time => UtcTimestamp::parse(value).is_ok(),
        FieldType::UtcTimeOnly => value::parse_time_of_day(value).is_ok(),
        FieldType::UtcDateOnly | FieldType::UtcDate | FieldType::LocalMktDate | FieldType::Date => {
            is_date(value)
        }
        FieldType::MonthYear => is_month_year(value),
        FieldType::TzTimeOnly => is_tz_time_only(value),
        FieldType::TzTimestamp => {
            value.len() > 9
                && value[8] == b'-'
                && is_date(&value[..8])
                && is_tz_time_only(&value[9..])
        }
        FieldType::String
        | FieldType::MultipleStringValue
        | FieldType::MultipleValueString
        | FieldType::Country
        | FieldType::Currency
        | FieldType::Exchange
        | FieldType::Data
        | FieldType::XmlData
        | FieldType::Language => true,
    }
}

/// Reads a fixed-width run of ASCII digits.
fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

/// `YYYYMM` with a month from 01 to 12; returns (year, month).
fn year_month(value: &[u8]) -> Option<(u32, u32)> {
    if value.len() != 6 {
        return None;
    }
    let year = digits(&value[..4])?;
    let month = digits(&value[4..])?;
    (1..=12).contains(&month).then_some((year, month))
}

/// `YYYYMMDD`, a real calendar date.
fn is_date(value: &[u8]) -> bool {
    if value.len() != 8 {
        return false;
    }
    let Some((year, month)) = year_month(&value[..6]) else {
        return false;
    };
    let Some(day) = digits(&value[6..]) else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    (1..=days_in_month).contains(&day)
}

/// `YYYYMM`, `YYYYMMDD` or `YYYYMMwN` (week 1 to 5).
fn is_month_year(value: &[u8]) -> bool {
    match value.len() {
        6 => year_month(value).is_some(),
        8 if value[6] == b'w' => {
            year_month(&value[..6]).is_some() && matches!(value[7], b'1'..=b'5')
        }
        8 => is_date(value),
        _ => false,
    }
}

/// `HH:MM[:SS[.s...]]` followed by a zone: `Z`, `+hh`, `-hh`, `+hh:mm` or `-hh:mm`.
fn is_tz_time_only(value: &[u8]) -> bool {
    let Some(zone_start) = value.iter().position(|&b| matches!(b, b'Z' | b'+' | b'-')) else {
        return false;
    };
    let (time, zone) = value.split_at(zone_start);
    let time_ok = match time.len() {
        5 => {
            time[2] == b':'
                && matches!(
                    (digits(&time[..2]), digits(&time[3..])),
                    (Some(0..=23), Some(0..=59))
                )
        }
        _ => value::parse_time_of_day(time).is_ok(),
    };
    let zone_ok = match zone {
        b"Z" => true,
        [b'+' | b'-', h1, h2] => matches!(digits(&[*h1, *h2]), Some(0..=14)),
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            matches!(digits(&[*h1, *h2]), Some(0..=14))
                && matches!(digits(&[*m1, *m2]), Some(0..=59))
        }
        _ => false,
    };
    time_ok && zone_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_accept_digits_and_reject_letters() {
        assert!(is_valid_format(FieldType::Int, b"-42"));
        assert!(!is_valid_format(FieldType::Int, b"4x"));
        assert!(is_valid_format(FieldType::SeqNum, b"7"));
        assert!(!is_valid_format(FieldType::SeqNum, b"-7"));
        assert!(!is_valid_format(FieldType::NumInGroup, b""));
        assert!(is_valid_format(FieldType::DayOfMonth, b"31"));
        assert!(!is_valid_format(FieldType::DayOfMonth, b"32"));
    }

    #[test]
    fn decimals_accept_fractions_and_reject_exponents() {
        assert!(is_valid_format(FieldType::Price, b"101.25"));
        assert!(is_valid_format(FieldType::Qty, b"-3"));
        assert!(!is_valid_format(FieldType::Price, b"1e5"));
        assert!(!is_valid_format(FieldType::Amt, b"1.2.3"));
    }

    #[test]
    fn char_boolean_and_multiple_char_values() {
        assert!(is_valid_format(FieldType::Char, b"1"));
        assert!(!is_valid_format(FieldType::Char, b"12"));
        assert!(is_valid_format(FieldType::Boolean, b"Y"));
        assert!(!is_valid_format(FieldType::Boolean, b"y"));
        assert!(is_valid_format(FieldType::MultipleCharValue, b"a b c"));
        assert!(!is_valid_format(FieldType::MultipleCharValue, b"ab c"));
        assert!(!is_valid_format(FieldType::MultipleCharValue, b"a  b"));
    }

    #[test]
    fn timestamps_times_and_dates() {
        assert!(is_valid_format(
            FieldType::UtcTimestamp,
            b"20240229-23:59:59.123"
        ));
        assert!(is_valid_format(FieldType::Time, b"20240229-23:59:59"));
        assert!(!is_valid_format(
            FieldType::UtcTimestamp,
            b"20230229-23:59:59"
        ));
        assert!(is_valid_format(FieldType::UtcTimeOnly, b"23:59:59.123456"));
        assert!(!is_valid_format(FieldType::UtcTimeOnly, b"24:00:00"));
        assert!(is_valid_format(FieldType::LocalMktDate, b"20240229"));
        assert!(!is_valid_format(FieldType::UtcDateOnly, b"20240230"));
        assert!(!is_valid_format(FieldType::Date, b"2024-02-01"));
    }

    #[test]
    fn month_year_forms() {
        assert!(is_valid_format(FieldType::MonthYear, b"202412"));
        assert!(is_valid_format(FieldType::MonthYear, b"20241215"));
        assert!(is_valid_format(FieldType::MonthYear, b"202412w3"));
        assert!(!is_valid_format(FieldType::MonthYear, b"202413"));
        assert!(!is_valid_format(FieldType::MonthYear, b"202412w6"));
        assert!(!is_valid_format(FieldType::MonthYear, b"2024"));
    }

    #[test]
    fn time_zoned_types_need_a_zone() {
        assert!(is_valid_format(FieldType::TzTimeOnly, b"07:39Z"));
        assert!(is_valid_format(FieldType::TzTimeOnly, b"02:39-05"));
        assert!(is_valid_format(FieldType::TzTimeOnly, b"15:39:20+08:00"));
        assert!(!is_valid_format(FieldType::TzTimeOnly, b"15:39"));
        assert!(!is_valid_format(FieldType::TzTimeOnly, b"15:39+8"));
        assert!(is_valid_format(FieldType::TzTimestamp, b"20060901-07:39Z"));
        assert!(is_valid_format(
            FieldType::TzTimestamp,
            b"20060901-02:39:00.123-05"
        ));
        assert!(!is_valid_format(FieldType::TzTimestamp, b"20060901-02:39"));
    }

    #[test]
    fn free_text_types_accept_anything() {
        assert!(is_valid_format(FieldType::String, b"any thing"));
        assert!(is_valid_format(FieldType::Data, b"\x01\x02"));
        assert!(is_valid_format(FieldType::Currency, b"USD"));
    }
}
