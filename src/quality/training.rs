//! Turning labelled fleets into training samples: each meter measured at several moments.
//!
//! A detector that must flag within a day of switch-on has to learn what the first day
//! looks like, not only the settled plateau. So a mining meter is sampled at fixed delays
//! after its onset (and before it, as clean), and a clean meter at weekly moments across
//! its span, so the model sees its variety (holidays, cold snaps). `train` fits on these;
//! `eval` uses the same moments to measure time to detection.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::core::features::{self, WINDOW_HOURS};
use crate::core::model::Sample;
use crate::core::{HourlySeries, MeterId};
use crate::quality::labels::Label;

/// Hours after onset at which mining meters are sampled for training.
pub const AFTER_ONSET_HOURS: [i64; 10] = [12, 18, 24, 30, 36, 48, 72, 120, 240, 480];

/// Hours between the moments at which clean meters are sampled.
pub const CLEAN_STEP_HOURS: i64 = 7 * 24;

/// The moments at which one meter is measured for training, with the label at each.
pub fn sample_moments(series: &HourlySeries, label: Option<&Label>) -> Vec<(i64, bool)> {
    let start = series.start_hour;
    let end = series.end_hour();
    let mut out = Vec::new();
    let onset = label.filter(|l| l.mining).and_then(|l| l.onset_hour());
    // Clean moments: weekly from three days in, and the end; for a miner only before onset.
    let clean_until = onset.unwrap_or(end + 1);
    let mut t = start + 3 * 24;
    while t < end.min(clean_until) {
        out.push((t, false));
        t += CLEAN_STEP_HOURS;
    }
    match onset {
        Some(o) => {
            for d in AFTER_ONSET_HOURS {
                if o + d <= end {
                    out.push((o + d, true));
                }
            }
            // Long after onset the whole window is mining and no step is visible: the model
            // must know that state too, so sample it weekly and at the end.
            let mut t = o + WINDOW_HOURS + 24;
            while t < end {
                out.push((t, true));
                t += CLEAN_STEP_HOURS;
            }
            if end - o > WINDOW_HOURS {
                out.push((end, true));
            }
        }
        None if label.is_some_and(|l| l.mining) => out.push((end, true)),
        None => out.push((end, false)),
    }
    out
}

/// True for meters whose flat load is legitimate by declaration (data centres, telecom,
/// server rooms): the registry explains them, and as training negatives they would teach
/// the model that a flat round-the-clock load is clean — which is exactly a farm.
pub fn explained_by_registry(label: &Label) -> bool {
    let c = label.class.to_ascii_lowercase();
    let k = label.kind.to_ascii_lowercase();
    !label.mining && (c.contains("datacent") || c.contains("telecom") || k.contains("server"))
}

/// Measures every meter at its sample moments. Unlabelled meters count as clean; meters
/// the registry explains are left out (see [`explained_by_registry`]).
pub fn samples(
    series: &[(MeterId, HourlySeries)],
    labels: &HashMap<String, Label>,
    tz_offset_s: i32,
) -> Vec<Sample> {
    series
        .par_iter()
        .filter(|(id, _)| !labels.get(id.as_str()).is_some_and(explained_by_registry))
        .flat_map_iter(|(id, s)| {
            let label = labels.get(id.as_str());
            sample_moments(s, label)
                .into_iter()
                .filter_map(|(t, mining)| {
                    features::measure(s, t, tz_offset_s).map(|measured| Sample { measured, mining })
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(mining: bool, onset: Option<&str>) -> Label {
        Label {
            meter_id: "m".into(),
            kind: String::new(),
            class: String::new(),
            mining,
            onset: onset.map(str::to_string),
            rigs: None,
            mining_kw: None,
            variant: String::new(),
        }
    }

    #[test]
    fn a_miner_is_clean_before_onset_and_mining_after() {
        // 60 days from 2024-01-01; onset on day 30.
        let start = 1_704_067_200 / 3600;
        let s = HourlySeries {
            start_hour: start,
            kw: vec![1.0; 60 * 24],
            resolution_min: 60,
        };
        let l = label(true, Some("2024-01-31T00:00:00Z"));
        let onset = l.onset_hour().unwrap();
        let m = sample_moments(&s, Some(&l));
        assert!(m.iter().all(|&(t, mining)| mining == (t > onset)));
        assert!(m.iter().any(|&(t, _)| t == onset + 24));
        assert!(m.iter().filter(|x| !x.1).count() >= 4);
    }

    #[test]
    fn a_clean_meter_is_sampled_weekly_and_at_the_end() {
        let s = HourlySeries {
            start_hour: 0,
            kw: vec![1.0; 30 * 24],
            resolution_min: 60,
        };
        let m = sample_moments(&s, None);
        assert_eq!(m.last(), Some(&(30 * 24, false)));
        assert_eq!(m.len(), 5);
    }
}
