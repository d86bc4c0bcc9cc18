//! Which columns of a file hold the meter id, the timestamp and the value, and in what unit.
//!
//! A file's first row decides its [`Layout`]: the header names are matched
//! case-insensitively, in any order, with extra columns ignored. With a forced format, a
//! first row that is not that format's header but parses as one of its data rows makes the
//! file a headerless one, read by position. This module owns that decision only; reading
//! the rows is the reader's job.

use super::timestamp::parse_timestamp;
use super::Format;
use crate::core::Unit;

/// Where a file's readings sit in each row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    /// The format found (never [`Format::Auto`]).
    pub format: Format,
    /// The meter id column, or `None` when the id is the file name ([`Format::PerMeter`]).
    pub meter_col: Option<usize>,
    /// The timestamp column.
    pub ts_col: usize,
    /// The value column.
    pub value_col: usize,
    /// The unit of the values.
    pub unit: Unit,
    /// True when the value column is a net (signed) one, `net_kwh` or `net_kw`: negative
    /// values are export, read as no consumption (see the reader).
    pub signed: bool,
    /// Fields every data row must have.
    pub n_fields: usize,
    /// True when the first row is data, not a header (forced format, headerless file).
    pub first_row_is_data: bool,
}

/// Why a first row gave no layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LayoutError {
    /// The row is not the header (or, when forced, a data row) of any layout tried.
    Unknown,
    /// The layout is known but its unit is not: a `value` column and no `--unit`.
    NeedsUnit,
}

/// How a value column names its unit.
#[derive(Clone, Copy)]
enum ValueColumn {
    /// `kwh`, `kw` or LCL's `energy(kWh/hh)`: the header says.
    Named(Unit),
    /// A bare `value`: the unit must come from the options.
    Bare,
}

/// Header names found in a first row, by column index.
#[derive(Default)]
struct Columns {
    meter_id: Option<usize>,
    timestamp: Option<usize>,
    value: Option<(usize, ValueColumn)>,
    /// More than one value column (`kwh` and `kw`): no single reading per row.
    ambiguous_value: bool,
    /// The value column is a net one (`net_kwh`, `net_kw`): import minus export, signed.
    value_signed: bool,
    lcl_id: Option<usize>,
    lcl_tstp: Option<usize>,
    lcl_energy: Option<usize>,
}

impl Columns {
    fn find(header: &csv::ByteRecord) -> Columns {
        let mut c = Columns::default();
        for (i, raw) in header.iter().enumerate() {
            let name = normalise(raw, i);
            let value = match name.as_slice() {
                b"meter_id" | b"meter" | b"meterid" => {
                    c.meter_id.get_or_insert(i);
                    None
                }
                b"timestamp" => {
                    c.timestamp.get_or_insert(i);
                    None
                }
                b"lclid" => {
                    c.lcl_id.get_or_insert(i);
                    None
                }
                b"tstp" => {
                    c.lcl_tstp.get_or_insert(i);
                    None
                }
                b"energy(kwh/hh)" => {
                    c.lcl_energy.get_or_insert(i);
                    None
                }
                b"kwh" | b"net_kwh" => Some(ValueColumn::Named(Unit::Kwh)),
                b"kw" | b"net_kw" => Some(ValueColumn::Named(Unit::Kw)),
                b"value" => Some(ValueColumn::Bare),
                _ => None,
            };
            if let Some(kind) = value {
                if c.value.is_some() {
                    c.ambiguous_value = true;
                } else {
                    c.value_signed = name.starts_with(b"net_");
                }
                c.value.get_or_insert((i, kind));
            }
        }
        c
    }
}

/// A header name made comparable: trimmed, lowercased, without a UTF-8 byte-order mark.
fn normalise(raw: &[u8], index: usize) -> Vec<u8> {
    let raw = if index == 0 {
        raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
    } else {
        raw
    };
    raw.trim_ascii().to_ascii_lowercase()
}

/// Decides the layout of a file from its first row.
///
/// `format` is the requested one ([`Format::Auto`] detects), `unit` the `--unit` option
/// (used only where the header does not name the unit) and `tz_offset_s` is needed to
/// try the row as data for a headerless file.
pub(crate) fn detect(
    first_row: &csv::ByteRecord,
    format: Format,
    unit: Option<Unit>,
    tz_offset_s: i32,
) -> Result<Layout, LayoutError> {
    let c = Columns::find(first_row);
    let n_fields = first_row.len();
    let lcl = match (c.lcl_id, c.lcl_tstp, c.lcl_energy) {
        (Some(meter), Some(ts), Some(value)) => Some(Layout {
            format: Format::Lcl,
            meter_col: Some(meter),
            ts_col: ts,
            value_col: value,
            unit: Unit::Kwh,
            signed: false,
            n_fields,
            first_row_is_data: false,
        }),
        _ => None,
    };
    let resolve = |kind: ValueColumn| match kind {
        ValueColumn::Named(u) => Ok(u),
        ValueColumn::Bare => unit.ok_or(LayoutError::NeedsUnit),
    };
    let with_value =
        |meter_col: Option<usize>, format: Format| -> Option<Result<Layout, LayoutError>> {
            let ts_col = c.timestamp?;
            let (value_col, kind) = c.value?;
            if c.ambiguous_value {
                return None;
            }
            Some(resolve(kind).map(|unit| Layout {
                format,
                meter_col,
                ts_col,
                value_col,
                unit,
                signed: c.value_signed,
                n_fields,
                first_row_is_data: false,
            }))
        };
    let long = c.meter_id.and_then(|m| with_value(Some(m), Format::Long));
    // One file per meter: a timestamp and a value but no id column of either kind.
    let per_meter = if c.meter_id.is_none() && c.lcl_id.is_none() {
        with_value(None, Format::PerMeter)
    } else {
        None
    };
    let found = match format {
        Format::Auto => lcl.map(Ok).or(long).or(per_meter),
        Format::Lcl => lcl.map(Ok),
        Format::Long => long,
        Format::PerMeter => per_meter,
    };
    match found {
        Some(result) => result,
        None if format != Format::Auto => headerless(first_row, format, unit, tz_offset_s),
        None => Err(LayoutError::Unknown),
    }
}

/// The positional layout of a forced format, if `row` reads as one of its data rows:
/// `meter_id,timestamp,value` (long and LCL) or `timestamp,value` (one file per meter).
fn headerless(
    row: &csv::ByteRecord,
    format: Format,
    unit: Option<Unit>,
    tz_offset_s: i32,
) -> Result<Layout, LayoutError> {
    let (meter_col, ts_col, value_col, n_fields) = match format {
        Format::Long | Format::Lcl => (Some(0), 1, 2, 3),
        Format::PerMeter => (None, 0, 1, 2),
        Format::Auto => return Err(LayoutError::Unknown),
    };
    let looks_like_data = row.len() == n_fields
        && parse_timestamp(&row[ts_col], tz_offset_s).is_some()
        && std::str::from_utf8(row[value_col].trim_ascii()).is_ok_and(|v| v.parse::<f32>().is_ok());
    if !looks_like_data {
        return Err(LayoutError::Unknown);
    }
    let unit = match format {
        Format::Lcl => Unit::Kwh,
        _ => unit.ok_or(LayoutError::NeedsUnit)?,
    };
    Ok(Layout {
        format,
        meter_col,
        ts_col,
        value_col,
        unit,
        signed: false,
        n_fields,
        first_row_is_data: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(format, meter_col, ts_col, value_col, unit, first_row_is_data)`, or why none.
    type Expected = Result<(Format, Option<usize>, usize, usize, Unit, bool), LayoutError>;

    fn check(first_row: &str, format: Format, unit: Option<Unit>, expected: Expected) {
        let row = csv::ByteRecord::from(first_row.split(',').collect::<Vec<_>>());
        let got = detect(&row, format, unit, 0).map(|l| {
            (
                l.format,
                l.meter_col,
                l.ts_col,
                l.value_col,
                l.unit,
                l.first_row_is_data,
            )
        });
        assert_eq!(got, expected, "{first_row:?} as {format:?}");
    }

    use Format::{Auto, Lcl, Long, PerMeter};
    use Unit::{Kw, Kwh};

    #[test]
    fn long_headers_are_found_in_any_order_and_case() {
        check(
            "meter_id,timestamp,kwh",
            Auto,
            None,
            Ok((Long, Some(0), 1, 2, Kwh, false)),
        );
        check(
            "Timestamp,KW,Meter_ID,site",
            Auto,
            None,
            Ok((Long, Some(2), 0, 1, Kw, false)),
        );
        check(
            "\u{feff}meter_id, timestamp ,kwh",
            Auto,
            None,
            Ok((Long, Some(0), 1, 2, Kwh, false)),
        );
        check(
            "meter_id,timestamp,value",
            Auto,
            Some(Kw),
            Ok((Long, Some(0), 1, 2, Kw, false)),
        );
    }

    #[test]
    fn lcl_headers_are_found_and_are_kwh() {
        check(
            "LCLid,tstp,energy(kWh/hh)",
            Auto,
            None,
            Ok((Lcl, Some(0), 1, 2, Kwh, false)),
        );
        check(
            "LCLid,tstp,energy(kWh/hh)",
            Lcl,
            Some(Kw),
            Ok((Lcl, Some(0), 1, 2, Kwh, false)),
        );
    }

    #[test]
    fn per_meter_headers_take_the_unit_from_the_options_or_the_header() {
        check(
            "timestamp,value",
            Auto,
            Some(Kwh),
            Ok((PerMeter, None, 0, 1, Kwh, false)),
        );
        check("timestamp,value", Auto, None, Err(LayoutError::NeedsUnit));
        check(
            "timestamp,kw",
            Auto,
            Some(Kwh),
            Ok((PerMeter, None, 0, 1, Kw, false)),
        );
        check(
            "timestamp,dttm_utc,value,estimated,anomaly",
            Auto,
            Some(Kwh),
            Ok((PerMeter, None, 0, 2, Kwh, false)),
        );
    }

    #[test]
    fn metadata_headers_are_unknown() {
        check(
            "SITE_ID,INDUSTRY,SUB_INDUSTRY,SQ_FT",
            Auto,
            Some(Kwh),
            Err(LayoutError::Unknown),
        );
        check(
            "LCLid,stdorToU,Acorn,Acorn_grouped,file",
            Auto,
            Some(Kwh),
            Err(LayoutError::Unknown),
        );
        check("# README", Auto, Some(Kwh), Err(LayoutError::Unknown));
        check(
            "meter_id,timestamp,kwh,kw",
            Auto,
            None,
            Err(LayoutError::Unknown),
        );
    }

    #[test]
    fn a_forced_format_wants_its_own_header() {
        check(
            "meter_id,timestamp,kwh",
            PerMeter,
            Some(Kwh),
            Err(LayoutError::Unknown),
        );
        check(
            "timestamp,value",
            Long,
            Some(Kwh),
            Err(LayoutError::Unknown),
        );
    }

    #[test]
    fn a_forced_format_reads_a_headerless_file_by_position() {
        check(
            "m1,2013-01-01 00:00,0.5",
            Long,
            Some(Kwh),
            Ok((Long, Some(0), 1, 2, Kwh, true)),
        );
        check(
            "m1,2013-01-01 00:00,0.5",
            Long,
            None,
            Err(LayoutError::NeedsUnit),
        );
        check(
            "1325376600,52.1",
            PerMeter,
            Some(Kwh),
            Ok((PerMeter, None, 0, 1, Kwh, true)),
        );
        check(
            "1325376600,52.1",
            Auto,
            Some(Kwh),
            Err(LayoutError::Unknown),
        );
        check(
            "SITE_ID,INDUSTRY",
            PerMeter,
            Some(Kwh),
            Err(LayoutError::Unknown),
        );
    }
}
