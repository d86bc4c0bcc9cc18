//! The fleet overview: every meter on the two features that separate mining from
//! everything else — how much it draws (level) and how flat it draws it — coloured and
//! shaped by comparable-meter group (the model's peer clustering), with the flagged meters ringed and labelled.
//!
//! Mining sits alone in the top right (high and flat); homes spread across the lower
//! left; legitimate flat loads (fridges in empty homes, data centres) sit high on the
//! flatness axis but at their own levels. The overview shows where the suspects fall in
//! that picture; it does not rank them (the index does).

use std::path::Path;

use plotters::coord::{CoordTranslate, Shift};
use plotters::prelude::*;

use super::meter::write_png;
use super::style::*;
use super::{draw_err, fonts, PopulationPoint, ReportError};

/// Most suspects labelled by id; beyond this the labels would bury the points.
const MAX_LABELS: usize = 30;

/// Draws the fleet overview onto `root`. `cluster_names[k]` names cluster `k`; clusters
/// without a name are called "cluster k".
pub fn draw_overview<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    population: &[PopulationPoint],
    cluster_names: &[String],
) -> Result<(), ReportError> {
    fonts::ensure_fonts()?;
    root.fill(&WHITE).map_err(draw_err)?;
    let (w, h) = root.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let n_flagged = population.iter().filter(|p| p.flagged).count();
    let n_allowed = population.iter().filter(|p| p.allowed).count();
    put(
        root,
        "Fleet overview: level against flatness",
        &bold(30.0, INK),
        (30, 18),
    )?;
    put(
        root,
        &format!(
            "{} meters, {} flagged (ringed, labelled){}.  Mining sits top right: high and flat.  Colour and shape = comparable-meter group.",
            thousands(population.len() as f64, 0),
            thousands(n_flagged as f64, 0),
            if n_allowed > 0 {
                format!(", {} allowed by the registry (boxed)", thousands(n_allowed as f64, 0))
            } else {
                String::new()
            }
        ),
        &text(18.0, GREY_DARK),
        (30, 60),
    )?;

    let legend_w = 330;
    let plot_area = root.clone().shrink(
        (0, 100),
        ((w - legend_w).max(100) as u32, (h - 100).max(100) as u32),
    );
    let points: Vec<&PopulationPoint> = population.iter().filter(|p| is_drawn(p)).collect();
    if points.is_empty() {
        put(
            root,
            "No meters to show.",
            &text(20.0, GREY_DARK),
            (30, 140),
        )?;
        return Ok(());
    }
    let lo = points
        .iter()
        .map(|p| p.level_kw)
        .fold(f64::INFINITY, f64::min);
    let hi = points.iter().map(|p| p.level_kw).fold(0.0, f64::max);
    let (lo, hi) = ((lo / 1.6).max(0.01), (hi * 1.6).max(lo * 10.0));
    let mut chart = ChartBuilder::on(&plot_area)
        .margin(20)
        .set_label_area_size(LabelAreaPosition::Left, 90)
        .set_label_area_size(LabelAreaPosition::Bottom, 70)
        .build_cartesian_2d((lo..hi).log_scale(), 0f64..1.05f64)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(GREY_GRID)
        .x_labels(10)
        .y_labels(6)
        .x_label_formatter(&|v| log_kw_tick(*v))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .label_style(text(17.0, INK))
        .axis_desc_style(text(19.0, INK))
        .x_desc("mean load over the analysed window, kW (log scale)")
        .y_desc("flatness (1 = perfectly flat)")
        .draw()
        .map_err(draw_err)?;

    let n_clusters = points
        .iter()
        .map(|p| p.cluster + 1)
        .max()
        .unwrap_or(0)
        .max(cluster_names.len());
    let at = |p: &PopulationPoint| (p.level_kw, p.flatness.clamp(0.0, 1.0));
    // Unflagged first, so the suspects draw on top.
    for pass_flagged in [false, true] {
        for p in points.iter().filter(|p| p.flagged == pass_flagged) {
            let color = CATEGORICAL[p.cluster % CATEGORICAL.len()];
            let size = if p.flagged { 6 } else { 4 };
            draw_marker(chart.plotting_area(), at(p), p.cluster, size, color)?;
            if p.flagged {
                chart
                    .plotting_area()
                    .draw(&Circle::new(at(p), 11, INK.stroke_width(2)))
                    .map_err(draw_err)?;
            }
            if p.allowed {
                draw_allowed_box(chart.plotting_area(), at(p))?;
            }
        }
    }

    // Label the biggest suspects first, then the allowed sites; skip a label that would
    // overlap one placed.
    let mut suspects: Vec<&&PopulationPoint> = points.iter().filter(|p| p.flagged).collect();
    suspects.sort_by(|a, b| b.level_kw.total_cmp(&a.level_kw));
    suspects.extend(points.iter().filter(|p| p.allowed && !p.flagged));
    let label_style = text(15.0, INK);
    let mut placed: Vec<(i32, i32, i32, i32)> = Vec::new();
    let base = root.get_base_pixel();
    let mut n_unlabelled = 0;
    for p in suspects {
        let id = if p.allowed {
            format!("{} (allowed)", p.meter_id)
        } else {
            p.meter_id.clone()
        };
        let id = ellipsise(root, &id, &label_style, 220)?;
        let tw = text_width(root, &id, &label_style)?;
        let (px, py) = chart.backend_coord(&at(p));
        let (px, py) = (px - base.0, py - base.1);
        let candidates = [
            (px + 14, py - 22),
            (px + 14, py + 6),
            (px - 14 - tw, py - 22),
            (px - 14 - tw, py + 6),
        ];
        let spot = candidates
            .into_iter()
            .map(|(x, y)| (x, y, x + tw, y + 18))
            .find(|&(x0, y0, x1, y1)| {
                x0 >= 0
                    && x1 <= w - legend_w
                    && y0 >= 100
                    && y1 <= h
                    && !placed
                        .iter()
                        .any(|q| x0 < q.2 && q.0 < x1 && y0 < q.3 && q.1 < y1)
            });
        match spot {
            Some(r) if placed.len() < MAX_LABELS => {
                root.draw(&Rectangle::new(
                    [(r.0 - 2, r.1), (r.2 + 2, r.3)],
                    WHITE.mix(0.85).filled(),
                ))
                .map_err(draw_err)?;
                put(root, &id, &label_style, (r.0, r.1))?;
                placed.push(r);
            }
            _ if p.flagged => n_unlabelled += 1,
            _ => {}
        }
    }

    // Legend: one entry per group that has meters on the chart, with its marker and
    // count; a long name wraps onto a second line rather than being cut.
    let lx = w - legend_w + 10;
    let mut y = 130;
    put(root, "Comparable groups", &bold(20.0, INK), (lx, y))?;
    y += 34;
    let entry_style = text(16.0, INK);
    for k in 0..n_clusters {
        let count = points.iter().filter(|p| p.cluster == k).count();
        if count == 0 {
            continue;
        }
        if y > h - 120 {
            break;
        }
        let name = cluster_names
            .get(k)
            .filter(|n| !n.is_empty())
            .cloned()
            .unwrap_or_else(|| format!("cluster {k}"));
        draw_marker(
            root,
            (lx + 10, y + 10),
            k,
            6,
            CATEGORICAL[k % CATEGORICAL.len()],
        )?;
        let lines = wrap(
            root,
            &format!("{name} ({count})"),
            &entry_style,
            legend_w - 50,
        )?;
        for line in lines.iter().take(2) {
            put(root, line, &entry_style, (lx + 28, y + 1))?;
            y += 21;
        }
        y += 7;
    }
    y += 10;
    root.draw(&Circle::new((lx + 10, y + 10), 11, INK.stroke_width(2)))
        .map_err(draw_err)?;
    put(root, "flagged", &entry_style, (lx + 28, y + 1))?;
    if n_allowed > 0 {
        y += 30;
        draw_allowed_box(root, (lx + 10, y + 10))?;
        put(
            root,
            "allowed by the registry",
            &entry_style,
            (lx + 28, y + 1),
        )?;
    }
    if n_unlabelled > 0 {
        put(
            root,
            &format!("{n_unlabelled} flagged not labelled (crowded)"),
            &text(14.0, GREY_DARK),
            (lx, y + 34),
        )?;
    }
    Ok(())
}

/// Draws the square around an allowed site (a licensed farm): another shape than the
/// flagged ring, so the two read apart in greyscale too.
fn draw_allowed_box<DB: DrawingBackend, CT: CoordTranslate>(
    area: &DrawingArea<DB, CT>,
    at: CT::From,
) -> Result<(), ReportError>
where
    CT::From: Clone + 'static,
{
    area.draw(&(EmptyElement::at(at) + Rectangle::new([(-11, -11), (11, 11)], INK.stroke_width(2))))
        .map_err(draw_err)
}

/// True when the point can sit on the overview's log-scale level axis (a positive level).
pub(crate) fn is_drawn(p: &PopulationPoint) -> bool {
    p.level_kw.is_finite() && p.level_kw > 0.0
}

/// Writes the fleet overview as a PNG of [`REPORT_SIZE`](super::REPORT_SIZE). On failure
/// no partial file is left behind.
pub fn write_overview_png(
    population: &[PopulationPoint],
    cluster_names: &[String],
    path: &Path,
) -> Result<(), ReportError> {
    write_png(path, |root| draw_overview(root, population, cluster_names))
}

/// Draws a cluster's marker: colour and shape both vary, so clusters stay apart in
/// greyscale.
fn draw_marker<DB: DrawingBackend, CT: CoordTranslate>(
    area: &DrawingArea<DB, CT>,
    at: CT::From,
    cluster: usize,
    size: i32,
    color: RGBColor,
) -> Result<(), ReportError>
where
    CT::From: Clone + 'static,
{
    match cluster % 4 {
        0 => area.draw(&Circle::new(at, size, color.filled())),
        1 => area.draw(&TriangleMarker::new(at, size + 1, color.filled())),
        2 => area.draw(
            &(EmptyElement::at(at)
                + Rectangle::new(
                    [(-size + 1, -size + 1), (size - 1, size - 1)],
                    color.filled(),
                )),
        ),
        _ => area.draw(&Cross::new(at, size, color.stroke_width(2))),
    }
    .map_err(draw_err)
}
