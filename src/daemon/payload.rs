//! Payload decoding: one MQTT message (topic + bytes) in, meter readings or rejections out.
//!
//! This module is pure: no IO, no clock (the caller passes "now"), no per-meter state. It
//! knows the two topic layouts flatline understands — `…/meters/<meter_id>/reading` with a
//! small JSON object (or an array of them), and Tasmota's `…/tele/<device>/SENSOR` energy
//! telemetry — and the limits a message must respect. Turning a cumulative register into
//! interval energy needs the meter's previous register value, so that happens later, in
//! [`super::meters`]; here a register reading is only labelled as such
//! ([`Value::RegisterKwh`]).
//!
//! A bad message never raises an error to the caller's loop: it comes back as a
//! [`Rejected`] with a [`RejectReason`] so it can be counted and logged with its topic.

use chrono::{DateTime, NaiveDateTime};
use serde_json::Value as Json;

/// What one reading says about a meter's consumption.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// Energy in kWh consumed in the interval that starts at the reading's timestamp.
    IntervalKwh(f64),
    /// Average power in kW over the interval that starts at the timestamp.
    Kw(f64),
    /// A cumulative energy register in kWh (a meter's odometer) read at the timestamp.
    RegisterKwh(f64),
}

/// One decoded reading: meter, event time and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The meter id, taken from the payload's `meter_id` when present, else the topic.
    pub meter: Box<str>,
    /// Event time, unix seconds.
    pub ts: i64,
    /// The value.
    pub value: Value,
}

/// Why a message (or one element of a batch) was refused. A closed set, so metrics can
/// count each reason with a fixed label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// The topic matches neither known layout.
    UnknownTopic,
    /// The payload exceeds the configured size limit.
    Oversized,
    /// The payload is not valid JSON (or not UTF-8).
    NotJson,
    /// A required field is missing or has the wrong JSON type.
    WrongType,
    /// The timestamp does not parse.
    BadTimestamp,
    /// The timestamp lies too far after the current time.
    TimestampFuture,
    /// The timestamp lies too far before the current time.
    TimestampPast,
    /// The value is NaN or infinite (or too large to be a real meter).
    NotFinite,
    /// Energy or power below zero.
    Negative,
    /// The value exceeds the configured plausible maximum for one meter.
    Implausible,
    /// A meter id that is empty, too long, or contains MQTT wildcard or control characters.
    BadMeterId,
    /// A batch longer than the configured maximum.
    BatchTooLong,
    /// A meter switched between energy and power readings.
    UnitChanged,
    /// A reading older than the meter's rolling window (arrived too late to matter).
    TooLate,
    /// A register reading older than the meter's last register reading.
    RegisterOutOfOrder,
    /// A register went backwards without looking like a rollover: a meter exchange or reset.
    RegisterReset,
    /// A register reading after a gap too long to attribute the energy to hours.
    RegisterGap,
}

impl RejectReason {
    /// Every reason, in a fixed order (the metrics index).
    pub const ALL: [RejectReason; 17] = [
        RejectReason::UnknownTopic,
        RejectReason::Oversized,
        RejectReason::NotJson,
        RejectReason::WrongType,
        RejectReason::BadTimestamp,
        RejectReason::TimestampFuture,
        RejectReason::TimestampPast,
        RejectReason::NotFinite,
        RejectReason::Negative,
        RejectReason::Implausible,
        RejectReason::BadMeterId,
        RejectReason::BatchTooLong,
        RejectReason::UnitChanged,
        RejectReason::TooLate,
        RejectReason::RegisterOutOfOrder,
        RejectReason::RegisterReset,
        RejectReason::RegisterGap,
    ];

    /// The reason as a metric label / log word.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::UnknownTopic => "unknown_topic",
            RejectReason::Oversized => "oversized",
            RejectReason::NotJson => "not_json",
            RejectReason::WrongType => "wrong_type",
            RejectReason::BadTimestamp => "bad_timestamp",
            RejectReason::TimestampFuture => "timestamp_future",
            RejectReason::TimestampPast => "timestamp_past",
            RejectReason::NotFinite => "not_finite",
            RejectReason::Negative => "negative",
            RejectReason::Implausible => "implausible",
            RejectReason::BadMeterId => "bad_meter_id",
            RejectReason::BatchTooLong => "batch_too_long",
            RejectReason::UnitChanged => "unit_changed",
            RejectReason::TooLate => "too_late",
            RejectReason::RegisterOutOfOrder => "register_out_of_order",
            RejectReason::RegisterReset => "register_reset",
            RejectReason::RegisterGap => "register_gap",
        }
    }

    /// Position in [`RejectReason::ALL`].
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|&r| r == self).unwrap_or(0)
    }
}

/// A refused message or batch element, with the topic it came on (for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Why.
    pub reason: RejectReason,
    /// The MQTT topic of the message.
    pub topic: String,
}

/// The limits every message is checked against. Built once from the settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest payload accepted, bytes.
    pub max_payload_bytes: usize,
    /// Most elements in one JSON array batch.
    pub max_batch: usize,
    /// How far after "now" a timestamp may lie, seconds (meter clocks drift).
    pub max_future_s: i64,
    /// How far before "now" a timestamp may lie, seconds (history replays are old).
    pub max_past_s: i64,
    /// The largest plausible average power of one meter, kW; bigger values are corrupt.
    pub max_kw: f64,
    /// Offset of Tasmota's local `Time` from UTC, seconds (Tasmota sends no zone).
    pub tasmota_tz_offset_s: i32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload_bytes: 64 * 1024,
            max_batch: 1000,
            max_future_s: 86_400,
            max_past_s: 20 * 366 * 86_400,
            max_kw: 100_000.0,
            tasmota_tz_offset_s: 0,
        }
    }
}

/// What one message decoded into: the good readings and the refusals (a batch may hold both).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    /// Readings that passed every check.
    pub readings: Vec<Reading>,
    /// Refusals, one per bad message or bad batch element.
    pub rejected: Vec<Rejected>,
}

/// Longest meter id accepted, bytes.
pub const MAX_METER_ID_BYTES: usize = 128;

/// The layout a topic was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout<'t> {
    /// `…/meters/<meter_id>/reading`.
    Reading(&'t str),
    /// `…/tele/<device>/SENSOR`.
    Tasmota(&'t str),
}

/// Decodes one message. `now_s` is the wall clock in unix seconds, used only for the
/// plausibility window of timestamps.
pub fn decode(topic: &str, payload: &[u8], now_s: i64, limits: &Limits) -> Decoded {
    let mut out = Decoded::default();
    let reject = |out: &mut Decoded, reason| {
        out.rejected.push(Rejected {
            reason,
            topic: topic.to_string(),
        })
    };
    let Some(layout) = classify(topic) else {
        reject(&mut out, RejectReason::UnknownTopic);
        return out;
    };
    // Check the size before parsing so a hostile message costs nothing to refuse.
    if payload.len() > limits.max_payload_bytes {
        reject(&mut out, RejectReason::Oversized);
        return out;
    }
    let json: Json = match serde_json::from_slice(payload) {
        Ok(json) => json,
        Err(_) => {
            reject(&mut out, RejectReason::NotJson);
            return out;
        }
    };
    match layout {
        Layout::Reading(topic_meter) => match json {
            Json::Array(items) if items.len() > limits.max_batch => {
                reject(&mut out, RejectReason::BatchTooLong)
            }
            Json::Array(items) => {
                for item in &items {
                    match reading_object(item, topic_meter, now_s, limits) {
                        Ok(r) => out.readings.push(r),
                        Err(reason) => reject(&mut out, reason),
                    }
                }
            }
            other => match reading_object(&other, topic_meter, now_s, limits) {
                Ok(r) => out.readings.push(r),
                Err(reason) => reject(&mut out, reason),
            },
        },
        Layout::Tasmota(device) => match tasmota(&json, device, now_s, limits) {
            Ok(r) => out.readings.push(r),
            Err(reason) => reject(&mut out, reason),
        },
    }
    out
}

/// Recognises a topic by its last three levels, so operators may put any prefix in front
/// (`feeder/12/meters/<id>/reading`) — that prefix is what topic-filter sharding uses.
fn classify(topic: &str) -> Option<Layout<'_>> {
    let mut levels = topic.rsplitn(4, '/');
    let last = levels.next()?;
    let middle = levels.next()?;
    let kind = levels.next()?;
    match (kind, last) {
        ("meters", "reading") => Some(Layout::Reading(middle)),
        ("tele", "SENSOR") => Some(Layout::Tasmota(middle)),
        _ => None,
    }
}

/// Decodes one `{"ts": …, "kwh"|"kw"|"total_kwh": …, "meter_id"?: …}` object.
fn reading_object(
    item: &Json,
    topic_meter: &str,
    now_s: i64,
    limits: &Limits,
) -> Result<Reading, RejectReason> {
    let Json::Object(map) = item else {
        return Err(RejectReason::WrongType);
    };
    let meter = match map.get("meter_id") {
        None => topic_meter,
        Some(Json::String(id)) => id.as_str(),
        Some(_) => return Err(RejectReason::WrongType),
    };
    let meter = check_meter_id(meter)?;
    let ts = match map.get("ts") {
        Some(Json::String(text)) => parse_rfc3339(text)?,
        // Integer unix seconds are accepted too: several gateways send them.
        Some(Json::Number(n)) => n.as_i64().ok_or(RejectReason::BadTimestamp)?,
        Some(_) => return Err(RejectReason::WrongType),
        None => return Err(RejectReason::WrongType),
    };
    check_ts(ts, now_s, limits)?;
    // Exactly one value field: two would leave the meaning ambiguous.
    let fields = [("kwh", 0u8), ("kw", 1), ("total_kwh", 2)];
    let mut found = None;
    for (name, kind) in fields {
        if let Some(v) = map.get(name) {
            if found.is_some() {
                return Err(RejectReason::WrongType);
            }
            found = Some((kind, number(v)?));
        }
    }
    let (kind, x) = found.ok_or(RejectReason::WrongType)?;
    let value = match kind {
        0 => Value::IntervalKwh(x),
        1 => Value::Kw(x),
        _ => Value::RegisterKwh(x),
    };
    check_value(value, limits)?;
    Ok(Reading {
        meter: meter.into(),
        ts,
        value,
    })
}

/// Decodes Tasmota's `{"Time": "2024-05-01T12:00:00", "ENERGY": {"Total": kWh, "Power": W}}`.
/// The register (`Total`) is preferred because it loses nothing between messages; a
/// device that only reports `Power` gives instantaneous kW samples instead.
fn tasmota(
    json: &Json,
    device: &str,
    now_s: i64,
    limits: &Limits,
) -> Result<Reading, RejectReason> {
    let meter = check_meter_id(device)?;
    let Some(time) = json.get("Time") else {
        return Err(RejectReason::WrongType);
    };
    let Json::String(time) = time else {
        return Err(RejectReason::WrongType);
    };
    let ts = parse_tasmota_time(time, limits.tasmota_tz_offset_s)?;
    check_ts(ts, now_s, limits)?;
    let energy = match json.get("ENERGY") {
        Some(e @ Json::Object(_)) => e,
        _ => return Err(RejectReason::WrongType),
    };
    let value = if let Some(total) = energy.get("Total") {
        Value::RegisterKwh(number(total)?)
    } else if let Some(power_w) = energy.get("Power") {
        Value::Kw(number(power_w)? / 1000.0)
    } else {
        return Err(RejectReason::WrongType);
    };
    check_value(value, limits)?;
    Ok(Reading {
        meter: meter.into(),
        ts,
        value,
    })
}

/// A JSON number as f64. serde_json cannot hold NaN, so a non-finite value only comes from
/// a number too large for f64, which parses to infinity in some writers: refuse both.
fn number(v: &Json) -> Result<f64, RejectReason> {
    match v {
        Json::Number(n) => {
            let x = n.as_f64().ok_or(RejectReason::WrongType)?;
            if x.is_finite() {
                Ok(x)
            } else {
                Err(RejectReason::NotFinite)
            }
        }
        // Some writers emit "NaN" or "Infinity" as strings; name them for what they are.
        Json::String(s)
            if matches!(
                s.trim().to_ascii_lowercase().as_str(),
                "nan" | "inf" | "-inf" | "infinity" | "-infinity"
            ) =>
        {
            Err(RejectReason::NotFinite)
        }
        _ => Err(RejectReason::WrongType),
    }
}

fn check_meter_id(id: &str) -> Result<&str, RejectReason> {
    let ok = !id.is_empty()
        && id.len() <= MAX_METER_ID_BYTES
        && !id
            .chars()
            .any(|c| c.is_control() || matches!(c, '+' | '#' | '/'));
    if ok {
        Ok(id)
    } else {
        Err(RejectReason::BadMeterId)
    }
}

fn check_ts(ts: i64, now_s: i64, limits: &Limits) -> Result<(), RejectReason> {
    if ts > now_s.saturating_add(limits.max_future_s) {
        Err(RejectReason::TimestampFuture)
    } else if ts < now_s.saturating_sub(limits.max_past_s) {
        Err(RejectReason::TimestampPast)
    } else {
        Ok(())
    }
}

fn check_value(value: Value, limits: &Limits) -> Result<(), RejectReason> {
    let (x, per_hour_cap) = match value {
        // An interval's energy is capped at max_kw over one day, the coarsest interval
        // a meter plausibly reports.
        Value::IntervalKwh(x) => (x, limits.max_kw * 24.0),
        Value::Kw(x) => (x, limits.max_kw),
        // A register may be large (decades of use), but not astronomically so.
        Value::RegisterKwh(x) => (x, 1e12),
    };
    if x < 0.0 {
        Err(RejectReason::Negative)
    } else if x > per_hour_cap {
        Err(RejectReason::Implausible)
    } else {
        Ok(())
    }
}

fn parse_rfc3339(text: &str) -> Result<i64, RejectReason> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.timestamp())
        .map_err(|_| RejectReason::BadTimestamp)
}

/// Tasmota writes local time without a zone (`2024-05-01T12:00:00`); newer firmware may
/// append an offset, which wins when present.
fn parse_tasmota_time(text: &str, tz_offset_s: i32) -> Result<i64, RejectReason> {
    if let Ok(t) = parse_rfc3339(text) {
        return Ok(t);
    }
    NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M:%S")
        .map(|t| t.and_utc().timestamp() - tz_offset_s as i64)
        .map_err(|_| RejectReason::BadTimestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-05-01T00:00:00Z, the "now" of every test.
    const NOW: i64 = 1_714_521_600;

    fn decode_now(topic: &str, payload: &str) -> Decoded {
        decode(topic, payload.as_bytes(), NOW, &Limits::default())
    }

    /// Decodes one message and compares the single outcome with `expected`.
    fn check(topic: &str, payload: &str, expected: Result<(&str, i64, Value), RejectReason>) {
        let d = decode_now(topic, payload);
        let got = match (d.readings.as_slice(), d.rejected.as_slice()) {
            ([r], []) => Ok((&*r.meter, r.ts, r.value)),
            ([], [rej]) => {
                assert_eq!(rej.topic, topic);
                Err(rej.reason)
            }
            _ => panic!("expected one outcome for {payload}, got {d:?}"),
        };
        assert_eq!(got, expected, "topic {topic} payload {payload}");
    }

    use RejectReason as R;
    use Value::*;

    #[test]
    fn interval_energy_is_read_from_kwh() {
        check(
            "meters/m1/reading",
            r#"{"ts":"2024-05-01T00:00:00Z","kwh":0.25}"#,
            Ok(("m1", NOW, IntervalKwh(0.25))),
        );
    }

    #[test]
    fn average_power_is_read_from_kw() {
        check(
            "meters/m1/reading",
            r#"{"ts":"2024-05-01T00:00:00Z","kw":3.5}"#,
            Ok(("m1", NOW, Kw(3.5))),
        );
    }

    #[test]
    fn a_cumulative_register_is_labelled_as_such() {
        check(
            "meters/m1/reading",
            r#"{"ts":"2024-05-01T00:00:00Z","total_kwh":12345.6}"#,
            Ok(("m1", NOW, RegisterKwh(12345.6))),
        );
    }

    #[test]
    fn an_offset_timestamp_is_converted_to_utc() {
        check(
            "meters/m1/reading",
            r#"{"ts":"2024-05-01T02:00:00+02:00","kwh":1}"#,
            Ok(("m1", NOW, IntervalKwh(1.0))),
        );
    }

    #[test]
    fn integer_unix_seconds_are_accepted() {
        check(
            "meters/m1/reading",
            &format!(r#"{{"ts":{NOW},"kwh":1}}"#),
            Ok(("m1", NOW, IntervalKwh(1.0))),
        );
    }

    #[test]
    fn the_payload_meter_id_wins_over_the_topic() {
        check(
            "meters/gw7/reading",
            r#"{"ts":"2024-05-01T00:00:00Z","kwh":1,"meter_id":"m9"}"#,
            Ok(("m9", NOW, IntervalKwh(1.0))),
        );
    }

    #[test]
    fn any_topic_prefix_is_allowed_for_sharding() {
        check(
            "feeder/12/meters/m1/reading",
            r#"{"ts":"2024-05-01T00:00:00Z","kwh":1}"#,
            Ok(("m1", NOW, IntervalKwh(1.0))),
        );
    }

    #[test]
    fn a_batch_yields_every_good_element_and_rejects_the_bad_ones() {
        let d = decode_now(
            "meters/m1/reading",
            r#"[{"ts":"2024-05-01T00:00:00Z","kwh":1},{"ts":"2024-05-01T00:15:00Z","kwh":-1},{"ts":"2024-05-01T00:30:00Z","kwh":2}]"#,
        );
        assert_eq!(d.readings.len(), 2);
        assert_eq!(d.readings[1].ts, NOW + 1800);
        assert_eq!(
            d.rejected.iter().map(|r| r.reason).collect::<Vec<_>>(),
            vec![R::Negative]
        );
    }

    #[test]
    fn a_batch_longer_than_the_limit_is_refused_whole() {
        let one = r#"{"ts":"2024-05-01T00:00:00Z","kwh":1}"#;
        let batch = format!("[{}]", vec![one; 1001].join(","));
        check("meters/m1/reading", &batch, Err(R::BatchTooLong));
    }

    #[test]
    fn tasmota_energy_total_is_a_register() {
        check(
            "tele/plug-3/SENSOR",
            r#"{"Time":"2024-05-01T00:00:00","ENERGY":{"Total":42.5,"Power":120}}"#,
            Ok(("plug-3", NOW, RegisterKwh(42.5))),
        );
    }

    #[test]
    fn tasmota_power_alone_is_kilowatts() {
        check(
            "tele/plug-3/SENSOR",
            r#"{"Time":"2024-05-01T00:00:00","ENERGY":{"Power":1500}}"#,
            Ok(("plug-3", NOW, Kw(1.5))),
        );
    }

    #[test]
    fn tasmota_local_time_uses_the_configured_offset() {
        let limits = Limits {
            tasmota_tz_offset_s: 3600,
            ..Limits::default()
        };
        let d = decode(
            "tele/p/SENSOR",
            br#"{"Time":"2024-05-01T01:00:00","ENERGY":{"Total":1}}"#,
            NOW,
            &limits,
        );
        assert_eq!(d.readings[0].ts, NOW);
    }

    #[test]
    fn tasmota_without_energy_is_the_wrong_type() {
        check(
            "tele/plug-3/SENSOR",
            r#"{"Time":"2024-05-01T00:00:00","AM2301":{"Temperature":20}}"#,
            Err(R::WrongType),
        );
    }

    #[test]
    fn an_unknown_topic_layout_is_refused() {
        check(
            "meters/m1/status",
            r#"{"ts":"2024-05-01T00:00:00Z","kwh":1}"#,
            Err(R::UnknownTopic),
        );
        check("reading", "{}", Err(R::UnknownTopic));
    }

    #[test]
    fn text_that_is_not_json_is_refused() {
        check("meters/m1/reading", "hello", Err(R::NotJson));
        check("meters/m1/reading", "", Err(R::NotJson));
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_as_not_json() {
        let d = decode(
            "meters/m1/reading",
            &[0xff, 0xfe, 0x7b],
            NOW,
            &Limits::default(),
        );
        assert_eq!(d.rejected[0].reason, R::NotJson);
    }

    #[test]
    fn a_string_where_a_number_belongs_is_the_wrong_type() {
        check(
            "meters/m1/reading",
            r#"{"ts":"2024-05-01T00:00:00Z","kwh":"1.0"}"#,
            Err(R::WrongType),
        );
        check(
            "meters/m1/reading",
            r#"{"ts":true,"kwh":1}"#,
            Err(R::WrongType),
        );
        check(
            "meters/m1/reading",
            r#"{"ts":"2024-05-01T00:00:00Z"}"#,
            Err(R::WrongType),
        );
        check("meters/m1/reading", r#"{"kwh":1}"#, Err(R::WrongType));
        check("meters/m1/reading", "42", Err(R::WrongType));
        check(
            "meters/m1/reading",
            r#"{"ts":"2024-05-01T00:00:00Z","kwh":1,"meter_id":7}"#,
            Err(R::WrongType),
        );
    }

    #[test]
    fn two_value_fields_in_one_reading_are_ambiguous() {
        check(
            "meters/m1/reading",
            r#"{"ts":"2024-05-01T00:00:00Z","kwh":1,"kw":4}"#,
            Err(R::WrongType),
        );
    }

    #[test]
    fn nan_and_infinity_are_not_finite() {
        check(
            "meters/m1/reading",
            r#"{"ts":"2024-05-01T00:00:00Z","kwh":"NaN"}"#,
            Err(R::NotFinite),
        );
        check(
            "meters/m1/reading",
            r#"{"ts":"2024-05-01T00:00:00Z","kw":"Infinity"}"#,
            Err(R::NotFinite),
        );
        check(
            "meters/m1/reading",
            r#"{"ts":"2024-05-01T00:00:00Z","kwh":1e999}"#,
            Err(R::NotJson),
        );
    }

    #[test]
    fn negative_energy_and_power_are_refused() {
        check(
            "meters/m1/reading",
            r#"{"ts":"2024-05-01T00:00:00Z","kwh":-0.1}"#,
            Err(R::Negative),
        );
        check(
            "meters/m1/reading",
            r#"{"ts":"2024-05-01T00:00:00Z","kw":-3}"#,
            Err(R::Negative),
        );
        check(
            "meters/m1/reading",
            r#"{"ts":"2024-05-01T00:00:00Z","total_kwh":-3}"#,
            Err(R::Negative),
        );
    }

    #[test]
    fn an_absurd_power_is_implausible() {
        check(
            "meters/m1/reading",
            r#"{"ts":"2024-05-01T00:00:00Z","kw":1e7}"#,
            Err(R::Implausible),
        );
    }

    #[test]
    fn a_timestamp_days_ahead_is_in_the_future() {
        check(
            "meters/m1/reading",
            r#"{"ts":"2024-05-03T00:00:00Z","kwh":1}"#,
            Err(R::TimestampFuture),
        );
    }

    #[test]
    fn a_timestamp_decades_ago_is_in_the_past() {
        check(
            "meters/m1/reading",
            r#"{"ts":"1990-01-01T00:00:00Z","kwh":1}"#,
            Err(R::TimestampPast),
        );
    }

    #[test]
    fn a_garbled_timestamp_is_refused() {
        check(
            "meters/m1/reading",
            r#"{"ts":"yesterday","kwh":1}"#,
            Err(R::BadTimestamp),
        );
        check(
            "tele/p/SENSOR",
            r#"{"Time":"01/05/2024","ENERGY":{"Total":1}}"#,
            Err(R::BadTimestamp),
        );
    }

    #[test]
    fn an_oversized_payload_is_refused_before_parsing() {
        let limits = Limits {
            max_payload_bytes: 10,
            ..Limits::default()
        };
        let d = decode(
            "meters/m1/reading",
            br#"{"ts":"2024-05-01T00:00:00Z","kwh":1}"#,
            NOW,
            &limits,
        );
        assert_eq!(d.rejected[0].reason, R::Oversized);
    }

    #[test]
    fn a_meter_id_with_wildcards_or_control_characters_is_refused() {
        check(
            "meters/m1/reading",
            r#"{"ts":"2024-05-01T00:00:00Z","kwh":1,"meter_id":"a/b"}"#,
            Err(R::BadMeterId),
        );
        check(
            "meters/m1/reading",
            r#"{"ts":"2024-05-01T00:00:00Z","kwh":1,"meter_id":"a\n"}"#,
            Err(R::BadMeterId),
        );
        check(
            "meters//reading",
            r#"{"ts":"2024-05-01T00:00:00Z","kwh":1}"#,
            Err(R::BadMeterId),
        );
    }

    #[test]
    fn every_reason_has_a_distinct_label_and_index() {
        let labels: std::collections::HashSet<_> =
            RejectReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(labels.len(), RejectReason::ALL.len());
        for (i, r) in RejectReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }
}
