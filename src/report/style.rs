//! Colours, the continuous colour ramp, and the small text and number helpers the
//! pages share.
//!
//! Categorical colours are the Okabe–Ito palette (distinguishable with the common
//! colour-vision deficiencies). The heat map uses viridis: perceptually uniform and
//! monotone in lightness, so on a greyscale printout dark still means low load and
//! light still means high load. Nothing here draws a chart.

use chrono::{DateTime, Utc};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::fonts::FAMILY;
use super::{draw_err, ReportError};
use crate::core::verdict::hour_to_datetime;

/// Okabe–Ito black.
pub(crate) const INK: RGBColor = RGBColor(0, 0, 0);
/// Okabe–Ito orange.
pub(crate) const ORANGE: RGBColor = RGBColor(230, 159, 0);
/// Okabe–Ito sky blue.
pub(crate) const SKY_BLUE: RGBColor = RGBColor(86, 180, 233);
/// Okabe–Ito bluish green.
pub(crate) const OI_GREEN: RGBColor = RGBColor(0, 158, 115);
/// Okabe–Ito blue.
pub(crate) const OI_BLUE: RGBColor = RGBColor(0, 114, 178);
/// Okabe–Ito vermillion.
pub(crate) const VERMILLION: RGBColor = RGBColor(213, 94, 0);
/// Okabe–Ito reddish purple.
pub(crate) const PURPLE: RGBColor = RGBColor(204, 121, 167);
/// Okabe–Ito yellow.
pub(crate) const OI_YELLOW: RGBColor = RGBColor(240, 228, 66);
/// Secondary text and reference lines.
pub(crate) const GREY_DARK: RGBColor = RGBColor(90, 90, 90);
/// Fill of the comparable meters' interquartile band.
pub(crate) const GREY_BAND: RGBColor = RGBColor(214, 214, 214);
/// Grid lines: visible on screen, nearly gone in print.
pub(crate) const GREY_GRID: RGBColor = RGBColor(232, 232, 232);
/// Other meters in the fleet scatter.
pub(crate) const GREY_POINT: RGBColor = RGBColor(165, 165, 165);

/// Okabe–Ito colours for categories (clusters), black last; pair each with a marker
/// shape so categories survive greyscale.
pub(crate) const CATEGORICAL: [RGBColor; 8] = [
    OI_BLUE, ORANGE, OI_GREEN, VERMILLION, PURPLE, SKY_BLUE, OI_YELLOW, INK,
];

/// Viridis at eleven evenly spaced stops (matplotlib's values); interpolated linearly.
const VIRIDIS: [(u8, u8, u8); 11] = [
    (68, 1, 84),
    (72, 36, 117),
    (65, 68, 135),
    (53, 95, 141),
    (42, 120, 142),
    (33, 145, 140),
    (34, 168, 132),
    (68, 191, 112),
    (122, 209, 81),
    (189, 223, 38),
    (253, 231, 37),
];

/// The viridis colour at `t` in 0..1 (clamped).
pub(crate) fn viridis(t: f64) -> RGBColor {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let pos = t * (VIRIDIS.len() - 1) as f64;
    let i = (pos.floor() as usize).min(VIRIDIS.len() - 2);
    let f = pos - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A text style in the report's font.
pub(crate) fn text(size: f64, color: RGBColor) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&color)
}

/// A bold text style in the report's font.
pub(crate) fn bold(size: f64, color: RGBColor) -> TextStyle<'static> {
    // The style must be given when the font is made: `FontDesc::style` keeps the glyph
    // data already loaded for the normal face, so bold would silently render regular.
    (FAMILY, size, FontStyle::Bold).into_font().color(&color)
}

/// Width in pixels of `s` drawn in `style`.
pub(crate) fn text_width<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    style: &TextStyle,
) -> Result<i32, ReportError> {
    Ok(area.estimate_text_size(s, style).map_err(draw_err)?.0 as i32)
}

/// `s` cut to fit `max_w` pixels, ending in an ellipsis when cut.
pub(crate) fn ellipsise<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    style: &TextStyle,
    max_w: i32,
) -> Result<String, ReportError> {
    if text_width(area, s, style)? <= max_w {
        return Ok(s.to_string());
    }
    let chars: Vec<char> = s.chars().collect();
    // Binary search on the number of characters kept: text width grows with it.
    let (mut lo, mut hi) = (0usize, chars.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        let candidate: String = chars[..mid].iter().chain(['…'].iter()).collect();
        if text_width(area, &candidate, style)? <= max_w {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(chars[..lo].iter().chain(['…'].iter()).collect())
}

/// `s` broken into lines no wider than `max_w` pixels, at spaces where possible; a
/// single word wider than the line is ellipsised rather than allowed to overflow.
pub(crate) fn wrap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    style: &TextStyle,
    max_w: i32,
) -> Result<Vec<String>, ReportError> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in s.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if text_width(area, &candidate, style)? <= max_w {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        line = ellipsise(area, word, style, max_w)?;
    }
    if !line.is_empty() {
        lines.push(line);
    }
    Ok(lines)
}

/// Local wall-clock time of the start of `hour`.
pub(crate) fn local_time(hour: i64, tz_offset_s: i32) -> DateTime<Utc> {
    hour_to_datetime(hour) + chrono::Duration::seconds(tz_offset_s as i64)
}

/// The local date of `hour`, e.g. "2026-03-14".
pub(crate) fn local_date(hour: i64, tz_offset_s: i32) -> String {
    local_time(hour, tz_offset_s).format("%Y-%m-%d").to_string()
}

/// The local date and hour of `hour`, e.g. "2026-03-14 09:00".
pub(crate) fn local_date_hour(hour: i64, tz_offset_s: i32) -> String {
    local_time(hour, tz_offset_s)
        .format("%Y-%m-%d %H:00")
        .to_string()
}

/// Local hour index of `hour` (hours since the epoch in local time), used to cut days
/// and hours of the day in local time.
pub(crate) fn local_hour_index(hour: i64, tz_offset_s: i32) -> i64 {
    (hour * 3600 + tz_offset_s as i64).div_euclid(3600)
}

/// "UTC+01:00"-style name of the offset.
pub(crate) fn utc_offset_name(tz_offset_s: i32) -> String {
    let sign = if tz_offset_s < 0 { '-' } else { '+' };
    let m = tz_offset_s.unsigned_abs() / 60;
    format!("UTC{sign}{:02}:{:02}", m / 60, m % 60)
}

/// A tick label on a logarithmic kW axis: two decimals below 1 kW, whole and grouped above.
pub(crate) fn log_kw_tick(v: f64) -> String {
    if v < 1.0 {
        format!("{v:.2}")
    } else {
        thousands(v, 0)
    }
}

/// A number with thousands separators and `decimals` places: 12345.6 → "12,345.6".
pub(crate) fn thousands(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return "n/a".to_string();
    }
    let s = format!("{:.*}", decimals, x.abs());
    let (int, frac) = s
        .split_once('.')
        .map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if x < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// A power with sensible precision: "0.35 kW", "3.4 kW", "612 kW", "12,400 kW".
pub(crate) fn kw(x: f64) -> String {
    let decimals = if x.abs() < 1.0 {
        2
    } else if x.abs() < 100.0 {
        1
    } else {
        0
    };
    format!("{} kW", thousands(x, decimals))
}

/// A quantity of energy or money rounded to what matters: 2 significant figures below
/// 100, whole numbers above.
pub(crate) fn amount(x: f64) -> String {
    let decimals = if x.abs() < 10.0 { 1 } else { 0 };
    thousands(x, decimals)
}

/// Draws `s` with its top-left corner at `(x, y)` in `area`'s pixels.
pub(crate) fn put<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    style: &TextStyle,
    (x, y): (i32, i32),
) -> Result<(), ReportError> {
    area.draw_text(s, style, (x, y)).map_err(draw_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_thousands(x: f64, decimals: usize, expected: &str) {
        assert_eq!(thousands(x, decimals), expected);
    }

    #[test]
    fn thousands_are_grouped_and_signed() {
        check_thousands(0.0, 0, "0");
        check_thousands(999.0, 0, "999");
        check_thousands(1234.5, 1, "1,234.5");
        check_thousands(-1234567.0, 0, "-1,234,567");
        check_thousands(-0.01, 1, "0.0");
        check_thousands(f64::NAN, 0, "n/a");
    }

    #[test]
    fn viridis_gets_lighter_from_end_to_end() {
        let luma = |c: RGBColor| 0.2126 * c.0 as f64 + 0.7152 * c.1 as f64 + 0.0722 * c.2 as f64;
        let mut prev = -1.0;
        for i in 0..=100 {
            let l = luma(viridis(i as f64 / 100.0));
            assert!(l > prev, "lightness must rise monotonically (step {i})");
            prev = l;
        }
    }

    #[test]
    fn utc_offsets_are_named_with_sign_hours_and_minutes() {
        assert_eq!(utc_offset_name(3600), "UTC+01:00");
        assert_eq!(utc_offset_name(-16_200), "UTC-04:30");
        assert_eq!(utc_offset_name(0), "UTC+00:00");
    }

    #[test]
    fn local_hours_follow_the_offset() {
        assert_eq!(local_hour_index(23, 3600), 24);
        assert_eq!(local_hour_index(0, -3600), -1);
        assert_eq!(local_date_hour(0, 8 * 3600), "1970-01-01 08:00");
    }
}
