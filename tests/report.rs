//! Report pages rendered into memory and checked pixel by pixel, plus the files a report
//! set writes. Fixtures are small and synthetic: a household shape, and a flat 3.4 kW
//! block switched on at day 20.

use std::collections::HashSet;
use std::path::Path;

use flatline::core::verdict::{rigs_for_kw, Assessment, Status};
use flatline::core::{HourlySeries, MeterId};
use flatline::report::{
    chart_layout, render_meter_rgb, safe_file_name, shown_hours, write_index_html, write_meter_png,
    write_reports, IndexEntry, PixelRect, PopulationPoint, ReportInput, ONSET_COLOR, PLATEAU_FILL,
    REPORT_SIZE,
};
use plotters::style::RGBColor;

/// 2026-01-05 00:00 UTC, as an hour index.
const T0: i64 = 20_458 * 24;
const DAYS: i64 = 40;
const ONSET_DAY: i64 = 20;

/// A household: low nights, a morning bump, an evening peak, busier weekends.
fn household() -> Vec<f32> {
    (0..DAYS * 24)
        .map(|h| {
            let hh = h % 24;
            let wiggle = ((h * 7919) % 13) as f32 / 13.0 * 0.1;
            let evening = if (17..23).contains(&hh) { 1.6 } else { 0.0 };
            let morning = if (7..9).contains(&hh) { 0.7 } else { 0.0 };
            let weekend = if (h / 24) % 7 >= 5 && (10..16).contains(&hh) {
                0.6
            } else {
                0.0
            };
            0.3 + wiggle + evening + morning + weekend
        })
        .collect()
}

/// A near-empty premises that switches on a flat 3.4 kW at 00:00 on day 20.
fn flat_miner() -> Vec<f32> {
    (0..DAYS * 24)
        .map(|h| if h >= ONSET_DAY * 24 { 3.4 } else { 0.2 })
        .collect()
}

fn series(kw: Vec<f32>) -> HourlySeries {
    HourlySeries {
        start_hour: T0,
        kw,
        resolution_min: 60,
    }
}

/// An assessment over the last 28 days; flagged ones start at the onset.
fn assessment(id: &str, flagged: bool) -> Assessment {
    let end = T0 + DAYS * 24;
    Assessment {
        meter_id: MeterId::from(id),
        score: if flagged { 0.9 } else { 0.1 },
        flagged,
        status: if flagged {
            Status::Suspect
        } else {
            Status::Clear
        },
        level_kw: if flagged { 3.4 } else { 0.8 },
        excess_kw: if flagged { 3.2 } else { 0.0 },
        est_rigs: rigs_for_kw(if flagged { 3.2 } else { 0.0 }),
        excess_kwh_per_day: if flagged { 76.8 } else { 0.0 },
        since_hour: if flagged {
            T0 + ONSET_DAY * 24
        } else {
            end - 28 * 24
        },
        onset_found: flagged,
        window_start_hour: end - 28 * 24,
        window_end_hour: end,
        peer_group: "homes".into(),
        peer_level_kw: 0.8,
        cluster: 0,
        reasons: vec!["Flat around the clock since the switch-on.".into()],
        notes: vec![],
        features: vec![("flatness".into(), if flagged { 0.99 } else { 0.3 })],
    }
}

fn input<'a>(
    s: &'a HourlySeries,
    a: &'a Assessment,
    population: &'a [PopulationPoint],
) -> ReportInput<'a> {
    ReportInput {
        series: s,
        assessment: a,
        band: None,
        population,
        registry_class: Some("residential"),
        feeder: None,
        tariff: None,
        tz_offset_s: 0,
    }
}

/// The colour of one pixel of an RGB page buffer.
fn pixel(buf: &[u8], (x, y): (i32, i32)) -> RGBColor {
    let i = (y as usize * REPORT_SIZE.0 as usize + x as usize) * 3;
    RGBColor(buf[i], buf[i + 1], buf[i + 2])
}

fn same(a: RGBColor, b: RGBColor) -> bool {
    (a.0, a.1, a.2) == (b.0, b.1, b.2)
}

/// Page x of an hour in the load chart: the shown range maps linearly across the plot.
fn load_x(input: &ReportInput, plot: PixelRect, hour: i64) -> i32 {
    let (start, end) = shown_hours(input);
    plot.x0 + ((hour - start) as f64 / (end - start) as f64 * plot.width() as f64).round() as i32
}

/// Share of pixels in a column band of the plot (top quarter) that have `color`.
fn share_with_color(buf: &[u8], plot: PixelRect, x: i32, color: RGBColor) -> f64 {
    let ys = plot.y0 + 2..plot.y0 + plot.height() / 4;
    let n = ys.len();
    ys.filter(|&y| same(pixel(buf, (x, y)), color)).count() as f64 / n as f64
}

#[test]
fn the_page_has_the_report_size() {
    let (s, a) = (series(flat_miner()), assessment("m1", true));
    let buf = render_meter_rgb(&input(&s, &a, &[])).unwrap();
    assert_eq!(buf.len(), 1800 * 1200 * 3);
    assert!(REPORT_SIZE.0 >= 1600 && REPORT_SIZE.1 >= 1100);
}

#[test]
fn the_plateau_is_shaded_from_the_onset_and_not_before() {
    let (s, a) = (series(flat_miner()), assessment("m1", true));
    let inp = input(&s, &a, &[]);
    let buf = render_meter_rgb(&inp).unwrap();
    let plot = chart_layout(REPORT_SIZE).load_plot;
    let inside = load_x(&inp, plot, a.since_hour + 5 * 24);
    let before = load_x(&inp, plot, a.since_hour - 5 * 24);
    assert!(
        share_with_color(&buf, plot, inside, PLATEAU_FILL) > 0.5,
        "plateau fill missing inside the episode"
    );
    assert_eq!(
        share_with_color(&buf, plot, before, PLATEAU_FILL),
        0.0,
        "plateau fill before the onset"
    );
}

#[test]
fn the_onset_line_is_drawn_at_the_onset_hour() {
    let (s, a) = (series(flat_miner()), assessment("m1", true));
    let inp = input(&s, &a, &[]);
    let buf = render_meter_rgb(&inp).unwrap();
    let plot = chart_layout(REPORT_SIZE).load_plot;
    let x = load_x(&inp, plot, a.since_hour);
    // Rows of the plot where the line's colour appears within two pixels of x.
    let rows_hit = (plot.y0..plot.y1)
        .filter(|&y| (x - 2..=x + 2).any(|xx| same(pixel(&buf, (xx, y)), ONSET_COLOR)))
        .count();
    assert!(
        rows_hit as f64 > 0.8 * plot.height() as f64,
        "onset line covers only {rows_hit} rows at x={x}"
    );
    let elsewhere = load_x(&inp, plot, a.since_hour - 3 * 24);
    assert!((plot.y0..plot.y1).all(|y| !same(pixel(&buf, (elsewhere, y)), ONSET_COLOR)));
}

#[test]
fn a_meter_that_was_not_flagged_has_no_shading_and_no_onset() {
    let (s, a) = (series(household()), assessment("home", false));
    let inp = input(&s, &a, &[]);
    let buf = render_meter_rgb(&inp).unwrap();
    let plot = chart_layout(REPORT_SIZE).load_plot;
    for y in plot.y0..plot.y1 {
        for x in plot.x0..plot.x1 {
            let c = pixel(&buf, (x, y));
            assert!(
                !same(c, PLATEAU_FILL) && !same(c, ONSET_COLOR),
                "episode mark at ({x}, {y})"
            );
        }
    }
}

/// Mean over heat-map rows of the spread of luminance across the row: high for a load
/// that changes with the hour of day, near zero for one even block.
fn heatmap_row_spread(buf: &[u8]) -> f64 {
    let plot = chart_layout(REPORT_SIZE).heatmap_plot;
    let luma = |c: RGBColor| 0.2126 * c.0 as f64 + 0.7152 * c.1 as f64 + 0.0722 * c.2 as f64;
    // Only the rows after the onset, away from edges and the onset mark.
    let rows = (plot.y0 + plot.height() * 6 / 10..plot.y1 - 10).step_by(3);
    let spreads: Vec<f64> = rows
        .map(|y| {
            let v: Vec<f64> = (plot.x0 + 2..plot.x1 - 2)
                .map(|x| luma(pixel(buf, (x, y))))
                .collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
        })
        .collect();
    spreads.iter().sum::<f64>() / spreads.len() as f64
}

#[test]
fn a_flat_miner_and_a_household_give_visibly_different_heat_maps() {
    let (sm, am) = (series(flat_miner()), assessment("miner", true));
    let (sh, ah) = (series(household()), assessment("home", false));
    let miner = heatmap_row_spread(&render_meter_rgb(&input(&sm, &am, &[])).unwrap());
    let home = heatmap_row_spread(&render_meter_rgb(&input(&sh, &ah, &[])).unwrap());
    assert!(
        miner < 5.0,
        "miner rows should be one even colour (spread {miner:.1})"
    );
    assert!(
        home > 25.0,
        "household rows should show the evening stripe (spread {home:.1})"
    );
}

#[test]
fn a_meter_with_gaps_renders_and_leaves_the_gap_blank() {
    // A household with a rig on top, so the hourly line differs from the daily mean.
    let mut kw: Vec<f32> = household()
        .iter()
        .zip(flat_miner())
        .map(|(h, m)| h + m)
        .collect();
    let gap = (25 * 24)..(29 * 24);
    for v in &mut kw[gap.clone()] {
        *v = f32::NAN;
    }
    for h in (0..kw.len()).step_by(17) {
        kw[h] = f32::NAN;
    }
    let (s, a) = (series(kw), assessment("gappy", true));
    let inp = input(&s, &a, &[]);
    let buf = render_meter_rgb(&inp).unwrap();
    let plot = chart_layout(REPORT_SIZE).load_plot;
    // Mid-gap, the only marks in the plot column are the plateau, its hatch and the grid;
    // at 20:00 on a day with data, the evening peak stands clear of the daily-mean line.
    let blue_ish = |x: i32| {
        (plot.y0..plot.y1)
            .filter(|&y| {
                // Lines are anti-aliased, so a pixel of the meter's blue line may be
                // blended with the plateau fill: test for "clearly bluer than red".
                let c = pixel(&buf, (x, y));
                c.2 as i32 - c.0 as i32 > 40
            })
            .count()
    };
    assert_eq!(
        blue_ish(load_x(&inp, plot, T0 + 27 * 24)),
        0,
        "a line was drawn across the gap"
    );
    assert!(
        blue_ish(load_x(&inp, plot, T0 + 33 * 24 + 20)) > 0,
        "the meter's line is missing where there is data"
    );
}

#[test]
fn hostile_meter_ids_stay_inside_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let long = "x".repeat(300);
    let ids = [
        "../../etc/x",
        "a b",
        "con",
        "",
        long.as_str(),
        "Zähler/ü",
        "/abs/path",
        "..",
        "a\\..\\b",
    ];
    let s = series(flat_miner());
    let assessments: Vec<Assessment> = ids.iter().map(|id| assessment(id, true)).collect();
    let inputs: Vec<ReportInput> = assessments.iter().map(|a| input(&s, a, &[])).collect();
    let set = write_reports(dir.path(), &inputs, &[], &[], &[], "t").unwrap();
    let root = dir.path().canonicalize().unwrap();
    let mut names = HashSet::new();
    for p in &set.meter_pngs {
        let canon = p.canonicalize().unwrap();
        assert!(
            canon.starts_with(&root),
            "{} escaped {}",
            canon.display(),
            root.display()
        );
        assert_eq!(
            canon.parent(),
            Some(root.as_path()),
            "{} is not directly in the directory",
            canon.display()
        );
        names.insert(canon);
    }
    assert_eq!(
        names.len(),
        ids.len(),
        "distinct ids must give distinct files"
    );
    for id in ids {
        let name = safe_file_name(id);
        assert!(
            !name.is_empty()
                && !name.contains('/')
                && !name.contains('\\')
                && !name.starts_with('.')
        );
    }
}

/// The `href`s of the links in an HTML page, by plain text search.
fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_index_lists_exactly_the_entries_given() {
    let dir = tempfile::tempdir().unwrap();
    let entry = |rank: usize, id: &str| IndexEntry {
        rank,
        meter_id: id.into(),
        png_file: format!("{}.png", safe_file_name(id)),
        score: 0.9,
        level_kw: 3.4,
        est_rigs: 1.0,
        excess_kwh_per_day: 80.0,
        since: "2026-01-25".into(),
        reasons: vec!["flat".into()],
    };
    let entries = vec![entry(1, "m1"), entry(2, "<b>m2</b>"), entry(3, "m 3")];
    write_index_html(dir.path(), "Suspects", &entries).unwrap();
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    let links: HashSet<String> = hrefs(&html).into_iter().collect();
    let expected: HashSet<String> = entries.iter().map(|e| e.png_file.clone()).collect();
    assert_eq!(links, expected);
    assert!(html.contains("&lt;b&gt;m2&lt;/b&gt;") && !html.contains("<b>m2"));
    assert!(
        html.find("m1").unwrap() < html.find("m 3").unwrap(),
        "entries keep their rank order"
    );
}

#[test]
fn a_report_set_writes_pages_overview_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let (sm, am) = (series(flat_miner()), assessment("miner", true));
    let (sh, ah) = (series(household()), assessment("home", false));
    let population = vec![
        PopulationPoint {
            meter_id: "miner".into(),
            level_kw: 3.4,
            flatness: 0.99,
            flagged: true,
            allowed: false,
            cluster: 1,
        },
        PopulationPoint {
            meter_id: "home".into(),
            level_kw: 0.8,
            flatness: 0.3,
            flagged: false,
            allowed: false,
            cluster: 0,
        },
    ];
    let inputs = vec![input(&sh, &ah, &population), input(&sm, &am, &population)];
    let names = vec!["homes".to_string(), "flat and high".to_string()];
    let set = write_reports(dir.path(), &inputs, &[], &population, &names, "Suspects").unwrap();
    for p in set
        .meter_pngs
        .iter()
        .chain([&set.overview_png, &set.index_html])
    {
        assert!(
            p.metadata().unwrap().len() > 1000,
            "{} is empty",
            p.display()
        );
    }
    let html = std::fs::read_to_string(&set.index_html).unwrap();
    let links = hrefs(&html);
    // The flagged miner ranks first; the overview is linked too.
    assert_eq!(links.first().map(String::as_str), Some("overview.png"));
    assert_eq!(links.get(1).map(String::as_str), Some("miner.png"));
}

#[test]
fn a_failed_write_leaves_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("m.png");
    let (s, a) = (series(flat_miner()), assessment("m1", true));
    assert!(write_meter_png(&input(&s, &a, &[]), &path).is_err());
    assert!(!Path::new(&path).exists());
}
