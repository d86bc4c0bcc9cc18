//! Renders example report pages from synthetic meters, to look at the page as an
//! inspector would, and times the rendering.
//!
//! Run: `cargo run --release --example report_gallery -- OUTDIR`
//! Writes a one-rig home, a farm in a shop, a storage-heater home that was not flagged,
//! and a meter with gaps, plus overview.png and index.html; then renders the one-rig
//! page 20 times in memory and prints the time per page.

use std::path::PathBuf;
use std::time::Instant;

use flatline::core::verdict::{rigs_for_kw, Assessment, Status};
use flatline::core::{HourlySeries, MeterId};
use flatline::report::{
    render_meter_rgb, write_reports, PeerBand, PopulationPoint, ReportInput, Tariff,
};

/// 2026-01-05 00:00 UTC (a Monday), as an hour index.
const T0: i64 = 20_458 * 24;
const DAYS: i64 = 60;

/// A deterministic pseudo-random number in 0..1 (xorshift), so the gallery is repeatable.
fn noise(state: &mut u64) -> f32 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state % 10_000) as f32 / 10_000.0
}

/// A household: low nights, a morning bump, a long evening peak, busier weekends.
fn household(seed: u64) -> Vec<f32> {
    let mut s = seed.max(1);
    (0..DAYS * 24)
        .map(|h| {
            let hh = h % 24;
            let weekend = (h / 24) % 7 >= 5;
            let mut kw = 0.25 + 0.1 * noise(&mut s);
            if (7..9).contains(&hh) {
                kw += 0.9 * noise(&mut s) + 0.3;
            }
            if (17..23).contains(&hh) {
                kw += 1.2 + 0.9 * noise(&mut s);
            }
            if weekend && (10..16).contains(&hh) {
                kw += 0.6 + 0.5 * noise(&mut s);
            }
            kw
        })
        .collect()
}

fn assessment(
    id: &str,
    kw: &[f32],
    flagged: bool,
    since_hour: i64,
    excess_kw: f64,
    peer_kw: f64,
) -> Assessment {
    let end = T0 + DAYS * 24;
    let since = T0 + since_hour;
    let from = if flagged { since } else { end - 28 * 24 };
    let vals: Vec<f32> = kw[(from - T0) as usize..]
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let level = vals.iter().sum::<f32>() as f64 / vals.len().max(1) as f64;
    Assessment {
        meter_id: MeterId::from(id),
        score: if flagged { 0.94 } else { 0.08 },
        flagged,
        status: if flagged {
            Status::Suspect
        } else {
            Status::Clear
        },
        level_kw: level,
        excess_kw: if flagged { excess_kw } else { 0.0 },
        est_rigs: if flagged { rigs_for_kw(excess_kw) } else { 0.0 },
        excess_kwh_per_day: if flagged { excess_kw * 24.0 } else { 0.0 },
        since_hour: if flagged { since } else { end - 28 * 24 },
        onset_found: flagged,
        window_start_hour: end - 28 * 24,
        window_end_hour: end,
        peer_group: "homes (evening peak)".into(),
        peer_level_kw: peer_kw,
        cluster: if flagged { 3 } else { 0 },
        reasons: Vec::new(),
        notes: Vec::new(),
        features: vec![("flatness".into(), if flagged { 0.93 } else { 0.35 })],
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "report-gallery".into()),
    );

    // One rig (an S9-class 1.4 kW) switched on at 09:00 on day 20.
    let mut one_rig = household(7);
    for (h, v) in one_rig.iter_mut().enumerate() {
        if h as i64 >= 20 * 24 + 9 {
            *v += 1.4 + 0.04 * ((h % 13) as f32 / 13.0);
        }
    }
    // A shop (40 kW in opening hours) with 185 rigs (600 kW) from day 30.
    let mut s = 99u64;
    let mut farm: Vec<f32> = (0..DAYS * 24)
        .map(|h| {
            let hh = h % 24;
            let open = (h / 24) % 7 < 6 && (8..20).contains(&hh);
            (if open { 40.0 } else { 9.0 }) + 3.0 * noise(&mut s)
        })
        .collect();
    for (h, v) in farm.iter_mut().enumerate() {
        if h as i64 >= 30 * 24 + 14 {
            *v += 600.0 + 12.0 * noise(&mut s);
        }
    }
    // Storage heaters: a 7 kW block every night from 00:00 to 07:00 on a household.
    let mut heater = household(11);
    for (h, v) in heater.iter_mut().enumerate() {
        if h % 24 < 7 {
            *v += 7.0;
        }
    }
    // One rig with a week of missing data and scattered missing hours.
    let mut gappy = household(5);
    for (h, v) in gappy.iter_mut().enumerate() {
        let d = h / 24;
        if h as i64 >= 18 * 24 + 15 {
            *v += 3.3;
        }
        if (24..31).contains(&d) || h % 37 == 0 || (45..47).contains(&d) {
            *v = f32::NAN;
        }
    }

    let series = |kw: Vec<f32>| HourlySeries {
        start_hour: T0,
        kw,
        resolution_min: 60,
    };
    let s_rig = series(one_rig);
    let s_farm = series(farm);
    let s_heat = series(heater);
    let s_gap = series(gappy);

    let mut a_rig = assessment("MAC004417", &s_rig.kw, true, 20 * 24 + 9, 1.4, 0.62);
    a_rig.reasons = vec![
        "Flat around the clock: the hour-to-hour variation fell from 78% to 9% on 2026-01-25.".into(),
        "Draws 2.2× the median of comparable homes, every hour of the day, weekdays and weekends alike.".into(),
        "Sudden step of +1.4 kW at 10:00 local time on 2026-01-25 that has not come back down.".into(),
    ];
    let mut a_farm = assessment(
        "SHOP-JB-0031/feeder-11kV-T7/unit 4, Jalan Perusahaan 3, Kawasan Perindustrian Senai",
        &s_farm.kw,
        true,
        30 * 24 + 14,
        600.0,
        38.0,
    );
    a_farm.peer_group = "small shops (opening hours)".into();
    a_farm.reasons = vec![
        "Draws 16× what comparable shops draw, at night and on Sundays as much as in opening hours.".into(),
        "Flat: load factor 0.98 since the step, against 0.45 before.".into(),
        "Step of +600 kW on 2026-02-04 at 22:00 local time.".into(),
    ];
    a_farm.notes =
        vec!["Registered as commercial: check the contracted capacity before visiting.".into()];
    let mut a_heat = assessment("ie-1043", &s_heat.kw, false, 0, 0.0, 0.7);
    a_heat.score = 0.21;
    a_heat.reasons = vec![
        "High at night only: a 7-hour block every night, the shape of storage heaters on a night tariff.".into(),
        "Not flat across the day: evenings and mornings still follow a household rhythm.".into(),
    ];
    let mut a_gap = assessment("gappy meter 17", &s_gap.kw, true, 18 * 24 + 15, 3.3, 0.62);
    a_gap.reasons =
        vec!["Flat +3.3 kW since 2026-01-23 16:00 local time (≈ 1 S19-class rig).".into()];
    a_gap.notes = vec!["Readings missing for 9 of the last 28 days.".into()];

    // Comparable homes: the household shape across seeds.
    let homes: Vec<Vec<f32>> = (20..40).map(household).collect();
    let pct = |h: usize, q: f64| {
        let mut v: Vec<f32> = homes.iter().map(|s| s[h]).collect();
        v.sort_by(f32::total_cmp);
        v[((v.len() - 1) as f64 * q).round() as usize]
    };
    let n = (DAYS * 24) as usize;
    let band = PeerBand {
        start_hour: T0,
        median_kw: (0..n).map(|h| pct(h, 0.5)).collect(),
        p25_kw: (0..n).map(|h| pct(h, 0.25)).collect(),
        p75_kw: (0..n).map(|h| pct(h, 0.75)).collect(),
        label: "comparable homes".into(),
    };

    // A fleet: homes, shops, a few flat loads, and the suspects above.
    let mut st = 3u64;
    let mut population: Vec<PopulationPoint> = (0..600)
        .map(|i| {
            let shop = i % 6 == 0;
            let level = if shop {
                10.0 + 60.0 * noise(&mut st)
            } else {
                0.3 + 1.2 * noise(&mut st)
            } as f64;
            PopulationPoint {
                meter_id: format!("m{i:04}"),
                level_kw: level,
                flatness: (0.2 + 0.45 * noise(&mut st)) as f64,
                flagged: false,
                allowed: false,
                cluster: if shop { 1 } else { (i % 2) * 2 },
            }
        })
        .collect();
    for (id, level, flat) in [
        ("MAC004417", 2.0, 0.9),
        ("gappy meter 17", 3.9, 0.92),
        ("ie-1043", 2.6, 0.41),
    ] {
        population.push(PopulationPoint {
            meter_id: id.into(),
            level_kw: level,
            flatness: flat,
            flagged: id != "ie-1043",
            allowed: false,
            cluster: if id == "ie-1043" { 0 } else { 3 },
        });
    }
    population.push(PopulationPoint {
        meter_id: a_farm.meter_id.as_str().into(),
        level_kw: 620.0,
        flatness: 0.97,
        flagged: true,
        allowed: false,
        cluster: 3,
    });
    let cluster_names: Vec<String> = [
        "homes (evening peak)",
        "shops (opening hours)",
        "homes (daytime)",
        "flat and high",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    let tariff = || {
        Some(Tariff {
            per_kwh: 0.27,
            currency: "EUR".into(),
        })
    };
    let inputs = vec![
        ReportInput {
            series: &s_rig,
            assessment: &a_rig,
            band: Some(&band),
            population: &population,
            registry_class: Some("residential"),
            feeder: Some("F-12"),
            tariff: tariff(),
            tz_offset_s: 3600,
        },
        ReportInput {
            series: &s_farm,
            assessment: &a_farm,
            band: None,
            population: &population,
            registry_class: Some("commercial"),
            feeder: Some("11kV-T7"),
            tariff: Some(Tariff {
                per_kwh: 0.52,
                currency: "MYR".into(),
            }),
            tz_offset_s: 8 * 3600,
        },
        ReportInput {
            series: &s_heat,
            assessment: &a_heat,
            band: Some(&band),
            population: &population,
            registry_class: Some("residential"),
            feeder: None,
            tariff: tariff(),
            tz_offset_s: 0,
        },
        ReportInput {
            series: &s_gap,
            assessment: &a_gap,
            band: Some(&band),
            population: &population,
            registry_class: None,
            feeder: None,
            tariff: None,
            tz_offset_s: 3600,
        },
    ];
    let set = write_reports(
        &out,
        &inputs,
        &[],
        &population,
        &cluster_names,
        "flatline: suspects (gallery)",
    )?;
    for p in set
        .meter_pngs
        .iter()
        .chain([&set.overview_png, &set.index_html])
    {
        println!("wrote {}", p.display());
    }

    let n = 20;
    let t = Instant::now();
    for _ in 0..n {
        render_meter_rgb(&inputs[0])?;
    }
    println!(
        "render_meter_rgb: {:.1} ms per report ({n} renders, one thread)",
        t.elapsed().as_secs_f64() * 1000.0 / n as f64
    );
    Ok(())
}
