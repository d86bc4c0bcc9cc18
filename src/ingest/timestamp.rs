//! Timestamp parsing for meter dumps: bytes in, unix seconds out.
//!
//! Dumps carry one of a few fixed layouts — Unix seconds, `YYYY-MM-DD HH:MM[:SS]`, or
//! RFC 3339 — and a reader sees millions of them, so the common layouts are parsed here by
//! hand from the raw bytes with days-from-civil arithmetic: no allocation, no chrono, no
//! UTF-8 validation. Only forms the fast path does not know fall back to chrono's RFC 3339
//! parser. This module also parses fixed UTC offsets (`--tz`). It knows nothing about CSV
//! columns or files.

use chrono::DateTime;

/// Parses one timestamp field into unix seconds.
///
/// Accepted forms (surrounding ASCII whitespace is ignored):
/// - Unix time: `1325376600`, `-60`, and with a fraction `1325376600.0` (floored). The unit
///   is read from the magnitude, as export tools write seconds, milliseconds or
///   microseconds without saying which: below 10¹¹ it is seconds (up to the year 5138),
///   below 10¹⁴ milliseconds, below 10¹⁷ microseconds; larger numbers are refused. A
///   millisecond stamp of 1973 or later and a microsecond stamp of 1973 or later are read
///   right, so a dump of Unix milliseconds is never taken for the year 55,000.
/// - Naive civil time: `YYYY-MM-DD`, `YYYY-MM-DD HH:MM`, `YYYY-MM-DD HH:MM:SS[.fff]`, with
///   `T` instead of the space allowed. Naive times are local to `tz_offset_s` (seconds east
///   of UTC), so `tz_offset_s` is subtracted to reach UTC.
/// - Zoned civil time (RFC 3339 and near relatives): the naive forms followed by `Z` or an
///   offset `+HH:MM`, `+HHMM` or `+HH`, optionally after one space. The stamp's own zone wins;
///   `tz_offset_s` is not applied.
///
/// Returns `None` for anything else, including impossible dates such as `2013-02-30`.
pub fn parse_timestamp(field: &[u8], tz_offset_s: i32) -> Option<i64> {
    parse_with(field, tz_offset_s, &mut DateMemo::default())
}

/// [`parse_timestamp`] with a memory of the previous stamp, for a reader that parses a
/// column of them: a stamp equal to the previous one (a time-major dump repeats each
/// stamp for every meter) costs one comparison, and one with the previous date (a
/// meter-major dump repeats it for every reading of a day) skips the date's validation
/// and calendar arithmetic. The results are those of [`parse_timestamp`], always.
#[derive(Debug, Default)]
pub struct StampCache {
    /// The previous field, untrimmed, as it came.
    last_field: Vec<u8>,
    /// The offset it was parsed under.
    last_tz_offset_s: i32,
    /// What it parsed to.
    last_ts: Option<i64>,
    /// The previous civil date.
    date: DateMemo,
}

impl StampCache {
    /// A cache that remembers nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `field` as [`parse_timestamp`] does.
    #[inline]
    pub fn parse(&mut self, field: &[u8], tz_offset_s: i32) -> Option<i64> {
        if !self.last_field.is_empty()
            && field == self.last_field.as_slice()
            && tz_offset_s == self.last_tz_offset_s
        {
            return self.last_ts;
        }
        let ts = parse_with(field, tz_offset_s, &mut self.date);
        self.last_field.clear();
        self.last_field.extend_from_slice(field);
        self.last_tz_offset_s = tz_offset_s;
        self.last_ts = ts;
        ts
    }
}

/// The last valid `YYYY-MM-DD` prefix seen and its days since 1970-01-01. The ten bytes
/// decide both the date's validity and its day number, so a match is exact.
#[derive(Debug, Default)]
struct DateMemo {
    date: [u8; 10],
    days: i64,
    valid: bool,
}

/// [`parse_timestamp`] through a date memo.
#[inline]
fn parse_with(field: &[u8], tz_offset_s: i32, memo: &mut DateMemo) -> Option<i64> {
    let s = field.trim_ascii();
    if s.is_empty() {
        return None;
    }
    // The fifth byte tells the two fast layouts apart (`2013-…` against `1356…`), so each
    // stamp is scanned by one parser only.
    let fast = if matches!(s.get(4), Some(b'-' | b'/')) {
        parse_civil(s, tz_offset_s, memo)
    } else {
        parse_unix(s)
    };
    if fast.is_some() {
        return fast;
    }
    // Rare forms only (e.g. lowercase separators or exotic fractions): chrono is slow but
    // strict, and a dump full of them still parses, only more slowly.
    let text = std::str::from_utf8(s).ok()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp())
}

/// Parses a fixed UTC offset such as `UTC`, `Z`, `+03:00`, `-05:00`, `+0530` or `+03`
/// (optionally prefixed by `UTC` or `GMT`, e.g. `UTC+3`) into seconds east of UTC.
///
/// Named zones (`Europe/London`) are not supported: they would need a zone database, and a
/// dump with daylight-saving shifts should carry RFC 3339 offsets instead.
pub fn parse_utc_offset(text: &str) -> Option<i32> {
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    let rest = upper
        .strip_prefix("UTC")
        .or_else(|| upper.strip_prefix("GMT"))
        .unwrap_or(&upper);
    if rest.is_empty() || rest == "Z" {
        return Some(0);
    }
    let bytes = rest.as_bytes();
    if let Some((offset, used)) = parse_offset(bytes) {
        return (used == bytes.len()).then_some(offset);
    }
    // A single-digit hour (`UTC+3`) is allowed here, where a human typed it, but not in
    // data rows.
    let sign = match bytes[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    match &bytes[1..] {
        [d] if d.is_ascii_digit() => Some(sign * i32::from(d - b'0') * 3600),
        _ => None,
    }
}

/// Days since 1970-01-01 of the proleptic Gregorian date `y-m-d` (month and day 1-based).
///
/// Howard Hinnant's `days_from_civil`: shifting the year to start in March puts the leap
/// day last, so the day of the year follows from the month with one linear formula.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Unix seconds written as an integer, optionally with a fractional part (floored).
fn parse_unix(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    let (int_part, frac_part) = match digits.iter().position(|&b| b == b'.') {
        Some(dot) => (&digits[..dot], Some(&digits[dot + 1..])),
        None => (digits, None),
    };
    // 18 digits cannot overflow an i64, and no plausible timestamp needs more.
    if int_part.is_empty() || int_part.len() > 18 {
        return None;
    }
    let mut value: i64 = 0;
    for &b in int_part {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(b - b'0');
    }
    let mut fraction_nonzero = false;
    if let Some(frac) = frac_part {
        if frac.is_empty() || !frac.iter().all(u8::is_ascii_digit) {
            return None;
        }
        fraction_nonzero = frac.iter().any(|&b| b != b'0');
    }
    let per_second = unix_units_per_second(value)?;
    // Whole seconds, floored: a sub-second remainder counts as a fraction.
    let (secs, rem) = (value / per_second, value % per_second);
    let below_whole = fraction_nonzero || rem != 0;
    Some(match (negative, below_whole) {
        (false, _) => secs,
        // Flooring a negative stamp with a fraction moves it one second further back.
        (true, false) => -secs,
        (true, true) => -secs - 1,
    })
}

/// The unit of a Unix stamp's magnitude, as units per second: seconds below 10¹¹,
/// milliseconds below 10¹⁴, microseconds below 10¹⁷; `None` beyond (no clock writes that).
fn unix_units_per_second(magnitude: i64) -> Option<i64> {
    match magnitude {
        0..100_000_000_000 => Some(1),
        100_000_000_000..100_000_000_000_000 => Some(1_000),
        100_000_000_000_000..100_000_000_000_000_000 => Some(1_000_000),
        _ => None,
    }
}

/// The first second of 1970, the earliest stamp a meter dump may hold.
pub const EARLIEST_PLAUSIBLE_S: i64 = 0;
/// The first second of 2100 (exclusive), the end of the stamps a meter dump may hold.
pub const LATEST_PLAUSIBLE_S: i64 = 4_102_444_800;

/// True when a parsed stamp lies in 1970–2099: anything else is a misread dump (a wrong
/// unit, a typo in the year), refused rather than judged.
pub fn is_plausible(ts: i64) -> bool {
    (EARLIEST_PLAUSIBLE_S..LATEST_PLAUSIBLE_S).contains(&ts)
}

/// The accepted timestamp forms, as error messages list them.
pub const ACCEPTED_FORMS: &str = "Unix seconds, milliseconds or microseconds (1325376600, 1325376600000), \
YYYY-MM-DD[ HH:MM[:SS]] (local to --tz), or RFC 3339 (2012-01-01T00:10:00Z, 2012-01-01T03:10:00+03:00)";

/// `YYYY-MM-DD[( |T)HH:MM[:SS[.f+]]][ ][Z|±HH[:]MM|±HH]`, validated field by field.
fn parse_civil(s: &[u8], tz_offset_s: i32, memo: &mut DateMemo) -> Option<i64> {
    if s.len() < 10 {
        return None;
    }
    let days = if memo.valid && s[..10] == memo.date {
        memo.days
    } else {
        let days = civil_date_days(&s[..10])?;
        memo.date.copy_from_slice(&s[..10]);
        memo.days = days;
        memo.valid = true;
        days
    };
    let mut seconds_of_day: i64 = 0;
    let mut i = 10;
    if i < s.len() && matches!(s[i], b' ' | b'T') {
        // A time of day follows: HH:MM is required, :SS and a fraction are optional.
        if s.len() < i + 6 || s[i + 3] != b':' {
            return None;
        }
        let hour = digits2(&s[i + 1..i + 3])?;
        let minute = digits2(&s[i + 4..i + 6])?;
        i += 6;
        let mut second = 0;
        if s.get(i) == Some(&b':') {
            second = digits2(s.get(i + 1..i + 3)?)?;
            i += 3;
            if s.get(i) == Some(&b'.') {
                // Sub-second precision is dropped: bins are minutes at the finest.
                let n_digits = s[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
                if n_digits == 0 {
                    return None;
                }
                i += 1 + n_digits;
            }
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        seconds_of_day = i64::from(hour * 3600 + minute * 60 + second);
    }
    let local = days * 86_400 + seconds_of_day;
    let mut zone = &s[i..];
    if zone.is_empty() {
        return Some(local - i64::from(tz_offset_s));
    }
    if zone[0] == b' ' {
        zone = &zone[1..];
    }
    if zone == b"Z" {
        return Some(local);
    }
    match parse_offset(zone)? {
        (offset, used) if used == zone.len() => Some(local - i64::from(offset)),
        _ => None,
    }
}

/// `±HH:MM`, `±HHMM` or `±HH` at the start of `s`: the offset in seconds east of UTC and
/// the number of bytes it took.
fn parse_offset(s: &[u8]) -> Option<(i32, usize)> {
    let sign: i32 = match s.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hours = digits2(s.get(1..3)?)?;
    let (minutes, used) = match s.get(3) {
        None => (0, 3),
        Some(b':') => (digits2(s.get(4..6)?)?, 6),
        Some(_) => (digits2(s.get(3..5)?)?, 5),
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((sign * (hours * 3600 + minutes * 60) as i32, used))
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` (or `YYYY/MM/DD`) date, if it is a real one.
fn civil_date_days(s: &[u8]) -> Option<i64> {
    if !matches!(s[4], b'-' | b'/') || s[7] != s[4] {
        return None;
    }
    let year = i64::from(digits4(&s[0..4])?);
    let month = digits2(&s[5..7])?;
    let day = digits2(&s[8..10])?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// Two ASCII digits as a number.
#[inline]
fn digits2(s: &[u8]) -> Option<u32> {
    match s {
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => {
            Some(u32::from(a - b'0') * 10 + u32::from(b - b'0'))
        }
        _ => None,
    }
}

/// Four ASCII digits as a number.
#[inline]
fn digits4(s: &[u8]) -> Option<u32> {
    Some(digits2(&s[0..2])? * 100 + digits2(&s[2..4])?)
}

/// Days in `month` of `year` in the Gregorian calendar.
fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};

    /// 2013-01-01 00:00:00 UTC, the first LCL reading.
    const JAN1_2013: i64 = 1_356_998_400;

    fn check(text: &str, tz_offset_s: i32, expected: Option<i64>) {
        assert_eq!(
            parse_timestamp(text.as_bytes(), tz_offset_s),
            expected,
            "{text:?} at offset {tz_offset_s}"
        );
    }

    #[test]
    fn unix_seconds_parse_as_themselves() {
        check("1325376600", 0, Some(1_325_376_600));
        check(" 1325376600 ", 3600, Some(1_325_376_600));
        check("1325376600.0", 0, Some(1_325_376_600));
        check("1325376600.75", 0, Some(1_325_376_600));
        check("-60", 0, Some(-60));
        check("-60.5", 0, Some(-61));
        check("0", 0, Some(0));
    }

    #[test]
    fn unix_milli_and_microseconds_are_read_by_their_magnitude() {
        check("1325376600000", 0, Some(1_325_376_600));
        check("1325376600999", 0, Some(1_325_376_600));
        check("1325376600000000", 0, Some(1_325_376_600));
        check("1325376600000.0", 0, Some(1_325_376_600));
        check("-1325376600001", 0, Some(-1_325_376_601));
        // The last second read as seconds, the first read as milliseconds.
        check("99999999999", 0, Some(99_999_999_999));
        check("100000000000", 0, Some(100_000_000));
        check("100000000000000000", 0, None);
    }

    #[test]
    fn only_1970_to_2099_is_plausible() {
        assert!(is_plausible(0) && is_plausible(1_325_376_600));
        assert!(!is_plausible(-1) && !is_plausible(LATEST_PLAUSIBLE_S));
        assert!(!is_plausible(99_999_999_999));
    }

    #[test]
    fn naive_civil_times_take_the_offset() {
        check("2013-01-01 00:00:00", 0, Some(JAN1_2013));
        check("2013-01-01 00:30", 0, Some(JAN1_2013 + 1800));
        check("2013-01-01T00:30:15", 0, Some(JAN1_2013 + 1815));
        check("2013-01-01 00:30:15.999", 0, Some(JAN1_2013 + 1815));
        check("2013/01/01 01:00:00", 0, Some(JAN1_2013 + 3600));
        check("2013-01-01", 0, Some(JAN1_2013));
        // Local time three hours east of UTC is three hours earlier in UTC.
        check("2013-01-01 03:00:00", 3 * 3600, Some(JAN1_2013));
        check("2013-01-01 00:00", -5 * 3600, Some(JAN1_2013 + 5 * 3600));
    }

    #[test]
    fn zoned_times_ignore_the_offset_option() {
        check("2013-01-01T00:00:00Z", 7200, Some(JAN1_2013));
        check("2013-01-01T03:00:00+03:00", -3600, Some(JAN1_2013));
        check("2013-01-01T03:00:00+0300", 0, Some(JAN1_2013));
        check("2013-01-01T03:00:00+03", 0, Some(JAN1_2013));
        check("2012-12-31T19:00:00-05:00", 0, Some(JAN1_2013));
        check("2013-01-01 00:00:00 Z", 0, Some(JAN1_2013));
        check("2013-01-01T00:00:00.5Z", 0, Some(JAN1_2013));
    }

    #[test]
    fn unusual_rfc3339_falls_back_to_chrono() {
        check("2013-01-01t00:00:00z", 0, Some(JAN1_2013));
    }

    #[test]
    fn impossible_or_garbled_stamps_are_refused() {
        for text in [
            "",
            "   ",
            "abc",
            "2013-02-29 00:00",
            "2013-13-01",
            "2013-00-10",
            "2013-01-32",
            "2013-01-01 24:00",
            "2013-01-01 10:60",
            "2013-01-01 10:00:61",
            "2013-01-01 10",
            "2013-01-01 10:00:",
            "2013-01-01T00:00:00+25:00",
            "2013-01-01T00:00:00 +01:00 x",
            "2013-01-01X00:00",
            "2013-1-1",
            "1325376600.",
            "12.3.4",
            "1e9",
            "Null",
        ] {
            check(text, 0, None);
        }
    }

    #[test]
    fn the_stamp_cache_agrees_with_the_plain_parser() {
        let mut cache = StampCache::new();
        // Repeats, a date shared by the next stamp, a bad date that must not poison the
        // memo, the same date under another offset form, and forms the memo does not see.
        for (text, tz) in [
            ("2013-01-01 00:30:00", 0),
            ("2013-01-01 00:30:00", 0),
            ("2013-01-01 01:00:00", 0),
            ("2013-02-30 01:00:00", 0),
            ("2013-01-01 01:30", 0),
            ("2013-01-01T01:30:00+02:00", 0),
            ("1356998400", 0),
            ("2013-01-01 23:30:00", 3600),
            ("2013-01-01 23:30:00", 0),
            ("2013-01-02", 0),
            ("", 0),
            ("2013-01-02 24:00", 0),
            (" 2013-01-02 00:00", 0),
            ("2013-01-01t00:00:00z", 0),
        ] {
            assert_eq!(
                cache.parse(text.as_bytes(), tz),
                parse_timestamp(text.as_bytes(), tz),
                "{text:?}"
            );
        }
    }

    #[test]
    fn leap_days_are_real_only_in_leap_years() {
        check("2012-02-29", 0, Some(days_from_civil(2012, 2, 29) * 86_400));
        check("2000-02-29", 0, Some(days_from_civil(2000, 2, 29) * 86_400));
        check("1900-02-29", 0, None);
    }

    #[test]
    fn days_from_civil_agrees_with_chrono_over_four_centuries() {
        let mut date = NaiveDate::from_ymd_opt(1850, 1, 1).unwrap();
        let end = NaiveDate::from_ymd_opt(2250, 1, 1).unwrap();
        while date < end {
            use chrono::Datelike;
            let expected = Utc
                .from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap())
                .timestamp()
                / 86_400;
            assert_eq!(
                days_from_civil(i64::from(date.year()), date.month(), date.day()),
                expected,
                "{date}"
            );
            date = date.succ_opt().unwrap();
        }
    }

    #[test]
    fn utc_offsets_parse_in_the_usual_spellings() {
        for (text, expected) in [
            ("UTC", Some(0)),
            ("utc", Some(0)),
            ("Z", Some(0)),
            ("GMT", Some(0)),
            ("+03:00", Some(10_800)),
            ("-05:00", Some(-18_000)),
            ("+0530", Some(19_800)),
            ("+03", Some(10_800)),
            ("UTC+3", Some(10_800)),
            ("UTC-05:00", Some(-18_000)),
            ("Europe/London", None),
            ("+3:00", None),
            ("+24:00", None),
        ] {
            assert_eq!(parse_utc_offset(text), expected, "{text:?}");
        }
    }
}
