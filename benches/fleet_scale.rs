//! Fleet scale: memory per tracked meter and the cost of scoring every meter once, at
//! 10k, 100k and 1M meters:
//! `cargo bench --bench fleet_scale [-- SIZES... | score:N | days:D]`.
//!
//! Memory: synthetic hourly readings go straight into the daemon's per-meter state
//! ([`MeterTable::apply`], the same call the MQTT pipeline makes), hour by hour across the
//! whole fleet as a live feed arrives, until every window is full (13 weeks + the current
//! hour, or `days:D` days as `ingest.window_days = D` sets it, e.g. `days:28`). It reports
//! bytes per meter two ways: the process's resident-set growth over the fill (what the
//! operator pays, allocator overhead included) and the table's own accounting
//! ([`MeterTable::heap_bytes`]). No MQTT, no WAL: this is the state alone. Only the first
//! size filled in a process has a clean resident figure (a later one reuses the memory
//! the previous table gave back to the allocator), so measure one size per run for it.
//!
//! Scoring: the time to score every tracked meter once, as the daemon does it — rebuild
//! the meter's hourly series from its window, then [`flatline::core::assess`] with the
//! embedded model — in parallel with rayon over all cores. A full 1M-meter table needs
//! about 11 GB, more than a shared builder should take, so by default the 1M point scores
//! 1M meters drawn from a pool of 4,096 distinct synthetic series (the same per-meter
//! work on the same kinds of series, without holding a million windows) and its memory
//! is the 100k figure per meter times a million. `FLATLINE_BENCH_FULL_1M=1` fills a real
//! 1M table instead.
//!
//! The synthetic fleet: homes (morning and evening peaks, weekends), shops (weekday
//! hours), continuous loads (flat, e.g. cold stores) and miners (a flat multi-kW step
//! switched on mid-window), with seeded noise, so `assess` walks every branch it takes
//! on real fleets (onset search, baseline, episode). Plain `Instant`, no framework.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use flatline::core::series::{HourlySeries, SeriesBuilder, Unit, HOUR_S};
use flatline::core::{assess, Context, MeterId, Model};
use flatline::daemon::meters::{MeterTable, WindowDays};
use flatline::daemon::payload::Value;

/// 2024-01-01 00:00 UTC, in hours.
const START_HOUR: i64 = 473_352;
/// Distinct series in the scoring pool for the 1M point.
const POOL: usize = 4_096;

fn main() {
    // `cargo bench` passes `--bench`; anything numeric is a fleet size.
    // `score:N` scores N meters from the pool only (for profiling the scorer alone).
    let args: Vec<String> = std::env::args().skip(1).collect();
    let score_only: Vec<usize> = args
        .iter()
        .filter_map(|a| a.strip_prefix("score:"))
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect();
    let mut sizes: Vec<usize> = args
        .iter()
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect();
    if sizes.is_empty() && score_only.is_empty() {
        sizes = vec![10_000, 100_000, 1_000_000];
    }
    let days = match args.iter().find_map(|a| a.strip_prefix("days:")) {
        Some(d) => d
            .parse()
            .ok()
            .and_then(WindowDays::new)
            .unwrap_or_else(|| panic!("days:{d} is not a window length of 8 to 91 days")),
        None => WindowDays::DEFAULT,
    };
    let full_1m = std::env::var_os("FLATLINE_BENCH_FULL_1M").is_some();
    let model = Model::embedded();
    println!(
        "fleet scale: {} rayon threads, window {} days ({} hours) + the current hour",
        rayon::current_num_threads(),
        days.days(),
        days.span_hours() - 1,
    );
    for n in score_only {
        score_from_pool(n, days, model, None);
    }
    let mut per_meter_100k = None;
    for n in sizes {
        if n >= 1_000_000 && !full_1m {
            score_from_pool(n, days, model, per_meter_100k);
        } else {
            let bytes = fill_and_score(n, days, model);
            if n == 100_000 {
                per_meter_100k = Some(bytes);
            }
        }
    }
}

/// Fills a real table with `n` meters, reports its memory, then scores every meter once.
/// Returns the measured resident bytes per meter.
fn fill_and_score(n: usize, days: WindowDays, model: &Model) -> f64 {
    let ids: Vec<String> = (0..n).map(|i| format!("MAC{i:07}")).collect();
    let kinds: Vec<Kind> = (0..n).map(|i| Kind::of(i, days)).collect();
    // The window plus a day, so every window is full and has slid.
    let feed_hours = days.span_hours() as i64 + 24;
    let rss_before = rss_bytes();
    let mut table = MeterTable::new(n, 1, 10_000.0).with_window(days);
    let started = Instant::now();
    // Hour by hour across the fleet, as a live feed arrives (and as the allocator sees it).
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(n as u64);
    for h in 0..feed_hours {
        for (i, id) in ids.iter().enumerate() {
            let kwh = kinds[i].kw(i, h, &mut rng);
            table.apply(id, (START_HOUR + h) * HOUR_S, Value::IntervalKwh(kwh));
        }
    }
    let fill = started.elapsed().as_secs_f64();
    let rss_grown = rss_bytes().saturating_sub(rss_before) as f64;
    assert_eq!(table.len(), n);
    let accounted = table.heap_bytes() as f64;
    println!(
        "{n:>9} meters: filled {} readings in {fill:.1} s ({:.2} M readings/s into the table, 1 thread)",
        n as i64 * feed_hours,
        n as f64 * feed_hours as f64 / fill / 1e6
    );
    println!(
        "{n:>9} meters: memory {:.0} MB resident growth = {:.0} bytes per meter (accounted: {:.0} bytes per meter)",
        rss_grown / 1e6,
        rss_grown / n as f64,
        accounted / n as f64
    );

    // Score once, as the daemon's scorer does: series from the window, then the core.
    let meters: Vec<_> = table.iter().collect();
    let started = Instant::now();
    let flagged = meters
        .par_iter()
        .map(|(id, m)| {
            let series = m.window.series(m.unit);
            let a = assess(id, &series, series.end_hour(), model, &Context::default());
            usize::from(a.flagged)
        })
        .sum::<usize>();
    let took = started.elapsed().as_secs_f64();
    println!(
        "{n:>9} meters: scored all once in {took:.2} s ({:.1} µs per meter per core, {flagged} flagged)",
        took * rayon::current_num_threads() as f64 / n as f64 * 1e6
    );
    rss_grown / n as f64
}

/// Scores `n` meters drawn from a pool of [`POOL`] distinct full-window series.
fn score_from_pool(n: usize, days: WindowDays, model: &Model, per_meter: Option<f64>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    let pool: Vec<(MeterId, HourlySeries)> = (0..POOL)
        .map(|i| {
            let kind = Kind::of(i, days);
            let mut b = SeriesBuilder::new();
            for h in 0..days.span_hours() as i64 {
                let ts = (START_HOUR + h) * HOUR_S;
                b.push(ts, kind.kw(i, h, &mut rng) as f32)
                    .expect("one reading per hour");
            }
            (
                MeterId::from(format!("MAC{i:07}").as_str()),
                b.finish(Unit::Kwh),
            )
        })
        .collect();
    let started = Instant::now();
    let flagged = (0..n)
        .into_par_iter()
        .map(|i| {
            let (id, series) = &pool[i % POOL];
            let a = assess(id, series, series.end_hour(), model, &Context::default());
            usize::from(a.flagged)
        })
        .sum::<usize>();
    let took = started.elapsed().as_secs_f64();
    println!(
        "{n:>9} meters: scored all once in {took:.2} s ({:.1} µs per meter per core, {flagged} flagged; \
         series from a pool of {POOL}, no window rebuild)",
        took * rayon::current_num_threads() as f64 / n as f64 * 1e6
    );
    if let Some(b) = per_meter {
        println!(
            "{n:>9} meters: memory ≈ {:.1} GB (the 100k figure per meter × {n}; not filled)",
            b * n as f64 / 1e9
        );
    }
}

/// What a synthetic meter is.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Home,
    Shop,
    Continuous,
    /// A miner switched on at this hour of the feed.
    Miner(i64),
}

impl Kind {
    /// A fixed mix by index: 80% homes, 12% shops, 6% continuous loads, 2% miners, each
    /// switched on at an hour spread over the window (for 13 weeks: hours 700 to 1699).
    fn of(i: usize, days: WindowDays) -> Kind {
        match i % 50 {
            0 => {
                let span = days.span_hours() as i64;
                Kind::Miner(span * 700 / 2185 + (i as i64 * 37) % (span * 1000 / 2185))
            }
            1..=3 => Kind::Continuous,
            4..=9 => Kind::Shop,
            _ => Kind::Home,
        }
    }

    /// kWh in hour `h` of meter `i` (hourly readings, so also the average kW).
    fn kw(self, i: usize, h: i64, rng: &mut impl Rng) -> f64 {
        let hod = (h % 24) as usize;
        let weekend = (h / 24) % 7 >= 5;
        let scale = 0.6 + (i % 17) as f64 * 0.1;
        let noise = 1.0 + rng.gen_range(-0.25..0.25);
        let base = match self {
            Kind::Home => {
                let peak = match hod {
                    7..=8 => 1.2,
                    17..=21 => 1.8,
                    0..=5 => 0.3,
                    _ => 0.6,
                };
                0.25 + peak * if weekend { 1.1 } else { 1.0 }
            }
            Kind::Shop => {
                if !weekend && (8..19).contains(&hod) {
                    6.0
                } else {
                    1.0
                }
            }
            Kind::Continuous => 20.0,
            Kind::Miner(onset) => {
                let home = if (17..=21).contains(&hod) { 1.5 } else { 0.4 };
                home + if h >= onset { 3.2 } else { 0.0 }
            }
        };
        (base * scale * noise).max(0.0)
    }
}

/// This process's resident set size, bytes (Linux `/proc/self/status` VmRSS).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
