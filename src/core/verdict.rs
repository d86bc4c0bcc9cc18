//! Verdicts: what the detector concludes about one meter, in the words an analyst reads.
//!
//! An [`Assessment`] is the single output of the pure core for one meter at one moment.
//! Scan writes it as CSV/NDJSON, the daemon turns changes in it into alerts, and the
//! report draws it. This module owns the type, `judge` (which weighs the model's score,
//! the added-load and floor tests and the registry into one verdict) and the arithmetic of
//! the evidence (rig counts, excess energy); the model's reasons are phrased in `model`.

use serde::{Deserialize, Serialize};

use super::features::{self, WINDOW_HOURS};
use super::fleet::MeterId;
use super::series::HourlySeries;
use super::{Context, Model};

/// Rated power of one S19-class ASIC miner (Antminer S19 Pro: 3,250 W ±5%).
pub const S19_KW: f64 = 3.25;

/// The smallest flat load that can be a mining rig, kW. The smallest ASICs still found in
/// the field (Antminer L3+, older S9 boards run low) draw about 0.8 kW; a flat addition
/// below that is a dehumidifier, an aquarium or a heater, not a rig.
pub const MIN_RIG_KW: f64 = 0.8;

/// What the detector concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The load matches the mining signature.
    Suspect,
    /// Nothing suspicious.
    Clear,
    /// Matches the signature, but the registry lists the site as allowed (licensed miner).
    Allowed,
    /// Matches the signature, but the registry explains it (e.g. a declared data centre within its contracted load).
    Explained,
    /// Too little recent data to judge.
    InsufficientData,
}

impl Status {
    /// The status as written in CSV output.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Suspect => "suspect",
            Status::Clear => "clear",
            Status::Allowed => "allowed",
            Status::Explained => "explained",
            Status::InsufficientData => "insufficient_data",
        }
    }
}

/// The detector's conclusion about one meter at one moment, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    /// The meter.
    pub meter_id: MeterId,
    /// Calibrated probability-like score in [0, 1] that the recent load is mining.
    pub score: f64,
    /// True when the meter is a suspect an inspector should look at.
    pub flagged: bool,
    /// The verdict.
    pub status: Status,
    /// Mean kW over the suspicious episode (or the analysed window when there is none).
    pub level_kw: f64,
    /// Unexplained load in kW added *on average* over the episode, beyond what the meter drew
    /// before it (or beyond a quiet premises' floor when no switch-on was seen): the energy
    /// taken. Lower than the rigs' running power when they are curtailed or restart.
    pub excess_kw: f64,
    /// The rigs' running power (the flat step) in S19-class rigs.
    pub est_rigs: f64,
    /// `excess_kw` as energy per day.
    pub excess_kwh_per_day: f64,
    /// Hour index (unix seconds / 3600) at which the episode began: the onset when one was
    /// found, else the start of the analysed window.
    pub since_hour: i64,
    /// True when a step onset was found inside the window; false when the load was already
    /// like this when the window began.
    pub onset_found: bool,
    /// First hour of the analysed window.
    pub window_start_hour: i64,
    /// One past the last hour analysed ("as of").
    pub window_end_hour: i64,
    /// The comparable group the meter was matched to (e.g. "homes (evening peak)").
    pub peer_group: String,
    /// Median level of that group, kW.
    pub peer_level_kw: f64,
    /// The model cluster the meter fell in.
    pub cluster: usize,
    /// Plain-language reasons, strongest first.
    pub reasons: Vec<String>,
    /// Limits that apply to this verdict ("short history", "registered as commercial").
    pub notes: Vec<String>,
    /// Feature values by name, in the model's feature order.
    pub features: Vec<(String, f64)>,
}

impl Assessment {
    /// The verdict for a window with too little data to judge: nothing flagged, the reason
    /// stated, the window ending at `end_hour`.
    pub fn insufficient(
        meter_id: &MeterId,
        end_hour: i64,
        reason: String,
        notes: Vec<String>,
    ) -> Assessment {
        Assessment {
            meter_id: meter_id.clone(),
            score: 0.0,
            flagged: false,
            status: Status::InsufficientData,
            level_kw: 0.0,
            excess_kw: 0.0,
            est_rigs: 0.0,
            excess_kwh_per_day: 0.0,
            since_hour: end_hour,
            onset_found: false,
            window_start_hour: end_hour - WINDOW_HOURS,
            window_end_hour: end_hour,
            peer_group: String::new(),
            peer_level_kw: 0.0,
            cluster: 0,
            reasons: vec![reason],
            notes,
            features: Vec::new(),
        }
    }

    /// Hours the episode has lasted at the time of the verdict.
    pub fn episode_hours(&self) -> i64 {
        self.window_end_hour - self.since_hour
    }

    /// Unexplained energy over the episode so far, kWh.
    pub fn excess_kwh_total(&self) -> f64 {
        self.excess_kw * self.episode_hours() as f64
    }

    /// The value of a named feature, if the model has it.
    pub fn feature(&self, name: &str) -> Option<f64> {
        self.features
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, v)| v)
    }
}

/// Converts an hour index to a UTC timestamp.
pub fn hour_to_datetime(hour: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(hour * 3600, 0).unwrap_or_default()
}

/// Rigs equivalent to `kw` of flat load.
pub fn rigs_for_kw(kw: f64) -> f64 {
    (kw / S19_KW).max(0.0)
}

/// The whole detector for one meter: measure, score, the added-load and floor tests (unless
/// `own_history_tests` is off, for the ablation), the registry, and the words. Behind
/// [`super::assess`] and [`super::assess_clusters_only`].
pub(crate) fn judge(
    meter: &MeterId,
    series: &HourlySeries,
    as_of_hour: i64,
    model: &Model,
    ctx: &Context,
    own_history_tests: bool,
) -> Assessment {
    let Some(m) = features::measure(series, as_of_hour, ctx.tz_offset_s) else {
        let end = as_of_hour.min(series.end_hour());
        let n_valid = series
            .window(end - WINDOW_HOURS, end)
            .1
            .iter()
            .filter(|v| v.is_finite())
            .count();
        return Assessment::insufficient(
            meter,
            end,
            format!(
                "only {n_valid} hours of data in the last {} days; at least {} are needed",
                WINDOW_HOURS / 24,
                features::MIN_VALID_HOURS
            ),
            vec!["short history".into()],
        );
    };
    let scored = model.score(&m);
    let peer = &model.peers[scored.peer];
    // The unexplained flat load: the step when one was found; otherwise the floor above
    // what a quiet premises of the quietest peer group draws.
    let quiet_floor = model
        .peers
        .iter()
        .map(|p| p.median_floor_kw)
        .fold(f64::INFINITY, f64::min)
        .max(0.0);
    // Two different quantities: the rigs' *running* power (the step, or the floor above a
    // quiet premises) counts rigs; the power added *on average* (less when the rigs are
    // curtailed at peak hours or restart) is the energy taken. The average never exceeds
    // the running power.
    // The second test: what the step added is as flat as a rig, however the premises' own
    // load swings. The clustering model judges the whole load against the fleet; on a
    // large, busy site the farm is a minority of it, and this test still sees it.
    let added_rig_like = own_history_tests && m.added.is_some_and(|a| a.is_rig_like());
    // The third: the site's floor rose and stayed up (a farm under a site whose own load
    // changed after the switch-on). It speaks only where the other two are silent, and
    // then the floor step is the evidence: its date, its size.
    let floor_step = m
        .floor
        .filter(|f| own_history_tests && f.is_rig_like() && !added_rig_like && !scored.flagged);
    // Under a raised floor the rigs run at every hour: the rise is the energy taken too.
    let (running_kw, excess_kw, since_hour) = match (floor_step, m.onset) {
        (Some(f), _) => (f.added_kw, f.added_kw, f.hour),
        (None, Some(o)) => (
            o.added_kw,
            o.added_kw.min((m.episode.mean_kw - o.baseline_kw).max(0.0)),
            o.hour,
        ),
        (None, None) => {
            let running = (m.episode.floor_kw - quiet_floor).max(0.0);
            let excess = running.min((m.episode.mean_kw - quiet_floor).max(0.0));
            (running, excess, m.window_start_hour)
        }
    };
    let mut reasons = model.reasons(&m, &scored, running_kw, excess_kw);
    // Either test's own score ranks the meter when it is higher than the model's.
    let mut score = match m.added {
        Some(a) if own_history_tests => scored.score.max(a.rig_likeness()),
        _ => scored.score,
    };
    if let Some(f) = m.floor.filter(|_| own_history_tests) {
        score = score.max(f.rig_likeness());
    }
    if added_rig_like {
        let a = m.added.expect("checked above");
        let since = m.onset.map_or(m.window_start_hour, |o| o.hour);
        let sentence = format!(
            "added {:.1} kW on {} and it stayed flat: hour by hour, against the same hours before, \
             the added load varies by ±{:.0}%",
            a.median_kw,
            hour_to_datetime(since).format("%-d %b %Y %H:00 UTC"),
            a.spread * 50.0
        );
        if scored.flagged {
            reasons.push(sentence);
        } else {
            reasons.insert(0, sentence);
        }
    }
    if let Some(f) = floor_step {
        reasons.insert(
            0,
            format!(
                "its lowest load rose by {:.1} kW on {} and has not come down in {} days: \
                 before, it sat at its old floor {:.0}% of the time, every week",
                f.added_kw,
                hour_to_datetime(f.hour).format("%-d %b %Y"),
                f.days,
                f.old_floor_share * 100.0
            ),
        );
    }
    let suspected = scored.flagged || added_rig_like || floor_step.is_some();
    let mut notes = Vec::new();
    let mut status = if suspected {
        Status::Suspect
    } else {
        Status::Clear
    };
    // However much it looks like mining, a flat load smaller than the smallest rig is not one.
    if suspected && running_kw < MIN_RIG_KW {
        status = Status::Clear;
        reasons.push(format!(
            "the unexplained flat load ({running_kw:.1} kW) is smaller than any mining rig (≥{:.1} kW)",
            MIN_RIG_KW
        ));
    }
    let days = (m.window_end_hour - m.window_start_hour) / 24;
    if days < 14 {
        notes.push(format!("short history: {days} days"));
    }
    if m.episode.n_valid < 24 * 3 {
        notes.push(format!(
            "episode so far only {} hours long",
            m.episode.n_valid
        ));
    }
    if series.resolution_min > 60 {
        notes.push(format!(
            "{}-minute readings: daily shape not visible",
            series.resolution_min
        ));
    }
    if let Some(entry) = ctx.registry {
        if entry.allowed {
            if suspected {
                status = Status::Allowed;
            }
            notes.push("registered as allowed (licensed site)".into());
        } else if entry.is_declared_flat_load()
            && entry
                .contracted_kw
                .is_none_or(|c| m.episode.mean_kw <= 1.1 * c)
        {
            if suspected {
                status = Status::Explained;
            }
            notes.push(match entry.contracted_kw {
                Some(c) => format!(
                    "registered as {} within its contracted {c:.0} kW",
                    entry.class
                ),
                None => format!("registered as {}", entry.class),
            });
        } else if entry.is_residential() {
            notes.push("registered as residential".into());
        } else if !entry.class.is_empty() {
            notes.push(format!("registered as {}", entry.class));
        }
        if let Some(c) = entry.contracted_kw {
            if m.episode.mean_kw > 1.1 * c {
                reasons.push(format!(
                    "draws {:.1} kW, above its contracted {c:.1} kW",
                    m.episode.mean_kw
                ));
            }
        }
    }
    let flagged = status == Status::Suspect;
    Assessment {
        meter_id: meter.clone(),
        score,
        flagged,
        status,
        level_kw: m.episode.mean_kw,
        excess_kw,
        est_rigs: rigs_for_kw(running_kw),
        excess_kwh_per_day: excess_kw * 24.0,
        since_hour,
        onset_found: floor_step.is_some() || m.onset.is_some(),
        window_start_hour: m.window_start_hour,
        window_end_hour: m.window_end_hour,
        peer_group: peer.name.clone(),
        peer_level_kw: peer.median_level_kw,
        cluster: scored.cluster,
        reasons,
        notes,
        features: scored
            .features
            .iter()
            .map(|(f, v)| (f.name().to_string(), v))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{assess, assess_clusters_only};

    #[test]
    fn the_floor_test_makes_a_suspect_with_its_date_size_and_reason() {
        let (s, on) = features::fixtures::farm_then_production_stops();
        let ctx = Context {
            tz_offset_s: 0,
            registry: None,
        };
        let id = MeterId::from("site-1");
        let a = assess(&id, &s, s.end_hour(), Model::embedded(), &ctx);
        assert_eq!(a.status, Status::Suspect, "{:?}", a.reasons);
        assert!(a.flagged && a.score >= 0.5, "{a:?}");
        assert!(
            a.reasons[0].starts_with("its lowest load rose by"),
            "{:?}",
            a.reasons
        );
        assert_eq!(a.since_hour, on);
        assert!(a.onset_found);
        assert!((a.excess_kw - 300.0).abs() < 30.0, "{}", a.excess_kw);
        assert!((a.est_rigs - 300.0 / S19_KW).abs() < 10.0, "{}", a.est_rigs);
        // The ablation path has neither own-history test.
        let c = assess_clusters_only(&id, &s, s.end_hour(), Model::embedded(), &ctx);
        assert!(
            !c.reasons
                .iter()
                .any(|r| r.starts_with("its lowest load rose")),
            "{:?}",
            c.reasons
        );
    }
}
