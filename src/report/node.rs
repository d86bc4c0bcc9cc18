//! The evidence page for a transformer or feeder: what its customers' meters add up to
//! against what the node meter measured, with the gap shaded, and the gap's day-by-hour
//! heat map.
//!
//! An inspector reading a balance alarm needs to see two things at a glance: that the
//! node meter left its customers' sum behind on a given day and stayed there (the shaded
//! gap in the upper chart), and that the gap is the same at every hour of every day since
//! (an even block in the heat map, where a legitimate load shows stripes). Everything
//! drawn comes from the [`Balance`] and the node's [`Assessment`]; nothing is decided here.
//! Incomplete hours are drawn as gaps (no bar, grey cells), never as zero.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::meter::write_png;
use super::style::*;
use super::{draw_err, fonts, IndexEntry, NodeInput, PopulationPoint, ReportError};
use crate::core::balance::{Balance, Bypass};
use crate::core::{Assessment, HourlySeries};

/// Days shown at most: the analysed episode and the weeks before it.
const MAX_DAYS: i64 = 42;

/// A customer that looks bypassed, with its own readings when the caller has them: the
/// node page draws its drop beside the rise of the unexplained load.
pub type BypassedCustomer<'a> = (&'a Bypass, Option<&'a HourlySeries>);

/// Draws a node's page onto `root` (sized [`super::REPORT_SIZE`]).
pub fn draw_node_report<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    balance: &Balance,
    assessment: &Assessment,
    tz_offset_s: i32,
) -> Result<(), ReportError> {
    draw_node_report_with(root, balance, assessment, &[], tz_offset_s)
}

/// [`draw_node_report`] with the customers that look bypassed: the first one with readings
/// gets a chart of its own beside the balance, its daily load against the unexplained
/// load's, so the drop and the rise are seen together (at the node's scale they vanish).
pub fn draw_node_report_with<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    balance: &Balance,
    assessment: &Assessment,
    bypassed: &[BypassedCustomer],
    tz_offset_s: i32,
) -> Result<(), ReportError> {
    fonts::ensure_fonts()?;
    root.fill(&WHITE).map_err(draw_err)?;
    let (w, h) = root.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let end = assessment
        .window_end_hour
        .min(balance.unexplained_kw.end_hour());
    // Whole local days, so heat-map rows start at local midnight.
    let tz_h = (tz_offset_s / 3600) as i64;
    let start =
        ((end - MAX_DAYS * 24).max(balance.node_kw.start_hour) + tz_h).div_euclid(24) * 24 - tz_h;
    let n_days = ((end - start) as f64 / 24.0).ceil().max(1.0) as i64;

    // Title and headline.
    put(
        root,
        &format!(
            "{} {} — energy balance ({})",
            balance.role.as_str(),
            balance.node,
            assessment.status.as_str()
        ),
        &bold(34.0, INK),
        (40, 24),
    )?;
    let headline = assessment.reasons.first().cloned().unwrap_or_default();
    put(
        root,
        &ellipsise(root, &headline, &text(20.0, GREY_DARK), w - 80)?,
        &text(20.0, GREY_DARK),
        (40, 70),
    )?;

    // Upper chart: customers' sum (bars), + estimated losses (line), node meter (line),
    // and the unexplained gap shaded between them.
    let at = |s: &crate::core::HourlySeries, hr: i64| -> f64 {
        let i = hr - s.start_hour;
        if i >= 0 && (i as usize) < s.kw.len() {
            s.kw[i as usize] as f64
        } else {
            f64::NAN
        }
    };
    let mut y_hi: f64 = 1.0;
    for hr in start..end {
        for v in [at(&balance.node_kw, hr), at(&balance.children_kw, hr)] {
            if v.is_finite() {
                y_hi = y_hi.max(v);
            }
        }
    }
    let bypass = bypassed.iter().find_map(|(by, s)| s.map(|s| (*by, s)));
    let inset_w = if bypass.is_some() { 560 } else { 0 };
    let upper = root
        .clone()
        .shrink((20, 110), ((w - 40 - inset_w) as u32, (h / 2 - 90) as u32));
    let x_of = |hr: i64| (hr - start) as f64 / 24.0;
    let mut chart = ChartBuilder::on(&upper)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(80)
        // Headroom above the peaks for the legend box, which sits upper left.
        .build_cartesian_2d(0.0..n_days as f64, 0.0..y_hi * 1.4)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .light_line_style(GREY_GRID)
        .x_desc("day")
        .y_desc("kW")
        .x_label_formatter(&|d| local_date(start + (*d * 24.0) as i64, tz_offset_s))
        .label_style(text(16.0, INK))
        .draw()
        .map_err(draw_err)?;
    let hours = start..end;
    chart
        .draw_series(hours.clone().filter_map(|hr| {
            let v = at(&balance.children_kw, hr);
            v.is_finite().then(|| {
                Rectangle::new(
                    [(x_of(hr), 0.0), (x_of(hr + 1), v)],
                    SKY_BLUE.mix(0.55).filled(),
                )
            })
        }))
        .map_err(draw_err)?
        .label("customers' meters, summed")
        .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 20, y + 6)], SKY_BLUE.filled()));
    chart
        .draw_series(hours.clone().filter_map(|hr| {
            let base = at(&balance.children_kw, hr) + at(&balance.losses_kw, hr);
            let node = at(&balance.node_kw, hr);
            (base.is_finite() && node.is_finite() && node > base).then(|| {
                Rectangle::new(
                    [(x_of(hr), base), (x_of(hr + 1), node)],
                    VERMILLION.mix(0.6).filled(),
                )
            })
        }))
        .map_err(draw_err)?
        .label("unexplained (beyond estimated losses)")
        .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 20, y + 6)], VERMILLION.filled()));
    for (series, color, width, label) in [
        (&balance.node_kw, INK, 2, "node meter"),
        (
            &balance.losses_kw,
            OI_BLUE,
            2,
            "customers + estimated losses",
        ),
    ] {
        let is_losses = std::ptr::eq(series, &balance.losses_kw);
        let value = |hr: i64| {
            if is_losses {
                at(&balance.children_kw, hr) + at(&balance.losses_kw, hr)
            } else {
                at(series, hr)
            }
        };
        // Lines break at incomplete hours rather than bridging them.
        let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for hr in hours.clone() {
            let v = value(hr);
            if v.is_finite() {
                if let Some(r) = runs.last_mut() {
                    r.push((x_of(hr) + 0.5 / 24.0, v));
                }
            } else if runs.last().is_some_and(|r| !r.is_empty()) {
                runs.push(Vec::new());
            }
        }
        let style = color.stroke_width(width);
        let mut first = true;
        for run in runs.into_iter().filter(|r| !r.is_empty()) {
            let drawn = chart
                .draw_series(LineSeries::new(run, style))
                .map_err(draw_err)?;
            if first {
                drawn
                    .label(label)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
                first = false;
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(GREY_DARK)
        .label_font(text(16.0, INK))
        .draw()
        .map_err(draw_err)?;

    if let Some((by, customer)) = bypass {
        let inset = root.clone().shrink(
            (w - 20 - inset_w, 110),
            (inset_w as u32, (h / 2 - 90) as u32),
        );
        let daily = |s: &HourlySeries| -> Vec<(f64, f64)> {
            (0..n_days)
                .filter_map(|d| {
                    let vals: Vec<f64> = (start + d * 24..start + d * 24 + 24)
                        .map(|hr| at(s, hr))
                        .filter(|v| v.is_finite())
                        .collect();
                    (vals.len() >= 12)
                        .then(|| (d as f64 + 0.5, vals.iter().sum::<f64>() / vals.len() as f64))
                })
                .collect()
        };
        let (own, gap) = (daily(customer), daily(&balance.unexplained_kw));
        let top = own
            .iter()
            .chain(&gap)
            .map(|p| p.1)
            .fold(by.before_kw.max(0.5), f64::max);
        let mut c = ChartBuilder::on(&inset)
            .margin(10)
            .caption(
                format!("customer {}: daily mean kW", by.customer),
                text(17.0, INK),
            )
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..n_days as f64, (-0.1 * top)..top * 1.5)
            .map_err(draw_err)?;
        c.configure_mesh()
            .light_line_style(GREY_GRID)
            .x_labels(4)
            .x_label_formatter(&|d| local_date(start + (*d * 24.0) as i64, tz_offset_s))
            .label_style(text(14.0, INK))
            .draw()
            .map_err(draw_err)?;
        let x_by = x_of(by.hour);
        c.draw_series(std::iter::once(PathElement::new(
            vec![(x_by, -0.1 * top), (x_by, top * 1.5)],
            GREY_DARK.stroke_width(2),
        )))
        .map_err(draw_err)?;
        c.draw_series(LineSeries::new(own, OI_BLUE.stroke_width(3)))
            .map_err(draw_err)?
            .label(format!("customer {}'s meter", by.customer))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], OI_BLUE.stroke_width(3)));
        c.draw_series(LineSeries::new(gap, VERMILLION.stroke_width(3)))
            .map_err(draw_err)?
            .label("unexplained load at the node")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], VERMILLION.stroke_width(3)));
        c.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(GREY_DARK)
            .label_font(text(15.0, INK))
            .draw()
            .map_err(draw_err)?;
    }

    // Lower panel: unexplained kW, day by hour (local), viridis from 0 to the 99th
    // percentile; incomplete hours grey.
    let lower_top = h / 2 + 40;
    put(
        root,
        "Unexplained kW, day by hour — a farm is one even block from switch-on; grey = incomplete",
        &bold(20.0, INK),
        (40, lower_top - 30),
    )?;
    let mut vals: Vec<f64> = (start..end)
        .map(|hr| at(&balance.unexplained_kw, hr))
        .filter(|v| v.is_finite())
        .collect();
    vals.sort_by(f64::total_cmp);
    let v_hi = vals
        .get((vals.len() as f64 * 0.99) as usize)
        .or(vals.last())
        .copied()
        .unwrap_or(1.0)
        .max(1.0);
    let lower = root.clone().shrink(
        (20, lower_top),
        ((w - 40) as u32, (h - lower_top - 20) as u32),
    );
    let mut heat = ChartBuilder::on(&lower)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(120)
        .build_cartesian_2d(0..24i32, -(n_days as i32)..0i32)
        .map_err(draw_err)?;
    heat.configure_mesh()
        .disable_mesh()
        .x_desc(format!("hour of day ({})", utc_offset_name(tz_offset_s)))
        .x_label_formatter(&|x| format!("{x:02}"))
        .y_label_formatter(&|d| local_date(start + (-(*d) as i64) * 24, tz_offset_s))
        .label_style(text(15.0, INK))
        .draw()
        .map_err(draw_err)?;
    heat.draw_series((start..end).map(|hr| {
        let i = hr - start;
        let (day, hod) = ((i / 24) as i32, (i % 24) as i32);
        let v = at(&balance.unexplained_kw, hr);
        let color = if v.is_finite() {
            viridis(v.max(0.0) / v_hi)
        } else {
            GREY_BAND
        };
        Rectangle::new([(hod, -day - 1), (hod + 1, -day)], color.filled())
    }))
    .map_err(draw_err)?;
    put(
        root,
        &format!("colour: 0 kW (dark) … {v_hi:.0} kW (light)"),
        &text(16.0, GREY_DARK),
        (w - 420, lower_top - 28),
    )?;
    Ok(())
}

/// Writes a node's page as a PNG at `path` (no partial file on failure).
pub fn write_node_png(
    balance: &Balance,
    assessment: &Assessment,
    tz_offset_s: i32,
    path: &Path,
) -> Result<(), ReportError> {
    write_png(path, |root| {
        draw_node_report(root, balance, assessment, tz_offset_s)
    })
}

/// [`write_node_png`] with the customers that look bypassed (see
/// [`draw_node_report_with`]).
pub fn write_node_png_with(
    balance: &Balance,
    assessment: &Assessment,
    bypassed: &[BypassedCustomer],
    tz_offset_s: i32,
    path: &Path,
) -> Result<(), ReportError> {
    write_png(path, |root| {
        draw_node_report_with(root, balance, assessment, bypassed, tz_offset_s)
    })
}

/// The node's row in the index: its verdict's numbers, the node page, its reasons.
pub(crate) fn index_entry(node: &NodeInput, png_file: &str) -> IndexEntry {
    let a = node.assessment;
    IndexEntry {
        rank: 0,
        meter_id: a.meter_id.to_string(),
        png_file: png_file.to_string(),
        score: a.score,
        level_kw: a.level_kw,
        est_rigs: a.est_rigs,
        excess_kwh_per_day: a.excess_kwh_per_day,
        since: if a.flagged && a.onset_found {
            local_date_hour(a.since_hour, node.tz_offset_s)
        } else {
            "—".to_string()
        },
        reasons: a.reasons.clone(),
    }
}

/// The node's point on the overview, in the overview's node group: its unexplained load
/// (or, when that averages out to nothing, as for a bypassed customer, the load it gained)
/// against its flatness.
pub(crate) fn population_point(a: &Assessment, group: usize) -> PopulationPoint {
    PopulationPoint {
        meter_id: a.meter_id.to_string(),
        level_kw: if a.level_kw > 0.0 {
            a.level_kw
        } else {
            a.excess_kw
        },
        flatness: a.feature("base_ratio").unwrap_or(0.0).clamp(0.0, 1.0),
        flagged: a.flagged,
        allowed: false,
        cluster: group,
    }
}
