//! The mining load: what a set of ASIC rigs adds to a meter, as a function of time.
//!
//! This embodies the signature in `DOMAIN.md`: a step up at the onset that stays (flat,
//! high, continuous), a few per cent of ripple that follows the temperature (board power
//! rises when the intake is warm), firmware throttling in hot hours, restarts and outages
//! that drop the site to near zero for minutes to hours, and, for some operators, a
//! curtailment in the evening peak (17:00–20:00 local) to dodge peak tariffs or notice.
//!
//! [`mining_kw`] is a pure function of the spec, the interval and the temperature: it
//! keeps no state and draws its randomness from the spec's seed and the time (see
//! [`super::noise`]), so the simulator, `inject`, the evaluation and the daemon demo can
//! all ask for any interval in any order and agree. It knows nothing of the household or
//! business underneath; the callers add it on top.

use rand::Rng;

use super::noise::{gauss, overlap_s, uniform};
use super::weather::DAY_S;

/// Rated draw of one Antminer S9, kW.
pub const S9_KW: f64 = 1.4;
/// Rated draw of one S19-class rig (S19 Pro, Whatsminer M30S++), kW.
pub const S19_KW: f64 = 3.25;
/// Intake temperature above which throttling firmware cuts power, °C.
pub const THROTTLE_INTAKE_C: f64 = 30.0;
/// Share of full power a throttled rig draws.
pub const THROTTLE_FACTOR: f64 = 0.85;
/// Share of full power drawn while the rigs are down (controller, network, fans coasting).
pub const IDLE_FACTOR: f64 = 0.01;
/// Outdoor temperature at which the ripple is zero, °C.
const RIPPLE_REF_C: f64 = 10.0;
/// Outdoor temperature change that moves power by the full ripple share, °C.
const RIPPLE_SPAN_C: f64 = 8.0;
/// Standard deviation of the interval-to-interval jitter (PSU and hash-rate noise).
const JITTER: f64 = 0.004;
/// Local peak hours that curtailing operators avoid: `[17:00, 20:00)`.
pub const PEAK_HOURS: (i64, i64) = (17, 20);

/// One mining installation on one meter.
#[derive(Debug, Clone, PartialEq)]
pub struct MinerSpec {
    /// Number of rigs.
    pub rigs: u32,
    /// Draw of one rig at the reference temperature, kW (rated figure with its ±5% spread).
    pub rig_kw: f64,
    /// When the rigs were switched on (unix seconds); nothing is drawn before.
    pub onset_unix: i64,
    /// Seed of this installation's restarts, outages and jitter.
    pub seed: u64,
    /// Day–night power swing as a share of full power, from the ambient temperature (0.02–0.07).
    pub ripple: f64,
    /// Expected restarts (10–30 min at near zero) per 30 days; 0 for none.
    pub restarts_per_30d: f64,
    /// Expected outages (1–10 h at near zero: crash, lost Internet) per 30 days; 0 for none.
    pub outages_per_30d: f64,
    /// How much warmer the rigs' intake is than outside, °C, if the firmware throttles
    /// when hot; `None` when it never throttles.
    pub throttle_room_rise_c: Option<f64>,
    /// Whether the operator switches off in the local evening peak ([`PEAK_HOURS`]).
    pub curtail_peak: bool,
    /// Local time offset from UTC, seconds (for the peak hours).
    pub tz_offset_s: i32,
}

impl MinerSpec {
    /// The full-power draw at the reference temperature: rigs × rig kW.
    pub fn nominal_kw(&self) -> f64 {
        self.rigs as f64 * self.rig_kw
    }

    /// The variant as a short `+`-joined tag list for labels, e.g. `ripple4+restarts+curtail`.
    pub fn variant(&self) -> String {
        let mut tags = vec![format!("ripple{}", (self.ripple * 100.0).round() as i64)];
        if self.restarts_per_30d > 0.0 {
            tags.push("restarts".into());
        }
        if self.outages_per_30d > 0.0 {
            tags.push("outages".into());
        }
        if self.throttle_room_rise_c.is_some() {
            tags.push("throttle".into());
        }
        if self.curtail_peak {
            tags.push("curtail".into());
        }
        tags.join("+")
    }

    /// Draws the realism knobs (ripple, restarts, outages, throttling, curtailment) for an
    /// installation of `rigs` rigs of rated `rated_kw`, switched on at `onset_unix`.
    pub fn draw(
        rng: &mut impl Rng,
        rigs: u32,
        rated_kw: f64,
        onset_unix: i64,
        tz_offset_s: i32,
    ) -> Self {
        MinerSpec {
            rigs,
            // Each batch of rigs sits somewhere in the ±5% tolerance of its rating.
            rig_kw: rated_kw * rng.gen_range(0.95..1.05),
            onset_unix,
            seed: rng.gen(),
            ripple: rng.gen_range(0.02..0.07),
            restarts_per_30d: if rng.gen_bool(0.6) {
                rng.gen_range(1.0..6.0)
            } else {
                0.0
            },
            outages_per_30d: if rng.gen_bool(0.5) {
                rng.gen_range(0.5..3.0)
            } else {
                0.0
            },
            throttle_room_rise_c: rng.gen_bool(0.4).then(|| rng.gen_range(14.0..24.0)),
            curtail_peak: rng.gen_bool(0.25),
            tz_offset_s,
        }
    }

    /// The windows (unix seconds, `[start, end)`) during which the rigs are down, among
    /// those that can touch `[a, b)`. Restarts and outages are drawn per day from the seed,
    /// so they are the same whoever asks.
    fn down_windows(&self, a: i64, b: i64, out: &mut Vec<(i64, i64)>) {
        // No event lasts longer than a day, so an event touching [a, b) started on one of
        // these days.
        for day in (a.div_euclid(DAY_S) - 1)..=(b - 1).div_euclid(DAY_S) {
            let events = [
                (1u64, self.restarts_per_30d, 600.0, 1800.0),
                (2u64, self.outages_per_30d, 3600.0, 36_000.0),
            ];
            for (tag, per_30d, min_s, max_s) in events {
                if per_30d <= 0.0 || uniform(self.seed, tag, day) >= per_30d / 30.0 {
                    continue;
                }
                let start = day * DAY_S + (uniform(self.seed, tag + 10, day) * DAY_S as f64) as i64;
                // Durations skew short: most outages are fixed within a few hours.
                let dur = min_s + (max_s - min_s) * uniform(self.seed, tag + 20, day).powi(2);
                out.push((start, start + dur as i64));
            }
            if self.curtail_peak {
                let local_midnight = day * DAY_S - self.tz_offset_s as i64;
                out.push((
                    local_midnight + PEAK_HOURS.0 * 3600,
                    local_midnight + PEAK_HOURS.1 * 3600,
                ));
            }
        }
    }

    /// Seconds of `[a, b)` at or after the onset during which the rigs run (not down).
    pub fn running_s(&self, a: i64, b: i64) -> (i64, i64) {
        let a_on = a.max(self.onset_unix);
        if a_on >= b {
            return (0, 0);
        }
        let mut windows = Vec::new();
        self.down_windows(a_on, b, &mut windows);
        windows.sort_unstable();
        // Merge overlapping down windows so no second is subtracted twice.
        let mut down = 0;
        let mut cur: Option<(i64, i64)> = None;
        for (s, e) in windows {
            match cur {
                Some((cs, ce)) if s <= ce => cur = Some((cs, ce.max(e))),
                Some((cs, ce)) => {
                    down += overlap_s(a_on, b, cs, ce);
                    cur = Some((s, e));
                }
                None => cur = Some((s, e)),
            }
        }
        if let Some((cs, ce)) = cur {
            down += overlap_s(a_on, b, cs, ce);
        }
        let after_onset = b - a_on;
        (after_onset - down, after_onset)
    }

    /// The draw while running, kW, at the given outdoor temperature (ripple and throttling,
    /// without jitter or downtime).
    pub fn running_kw(&self, temp_c: f64) -> f64 {
        let ripple = self.ripple * ((temp_c - RIPPLE_REF_C) / RIPPLE_SPAN_C).clamp(-1.0, 1.0) / 2.0;
        let throttle = match self.throttle_room_rise_c {
            Some(rise) if temp_c + rise > THROTTLE_INTAKE_C => THROTTLE_FACTOR,
            _ => 1.0,
        };
        self.nominal_kw() * (1.0 + ripple) * throttle
    }
}

/// The average mining draw over the interval `[t_unix, t_unix + interval_s)`, kW, with the
/// outdoor temperature `temp_c` at the middle of the interval.
///
/// Zero before the onset; a partial interval at the onset is pro-rated. Time down (restart,
/// outage, curtailment) draws [`IDLE_FACTOR`] of full power.
pub fn mining_kw(spec: &MinerSpec, t_unix: i64, interval_s: i64, temp_c: f64) -> f64 {
    let b = t_unix + interval_s.max(1);
    let (run_s, after_onset_s) = spec.running_s(t_unix, b);
    if after_onset_s == 0 {
        return 0.0;
    }
    let jitter = 1.0 + JITTER * gauss(spec.seed, 3, t_unix.div_euclid(300));
    let run_kw = spec.running_kw(temp_c) * jitter;
    let idle_kw = spec.nominal_kw() * IDLE_FACTOR;
    (run_s as f64 * run_kw + (after_onset_s - run_s) as f64 * idle_kw) / (b - t_unix) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> MinerSpec {
        MinerSpec {
            rigs: 4,
            rig_kw: 3.25,
            onset_unix: 10 * DAY_S,
            seed: 1,
            ripple: 0.04,
            restarts_per_30d: 0.0,
            outages_per_30d: 0.0,
            throttle_room_rise_c: None,
            curtail_peak: false,
            tz_offset_s: 0,
        }
    }

    fn check(spec: &MinerSpec, t: i64, interval_s: i64, temp_c: f64, expected_kw: f64, tol: f64) {
        let got = mining_kw(spec, t, interval_s, temp_c);
        assert!(
            (got - expected_kw).abs() <= tol,
            "at {t}: got {got}, expected {expected_kw}"
        );
    }

    #[test]
    fn nothing_is_drawn_before_the_onset() {
        check(&spec(), 10 * DAY_S - 1800, 1800, 10.0, 0.0, 0.0);
    }

    #[test]
    fn full_power_is_drawn_after_the_onset() {
        check(&spec(), 10 * DAY_S + 3600, 1800, 10.0, 13.0, 0.3);
    }

    #[test]
    fn an_interval_straddling_the_onset_is_pro_rated() {
        check(&spec(), 10 * DAY_S - 900, 1800, 10.0, 6.5, 0.15);
    }

    #[test]
    fn warm_air_raises_the_draw_by_at_most_half_the_ripple() {
        let s = spec();
        assert!((s.running_kw(30.0) / s.nominal_kw() - 1.02).abs() < 1e-9);
        assert!((s.running_kw(-10.0) / s.nominal_kw() - 0.98).abs() < 1e-9);
    }

    #[test]
    fn a_hot_intake_throttles() {
        let s = MinerSpec {
            throttle_room_rise_c: Some(20.0),
            ..spec()
        };
        assert!(s.running_kw(12.0) < s.nominal_kw() * 0.9);
        assert!(s.running_kw(5.0) > s.nominal_kw() * 0.95);
    }

    #[test]
    fn curtailing_miners_are_off_in_the_evening_peak() {
        let s = MinerSpec {
            curtail_peak: true,
            ..spec()
        };
        check(
            &s,
            12 * DAY_S + 18 * 3600,
            1800,
            10.0,
            s.nominal_kw() * IDLE_FACTOR,
            1e-9,
        );
        check(&s, 12 * DAY_S + 21 * 3600, 1800, 10.0, 13.0, 0.3);
    }

    #[test]
    fn frequent_outages_take_some_hours_to_near_zero() {
        let s = MinerSpec {
            outages_per_30d: 10.0,
            restarts_per_30d: 10.0,
            ..spec()
        };
        let low = (0..30 * 48)
            .filter(|i| mining_kw(&s, 11 * DAY_S + i * 1800, 1800, 10.0) < 1.0)
            .count();
        assert!(low > 10 && low < 30 * 48 / 3, "{low} half-hours down");
    }

    #[test]
    fn one_hour_equals_the_mean_of_its_two_halves() {
        let s = MinerSpec {
            outages_per_30d: 10.0,
            restarts_per_30d: 10.0,
            curtail_peak: true,
            ..spec()
        };
        for h in 0..200 {
            let t = 11 * DAY_S + h * 3600;
            let (run_h, _) = s.running_s(t, t + 3600);
            let (run_a, _) = s.running_s(t, t + 1800);
            let (run_b, _) = s.running_s(t + 1800, t + 3600);
            assert_eq!(run_h, run_a + run_b);
        }
    }

    #[test]
    fn the_variant_names_every_feature() {
        let s = MinerSpec {
            restarts_per_30d: 2.0,
            curtail_peak: true,
            throttle_room_rise_c: Some(15.0),
            ..spec()
        };
        assert_eq!(s.variant(), "ripple4+restarts+throttle+curtail");
    }
}
