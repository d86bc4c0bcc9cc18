//! Integration tests of the simulator and the injector: determinism, labels that match
//! the data, plausible households, mining that matches its label, visible variants, and
//! injection that touches exactly the chosen pieces.

use std::process::Command;

use flatline::core::series::Unit;
use flatline::sim::inject::{plan, Cut, Survey};
use flatline::sim::mining::IDLE_FACTOR;
use flatline::sim::{mining_kw, read_labels, simulate, Kind, MinerSpec, SimConfig, SimFleet};

const DAY_S: i64 = 86_400;

fn small(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        homes: 20,
        businesses: 6,
        miners: 8,
        licensed: 1,
        days: 21,
        onset_after_days: (5.0, 16.0),
        ..SimConfig::default()
    }
}

fn csv_bytes(fleet: &SimFleet) -> Vec<u8> {
    let mut buf = Vec::new();
    fleet.write_csv(&mut buf).unwrap();
    buf
}

/// Parses the long CSV back into (meter, timestamp text, kWh).
fn parse_rows(bytes: &[u8]) -> Vec<(String, String, f64)> {
    let text = std::str::from_utf8(bytes).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("meter_id,timestamp,kwh"));
    lines
        .map(|l| {
            let mut f = l.split(',');
            (
                f.next().unwrap().to_string(),
                f.next().unwrap().to_string(),
                f.next().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_same_seed_writes_the_same_bytes_and_another_seed_does_not() {
    let a = csv_bytes(&simulate(&small(3)));
    assert_eq!(a, csv_bytes(&simulate(&small(3))));
    assert_ne!(a, csv_bytes(&simulate(&small(4))));
}

#[test]
fn the_command_writes_identical_gzip_files_for_one_seed() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        let status = Command::new(env!("CARGO_BIN_EXE_flatline"))
            .args([
                "simulate",
                "--homes",
                "5",
                "--businesses",
                "2",
                "--miners",
                "2",
                "--days",
                "3",
                "--seed",
                seed,
                "--out",
            ])
            .arg(&out)
            .arg("--labels")
            .arg(dir.path().join(format!("{name}.labels.csv")))
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read(out).unwrap()
    };
    let a = run("a.csv.gz", "7");
    assert_eq!(&a[..2], &[0x1f, 0x8b], "gzip magic");
    assert_eq!(a, run("b.csv.gz", "7"));
    assert_ne!(a, run("c.csv.gz", "8"));
}

#[test]
fn rows_are_ordered_by_time_then_meter_and_cover_the_span() {
    let fleet = simulate(&small(5));
    let rows = parse_rows(&csv_bytes(&fleet));
    assert_eq!(rows.len(), fleet.meters.len() * 21 * 48);
    assert!(rows
        .windows(2)
        .all(|w| (&w[0].1, &w[0].0) < (&w[1].1, &w[1].0)));
    assert_eq!(rows[0].1, "2024-01-01 00:00:00");
    assert_eq!(rows.last().unwrap().1, "2024-01-21 23:30:00");
}

#[test]
fn a_miners_series_minus_its_base_is_the_mining_load_from_its_onset() {
    let fleet = simulate(&small(6));
    let rows = parse_rows(&csv_bytes(&fleet));
    let n = fleet.meters.len();
    for (idx, m) in fleet.meters.iter().enumerate() {
        let spec = m.miner.as_ref();
        for step in 0..fleet.n_steps() {
            let t = fleet.step_start(step);
            let (_, _, kwh) = &rows[step as usize * n + idx];
            let excess_kw = kwh * 2.0 - fleet.base_kw(idx, t);
            let expected_kw = match spec {
                Some(s) if t + 1800 > s.onset_unix => {
                    mining_kw(s, t, 1800, fleet.weather.temp_c(t + 900))
                }
                _ => 0.0,
            };
            // Four decimals of kWh in the file: 0.0002 kW of rounding at most.
            assert!(
                (excess_kw - expected_kw).abs() < 2e-4,
                "{} at {t}: {excess_kw} vs {expected_kw}",
                m.id
            );
        }
    }
}

#[test]
fn labels_say_exactly_which_meters_mine_and_onsets_lie_in_the_span() {
    let fleet = simulate(&small(7));
    let mut buf = Vec::new();
    flatline::sim::write_labels(&fleet.labels(), &mut buf).unwrap();
    let labels = read_labels(&buf[..]).unwrap();
    assert_eq!(labels.len(), fleet.meters.len());
    for (l, m) in labels.iter().zip(&fleet.meters) {
        assert_eq!(l.meter_id, m.id);
        assert_eq!(l.mining, m.miner.is_some());
        assert_eq!(l.mining, l.kind.is_mining());
        match l.onset_unix() {
            Some(t) => assert!(t > fleet.config.start_unix && t < fleet.end_unix(), "{l:?}"),
            None => assert!(!l.mining && l.rigs == 0 && l.mining_kw == 0.0),
        }
    }
    let kinds = |k: Kind| labels.iter().filter(|l| l.kind == k).count();
    assert_eq!(kinds(Kind::MinerFarm), 1);
    assert_eq!(kinds(Kind::MinerHomeS9), 2);
    assert!(labels
        .iter()
        .all(|l| (l.kind == Kind::ServerRoom) == (l.class == flatline::sim::Class::Datacentre)));
}

#[test]
fn households_average_a_plausible_load() {
    let fleet = simulate(&SimConfig {
        homes: 60,
        businesses: 0,
        miners: 0,
        days: 14,
        ..SimConfig::default()
    });
    let mut sum = vec![0.0; fleet.meters.len()];
    for r in fleet.readings() {
        sum[r.meter_idx] += r.kwh;
    }
    let hours = 14.0 * 24.0;
    let household: Vec<f64> = fleet
        .meters
        .iter()
        .zip(&sum)
        .filter(|(m, _)| m.kind == Kind::Household && m.base.variant().is_empty())
        .map(|(_, s)| s / hours)
        .collect();
    let mean = household.iter().sum::<f64>() / household.len() as f64;
    assert!((0.3..1.2).contains(&mean), "household mean {mean} kW");
    assert!(
        household.iter().all(|m| (0.15..1.6).contains(m)),
        "{household:?}"
    );
}

#[test]
fn a_running_miner_draws_its_rigs_times_rig_power_within_the_ripple() {
    let fleet = simulate(&small(8));
    for (idx, m) in fleet.meters.iter().enumerate() {
        let Some(s) = &m.miner else { continue };
        for step in 0..fleet.n_steps() {
            let t = fleet.step_start(step);
            let (run_s, after_s) = s.running_s(t, t + 1800);
            if run_s < 1800 || after_s < 1800 {
                continue;
            }
            let ratio = fleet.mining_kw(idx, t) / s.nominal_kw();
            let throttled = ratio < 0.9 && s.throttle_room_rise_c.is_some();
            let ok = if throttled {
                (0.8..0.9).contains(&ratio)
            } else {
                (ratio - 1.0).abs() <= s.ripple / 2.0 + 0.02
            };
            assert!(ok, "{} at {t}: {ratio}", m.id);
        }
    }
}

fn spec(curtail: bool, outages: f64) -> MinerSpec {
    MinerSpec {
        rigs: 5,
        rig_kw: 3.25,
        onset_unix: 1_704_067_200 + 2 * DAY_S,
        seed: 11,
        ripple: 0.05,
        restarts_per_30d: 0.0,
        outages_per_30d: outages,
        throttle_room_rise_c: None,
        curtail_peak: curtail,
        tz_offset_s: 3600,
    }
}

#[test]
fn curtailing_miners_are_idle_from_seventeen_to_twenty_local_time() {
    let s = spec(true, 0.0);
    for day in 3..20 {
        for hour in 0..24 {
            // Local hour h is UTC hour h - 1 with a one-hour offset.
            let t = 1_704_067_200 + day * DAY_S + (hour - 1) * 3600;
            let kw = mining_kw(&s, t, 3600, 8.0);
            let peak = (17..20).contains(&hour);
            assert_eq!(kw < s.nominal_kw() * 0.5, peak, "local hour {hour}: {kw}");
            if peak {
                assert!((kw - s.nominal_kw() * IDLE_FACTOR).abs() < 1e-9);
            }
        }
    }
}

#[test]
fn outages_show_as_hours_near_zero_after_the_onset() {
    let with = spec(false, 6.0);
    let without = spec(false, 0.0);
    let down = |s: &MinerSpec| {
        (0..60 * 24)
            .filter(|h| mining_kw(s, with.onset_unix + h * 3600, 3600, 8.0) < 0.1 * s.nominal_kw())
            .count()
    };
    assert!(down(&with) >= 3, "{} hours down", down(&with));
    assert_eq!(down(&without), 0);
}

/// A toy dump: `n` meters × `days` of half-hourly kWh from 2013-01-01.
fn toy_dump(n: usize, days: i64, kw: f32) -> Vec<(String, i64, f32)> {
    let mut rows = Vec::new();
    for m in 0..n {
        for i in 0..days * 48 {
            rows.push((
                format!("MAC{m:06}"),
                1_356_998_400 + i * 1800,
                kw / 2.0 + (i % 7) as f32 * 0.01,
            ));
        }
    }
    rows
}

#[test]
fn injection_adds_exactly_what_the_labels_say_to_exactly_the_chosen_pieces() {
    let rows = toy_dump(6, 200, 0.6);
    let mut survey = Survey::default();
    for (m, ts, v) in &rows {
        survey.push(Cut::Quarter, m, *ts, *v as f64, Unit::Kwh);
    }
    let plan = plan(&survey, Cut::Quarter, 0.3, 21);
    let labels = plan.labels();
    assert_eq!(labels.len(), 6 * 3);
    let n_chosen = labels.iter().filter(|l| l.mining).count();
    assert_eq!(
        n_chosen, 5,
        "30% of the 18 pieces of 14 days or more, rounded"
    );
    let mut seen = std::collections::BTreeSet::new();
    for (m, ts, v) in &rows {
        let (piece, out) = plan.apply(m, *ts, *v, Unit::Kwh).unwrap();
        seen.insert(piece.id.clone());
        let label = labels.iter().find(|l| l.meter_id == piece.id).unwrap();
        match &piece.miner {
            None => assert_eq!(
                out.to_bits(),
                v.to_bits(),
                "clean piece {} changed",
                piece.id
            ),
            Some(spec) => {
                assert!((spec.nominal_kw() - label.mining_kw).abs() < 1e-3);
                let added_kw = (out - v) as f64 * 2.0;
                if *ts + 1800 <= label.onset_unix().unwrap() {
                    assert_eq!(out, *v);
                } else {
                    let expected = mining_kw(spec, *ts, 1800, plan.weather.temp_c(ts + 900));
                    assert!(
                        (added_kw - expected).abs() < 1e-3 * expected.max(1.0),
                        "{added_kw} vs {expected}"
                    );
                }
            }
        }
    }
    assert_eq!(
        seen.len(),
        labels.len(),
        "every labelled piece has readings"
    );
}

#[test]
fn quarter_pieces_cover_each_source_meter_without_overlap() {
    let rows = toy_dump(2, 366, 0.4);
    let mut survey = Survey::default();
    for (m, ts, v) in &rows {
        survey.push(Cut::Quarter, m, *ts, *v as f64, Unit::Kwh);
    }
    for pieces in survey.meters.values() {
        let spans: Vec<(i64, i64)> = pieces.values().map(|p| p.span()).collect();
        assert_eq!(spans.len(), 5, "four quarters and the first day of 2014");
        assert_eq!(spans[0].0, 1_356_998_400);
        assert!(spans.windows(2).all(|w| w[0].1 == w[1].0), "{spans:?}");
        assert_eq!(spans.last().unwrap().1, 1_356_998_400 + 366 * DAY_S);
        assert_eq!(pieces.values().map(|p| p.n_readings).sum::<u64>(), 366 * 48);
    }
}

#[test]
fn the_inject_command_changes_only_the_labelled_pieces_and_keeps_clean_values_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    let mut text = String::from("meter_id,timestamp,kwh\n");
    for (m, ts, v) in toy_dump(4, 100, 0.5) {
        text.push_str(&format!(
            "{m},{},{v}\n",
            flatline::sim::format_timestamp(ts)
        ));
    }
    std::fs::write(&input, &text).unwrap();
    let (out, labels_path) = (dir.path().join("out.csv"), dir.path().join("labels.csv"));
    let status = Command::new(env!("CARGO_BIN_EXE_flatline"))
        .arg("inject")
        .arg(&input)
        .args(["--share", "0.5", "--seed", "4", "--out"])
        .arg(&out)
        .arg("--labels")
        .arg(&labels_path)
        .status()
        .unwrap();
    assert!(status.success());
    let labels = read_labels(std::fs::File::open(&labels_path).unwrap()).unwrap();
    let written = std::fs::read_to_string(&out).unwrap();
    let (source_rows, out_rows) = (text.lines().skip(1), written.lines().skip(1));
    let mut n_changed = 0;
    for (src, dst) in source_rows.zip(out_rows) {
        let src: Vec<&str> = src.split(',').collect();
        let dst: Vec<&str> = dst.split(',').collect();
        assert_eq!(dst[1], src[1], "timestamps kept");
        let label = labels.iter().find(|l| l.meter_id == dst[0]).unwrap();
        assert!(label.meter_id.starts_with(&format!("{}@2013Q", src[0])));
        if !label.mining {
            assert_eq!(dst[2], src[2], "clean value rewritten");
        } else if dst[2] != src[2] {
            n_changed += 1;
            let added_kw = (dst[2].parse::<f64>().unwrap() - src[2].parse::<f64>().unwrap()) * 2.0;
            assert!(
                added_kw <= label.mining_kw * 1.05 + 1e-3,
                "{added_kw} > {}",
                label.mining_kw
            );
        }
    }
    assert_eq!(labels.len(), 8, "each meter: a 90-day Q1 and a 10-day Q2");
    assert_eq!(
        labels.iter().filter(|l| l.mining).count(),
        2,
        "half of the four pieces of 14 days or more"
    );
    assert!(n_changed > 0);
}
