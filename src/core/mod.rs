//! The pure detector core: series → features → model → verdict.
//!
//! Nothing in here does IO, spawns a thread or reads a clock. The offline scanner drives it
//! from an iterator over a dump; the daemon drives it from a channel of live readings. Given
//! the same hourly series, the same model and the same "as of" hour, both get the same
//! [`Assessment`].

pub mod alerts;
pub mod balance;
pub mod features;
pub mod fleet;
pub mod model;
pub mod registry;
pub mod series;
pub mod verdict;

pub use fleet::{Fleet, MeterId};

pub use model::Model;
pub use series::{HourlySeries, SeriesBuilder, Unit};
pub use verdict::{Assessment, Status};

pub use features::WINDOW_HOURS;

use registry::RegistryEntry;
use verdict::rigs_for_kw;

/// What the core needs besides the series and the model.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// Offset of the meters' local time from UTC, seconds (for day/night features).
    pub tz_offset_s: i32,
    /// What the utility knows about this meter, if anything.
    pub registry: Option<&'a RegistryEntry>,
}

/// Judges one meter as of `as_of_hour` (exclusive): the whole detector in one call.
///
/// Pure and deterministic: the same series, hour, model and context always give the same
/// assessment, which is how `scan` and `watch` agree.
pub fn assess(
    meter: &MeterId,
    series: &HourlySeries,
    as_of_hour: i64,
    model: &Model,
    ctx: &Context,
) -> Assessment {
    judge(meter, series, as_of_hour, model, ctx, true)
}

/// [`assess`] by the clustering model alone, without the added-load and floor tests: the ablation
/// behind `flatline eval --method clusters`. Never used by scan or watch.
pub fn assess_clusters_only(
    meter: &MeterId,
    series: &HourlySeries,
    as_of_hour: i64,
    model: &Model,
    ctx: &Context,
) -> Assessment {
    judge(meter, series, as_of_hour, model, ctx, false)
}

fn judge(
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
            verdict::hour_to_datetime(since).format("%-d %b %Y %H:00 UTC"),
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
                verdict::hour_to_datetime(f.hour).format("%-d %b %Y"),
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
    if suspected && running_kw < verdict::MIN_RIG_KW {
        status = Status::Clear;
        reasons.push(format!(
            "the unexplained flat load ({running_kw:.1} kW) is smaller than any mining rig (≥{:.1} kW)",
            verdict::MIN_RIG_KW
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
        features: features::FEATURE_NAMES
            .iter()
            .zip(scored.values)
            .map(|(n, v)| (n.to_string(), v))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_test_makes_a_suspect_with_its_date_size_and_reason() {
        let (s, on) = features::farm_then_production_stops();
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
        assert!(
            (a.est_rigs - 300.0 / verdict::S19_KW).abs() < 10.0,
            "{}",
            a.est_rigs
        );
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
