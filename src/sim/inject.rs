//! Mining injected into real series: the honest benchmark `DOMAIN.md` asks for.
//!
//! Real household and business curves have no miners in them, so `flatline inject` adds
//! synthetic ones. This module owns the pure parts: cutting each meter into calendar
//! pieces (a year of one home becomes four quarter-long "meters", `MAC000002@2013Q1`),
//! learning each piece's span, resolution and mean load ([`PieceStats`]), choosing a seeded
//! share of the pieces and drawing a miner for each ([`plan`]), and the energy a miner adds
//! to one reading ([`InjectPlan::added`]). The miner sits on top of the real series, so
//! the household's own use is the camouflage. Reading and writing files is the command's
//! job (`commands/inject.rs`).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, NaiveDate};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::labels::{onset_from_unix, Label};
use super::load::Kind;
use super::mining::{mining_kw, MinerSpec, S19_KW, S9_KW};
use super::weather::{Weather, DAY_S};
use crate::core::series::Unit;

/// A piece shorter than this is never given a miner (too short to show an onset).
pub const MIN_PIECE_DAYS: i64 = 14;
/// Mean load above which a meter is judged a business site, kW.
pub const BUSINESS_MEAN_KW: f64 = 10.0;

/// How real series are cut into pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Cut {
    /// Calendar quarters (UTC): `ID@2013Q1`.
    Quarter,
    /// Calendar months (UTC): `ID@2013-01`.
    Month,
    /// Whole meters, ids unchanged.
    None,
}

impl Cut {
    /// The period (a count of quarters or months since year 0, or 0 for no cut) holding `t_unix`.
    pub fn period_of(self, t_unix: i64) -> i32 {
        let Some(t) = DateTime::from_timestamp(t_unix, 0) else {
            return 0;
        };
        match self {
            Cut::Quarter => t.year() * 4 + (t.month0() / 3) as i32,
            Cut::Month => t.year() * 12 + t.month0() as i32,
            Cut::None => 0,
        }
    }

    /// The id of the piece of `meter` in `period`.
    pub fn piece_id(self, meter: &str, period: i32) -> String {
        match self {
            Cut::Quarter => format!(
                "{meter}@{}Q{}",
                period.div_euclid(4),
                period.rem_euclid(4) + 1
            ),
            Cut::Month => format!(
                "{meter}@{}-{:02}",
                period.div_euclid(12),
                period.rem_euclid(12) + 1
            ),
            Cut::None => meter.to_string(),
        }
    }

    /// The instants `[start, end)` a period covers (unbounded for no cut).
    pub fn bounds(self, period: i32) -> (i64, i64) {
        let month_start = |year: i32, month0: i32| {
            let (y, m) = (
                year + month0.div_euclid(12),
                month0.rem_euclid(12) as u32 + 1,
            );
            NaiveDate::from_ymd_opt(y, m, 1)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map_or(0, |d| d.and_utc().timestamp())
        };
        match self {
            Cut::Quarter => {
                let (y, q) = (period.div_euclid(4), period.rem_euclid(4));
                (month_start(y, q * 3), month_start(y, q * 3 + 3))
            }
            Cut::Month => {
                let (y, m) = (period.div_euclid(12), period.rem_euclid(12));
                (month_start(y, m), month_start(y, m + 1))
            }
            Cut::None => (i64::MIN, i64::MAX),
        }
    }
}

/// What the first pass learns about one piece.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PieceStats {
    /// Earliest reading, unix seconds.
    pub first_ts: i64,
    /// Latest reading, unix seconds.
    pub last_ts: i64,
    /// Readings seen.
    pub n_readings: u64,
    /// Sum of the readings' values (kWh for energy readings, kW for power readings).
    pub sum_value: f64,
    /// The unit of the values (that of the last reading).
    pub unit: Option<Unit>,
    prev_ts: Option<i64>,
    gaps: BTreeMap<i64, u64>,
}

impl PieceStats {
    /// Adds one reading: its start, its value and the value's unit.
    pub fn push(&mut self, ts: i64, value: f64, unit: Unit) {
        if self.n_readings == 0 {
            self.first_ts = ts;
            self.last_ts = ts;
        }
        self.first_ts = self.first_ts.min(ts);
        self.last_ts = self.last_ts.max(ts);
        self.n_readings += 1;
        self.sum_value += value;
        self.unit = Some(unit);
        // Gaps between consecutive rows reveal the resolution; only plausible ones count.
        if let Some(p) = self.prev_ts {
            let gap = ts - p;
            if gap > 0 && gap <= DAY_S {
                *self.gaps.entry(gap).or_default() += 1;
            }
        }
        self.prev_ts = Some(ts);
    }

    /// The native interval, seconds: the commonest gap between readings (an hour if unknown).
    pub fn interval_s(&self) -> i64 {
        self.gaps
            .iter()
            .max_by_key(|&(g, n)| (*n, std::cmp::Reverse(*g)))
            .map_or(3600, |(g, _)| *g)
    }

    /// The instants `[first, last + interval)` the piece covers.
    pub fn span(&self) -> (i64, i64) {
        (self.first_ts, self.last_ts + self.interval_s())
    }

    /// Mean load, kW.
    pub fn mean_kw(&self) -> f64 {
        if self.n_readings == 0 {
            return 0.0;
        }
        let mean = self.sum_value / self.n_readings as f64;
        match self.unit {
            Some(Unit::Kw) => mean,
            _ => mean * 3600.0 / self.interval_s() as f64,
        }
    }
}

/// The first pass's findings: every piece of every meter.
#[derive(Debug, Clone, Default)]
pub struct Survey {
    /// Pieces by source meter id, then by period.
    pub meters: HashMap<String, BTreeMap<i32, PieceStats>>,
    /// The unit of the readings, if they all share one.
    pub unit: Option<Unit>,
    /// Whether readings came in more than one unit.
    pub mixed_units: bool,
}

impl Survey {
    /// Adds one reading of `meter` to the piece it falls in.
    pub fn push(&mut self, cut: Cut, meter: &str, ts: i64, value: f64, unit: Unit) {
        match self.unit {
            None => self.unit = Some(unit),
            Some(u) if u != unit => self.mixed_units = true,
            Some(_) => {}
        }
        let pieces = match self.meters.get_mut(meter) {
            Some(p) => p,
            None => self.meters.entry(meter.to_string()).or_default(),
        };
        pieces
            .entry(cut.period_of(ts))
            .or_default()
            .push(ts, value, unit);
    }

    /// The earliest and latest-plus-one instants over all pieces.
    pub fn span(&self) -> Option<(i64, i64)> {
        let spans = self
            .meters
            .values()
            .flat_map(|p| p.values().map(PieceStats::span));
        spans.fold(None, |acc, (a, b)| {
            Some(acc.map_or((a, b), |(x, y): (i64, i64)| (x.min(a), y.max(b))))
        })
    }
}

/// What happens to one piece.
#[derive(Debug, Clone, PartialEq)]
pub struct PiecePlan {
    /// The piece's meter id in the output.
    pub id: String,
    /// The piece's native interval, seconds.
    pub interval_s: i64,
    /// Whether the source looks like a business (mean above [`BUSINESS_MEAN_KW`]).
    pub business: bool,
    /// The miner added, if the piece was chosen.
    pub miner: Option<MinerSpec>,
}

impl PiecePlan {
    /// The piece's label.
    pub fn label(&self) -> Label {
        let kind = match (&self.miner, self.business) {
            (None, false) => Kind::RealHome,
            (None, true) => Kind::RealBusiness,
            (Some(m), false) if m.rigs == 1 && m.rig_kw < 2.0 => Kind::MinerHomeS9,
            (Some(_), false) => Kind::MinerHome,
            (Some(_), true) => Kind::MinerShophouse,
        };
        let class = if self.business {
            super::load::Class::Commercial
        } else {
            super::load::Class::Residential
        };
        Label {
            meter_id: self.id.clone(),
            kind,
            class,
            mining: self.miner.is_some(),
            onset: self
                .miner
                .as_ref()
                .and_then(|m| onset_from_unix(&self.id, m.onset_unix).ok()),
            rigs: self.miner.as_ref().map_or(0, |m| m.rigs),
            mining_kw: self
                .miner
                .as_ref()
                .map_or(0.0, |m| (m.nominal_kw() * 1000.0).round() / 1000.0),
            variant: self
                .miner
                .as_ref()
                .map_or(String::new(), |m| format!("injected+{}", m.variant())),
        }
    }
}

/// The whole injection: a plan per piece and the weather the miners feel.
#[derive(Debug, Clone)]
pub struct InjectPlan {
    /// How meters were cut.
    pub cut: Cut,
    /// Plans by source meter id, then by period.
    pub pieces: HashMap<String, BTreeMap<i32, PiecePlan>>,
    /// Outdoor temperature over the whole span.
    pub weather: Weather,
}

impl InjectPlan {
    /// The plan of the piece holding reading `ts` of `meter`, if the survey saw it.
    pub fn piece(&self, meter: &str, ts: i64) -> Option<&PiecePlan> {
        self.pieces.get(meter)?.get(&self.cut.period_of(ts))
    }

    /// The energy the piece's miner adds to the reading starting at `ts`, kWh (0 if none).
    pub fn added(&self, piece: &PiecePlan, ts: i64) -> f64 {
        match &piece.miner {
            Some(spec) => {
                let temp_c = self.weather.temp_c(ts + piece.interval_s / 2);
                mining_kw(spec, ts, piece.interval_s, temp_c) * piece.interval_s as f64 / 3600.0
            }
            None => 0.0,
        }
    }

    /// One reading of `meter` with its piece's mining added: the piece it belongs to and
    /// the new value in the reading's own unit. Clean pieces get the value back untouched
    /// (the same `f32` bits), so only chosen pieces differ from the source. `None` when
    /// the survey never saw this piece.
    pub fn apply(&self, meter: &str, ts: i64, value: f32, unit: Unit) -> Option<(&PiecePlan, f32)> {
        let piece = self.piece(meter, ts)?;
        if piece.miner.is_none() {
            return Some((piece, value));
        }
        let kwh = self.added(piece, ts);
        let added = match unit {
            Unit::Kwh => kwh,
            Unit::Kw => kwh * 3600.0 / piece.interval_s as f64,
        };
        Some((piece, (value as f64 + added) as f32))
    }

    /// Every piece's label, sorted by id.
    pub fn labels(&self) -> Vec<Label> {
        let mut labels: Vec<Label> = self
            .pieces
            .values()
            .flat_map(|p| p.values().map(PiecePlan::label))
            .collect();
        labels.sort_by(|a, b| a.meter_id.cmp(&b.meter_id));
        labels
    }
}

/// Chooses `share` of the eligible pieces (at least [`MIN_PIECE_DAYS`] long) with `seed`
/// and draws a miner for each: one S9 or 1–10 S19-class rigs in homes, 30–300 rigs scaled
/// to the site's mean load in businesses, switched on between 20% and 80% of the piece.
pub fn plan(survey: &Survey, cut: Cut, share: f64, seed: u64) -> InjectPlan {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    // Sorted ids make the choice independent of hash-map order.
    let mut all: Vec<(&str, i32, &PieceStats)> = survey
        .meters
        .iter()
        .flat_map(|(m, p)| p.iter().map(move |(k, s)| (m.as_str(), *k, s)))
        .collect();
    all.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let mut eligible: Vec<usize> = (0..all.len())
        .filter(|&i| {
            let (a, b) = all[i].2.span();
            b - a >= MIN_PIECE_DAYS * DAY_S
        })
        .collect();
    eligible.shuffle(&mut rng);
    let n_chosen = (share.clamp(0.0, 1.0) * eligible.len() as f64).round() as usize;
    let mut chosen = vec![false; all.len()];
    for &i in &eligible[..n_chosen] {
        chosen[i] = true;
    }

    let mut pieces: HashMap<String, BTreeMap<i32, PiecePlan>> = HashMap::new();
    for (i, (meter, period, stats)) in all.iter().enumerate() {
        let interval_s = stats.interval_s();
        let business = stats.mean_kw() > BUSINESS_MEAN_KW;
        let miner = chosen[i].then(|| draw_miner(&mut rng, stats, business));
        let id = cut.piece_id(meter, *period);
        pieces.entry(meter.to_string()).or_default().insert(
            *period,
            PiecePlan {
                id,
                interval_s,
                business,
                miner,
            },
        );
    }
    let (from, to) = survey.span().unwrap_or((0, DAY_S));
    InjectPlan {
        cut,
        pieces,
        weather: Weather::covering(seed, from, to, 0),
    }
}

/// Draws a miner sized to the piece and switched on part-way through it.
fn draw_miner(rng: &mut Xoshiro256PlusPlus, stats: &PieceStats, business: bool) -> MinerSpec {
    let (rigs, rated_kw) = if business {
        // Enough rigs to matter next to the site's own load, within shophouse scale.
        let rigs = (stats.mean_kw() * rng.gen_range(0.4..1.5) / S19_KW).round() as u32;
        (rigs.clamp(30, 300), S19_KW)
    } else if rng.gen_bool(0.25) {
        (1, S9_KW)
    } else {
        (rng.gen_range(1..=10), S19_KW)
    };
    let (a, b) = stats.span();
    let interval = stats.interval_s();
    let at = a + ((b - a) as f64 * rng.gen_range(0.2..0.8)) as i64;
    // Snap the onset to the piece's reading grid so the first mined reading is whole.
    let onset = a + (at - a).div_euclid(interval) * interval;
    MinerSpec::draw(rng, rigs, rated_kw, onset, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const Y2013: i64 = 1_356_998_400;

    #[test]
    fn quarters_are_named_by_year_and_number() {
        assert_eq!(
            Cut::Quarter.piece_id("MAC000002", Cut::Quarter.period_of(Y2013)),
            "MAC000002@2013Q1"
        );
        assert_eq!(
            Cut::Quarter.piece_id("X", Cut::Quarter.period_of(Y2013 + 200 * DAY_S)),
            "X@2013Q3"
        );
        assert_eq!(
            Cut::Month.piece_id("X", Cut::Month.period_of(Y2013 + 40 * DAY_S)),
            "X@2013-02"
        );
        assert_eq!(Cut::None.piece_id("X", Cut::None.period_of(Y2013)), "X");
    }

    #[test]
    fn pieces_tile_the_year_without_gaps_or_overlaps() {
        for cut in [Cut::Quarter, Cut::Month] {
            let mut prev_end = None;
            for t in (Y2013..Y2013 + 366 * DAY_S).step_by(1800) {
                let (a, b) = cut.bounds(cut.period_of(t));
                assert!(a <= t && t < b, "{cut:?} {t}");
                if let Some(e) = prev_end {
                    assert!(a == e || a < t, "piece starting at {a} does not follow {e}");
                }
                prev_end = Some(b).filter(|&b| t + 1800 >= b).or(prev_end);
            }
        }
    }

    fn survey(cut: Cut, meters: &[(&str, f64)], days: i64) -> Survey {
        let mut s = Survey::default();
        for (m, kw) in meters {
            for i in 0..days * 48 {
                s.push(cut, m, Y2013 + i * 1800, kw / 2.0, Unit::Kwh);
            }
        }
        s
    }

    #[test]
    fn the_survey_learns_resolution_and_mean() {
        let s = survey(Cut::Quarter, &[("a", 0.8)], 10);
        let p = &s.meters["a"][&Cut::Quarter.period_of(Y2013)];
        assert_eq!(p.interval_s(), 1800);
        assert!((p.mean_kw() - 0.8).abs() < 1e-9);
        assert_eq!(p.span(), (Y2013, Y2013 + 10 * DAY_S));
    }

    #[test]
    fn the_chosen_share_is_respected_and_seeded() {
        let ids: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
        let meters: Vec<(&str, f64)> = ids.iter().map(|s| (s.as_str(), 0.5)).collect();
        let s = survey(Cut::Quarter, &meters, 200);
        let p = plan(&s, Cut::Quarter, 0.25, 9);
        let labels = p.labels();
        // 200 days from 1 January: three pieces of 90, 91 and 19 days per meter, all eligible.
        assert_eq!(labels.len(), 60);
        assert_eq!(labels.iter().filter(|l| l.mining).count(), 15);
        assert_eq!(plan(&s, Cut::Quarter, 0.25, 9).labels(), labels);
        assert_ne!(plan(&s, Cut::Quarter, 0.25, 10).labels(), labels);
    }

    #[test]
    fn onsets_fall_between_a_fifth_and_four_fifths_of_the_piece_on_its_grid() {
        let s = survey(Cut::None, &[("a", 0.5), ("b", 0.5), ("c", 0.5)], 90);
        for l in plan(&s, Cut::None, 1.0, 3).labels() {
            let onset = l.onset_unix().unwrap();
            assert!(
                (Y2013 + 18 * DAY_S..=Y2013 + 72 * DAY_S).contains(&onset),
                "{l:?}"
            );
            assert_eq!((onset - Y2013) % 1800, 0);
        }
    }

    #[test]
    fn business_sites_get_at_least_thirty_rigs() {
        let s = survey(Cut::None, &[("shop", 40.0), ("home", 0.5)], 60);
        let p = plan(&s, Cut::None, 1.0, 4);
        let labels = p.labels();
        let shop = labels.iter().find(|l| l.meter_id == "shop").unwrap();
        let home = labels.iter().find(|l| l.meter_id == "home").unwrap();
        assert!(shop.rigs >= 30 && shop.kind == Kind::MinerShophouse);
        assert!(home.rigs <= 10);
    }

    #[test]
    fn the_added_energy_is_the_mining_draw_times_the_interval() {
        let s = survey(Cut::None, &[("a", 0.5)], 60);
        let p = plan(&s, Cut::None, 1.0, 5);
        let piece = p.piece("a", Y2013).unwrap().clone();
        let spec = piece.miner.clone().unwrap();
        assert_eq!(p.added(&piece, spec.onset_unix - 1800), 0.0);
        let t = spec.onset_unix + 7 * DAY_S + 3 * 3600;
        let expected = mining_kw(&spec, t, 1800, p.weather.temp_c(t + 900)) * 0.5;
        assert_eq!(p.added(&piece, t), expected);
    }
}
