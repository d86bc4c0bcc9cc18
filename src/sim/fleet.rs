//! A synthetic fleet: which premises exist, what they draw, and the readings in time order.
//!
//! [`simulate`] draws a fleet from a [`SimConfig`]: homes (with heat pumps, EVs, storage
//! heaters, empty homes among them), businesses (cold stores, server rooms, bakeries,
//! 24/7 shops, offices) and hidden miners of every scale, plus optional licensed miners.
//! Parameters come from `Xoshiro256PlusPlus` streams seeded per meter group and index, so
//! the same seed gives the same fleet and adding miners does not reshuffle the homes.
//! Meter ids (`MTR00001`…) are assigned after a seeded shuffle, so an id says nothing
//! about what the meter is. [`SimFleet::readings`] then walks time, and within each
//! interval every meter in id order, like a head-end export, computing values on the fly
//! (nothing is materialised). Writing files is left to the command; this module only
//! formats into any `Write`.

use std::io::{self, Write};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::labels::{onset_from_unix, Label, RegistryRow};
use super::load::{base_kw, BaseLoad, Class, Kind};
use super::mining::{mining_kw, MinerSpec, S19_KW, S9_KW};
use super::noise::mix;
use super::weather::{Weather, DAY_S};

/// What to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Seed of everything.
    pub seed: u64,
    /// Number of homes (households and residential confounders).
    pub homes: usize,
    /// Number of businesses (commercial confounders and server rooms).
    pub businesses: usize,
    /// Number of hidden miners, of mixed sizes.
    pub miners: usize,
    /// Number of licensed miners (declared in the registry as allowed).
    pub licensed: usize,
    /// Length of the span in days.
    pub days: u32,
    /// First instant (unix seconds; midnight UTC is usual).
    pub start_unix: i64,
    /// Reading interval in minutes.
    pub resolution_min: u32,
    /// Mining onsets are drawn uniformly between these days after the start.
    pub onset_after_days: (f64, f64),
    /// Local time offset from UTC, seconds (daily rhythms follow local time).
    pub tz_offset_s: i32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            homes: 200,
            businesses: 40,
            miners: 8,
            licensed: 0,
            days: 60,
            // 2024-01-01T00:00:00Z
            start_unix: 1_704_067_200,
            resolution_min: 30,
            onset_after_days: (15.0, 45.0),
            tz_offset_s: 0,
        }
    }
}

/// One simulated meter and everything needed to recompute its readings.
#[derive(Debug, Clone, PartialEq)]
pub struct SimMeter {
    /// The meter id (`MTR00001`…).
    pub id: String,
    /// What the premises is.
    pub kind: Kind,
    /// Its tariff class.
    pub class: Class,
    /// The legitimate load underneath.
    pub base: BaseLoad,
    /// The mining installation, if any.
    pub miner: Option<MinerSpec>,
    /// Seed of this meter's time-indexed noise.
    pub seed: u64,
    /// Contracted capacity in the registry, kW.
    pub contracted_kw: f64,
    /// Feeder the meter hangs off.
    pub feeder: String,
    /// Whether the registry declares a large flat load here as allowed.
    pub allowed: bool,
}

impl SimMeter {
    /// The ground-truth label of this meter.
    pub fn label(&self) -> Label {
        let mut variant = self.base.variant();
        if let Some(m) = &self.miner {
            if !variant.is_empty() {
                variant.push('+');
            }
            variant.push_str(&m.variant());
            if self.allowed {
                variant.push_str("+licensed");
            }
        }
        Label {
            meter_id: self.id.clone(),
            kind: self.kind,
            class: self.class,
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
            variant,
        }
    }

    /// The registry's row for this meter.
    pub fn registry_row(&self) -> RegistryRow {
        RegistryRow {
            meter_id: self.id.clone(),
            class: self.class,
            contracted_kw: self.contracted_kw,
            feeder: self.feeder.clone(),
            allowed: self.allowed,
        }
    }
}

/// One reading of the simulated fleet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimReading {
    /// Index into [`SimFleet::meters`].
    pub meter_idx: usize,
    /// Start of the interval, unix seconds.
    pub ts_unix: i64,
    /// Energy used in the interval, kWh.
    pub kwh: f64,
}

/// A drawn fleet, ready to produce readings.
#[derive(Debug, Clone)]
pub struct SimFleet {
    /// The configuration it was drawn from.
    pub config: SimConfig,
    /// The weather every meter shares.
    pub weather: Weather,
    /// The meters, in id order.
    pub meters: Vec<SimMeter>,
}

/// Draws a fleet.
pub fn simulate(cfg: &SimConfig) -> SimFleet {
    let first_day = cfg.start_unix.div_euclid(DAY_S);
    let n_days = cfg.days.max(1) as i64;
    let weather = Weather::new(cfg.seed, first_day, n_days as usize + 2, cfg.tz_offset_s);
    let mut meters = Vec::new();

    let home_kinds = apportion(
        cfg.homes,
        &[
            (Kind::Household, 0.72),
            (Kind::HeatPump, 0.08),
            (Kind::Ev, 0.08),
            (Kind::StorageHeater, 0.06),
            (Kind::EmptyHome, 0.06),
        ],
    );
    let business_kinds = apportion(
        cfg.businesses,
        &[
            (Kind::Office, 0.3),
            (Kind::Shop24h, 0.2),
            (Kind::ColdStore, 0.2),
            (Kind::Bakery, 0.15),
            (Kind::ServerRoom, 0.15),
        ],
    );
    // Miners cycle through the sizes so any count gets a mix, the farm by the fourth.
    let miner_cycle = [
        Kind::MinerHome,
        Kind::MinerShophouse,
        Kind::MinerHomeS9,
        Kind::MinerFarm,
        Kind::MinerHome,
        Kind::MinerHomeS9,
        Kind::MinerShophouse,
        Kind::MinerHome,
    ];
    let miner_kinds = (0..cfg.miners).map(|i| miner_cycle[i % miner_cycle.len()]);
    let licensed_kinds = std::iter::repeat_n(Kind::MinerLicensed, cfg.licensed);

    let groups: [(u64, Vec<Kind>); 4] = [
        (1, home_kinds),
        (2, business_kinds),
        (3, miner_kinds.collect()),
        (4, licensed_kinds.collect()),
    ];
    for (group, kinds) in groups {
        for (i, kind) in kinds.into_iter().enumerate() {
            // One stream per meter: its parameters do not depend on how many others exist.
            let mut rng =
                Xoshiro256PlusPlus::seed_from_u64(mix(cfg.seed ^ mix(group << 32 | i as u64)));
            meters.push(draw_meter(&mut rng, kind, cfg, first_day, n_days));
        }
    }

    // Shuffle, then number: ids carry no hint of the kind.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(mix(cfg.seed ^ 0x1D5));
    meters.shuffle(&mut rng);
    let n_feeders = meters.len().div_ceil(30).max(1);
    for (i, m) in meters.iter_mut().enumerate() {
        m.id = format!("MTR{:05}", i + 1);
        m.feeder = format!("F{:02}", rng.gen_range(0..n_feeders) + 1);
    }
    SimFleet {
        config: cfg.clone(),
        weather,
        meters,
    }
}

/// Draws one meter of the given kind (id and feeder are assigned later).
fn draw_meter(
    rng: &mut Xoshiro256PlusPlus,
    kind: Kind,
    cfg: &SimConfig,
    first_day: i64,
    n_days: i64,
) -> SimMeter {
    let base = BaseLoad::draw(rng, kind, first_day, n_days);
    let seed: u64 = rng.gen();
    let (lo, hi) = cfg.onset_after_days;
    let (lo, hi) = (lo.clamp(0.0, n_days as f64), hi.clamp(0.0, n_days as f64));
    let onset = |rng: &mut Xoshiro256PlusPlus| {
        let days = if hi > lo { rng.gen_range(lo..hi) } else { lo };
        // Switched on at a five-minute boundary, as a person would.
        let t = cfg.start_unix + (days * DAY_S as f64) as i64;
        t - t.rem_euclid(300)
    };
    let miner = match kind {
        Kind::MinerHomeS9 => Some((1, S9_KW)),
        Kind::MinerHome => Some((rng.gen_range(2..=10), S19_KW)),
        // Shophouses skew small: most hold tens of rigs, a few hold hundreds.
        Kind::MinerShophouse => Some((10 + (290.0 * rng.gen::<f64>().powi(2)) as u32, S19_KW)),
        Kind::MinerFarm => Some((rng.gen_range(1000..=6000), S19_KW)),
        Kind::MinerLicensed => Some((rng.gen_range(50..=300), S19_KW)),
        _ => None,
    }
    .map(|(rigs, rated_kw)| {
        let t = onset(rng);
        MinerSpec::draw(rng, rigs, rated_kw, t, cfg.tz_offset_s)
    });
    let class = kind.class();
    let peak_kw = base.peak_kw();
    let contracted_kw = match (class, kind) {
        // A licensed site declares its miners.
        (_, Kind::MinerLicensed) => round_up(
            peak_kw + miner.as_ref().map_or(0.0, |m| m.nominal_kw()) * 1.2,
            50.0,
        ),
        (Class::Residential, _) => round_up(peak_kw.max(12.0), 3.0),
        // Server rooms declare a little above what they draw.
        (Class::Datacentre, _) => round_up(peak_kw * 1.15, 5.0),
        (Class::Commercial, _) => round_up(peak_kw * 1.3, 10.0),
    };
    SimMeter {
        id: String::new(),
        kind,
        class,
        base,
        miner,
        seed,
        contracted_kw,
        feeder: String::new(),
        allowed: kind == Kind::MinerLicensed,
    }
}

/// `x` rounded up to a multiple of `step`.
fn round_up(x: f64, step: f64) -> f64 {
    (x / step).ceil() * step
}

/// Splits `n` into whole counts in proportion to the weights (largest remainder first).
fn apportion(n: usize, weights: &[(Kind, f64)]) -> Vec<Kind> {
    let total: f64 = weights.iter().map(|w| w.1).sum();
    let exact: Vec<f64> = weights.iter().map(|w| n as f64 * w.1 / total).collect();
    let mut counts: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(a.cmp(&b))
    });
    let short = n - counts.iter().sum::<usize>();
    for &i in order.iter().take(short) {
        counts[i] += 1;
    }
    weights
        .iter()
        .zip(counts)
        .flat_map(|(w, c)| std::iter::repeat_n(w.0, c))
        .collect()
}

impl SimFleet {
    /// The reading interval, seconds.
    pub fn interval_s(&self) -> i64 {
        self.config.resolution_min.max(1) as i64 * 60
    }

    /// Number of intervals in the span.
    pub fn n_steps(&self) -> i64 {
        self.config.days as i64 * DAY_S / self.interval_s()
    }

    /// Start of the `step`-th interval, unix seconds.
    pub fn step_start(&self, step: i64) -> i64 {
        self.config.start_unix + step * self.interval_s()
    }

    /// One past the last instant of the span, unix seconds.
    pub fn end_unix(&self) -> i64 {
        self.step_start(self.n_steps())
    }

    /// The legitimate draw of meter `idx` over the interval starting at `t_unix`, kW.
    pub fn base_kw(&self, idx: usize, t_unix: i64) -> f64 {
        let m = &self.meters[idx];
        base_kw(&m.base, m.seed, t_unix, self.interval_s(), &self.weather)
    }

    /// The mining draw of meter `idx` over the interval starting at `t_unix`, kW (0 if none).
    pub fn mining_kw(&self, idx: usize, t_unix: i64) -> f64 {
        match &self.meters[idx].miner {
            Some(spec) => {
                let temp_c = self.weather.temp_c(t_unix + self.interval_s() / 2);
                mining_kw(spec, t_unix, self.interval_s(), temp_c)
            }
            None => 0.0,
        }
    }

    /// Energy of meter `idx` in the interval starting at `t_unix`, kWh.
    pub fn kwh(&self, idx: usize, t_unix: i64) -> f64 {
        (self.base_kw(idx, t_unix) + self.mining_kw(idx, t_unix)) * self.interval_s() as f64
            / 3600.0
    }

    /// Every reading, ordered by time then meter, computed as it is asked for.
    pub fn readings(&self) -> impl Iterator<Item = SimReading> + '_ {
        (0..self.n_steps()).flat_map(move |step| {
            let ts_unix = self.step_start(step);
            (0..self.meters.len()).map(move |meter_idx| SimReading {
                meter_idx,
                ts_unix,
                kwh: self.kwh(meter_idx, ts_unix),
            })
        })
    }

    /// The labels of every meter, in id order.
    pub fn labels(&self) -> Vec<Label> {
        self.meters.iter().map(SimMeter::label).collect()
    }

    /// The registry rows of every meter, in id order.
    pub fn registry(&self) -> Vec<RegistryRow> {
        self.meters.iter().map(SimMeter::registry_row).collect()
    }

    /// Writes the readings as long CSV (`meter_id,timestamp,kwh`, UTC `YYYY-MM-DD HH:MM:SS`,
    /// kWh to four decimals) and returns the number of rows.
    pub fn write_csv(&self, mut w: impl Write) -> io::Result<u64> {
        writeln!(w, "meter_id,timestamp,kwh")?;
        let mut n = 0u64;
        let mut stamp = String::new();
        let mut last_ts = i64::MIN;
        for r in self.readings() {
            if r.ts_unix != last_ts {
                stamp = format_timestamp(r.ts_unix);
                last_ts = r.ts_unix;
            }
            writeln!(w, "{},{},{:.4}", self.meters[r.meter_idx].id, stamp, r.kwh)?;
            n += 1;
        }
        Ok(n)
    }
}

/// Formats unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC), the head-end export style.
pub fn format_timestamp(t_unix: i64) -> String {
    match chrono::DateTime::from_timestamp(t_unix, 0) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => t_unix.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SimConfig {
        SimConfig {
            homes: 12,
            businesses: 6,
            miners: 4,
            licensed: 1,
            days: 10,
            onset_after_days: (3.0, 7.0),
            ..SimConfig::default()
        }
    }

    #[test]
    fn apportion_gives_exactly_n_in_proportion() {
        let kinds = apportion(
            10,
            &[
                (Kind::Household, 0.7),
                (Kind::Ev, 0.2),
                (Kind::HeatPump, 0.1),
            ],
        );
        assert_eq!(kinds.len(), 10);
        assert_eq!(kinds.iter().filter(|k| **k == Kind::Household).count(), 7);
        assert_eq!(kinds.iter().filter(|k| **k == Kind::Ev).count(), 2);
    }

    #[test]
    fn a_fleet_has_every_meter_it_was_asked_for_with_unique_ids() {
        let f = simulate(&small());
        assert_eq!(f.meters.len(), 12 + 6 + 4 + 1);
        let mut ids: Vec<&str> = f.meters.iter().map(|m| m.id.as_str()).collect();
        ids.dedup();
        assert_eq!(ids.len(), f.meters.len());
        assert_eq!(f.meters.iter().filter(|m| m.miner.is_some()).count(), 5);
        assert_eq!(f.meters.iter().filter(|m| m.allowed).count(), 1);
    }

    #[test]
    fn readings_come_in_time_then_meter_order() {
        let f = simulate(&small());
        let rows: Vec<SimReading> = f.readings().take(3 * f.meters.len()).collect();
        assert!(rows
            .windows(2)
            .all(|w| (w[0].ts_unix, w[0].meter_idx) < (w[1].ts_unix, w[1].meter_idx)));
        assert_eq!(
            f.readings().count() as i64,
            f.n_steps() * f.meters.len() as i64
        );
    }

    #[test]
    fn adding_miners_leaves_the_homes_unchanged() {
        let a = simulate(&small());
        let b = simulate(&SimConfig {
            miners: 6,
            ..small()
        });
        let homes = |f: &SimFleet| {
            let mut v: Vec<BaseLoad> = f
                .meters
                .iter()
                .filter(|m| m.kind == Kind::Household)
                .map(|m| m.base.clone())
                .collect();
            v.sort_by(|x, y| format!("{x:?}").cmp(&format!("{y:?}")));
            v
        };
        assert_eq!(homes(&a), homes(&b));
    }

    #[test]
    fn timestamps_read_as_utc_wall_clock() {
        assert_eq!(
            format_timestamp(1_704_067_200 + 1800),
            "2024-01-01 00:30:00"
        );
    }
}
