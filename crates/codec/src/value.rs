//! Typed field values: allocation-free parsers and formatters.
//!
//! Parsers take the raw value bytes of one field (never including the SOH) and either return the
//! typed value or a [`ValueError`]. Formatters write into a caller-provided buffer and return the
//! number of bytes written. Nothing here allocates, reads a clock or panics on any input.

use core::fmt;

/// Why a value could not be read as the requested type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueError {
    /// The value is empty.
    Empty,
    /// A byte is not allowed at this position for the type (for example a letter in an integer).
    Syntax,
    /// The value is well formed but does not fit the type's range.
    OutOfRange,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueError::Empty => "empty value",
            ValueError::Syntax => "malformed value",
            ValueError::OutOfRange => "value out of range",
        })
    }
}

impl std::error::Error for ValueError {}

/// Reads an unsigned integer (FIX `SeqNum`, `Length`, `NumInGroup`, non-negative `int`).
///
/// Digits only: no sign, no spaces. Leading zeros are accepted, as FIX allows them in `int`.
pub fn parse_u64(value: &[u8]) -> Result<u64, ValueError> {
    if value.is_empty() {
        return Err(ValueError::Empty);
    }
    let mut n: u64 = 0;
    for &b in value {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return Err(ValueError::Syntax);
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(digit)))
            .ok_or(ValueError::OutOfRange)?;
    }
    Ok(n)
}

/// Reads a signed integer (FIX `int`): an optional leading `-`, then digits.
pub fn parse_i64(value: &[u8]) -> Result<i64, ValueError> {
    let (negative, digits) = match value.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, value),
    };
    if digits.is_empty() {
        return Err(if negative {
            ValueError::Syntax
        } else {
            ValueError::Empty
        });
    }
    let magnitude = parse_u64(digits)?;
    if negative {
        // i64::MIN has no positive counterpart, so negate in the wider type.
        0i128
            .checked_sub(i128::from(magnitude))
            .and_then(|n| i64::try_from(n).ok())
            .ok_or(ValueError::OutOfRange)
    } else {
        i64::try_from(magnitude).map_err(|_| ValueError::OutOfRange)
    }
}

/// Reads a FIX `Boolean`: exactly `Y` or `N`.
pub fn parse_bool(value: &[u8]) -> Result<bool, ValueError> {
    match value {
        b"Y" => Ok(true),
        b"N" => Ok(false),
        [] => Err(ValueError::Empty),
        _ => Err(ValueError::Syntax),
    }
}

/// Reads a FIX `char`: exactly one printable ASCII byte.
pub fn parse_char(value: &[u8]) -> Result<u8, ValueError> {
    match value {
        [c] if c.is_ascii_graphic() || *c == b' ' => Ok(*c),
        [] => Err(ValueError::Empty),
        _ => Err(ValueError::Syntax),
    }
}

/// A decimal number held exactly as `mantissa × 10^exponent`, so prices never round.
///
/// Parsing keeps the written scale: `"1.50"` is `{ mantissa: 150, exponent: -2 }`, which compares
/// equal in value, but not structurally, to `"1.5"`. Use [`Decimal::cmp_value`] to compare values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decimal {
    /// The digits, with the sign.
    pub mantissa: i64,
    /// The power of ten; parsing yields zero or a negative number.
    pub exponent: i8,
}

/// The largest number of digits a mantissa holds exactly (`i64` holds every 18-digit number).
const MAX_DECIMAL_DIGITS: usize = 18;

impl Decimal {
    /// Creates a decimal from its parts.
    pub const fn new(mantissa: i64, exponent: i8) -> Self {
        Decimal { mantissa, exponent }
    }

    /// Reads a FIX `float` (`Price`, `Qty`, `Amt`, ...): optional `-`, digits, optional `.` and
    /// digits. At least one digit; no exponent notation; at most 18 significant digits.
    pub fn parse(value: &[u8]) -> Result<Decimal, ValueError> {
        let (negative, body) = match value.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, value),
        };
        if body.is_empty() {
            return Err(if negative {
                ValueError::Syntax
            } else {
                ValueError::Empty
            });
        }
        let mut mantissa: i64 = 0;
        let mut digits = 0usize;
        let mut fraction_digits: Option<usize> = None;
        for &b in body {
            if b == b'.' {
                if fraction_digits.is_some() {
                    return Err(ValueError::Syntax);
                }
                fraction_digits = Some(0);
                continue;
            }
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                return Err(ValueError::Syntax);
            }
            // Leading zeros carry no information and do not count against the digit budget.
            if mantissa != 0 || digit != 0 {
                digits += 1;
            }
            if digits > MAX_DECIMAL_DIGITS {
                return Err(ValueError::OutOfRange);
            }
            mantissa = mantissa * 10 + i64::from(digit);
            if let Some(n) = fraction_digits.as_mut() {
                *n += 1;
            }
        }
        let fraction_digits = fraction_digits.unwrap_or(0);
        let all_digits_seen = body.len() - usize::from(body.contains(&b'.'));
        if all_digits_seen == 0 {
            return Err(ValueError::Syntax);
        }
        let exponent = i8::try_from(fraction_digits).map_err(|_| ValueError::OutOfRange)?;
        Ok(Decimal {
            mantissa: if negative { -mantissa } else { mantissa },
            exponent: -exponent,
        })
    }

    /// Compares two decimals by value (`1.5` equals `1.50`).
    pub fn cmp_value(&self, other: &Decimal) -> core::cmp::Ordering {
        let scale = |d: &Decimal, to: i8| -> i128 {
            let mut m = i128::from(d.mantissa);
            for _ in to..d.exponent {
                // Saturating keeps the order right: no mantissa comes near i128's range.
                m = m.saturating_mul(10);
            }
            m
        };
        let common = self.exponent.min(other.exponent);
        scale(self, common).cmp(&scale(other, common))
    }

    /// The longest text [`Decimal::write`] produces: a sign, 19 digits and 127 zeros.
    pub const MAX_TEXT_LEN: usize = 147;

    /// Writes the decimal in FIX `float` form into `out`; returns the bytes written, or `None` if
    /// `out` is too small ([`Decimal::MAX_TEXT_LEN`] is always enough).
    pub fn write(&self, out: &mut [u8]) -> Option<usize> {
        let mut digits = [0u8; 20];
        let n = write_u64(self.mantissa.unsigned_abs(), &mut digits);
        let digits = &digits[20 - n..];
        let negative = self.mantissa < 0;
        let mut pos = 0;
        let mut put = |b: u8, out: &mut [u8]| -> Option<()> {
            *out.get_mut(pos)? = b;
            pos += 1;
            Some(())
        };
        if negative {
            put(b'-', out)?;
        }
        if self.exponent >= 0 {
            for &d in digits {
                put(d, out)?;
            }
            if self.mantissa != 0 {
                for _ in 0..self.exponent {
                    put(b'0', out)?;
                }
            }
        } else {
            let scale = usize::from(self.exponent.unsigned_abs());
            if digits.len() > scale {
                let (int_part, frac_part) = digits.split_at(digits.len() - scale);
                for &d in int_part {
                    put(d, out)?;
                }
                put(b'.', out)?;
                for &d in frac_part {
                    put(d, out)?;
                }
            } else {
                put(b'0', out)?;
                put(b'.', out)?;
                for _ in digits.len()..scale {
                    put(b'0', out)?;
                }
                for &d in digits {
                    put(d, out)?;
                }
            }
        }
        Some(pos)
    }
}

/// How many fractional digits of a second a timestamp carries on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimePrecision {
    /// `YYYYMMDD-HH:MM:SS` (FIX.4.0 and FIX.4.1 allow only this).
    Seconds,
    /// `YYYYMMDD-HH:MM:SS.sss`
    Millis,
    /// `YYYYMMDD-HH:MM:SS.ssssss`
    Micros,
    /// `YYYYMMDD-HH:MM:SS.sssssssss`
    Nanos,
}

impl TimePrecision {
    /// The number of fractional digits written.
    pub const fn fraction_digits(self) -> usize {
        match self {
            TimePrecision::Seconds => 0,
            TimePrecision::Millis => 3,
            TimePrecision::Micros => 6,
            TimePrecision::Nanos => 9,
        }
    }

    /// The length of a `UTCTimestamp` written with this precision.
    pub const fn timestamp_len(self) -> usize {
        match self {
            TimePrecision::Seconds => 17,
            p => 18 + p.fraction_digits(),
        }
    }
}

/// A point in UTC time with nanosecond resolution, as carried by FIX `UTCTimestamp` fields.
///
/// FIX timestamps carry no leap-second information beyond allowing `:60`, which is read as the
/// first second of the next minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UtcTimestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub secs: i64,
    /// Nanoseconds within the second, below 1,000,000,000.
    pub nanos: u32,
}

impl UtcTimestamp {
    /// Creates a timestamp from nanoseconds since the Unix epoch.
    pub const fn from_unix_nanos(nanos: i64) -> Self {
        UtcTimestamp {
            secs: nanos.div_euclid(1_000_000_000),
            nanos: nanos.rem_euclid(1_000_000_000) as u32,
        }
    }

    /// Nanoseconds since the Unix epoch, or `None` outside the years 1677 to 2262.
    pub fn unix_nanos(&self) -> Option<i64> {
        self.secs
            .checked_mul(1_000_000_000)?
            .checked_add(i64::from(self.nanos))
    }

    /// Reads `YYYYMMDD-HH:MM:SS` with an optional fraction of 3, 6 or 9 digits.
    pub fn parse(value: &[u8]) -> Result<UtcTimestamp, ValueError> {
        Self::parse_with_precision(value).map(|(t, _)| t)
    }

    /// Like [`UtcTimestamp::parse`], also returning the precision the value was written with.
    pub fn parse_with_precision(value: &[u8]) -> Result<(UtcTimestamp, TimePrecision), ValueError> {
        if value.is_empty() {
            return Err(ValueError::Empty);
        }
        if value.len() < 17 || value[8] != b'-' {
            return Err(ValueError::Syntax);
        }
        let (days, _) = parse_date(&value[..8])?;
        let (secs_of_day, nanos, precision) = parse_time_of_day(&value[9..])?;
        Ok((
            UtcTimestamp {
                secs: days * 86_400 + secs_of_day,
                nanos,
            },
            precision,
        ))
    }

    /// Writes `YYYYMMDD-HH:MM:SS[.fraction]` into `out`, truncating to `precision`. Returns the
    /// bytes written, or `None` if `out` is shorter than [`TimePrecision::timestamp_len`] or the
    /// year is outside 0000 to 9999.
    pub fn write(&self, precision: TimePrecision, out: &mut [u8]) -> Option<usize> {
        let len = precision.timestamp_len();
        let out = out.get_mut(..len)?;
        let days = self.secs.div_euclid(86_400);
        let secs_of_day = self.secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            return None;
        }
        write_fixed(year as u64, &mut out[0..4]);
        write_fixed(u64::from(month), &mut out[4..6]);
        write_fixed(u64::from(day), &mut out[6..8]);
        out[8] = b'-';
        write_fixed((secs_of_day / 3600) as u64, &mut out[9..11]);
        out[11] = b':';
        write_fixed((secs_of_day / 60 % 60) as u64, &mut out[12..14]);
        out[14] = b':';
        write_fixed((secs_of_day % 60) as u64, &mut out[15..17]);
        let digits = precision.fraction_digits();
        if digits > 0 {
            out[17] = b'.';
            let fraction = u64::from(self.nanos) / 10u64.pow(9 - digits as u32);
            write_fixed(fraction, &mut out[18..18 + digits]);
        }
        Some(len)
    }
}

/// Reads `YYYYMMDD` into days since the Unix epoch; also returns the (year, month, day).
pub(crate) fn parse_date(value: &[u8]) -> Result<(i64, (i64, u32, u32)), ValueError> {
    if value.len() != 8 {
        return Err(ValueError::Syntax);
    }
    let year = parse_fixed(&value[0..4])? as i64;
    let month = parse_fixed(&value[4..6])? as u32;
    let day = parse_fixed(&value[6..8])? as u32;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(ValueError::OutOfRange);
    }
    Ok((days_from_civil(year, month, day), (year, month, day)))
}

/// Reads `HH:MM:SS[.sss|.ssssss|.sssssssss]` into (seconds of day, nanoseconds, precision).
/// A leap second (`:60`) is accepted.
pub fn parse_time_of_day(value: &[u8]) -> Result<(i64, u32, TimePrecision), ValueError> {
    if value.is_empty() {
        return Err(ValueError::Empty);
    }
    if value.len() < 8 || value[2] != b':' || value[5] != b':' {
        return Err(ValueError::Syntax);
    }
    let hours = parse_fixed(&value[0..2])?;
    let minutes = parse_fixed(&value[3..5])?;
    let seconds = parse_fixed(&value[6..8])?;
    if hours > 23 || minutes > 59 || seconds > 60 {
        return Err(ValueError::OutOfRange);
    }
    let (nanos, precision) = match &value[8..] {
        [] => (0, TimePrecision::Seconds),
        [b'.', fraction @ ..] => {
            let precision = match fraction.len() {
                3 => TimePrecision::Millis,
                6 => TimePrecision::Micros,
                9 => TimePrecision::Nanos,
                _ => return Err(ValueError::Syntax),
            };
            let scale = 10u64.pow(9 - fraction.len() as u32);
            (parse_fixed(fraction)? * scale, precision)
        }
        _ => return Err(ValueError::Syntax),
    };
    let secs = (hours * 3600 + minutes * 60 + seconds) as i64;
    Ok((secs, nanos as u32, precision))
}

/// Parses a fixed-width run of ASCII digits.
fn parse_fixed(digits: &[u8]) -> Result<u64, ValueError> {
    let mut n = 0u64;
    for &b in digits {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return Err(ValueError::Syntax);
        }
        n = n * 10 + u64::from(digit);
    }
    Ok(n)
}

/// Writes `n` as exactly `out.len()` digits, zero-padded on the left (higher digits are dropped).
fn write_fixed(mut n: u64, out: &mut [u8]) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

const fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

const fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month as i64 + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day as i64 - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
const fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

/// Two ASCII digits for every number below 100, so integers format two digits per step.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Writes `n` in decimal at the end of `out` and returns how many bytes it took: the digits are
/// `out[20 - len..]`.
pub fn write_u64(mut n: u64, out: &mut [u8; 20]) -> usize {
    let mut pos = out.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        pos -= 2;
        out[pos..pos + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        pos -= 2;
        out[pos..pos + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        pos -= 1;
        out[pos] = b'0' + n as u8;
    }
    out.len() - pos
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn u64_digits_parse() {
        assert_eq!(parse_u64(b"0"), Ok(0));
        assert_eq!(parse_u64(b"0042"), Ok(42));
        assert_eq!(parse_u64(b"18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn u64_bad_input_is_typed_error() {
        assert_eq!(parse_u64(b""), Err(ValueError::Empty));
        assert_eq!(parse_u64(b"-1"), Err(ValueError::Syntax));
        assert_eq!(parse_u64(b"1a"), Err(ValueError::Syntax));
        assert_eq!(parse_u64(b" 1"), Err(ValueError::Syntax));
        assert_eq!(
            parse_u64(b"18446744073709551616"),
            Err(ValueError::OutOfRange)
        );
    }

    #[test]
    fn i64_sign_and_limits() {
        assert_eq!(parse_i64(b"-17"), Ok(-17));
        assert_eq!(parse_i64(b"-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(
            parse_i64(b"9223372036854775808"),
            Err(ValueError::OutOfRange)
        );
        assert_eq!(parse_i64(b"-"), Err(ValueError::Syntax));
        assert_eq!(parse_i64(b"+1"), Err(ValueError::Syntax));
    }

    #[test]
    fn bool_and_char() {
        assert_eq!(parse_bool(b"Y"), Ok(true));
        assert_eq!(parse_bool(b"N"), Ok(false));
        assert_eq!(parse_bool(b"y"), Err(ValueError::Syntax));
        assert_eq!(parse_bool(b"YN"), Err(ValueError::Syntax));
        assert_eq!(parse_char(b"1"), Ok(b'1'));
        assert_eq!(parse_char(b"12"), Err(ValueError::Syntax));
        assert_eq!(parse_char(b"\x01"), Err(ValueError::Syntax));
    }

    #[test]
    fn decimal_keeps_exact_digits() {
        assert_eq!(Decimal::parse(b"123.4500"), Ok(Decimal::new(1_234_500, -4)));
        assert_eq!(Decimal::parse(b"-0.5"), Ok(Decimal::new(-5, -1)));
        assert_eq!(Decimal::parse(b".5"), Ok(Decimal::new(5, -1)));
        assert_eq!(Decimal::parse(b"7."), Ok(Decimal::new(7, 0)));
        assert_eq!(Decimal::parse(b"100"), Ok(Decimal::new(100, 0)));
        assert_eq!(
            Decimal::parse(b"0000000000000000000001.25"),
            Ok(Decimal::new(125, -2))
        );
    }

    #[test]
    fn decimal_bad_input_is_typed_error() {
        assert_eq!(Decimal::parse(b""), Err(ValueError::Empty));
        assert_eq!(Decimal::parse(b"."), Err(ValueError::Syntax));
        assert_eq!(Decimal::parse(b"1.2.3"), Err(ValueError::Syntax));
        assert_eq!(Decimal::parse(b"1e5"), Err(ValueError::Syntax));
        assert_eq!(Decimal::parse(b"-"), Err(ValueError::Syntax));
        assert_eq!(
            Decimal::parse(b"1234567890123456789"),
            Err(ValueError::OutOfRange)
        );
    }

    #[test]
    fn decimal_compares_by_value() {
        let a = Decimal::parse(b"1.5").unwrap();
        let b = Decimal::parse(b"1.50").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.cmp_value(&b), core::cmp::Ordering::Equal);
        assert_eq!(
            Decimal::new(-1, 0).cmp_value(&Decimal::new(5, -1)),
            core::cmp::Ordering::Less
        );
    }

    #[test]
    fn decimal_writes_fix_float() {
        let mut out = [0u8; 42];
        for (d, text) in [
            (Decimal::new(1_234_500, -4), "123.4500"),
            (Decimal::new(-5, -1), "-0.5"),
            (Decimal::new(5, -3), "0.005"),
            (Decimal::new(12, 2), "1200"),
            (Decimal::new(0, 0), "0"),
            (Decimal::new(i64::MIN, -18), "-9.223372036854775808"),
        ] {
            let n = d.write(&mut out).unwrap();
            assert_eq!(&out[..n], text.as_bytes());
        }
        assert_eq!(Decimal::new(12345, -2).write(&mut out[..3]), None);
    }

    #[test]
    fn timestamp_every_precision() {
        let (t, p) = UtcTimestamp::parse_with_precision(b"20261124-06:07:35").unwrap();
        assert_eq!(p, TimePrecision::Seconds);
        assert_eq!(t.secs, 1_795_500_455);
        let (t, p) = UtcTimestamp::parse_with_precision(b"20261124-06:07:35.123").unwrap();
        assert_eq!((t.nanos, p), (123_000_000, TimePrecision::Millis));
        let (t, p) = UtcTimestamp::parse_with_precision(b"20261124-06:07:35.123456").unwrap();
        assert_eq!((t.nanos, p), (123_456_000, TimePrecision::Micros));
        let (t, p) = UtcTimestamp::parse_with_precision(b"20261124-06:07:35.123456789").unwrap();
        assert_eq!((t.nanos, p), (123_456_789, TimePrecision::Nanos));
    }

    #[test]
    fn timestamp_bad_input_is_typed_error() {
        for bad in [
            &b"2026112406:07:35"[..],
            b"20261124-06:07",
            b"20261124-06:07:35.12",
            b"20261124-24:00:00",
            b"20261131-06:07:35",
            b"20260229-06:07:35",
            b"2026XX24-06:07:35",
            b"20261124-06:07:35.",
        ] {
            assert!(UtcTimestamp::parse(bad).is_err(), "{:?}", bad);
        }
        assert_eq!(UtcTimestamp::parse(b""), Err(ValueError::Empty));
        assert!(UtcTimestamp::parse(b"20240229-23:59:60").is_ok());
    }

    #[test]
    fn timestamp_writes_each_precision() {
        let t = UtcTimestamp::parse(b"19991231-23:59:59.987654321").unwrap();
        let mut out = [0u8; 27];
        for (p, text) in [
            (TimePrecision::Seconds, "19991231-23:59:59"),
            (TimePrecision::Millis, "19991231-23:59:59.987"),
            (TimePrecision::Micros, "19991231-23:59:59.987654"),
            (TimePrecision::Nanos, "19991231-23:59:59.987654321"),
        ] {
            let n = t.write(p, &mut out).unwrap();
            assert_eq!(&out[..n], text.as_bytes());
        }
        assert_eq!(t.write(TimePrecision::Millis, &mut out[..20]), None);
    }

    #[test]
    fn timestamp_unix_nanos_round_trip() {
        let t = UtcTimestamp::from_unix_nanos(-1);
        assert_eq!((t.secs, t.nanos), (-1, 999_999_999));
        assert_eq!(t.unix_nanos(), Some(-1));
    }

    proptest! {
        #[test]
        fn u64_write_parse_round_trip(n in any::<u64>()) {
            let mut out = [0u8; 20];
            let len = write_u64(n, &mut out);
            prop_assert_eq!(parse_u64(&out[20 - len..]), Ok(n));
            let expected = n.to_string();
            prop_assert_eq!(&out[20 - len..], expected.as_bytes());
        }

        #[test]
        fn decimal_write_parse_round_trip(mantissa in -999_999_999_999_999_999i64..=999_999_999_999_999_999, exponent in -18i8..=0) {
            let d = Decimal::new(mantissa, exponent);
            let mut out = [0u8; 42];
            let n = d.write(&mut out).unwrap();
            let back = Decimal::parse(&out[..n]).unwrap();
            prop_assert_eq!(back.cmp_value(&d), core::cmp::Ordering::Equal);
        }

        #[test]
        fn timestamp_write_parse_round_trip(secs in -62_167_219_200i64..253_402_300_799, nanos in 0u32..1_000_000_000) {
            let t = UtcTimestamp { secs, nanos };
            let mut out = [0u8; 27];
            let n = t.write(TimePrecision::Nanos, &mut out).unwrap();
            prop_assert_eq!(UtcTimestamp::parse(&out[..n]), Ok(t));
        }

        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = parse_u64(&bytes);
            let _ = parse_i64(&bytes);
            let _ = Decimal::parse(&bytes);
            let _ = UtcTimestamp::parse(&bytes);
            let _ = parse_bool(&bytes);
            let _ = parse_char(&bytes);
        }
    }
}
