//! The words of a verdict: the model's reasons for a scored meter, one sentence per
//! feature that pulled it towards the verdict, chosen by matching on [`Feature`].

use super::{Model, PeerGroup, Scored};
use crate::core::features::{Feature, Measured, N_FEATURES};
use crate::core::verdict::{hour_to_datetime, rigs_for_kw};

impl Model {
    /// Plain-language reasons for a scored measurement, strongest first.
    /// `running_kw` is the rigs' power when running (counts rigs); `excess_kw` the power
    /// added on average (the energy taken).
    pub fn reasons(
        &self,
        m: &Measured,
        s: &Scored,
        running_kw: f64,
        excess_kw: f64,
    ) -> Vec<String> {
        let ep = &m.episode;
        let peer = &self.peers[s.peer];
        let mut out = Vec::new();
        // Half the interquartile range, as "±" around the median.
        let spread_pct = (ep.variability * 50.0).round();
        let since = match m.onset {
            Some(o) => format!(
                "since {}",
                hour_to_datetime(o.hour).format("%-d %b %Y %H:00 UTC")
            ),
            None => format!(
                "throughout the {} days analysed",
                (m.window_end_hour - m.window_start_hour) / 24
            ),
        };
        if s.flagged {
            out.push(format!(
                "flat {:.1} kW day and night {since} (±{spread_pct:.0}%)",
                ep.mean_kw
            ));
        } else {
            out.push(format!(
                "averages {:.1} kW {since} (±{spread_pct:.0}% hour to hour)",
                ep.mean_kw
            ));
        }
        let mut order: Vec<usize> = (0..N_FEATURES).collect();
        order.sort_by(|&a, &b| s.pull[b].total_cmp(&s.pull[a]));
        let ratio = ep.mean_kw / peer.median_level_kw.max(0.05);
        for j in order.into_iter().take(4) {
            let towards = s.pull[j] > 0.0;
            if s.flagged != towards {
                continue;
            }
            let Some(sentence) = feature_reason(Feature::ALL[j], m, s, peer, ratio) else {
                continue;
            };
            if !out.contains(&sentence) {
                out.push(sentence);
            }
        }
        if s.flagged {
            let rigs = rigs_for_kw(running_kw);
            let rig_text = if rigs < 0.75 {
                "less than one S19-class rig (≈ an older S9)".to_string()
            } else {
                format!(
                    "≈{:.0} S19-class rig{}",
                    rigs,
                    if rigs.round() == 1.0 { "" } else { "s" }
                )
            };
            out.push(format!(
                "{rig_text}, ≈{:.0} kWh/day unexplained",
                excess_kw * 24.0
            ));
        }
        out
    }
}

/// The reason wording of one feature, for a meter whose features `s` pulled towards the
/// verdict; `ratio` is its level over its peer group's. Pairs of features that measure the
/// same thing share one sentence. `None` where the feature is undefined (NaN).
fn feature_reason(
    feature: Feature,
    m: &Measured,
    s: &Scored,
    peer: &PeerGroup,
    ratio: f64,
) -> Option<String> {
    let ep = &m.episode;
    let v = s.features.get(feature);
    let sentence = match feature {
        Feature::LevelVsPeers | Feature::LogLevel => {
            if ratio >= 1.0 {
                format!("{ratio:.1}× the typical level of comparable {}", peer.name)
            } else {
                format!(
                    "{:.0}% of the typical level of comparable {}",
                    ratio * 100.0,
                    peer.name
                )
            }
        }
        Feature::LogFloor | Feature::BaseRatio => {
            let share = ep.floor_kw / ep.mean_kw.max(1e-9);
            if share < 0.995 {
                format!(
                    "at or above {:.1} kW in 80% of hours ({:.0}% of its average)",
                    ep.floor_kw,
                    100.0 * share
                )
            } else {
                format!("at or above {:.1} kW in 80% of hours: its average is pulled down only by short breaks", ep.floor_kw)
            }
        }
        Feature::LoadFactor => format!(
            "load factor {:.2} (homes are near 0.3, mining rigs near 1)",
            ep.mean_kw / ep.peak_kw.max(1e-9)
        ),
        Feature::Variability => format!(
            "half of all hours within ±{:.0}% of the median",
            ep.variability * 50.0
        ),
        Feature::NightDay if v.is_finite() => {
            format!(
                "night-time load is {:.0}% of daytime load",
                100.0 * (2f64.powf(v))
            )
        }
        Feature::DailyShape if v.is_finite() => {
            if v < 0.2 {
                "no daily rhythm".to_string()
            } else {
                format!("a daily rhythm explains {:.0}% of the variation", v * 100.0)
            }
        }
        Feature::WeeklyShape if v.is_finite() => {
            if v < 0.1 {
                "no weekly rhythm: weekends look like weekdays".to_string()
            } else {
                format!(
                    "a weekly rhythm explains {:.0}% of the day-to-day variation",
                    v * 100.0
                )
            }
        }
        Feature::Uptime => format!(
            "on at ≥75% of its median level in {:.0}% of hours",
            v * 100.0
        ),
        Feature::Step | Feature::StepFlatness => match m.onset {
            Some(o) => format!(
                "stepped up by {:.1} kW on {} and stayed up{}",
                o.added_kw,
                hour_to_datetime(o.hour).format("%-d %b"),
                if o.flatness > 0.6 {
                    ", the same at every time of day"
                } else {
                    ""
                }
            ),
            None => "no step change in the window".to_string(),
        },
        // Undefined over too short a stretch (NaN): nothing to say.
        Feature::NightDay | Feature::DailyShape | Feature::WeeklyShape => return None,
    };
    Some(sentence)
}
