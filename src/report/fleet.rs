//! From a judged fleet to report inputs: the population points of the overview and the
//! hour-by-hour band of comparable meters behind each suspect.
//!
//! Both drivers use this: `scan` with the whole dump, the daemon with the meters it tracks.
//! It reads assessments and series and draws nothing itself.

use std::collections::HashMap;

use crate::core::{Assessment, HourlySeries, MeterId, Model};

use super::{PeerBand, PopulationPoint};

/// Most member series sampled per peer band; enough for stable quartiles, bounded cost.
const MAX_BAND_MEMBERS: usize = 200;

/// One point per assessed meter for the overview and the "where it sits" panel, coloured
/// by peer group (the index into `model.peers`).
pub fn population(assessments: &[Assessment], model: &Model) -> Vec<PopulationPoint> {
    let peer_index: HashMap<&str, usize> = model
        .peers
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    assessments
        .iter()
        .filter(|a| a.status != crate::core::Status::InsufficientData)
        .map(|a| PopulationPoint {
            meter_id: a.meter_id.to_string(),
            level_kw: a.level_kw,
            // The floor as a share of the average: 1 for a flat load, near 0.2–0.4 for homes.
            flatness: a.feature("base_ratio").unwrap_or(0.0).clamp(0.0, 1.0),
            flagged: a.flagged,
            allowed: a.status == crate::core::Status::Allowed,
            cluster: peer_index.get(a.peer_group.as_str()).copied().unwrap_or(0),
        })
        .collect()
}

/// The names of the overview's colour groups, in `PopulationPoint::cluster` order.
pub fn group_names(model: &Model) -> Vec<String> {
    model.peers.iter().map(|p| p.name.clone()).collect()
}

/// Hour-by-hour median and quartiles of the unflagged meters in each peer group, over
/// `[from_hour, to_hour)`. Keyed by peer-group name.
pub fn peer_bands(
    series: &[(MeterId, HourlySeries)],
    assessments: &[Assessment],
    from_hour: i64,
    to_hour: i64,
) -> HashMap<String, PeerBand> {
    let by_id: HashMap<&str, &HourlySeries> =
        series.iter().map(|(id, s)| (id.as_str(), s)).collect();
    let mut members: HashMap<&str, Vec<&HourlySeries>> = HashMap::new();
    for a in assessments
        .iter()
        .filter(|a| !a.flagged && a.status != crate::core::Status::InsufficientData)
    {
        if let Some(s) = by_id.get(a.meter_id.as_str()) {
            let m = members.entry(a.peer_group.as_str()).or_default();
            if m.len() < MAX_BAND_MEMBERS {
                m.push(s);
            }
        }
    }
    let n_hours = (to_hour - from_hour).max(0) as usize;
    members
        .into_iter()
        .map(|(name, ms)| {
            let mut median = vec![f32::NAN; n_hours];
            let mut p25 = vec![f32::NAN; n_hours];
            let mut p75 = vec![f32::NAN; n_hours];
            let mut vals: Vec<f32> = Vec::with_capacity(ms.len());
            for h in 0..n_hours {
                let hour = from_hour + h as i64;
                vals.clear();
                vals.extend(ms.iter().filter_map(|s| {
                    let i = hour - s.start_hour;
                    (i >= 0 && (i as usize) < s.kw.len())
                        .then(|| s.kw[i as usize])
                        .filter(|v| v.is_finite())
                }));
                if vals.len() >= 3 {
                    vals.sort_by(|a, b| a.total_cmp(b));
                    let q = |f: f64| vals[((vals.len() - 1) as f64 * f).round() as usize];
                    median[h] = q(0.5);
                    p25[h] = q(0.25);
                    p75[h] = q(0.75);
                }
            }
            let label = format!("comparable {name}");
            (
                name.to_string(),
                PeerBand {
                    start_hour: from_hour,
                    median_kw: median,
                    p25_kw: p25,
                    p75_kw: p75,
                    label,
                },
            )
        })
        .collect()
}
