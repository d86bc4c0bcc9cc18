//! The per-meter evidence page.
//!
//! One page answers an inspector's questions in reading order: who and what (header),
//! when it started and how it compares (load over time, with comparable meters behind),
//! whether it is a machine or a household (the day-by-hour heat map and the daily
//! profile), how unusual it is in the fleet (the scatter), and why the detector thinks
//! so and where it could be wrong (reasons and known limits).
//!
//! Honesty rules the drawing follows: gaps are drawn as gaps (lines break, heat-map cells
//! are hatched), axes start at zero so a step is not exaggerated, the plateau is shaded
//! only when the detector actually flagged the meter, and every estimate in the header is
//! the assessment's own number, not recomputed here. The page reads the same on a
//! greyscale printout: the plateau is hatched, lines differ by width and dash, the heat
//! map's ramp is monotone in lightness, and every mark that matters is labelled in words.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::index::IndexEntry;
use super::layout::{chart_layout, Layout, PixelRect, X_LABEL_H, Y_LABEL_W};
use super::style::*;
use super::{draw_err, fonts, ReportError, ReportInput, REPORT_SIZE};
use crate::core::verdict::{Status, S19_KW};
use crate::core::HourlySeries;

/// Fill of the suspicious plateau in the load chart (an opaque light orange, so a test
/// can find it pixel for pixel). It is also hatched, for greyscale printouts.
pub const PLATEAU_FILL: RGBColor = RGBColor(252, 231, 198);
/// Colour of the onset (switch-on) line in the load chart.
pub const ONSET_COLOR: RGBColor = VERMILLION;
/// Diagonal hatch drawn over the plateau fill.
const PLATEAU_HATCH: RGBColor = RGBColor(226, 170, 92);
/// Hatch over heat-map cells with no data: distinct from every viridis colour, and a
/// texture rather than a tone, so it cannot be read as a load level in print.
const MISSING_HATCH: RGBColor = RGBColor(140, 140, 140);
/// How much history the time panels show at most.
const SHOWN_DAYS: i64 = 90;
/// Fewest data hours a local day needs before its daily mean is drawn.
const MIN_HOURS_PER_DAY: usize = 12;

/// The hour range `[start, end)` the load chart and heat map show for this input.
///
/// It ends at the end of the analysed window (data after "as of" was not judged) and
/// reaches back at most `SHOWN_DAYS` (90) days, no further than the series goes, with the
/// start moved back to local midnight so heat-map rows are whole local days.
pub fn shown_hours(input: &ReportInput) -> (i64, i64) {
    let series = input.series;
    let end = input.assessment.window_end_hour;
    let earliest = (end - SHOWN_DAYS * 24).max(series.start_hour.min(end - 24));
    let start = earliest - local_hour_index(earliest, input.tz_offset_s).rem_euclid(24);
    (start, end.max(start + 24))
}

/// Draws the evidence page for one meter onto `root` (any plotters backend; the page is
/// laid out for [`REPORT_SIZE`] but scales with the area).
pub fn draw_meter_report<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    input: &ReportInput,
) -> Result<(), ReportError> {
    fonts::ensure_fonts()?;
    root.fill(&WHITE).map_err(draw_err)?;
    let page = Page::new(root, input);
    page.header()?;
    page.load_chart()?;
    page.heatmap()?;
    page.profile()?;
    // A page drawn without a fleet (a live alert) gives the fleet's panel to the reasons
    // rather than show an empty "0 meters" chart.
    if page.with_fleet() {
        page.population()?;
    }
    page.reasons()?;
    page.panel_rules()
}

/// Renders the page into memory: `REPORT_SIZE.0 * REPORT_SIZE.1 * 3` bytes of RGB.
pub fn render_meter_rgb(input: &ReportInput) -> Result<Vec<u8>, ReportError> {
    let (w, h) = REPORT_SIZE;
    let mut buf = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, REPORT_SIZE).into_drawing_area();
        draw_meter_report(&root, input)?;
        root.present().map_err(draw_err)?;
    }
    Ok(buf)
}

/// Writes the page as a PNG at `path`. On failure no partial file is left behind.
pub fn write_meter_png(input: &ReportInput, path: &Path) -> Result<(), ReportError> {
    write_png(path, |root| draw_meter_report(root, input))
}

/// Draws with `draw` into a PNG at `path`, removing the file if anything fails.
pub(crate) fn write_png(
    path: &Path,
    draw: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> Result<(), ReportError>,
) -> Result<(), ReportError> {
    let result = {
        // The backend writes the file when presented, and again when dropped if it was
        // not: keep it in this block so the file is complete (or abandoned) before we
        // decide whether to remove it.
        let root = BitMapBackend::new(path, REPORT_SIZE).into_drawing_area();
        draw(&root).and_then(|()| {
            root.present()
                .map_err(|e| ReportError::Draw(format!("{}: {e}", path.display())))
        })
    };
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// The index row for one page.
pub(crate) fn index_entry(rank: usize, input: &ReportInput, png_file: &str) -> IndexEntry {
    let a = input.assessment;
    IndexEntry {
        rank,
        meter_id: a.meter_id.0.to_string(),
        png_file: png_file.to_string(),
        score: a.score,
        level_kw: a.level_kw,
        est_rigs: a.est_rigs,
        excess_kwh_per_day: a.excess_kwh_per_day,
        since: if shows_episode(input) {
            local_date_hour(a.since_hour, input.tz_offset_s)
        } else {
            "—".to_string()
        },
        reasons: a.reasons.clone(),
    }
}

/// True when the page should show a suspicious episode (plateau and onset): only for
/// meters the detector flagged.
fn shows_episode(input: &ReportInput) -> bool {
    input.assessment.flagged || input.assessment.status == Status::Suspect
}

/// The value of `series` at `hour`, `NaN` outside it.
fn value_at(series: &HourlySeries, hour: i64) -> f32 {
    let i = hour - series.start_hour;
    if i < 0 || i >= series.kw.len() as i64 {
        f32::NAN
    } else {
        series.kw[i as usize]
    }
}

/// Value of a band vector at `hour`, `NaN` outside it.
fn band_at(start_hour: i64, v: &[f32], hour: i64) -> f32 {
    let i = hour - start_hour;
    if i < 0 || i >= v.len() as i64 {
        f32::NAN
    } else {
        v[i as usize]
    }
}

/// Splits `(x, y)` points into runs without `NaN`, so lines break at gaps instead of
/// bridging them.
fn finite_runs<X: Copy>(points: impl IntoIterator<Item = (X, f32)>) -> Vec<Vec<(X, f64)>> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    for (x, y) in points {
        if y.is_finite() {
            run.push((x, y as f64));
        } else if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// Tick spacing in days for a span, so the axis carries at most ~12 labels.
fn day_step(n_days: i64) -> i64 {
    [1, 2, 7, 14, 28, 56]
        .into_iter()
        .find(|k| n_days / k <= 12)
        .unwrap_or(91)
}

/// Round tick values covering `[lo, hi]`: steps of 1, 2 or 5 × 10^k, at most `max_n`.
fn nice_ticks(lo: f64, hi: f64, max_n: usize) -> Vec<f64> {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return vec![lo];
    }
    let raw = (hi - lo) / max_n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// Tick label for a kW value on a scale whose step is `step`.
fn tick_label(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else if step >= 0.1 {
        1
    } else {
        2
    };
    thousands(v, decimals)
}

/// A legend sample.
enum Swatch {
    /// A solid line of the given colour and width.
    Line(RGBColor, u32),
    /// A dashed line.
    Dashed(RGBColor),
    /// A filled box.
    Fill(RGBColor),
    /// The hatched plateau fill.
    Plateau,
    /// A marker: 0 circle, 1 triangle, 2 ring.
    Marker(RGBColor, u8),
}

/// A drawing area for a rectangle of the page.
fn sub<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: PixelRect) -> DrawingArea<DB, Shift> {
    root.clone().shrink(
        (r.x0, r.y0),
        (r.width().max(1) as u32, r.height().max(1) as u32),
    )
}

/// The area a chart is built on so that, with a left label area of `left_w` and a
/// bottom one of [`X_LABEL_H`], its plotting area is exactly `plot`.
fn axes_area<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plot: PixelRect,
    left_w: i32,
) -> DrawingArea<DB, Shift> {
    sub(
        root,
        PixelRect {
            x0: plot.x0 - left_w,
            y0: plot.y0,
            x1: plot.x1,
            y1: plot.y1 + X_LABEL_H,
        },
    )
}

/// Everything the panels share, computed once.
struct Page<'r, 'a, DB: DrawingBackend> {
    root: &'r DrawingArea<DB, Shift>,
    input: &'r ReportInput<'a>,
    layout: Layout,
    /// Shown hour range `[start, end)`, `start` at local midnight.
    start: i64,
    end: i64,
    /// Whether to show the plateau and onset.
    episode: bool,
    tz: i32,
}

impl<'r, 'a, DB: DrawingBackend> Page<'r, 'a, DB> {
    fn new(root: &'r DrawingArea<DB, Shift>, input: &'r ReportInput<'a>) -> Self {
        let (start, end) = shown_hours(input);
        Page {
            root,
            input,
            layout: chart_layout(root.dim_in_pixel()),
            start,
            end,
            episode: shows_episode(input),
            tz: input.tz_offset_s,
        }
    }

    fn n_days(&self) -> i64 {
        (self.end - self.start + 23) / 24
    }

    /// Draws a row of legend samples with labels starting at `(x, y)`; returns the x after.
    fn legend(
        &self,
        (mut x, y): (i32, i32),
        items: &[(Swatch, String)],
        max_x: i32,
    ) -> Result<i32, ReportError> {
        let style = text(14.0, INK);
        for (swatch, label) in items {
            // An entry that does not fit is shortened with an ellipsis while a readable
            // part of it fits, and only then dropped with the ones after it.
            let room = max_x - x - 34;
            let mut label = label.clone();
            if text_width(self.root, &label, &style)? > room {
                if room < 90 {
                    break;
                }
                label = ellipsise(self.root, &label, &style, room)?;
            }
            let w = text_width(self.root, &label, &style)?;
            let mid = y + 9;
            let r = self.root;
            match swatch {
                Swatch::Line(c, width) => r.draw(&PathElement::new(
                    vec![(x, mid), (x + 28, mid)],
                    c.stroke_width(*width),
                )),
                Swatch::Dashed(c) => {
                    for dx in [0, 10, 20] {
                        r.draw(&PathElement::new(
                            vec![(x + dx, mid), (x + dx + 6, mid)],
                            c.stroke_width(2),
                        ))
                        .map_err(draw_err)?;
                    }
                    Ok(())
                }
                Swatch::Fill(c) => r.draw(&Rectangle::new(
                    [(x, mid - 7), (x + 28, mid + 7)],
                    c.filled(),
                )),
                Swatch::Plateau => {
                    r.draw(&Rectangle::new(
                        [(x, mid - 7), (x + 28, mid + 7)],
                        PLATEAU_FILL.filled(),
                    ))
                    .map_err(draw_err)?;
                    hatch(
                        r,
                        PixelRect {
                            x0: x,
                            y0: mid - 7,
                            x1: x + 28,
                            y1: mid + 8,
                        },
                        8,
                        PLATEAU_HATCH,
                    )
                    .map_err(|e| ReportError::Draw(e.to_string()))?;
                    Ok(())
                }
                Swatch::Marker(c, 0) => r.draw(&Circle::new((x + 14, mid), 4, c.filled())),
                Swatch::Marker(c, 1) => r.draw(&TriangleMarker::new((x + 14, mid), 6, c.filled())),
                Swatch::Marker(c, _) => r.draw(&Circle::new((x + 14, mid), 7, c.stroke_width(3))),
            }
            .map_err(draw_err)?;
            put(self.root, &label, &style, (x + 34, y))?;
            x += 34 + w + 22;
        }
        Ok(x)
    }

    /// Panel title in bold, with an optional grey subtitle after it.
    fn title(&self, panel: PixelRect, title: &str, subtitle: &str) -> Result<(), ReportError> {
        let t = bold(20.0, INK);
        let x = panel.x0 + 16;
        put(self.root, title, &t, (x, panel.y0 + 8))?;
        if !subtitle.is_empty() {
            let w = text_width(self.root, title, &t)?;
            let s = text(15.0, GREY_DARK);
            let room = panel.x1 - 16 - (x + w + 14);
            let sub = ellipsise(self.root, subtitle, &s, room)?;
            put(self.root, &sub, &s, (x + w + 14, panel.y0 + 12))?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- header

    fn header(&self) -> Result<(), ReportError> {
        let a = self.input.assessment;
        let r = self.layout.header;
        let x = r.x0 + 20;
        let max_w = r.width() - 40;

        // The verdict badge, right-aligned; the id gets whatever room is left.
        let (label, fill, border) = match (a.status, a.flagged) {
            (Status::Suspect, _) | (_, true) => ("SUSPECT", RGBColor(253, 219, 199), VERMILLION),
            (Status::Clear, _) => ("CLEAR", RGBColor(204, 236, 223), OI_GREEN),
            (Status::Allowed, _) => ("ALLOWED (registry)", RGBColor(228, 228, 238), GREY_DARK),
            (Status::Explained, _) => ("EXPLAINED (registry)", RGBColor(228, 228, 238), GREY_DARK),
            (Status::InsufficientData, _) => {
                ("TOO LITTLE DATA", RGBColor(235, 235, 235), GREY_DARK)
            }
        };
        let badge = format!("{label}   score {:.2}", a.score);
        let badge_style = bold(26.0, INK);
        let bw = text_width(self.root, &badge, &badge_style)? + 32;
        let bx1 = r.x1 - 20;
        let bx0 = bx1 - bw;
        self.root
            .draw(&Rectangle::new(
                [(bx0, r.y0 + 10), (bx1, r.y0 + 52)],
                fill.filled(),
            ))
            .map_err(draw_err)?;
        self.root
            .draw(&Rectangle::new(
                [(bx0, r.y0 + 10), (bx1, r.y0 + 52)],
                border.stroke_width(3),
            ))
            .map_err(draw_err)?;
        put(self.root, &badge, &badge_style, (bx0 + 16, r.y0 + 18))?;

        // Long ids shrink first, then are cut with an ellipsis: they never reach the badge.
        let id = a.meter_id.as_str();
        let id_room = bx0 - 24 - x;
        let mut size = 34.0;
        let mut id_style = bold(size, INK);
        while size > 20.0 && text_width(self.root, id, &id_style)? > id_room {
            size -= 2.0;
            id_style = bold(size, INK);
        }
        let shown_id = ellipsise(self.root, id, &id_style, id_room)?;
        put(self.root, &shown_id, &id_style, (x, r.y0 + 12))?;

        let mut context = Vec::new();
        if let Some(class) = self.input.registry_class {
            context.push(format!("Registered as: {class}"));
        }
        if let Some(feeder) = self.input.feeder {
            context.push(format!("Feeder: {feeder}"));
        }
        if !a.peer_group.is_empty() {
            context.push(format!(
                "Compared with: {} (median {})",
                a.peer_group,
                kw(a.peer_level_kw)
            ));
        }
        context.push(format!("Times in {}", utc_offset_name(self.tz)));
        let line2 = context.join("   ·   ");
        let s2 = text(18.0, GREY_DARK);
        put(
            self.root,
            &ellipsise(self.root, &line2, &s2, max_w)?,
            &s2,
            (x, r.y0 + 60),
        )?;

        let (line3, line4) = self.episode_lines();
        let s3 = bold(19.0, INK);
        let s4 = text(19.0, INK);
        put(
            self.root,
            &ellipsise(self.root, &line3, &s3, max_w)?,
            &s3,
            (x, r.y0 + 86),
        )?;
        put(
            self.root,
            &ellipsise(self.root, &line4, &s4, max_w)?,
            &s4,
            (x, r.y0 + 112),
        )?;
        Ok(())
    }

    /// The two header lines about the episode and what it is worth.
    fn episode_lines(&self) -> (String, String) {
        let a = self.input.assessment;
        let days = a.episode_hours() as f64 / 24.0;
        if !self.episode {
            let window_days = (a.window_end_hour - a.window_start_hour) as f64 / 24.0;
            let line3 = format!(
                "No suspicious episode in the analysed window, {} to {} ({:.0} days).",
                local_date(a.window_start_hour, self.tz),
                local_date(a.window_end_hour, self.tz),
                window_days
            );
            let line4 = format!(
                "Mean load {} against {} for comparable meters.   Score {:.2} on a 0–1 scale (1 = textbook mining).",
                kw(a.level_kw),
                kw(a.peer_level_kw),
                a.score
            );
            return (line3, line4);
        }
        let since = if a.onset_found {
            format!(
                "Since {} (switch-on seen in the data)",
                local_date_hour(a.since_hour, self.tz)
            )
        } else {
            format!(
                "Already like this when the window opened on {} (start not seen)",
                local_date(a.since_hour, self.tz)
            )
        };
        let line3 = format!(
            "{since}, {days:.1} days so far   ·   level {}, of which {} unexplained ≈ {} S19-class rigs ({S19_KW} kW each)",
            kw(a.level_kw),
            kw(a.excess_kw),
            if a.est_rigs < 10.0 { format!("{:.1}", a.est_rigs) } else { thousands(a.est_rigs, 0) },
        );
        let total = a.excess_kwh_total();
        let mut line4 = format!(
            "Unexplained energy: {} kWh/day, {} kWh over the episode so far",
            amount(a.excess_kwh_per_day),
            amount(total)
        );
        if let Some(t) = &self.input.tariff {
            line4.push_str(&format!(
                "   ·   ≈ {cur} {} per day, {cur} {} so far (at {cur} {} per kWh)",
                amount(a.excess_kwh_per_day * t.per_kwh),
                amount(total * t.per_kwh),
                t.per_kwh,
                cur = t.currency
            ));
        }
        if !a.onset_found {
            line4.push_str("   (lower bounds: began earlier)");
        }
        (line3, line4)
    }

    // ---------------------------------------------------------------- load over time

    fn load_chart(&self) -> Result<(), ReportError> {
        let input = self.input;
        let a = input.assessment;
        let plot = self.layout.load_plot;
        let panel = self.layout.load;
        let (start, end) = (self.start, self.end);
        let n_days = self.n_days();
        self.title(
            panel,
            &format!("Load over time, last {n_days} days"),
            "hourly average kW; gaps in the data are left blank",
        )?;

        // Scale: from zero (or the lowest export) to a little above the highest value,
        // so a step is shown at its true proportion.
        let mut hi = 0f32;
        let mut lo = 0f32;
        for h in start..end {
            let v = value_at(input.series, h);
            if v.is_finite() {
                hi = hi.max(v);
                lo = lo.min(v);
            }
            if let Some(b) = input.band {
                let p = band_at(b.start_hour, &b.p75_kw, h);
                if p.is_finite() {
                    hi = hi.max(p);
                }
            }
        }
        let y_hi = (hi as f64 * 1.12).max(0.5);
        let y_lo = if lo < 0.0 { lo as f64 * 1.12 } else { 0.0 };

        let step = day_step(n_days);
        let ticks: Vec<i64> = (0..=n_days)
            .step_by(step as usize)
            .map(|d| start + d * 24)
            .filter(|h| *h <= end)
            .collect();
        let area = axes_area(self.root, plot, Y_LABEL_W);
        let mut chart = ChartBuilder::on(&area)
            .set_label_area_size(LabelAreaPosition::Left, Y_LABEL_W)
            .set_label_area_size(LabelAreaPosition::Bottom, X_LABEL_H)
            .build_cartesian_2d((start..end).with_key_points(ticks.clone()), y_lo..y_hi)
            .map_err(draw_err)?;

        // The plateau goes first so that the grid, the band and the data draw over it.
        let since = a.since_hour.max(start);
        let plateau_end = a.window_end_hour.min(end);
        if self.episode && since < plateau_end {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(since, y_hi), (plateau_end, y_lo)],
                    PLATEAU_FILL.filled(),
                )))
                .map_err(draw_err)?;
            let (x0, y0) = chart.backend_coord(&(since, y_hi));
            let (x1, y1) = chart.backend_coord(&(plateau_end, y_lo));
            let base = self.root.get_base_pixel();
            let r = PixelRect {
                x0: x0 - base.0,
                y0: y0 - base.1,
                x1: x1 - base.0,
                y1: y1 - base.1 + 1,
            };
            hatch(self.root, r, 18, PLATEAU_HATCH).map_err(draw_err)?;
        }

        let tz = self.tz;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GREY_GRID)
            .x_labels(ticks.len())
            .y_labels(6)
            .x_label_formatter(&|h| local_time(*h, tz).format("%d %b").to_string())
            .y_label_formatter(&|v| thousands(*v, if y_hi < 5.0 { 1 } else { 0 }))
            .label_style(text(15.0, INK))
            .axis_desc_style(text(16.0, INK))
            .y_desc("kW")
            .x_desc(format!("local date ({})", utc_offset_name(tz)))
            .draw()
            .map_err(draw_err)?;

        let mut legend = vec![(Swatch::Line(OI_BLUE, 1), "this meter, hourly".to_string())];
        legend.push((Swatch::Line(INK, 3), "daily mean".to_string()));

        // Comparable meters as daily means: hour by hour their median is a comb that
        // buries the meter's own line; a day's mean is what the eye compares anyway.
        if let Some(b) = input.band {
            let day = |v: &[f32]| self.daily_means(|h| band_at(b.start_hour, v, h));
            let (p25, p75, median) = (day(&b.p25_kw), day(&b.p75_kw), day(&b.median_kw));
            let both = p25
                .iter()
                .zip(&p75)
                .map(|(&(h, lo), &(_, hi))| (h, if lo.is_finite() { hi } else { f32::NAN }));
            for run in finite_runs(both) {
                let lows: std::collections::HashMap<i64, f32> = p25.iter().copied().collect();
                let mut outline: Vec<(i64, f64)> = run.clone();
                outline.extend(run.iter().rev().map(|&(h, _)| (h, lows[&h] as f64)));
                chart
                    .draw_series(std::iter::once(Polygon::new(outline, GREY_BAND.filled())))
                    .map_err(draw_err)?;
            }
            for run in finite_runs(median) {
                chart
                    .draw_series(DashedLineSeries::new(run, 9, 6, GREY_DARK.stroke_width(3)))
                    .map_err(draw_err)?;
            }
            legend.push((Swatch::Fill(GREY_BAND), format!("{}: middle half", b.label)));
            legend.push((
                Swatch::Dashed(GREY_DARK),
                "their median (daily)".to_string(),
            ));
        }

        for run in finite_runs((start..end).map(|h| (h, value_at(input.series, h)))) {
            if run.len() == 1 {
                chart
                    .draw_series(std::iter::once(Circle::new(run[0], 1, OI_BLUE.filled())))
                    .map_err(draw_err)?;
            } else {
                chart
                    .draw_series(LineSeries::new(run, OI_BLUE.stroke_width(1)))
                    .map_err(draw_err)?;
            }
        }

        // The meter's daily mean steps at the switch-on: the day it falls on is averaged in
        // two parts, so the line does not ramp up from the day before.
        let own = |h| value_at(input.series, h);
        let split = (self.episode && a.onset_found)
            .then_some(a.since_hour)
            .filter(|&h| h > start && h < end);
        let mut own_runs = Vec::new();
        match split {
            Some(h) => {
                own_runs.extend(finite_runs(self.daily_means_in(start, h, own)));
                own_runs.extend(finite_runs(self.daily_means_in(h, end, own)));
            }
            None => own_runs.extend(finite_runs(self.daily_means(own))),
        }
        for run in own_runs {
            chart
                .draw_series(LineSeries::new(run, INK.stroke_width(3)))
                .map_err(draw_err)?;
        }

        let base = self.root.get_base_pixel();
        if self.episode {
            legend.push((Swatch::Plateau, "suspicious plateau".to_string()));
            if a.since_hour >= start {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(a.since_hour, y_lo), (a.since_hour, y_hi)],
                        ONSET_COLOR.stroke_width(3),
                    )))
                    .map_err(draw_err)?;
                let (px, py) = chart.backend_coord(&(a.since_hour, y_hi));
                let label = if a.onset_found {
                    format!("switch-on {}", local_date_hour(a.since_hour, tz))
                } else {
                    "already flat when the window opened".to_string()
                };
                self.marker_label(&label, (px - base.0, py - base.1 + 6), ONSET_COLOR, plot)?;
                legend.push((
                    Swatch::Line(ONSET_COLOR, 3),
                    if a.onset_found {
                        "switch-on"
                    } else {
                        "window start"
                    }
                    .to_string(),
                ));
            }
        } else if a.window_start_hour > start && a.window_start_hour < end {
            // A clear meter still shows which part of the history was judged.
            let dashes = (0..12).map(|i| {
                let f = |k: f64| y_lo + (y_hi - y_lo) * k;
                PathElement::new(
                    vec![
                        (a.window_start_hour, f(i as f64 / 12.0)),
                        (a.window_start_hour, f((i as f64 + 0.55) / 12.0)),
                    ],
                    GREY_DARK.stroke_width(2),
                )
            });
            chart.draw_series(dashes).map_err(draw_err)?;
            let (px, py) = chart.backend_coord(&(a.window_start_hour, y_hi));
            self.marker_label(
                "analysed window starts",
                (px - base.0, py - base.1 + 6),
                GREY_DARK,
                plot,
            )?;
        }

        self.legend((plot.x0, panel.y0 + 34), &legend, plot.x1)?;
        Ok(())
    }

    /// Mean of `get` over each local day shown, placed at the day's midday; a day with
    /// fewer than [`MIN_HOURS_PER_DAY`] hours of data is `NaN` (a gap).
    fn daily_means(&self, get: impl Fn(i64) -> f32) -> Vec<(i64, f32)> {
        self.daily_means_in(self.start, self.end, get)
    }

    /// [`Self::daily_means`] over the hours `[from, to)` only. A day cut by `from` or `to`
    /// (inside the page) is averaged over its part, needs half of that part's hours, and
    /// its point sits at the cut, so a line drawn up to a switch-on ends on it.
    fn daily_means_in(&self, from: i64, to: i64, get: impl Fn(i64) -> f32) -> Vec<(i64, f32)> {
        (0..self.n_days())
            .filter_map(|d| {
                let day_start = self.start + d * 24;
                let day_end = (day_start + 24).min(self.end);
                let (lo, hi) = (day_start.max(from), day_end.min(to));
                if lo >= hi {
                    return None;
                }
                let vals: Vec<f32> = (lo..hi).map(&get).filter(|v| v.is_finite()).collect();
                let (cut_before, cut_after) = (hi < day_end, lo > day_start);
                let needed = if cut_before || cut_after {
                    ((hi - lo) as usize).div_ceil(2)
                } else {
                    MIN_HOURS_PER_DAY
                };
                let mean = if vals.len() >= needed {
                    vals.iter().sum::<f32>() / vals.len() as f32
                } else {
                    f32::NAN
                };
                let x = if cut_before {
                    hi
                } else if cut_after {
                    lo
                } else {
                    day_start + 12
                };
                Some((x, mean))
            })
            .collect()
    }

    /// A label beside a vertical marker at `(x, y)`, on a white box so it reads over the
    /// hatch; placed left of the line when there is no room to the right.
    fn marker_label(
        &self,
        label: &str,
        (x, y): (i32, i32),
        color: RGBColor,
        plot: PixelRect,
    ) -> Result<(), ReportError> {
        let style = bold(15.0, color);
        let w = text_width(self.root, label, &style)?;
        let lx = if x + 8 + w + 6 < plot.x1 {
            x + 8
        } else {
            (x - 8 - w).max(plot.x0 + 2)
        };
        self.root
            .draw(&Rectangle::new(
                [(lx - 4, y - 2), (lx + w + 4, y + 19)],
                WHITE.filled(),
            ))
            .map_err(draw_err)?;
        put(self.root, label, &style, (lx, y))
    }

    // ---------------------------------------------------------------- heat map

    fn heatmap(&self) -> Result<(), ReportError> {
        let input = self.input;
        let panel = self.layout.heatmap;
        let plot = self.layout.heatmap_plot;
        let n_days = self.n_days();
        self.title(panel, "Day by hour", "")?;
        put(
            self.root,
            "mining: one even block from switch-on; homes: evening stripes",
            &text(15.0, GREY_DARK),
            (panel.x0 + 16, panel.y0 + 34),
        )?;

        // Colour scale from zero to the 99th percentile, so one spike does not wash out
        // the rest; values above it take the top colour.
        let mut vals: Vec<f32> = (self.start..self.end)
            .map(|h| value_at(input.series, h))
            .filter(|v| v.is_finite())
            .collect();
        vals.sort_by(f32::total_cmp);
        let v_hi = vals
            .get((vals.len() as f64 * 0.99) as usize)
            .or(vals.last())
            .copied()
            .unwrap_or(1.0)
            .max(0.1) as f64;
        let v_lo = vals.first().copied().unwrap_or(0.0).min(0.0) as f64;

        let area = axes_area(self.root, plot, super::layout::HEATMAP_LABEL_W);
        let step = day_step(n_days);
        // Integer coordinates in half-cells, so tick labels can sit mid-cell: hour `hh`
        // spans x in [2hh, 2hh + 2], day `d` spans y in [-2d - 2, -2d].
        let y_keys: Vec<i32> = (0..n_days as i32)
            .step_by(step as usize)
            .map(|d| -2 * d - 1)
            .collect();
        let x_keys: Vec<i32> = (0..24).step_by(3).map(|h| 2 * h + 1).collect();
        let mut chart = ChartBuilder::on(&area)
            .set_label_area_size(LabelAreaPosition::Left, super::layout::HEATMAP_LABEL_W)
            .set_label_area_size(LabelAreaPosition::Bottom, X_LABEL_H)
            .build_cartesian_2d(
                (0i32..48).with_key_points(x_keys),
                (-2 * n_days as i32..0).with_key_points(y_keys.clone()),
            )
            .map_err(draw_err)?;
        let (start, tz) = (self.start, self.tz);
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(8)
            .y_labels(y_keys.len())
            .x_label_formatter(&|x| format!("{:02}", x / 2))
            .y_label_formatter(&|y| local_date(start + (-y / 2) as i64 * 24, tz))
            .label_style(text(14.0, INK))
            .axis_desc_style(text(16.0, INK))
            .x_desc(format!("local hour ({})", utc_offset_name(tz)))
            .draw()
            .map_err(draw_err)?;

        let mut missing = Vec::new();
        let cells = (0..n_days)
            .flat_map(|d| (0..24).map(move |hh| (d, hh)))
            .filter_map(|(d, hh)| {
                let h = start + d * 24 + hh;
                let v = if h < self.end {
                    value_at(input.series, h)
                } else {
                    f32::NAN
                };
                let (x, y) = (2 * hh as i32, -2 * d as i32);
                let corners = [(x, y), (x + 2, y - 2)];
                if v.is_finite() {
                    let t = (v as f64 - v_lo) / (v_hi - v_lo);
                    Some(Rectangle::new(corners, viridis(t).filled()))
                } else {
                    missing.push(corners);
                    None
                }
            });
        chart.draw_series(cells).map_err(draw_err)?;

        // Missing hours: white with a diagonal hatch aligned to the page, so adjacent
        // missing cells read as one hatched region.
        let base = self.root.get_base_pixel();
        for [c0, c1] in &missing {
            let (x0, y0) = chart.backend_coord(c0);
            let (x1, y1) = chart.backend_coord(c1);
            let r = PixelRect {
                x0: x0 - base.0,
                y0: y0 - base.1,
                x1: x1 - base.0,
                y1: y1 - base.1,
            };
            self.root
                .draw(&Rectangle::new(
                    [(r.x0, r.y0), (r.x1, r.y1)],
                    WHITE.filled(),
                ))
                .map_err(draw_err)?;
            for y in r.y0..r.y1 {
                for x in r.x0..r.x1 {
                    if (x + y).rem_euclid(5) == 0 {
                        self.root
                            .draw_pixel((x, y), &MISSING_HATCH)
                            .map_err(draw_err)?;
                    }
                }
            }
        }

        // The onset: a line across at the switch-on day, labelled in the gap on the right.
        let a = input.assessment;
        if self.episode && a.since_hour >= start && a.since_hour < self.end {
            let local = local_hour_index(a.since_hour, tz) - local_hour_index(start, tz);
            let (d, hh) = (local.div_euclid(24), local.rem_euclid(24));
            // A step outline: along the top of the onset day from the onset hour on, then
            // along the bottom of that day's earlier hours.
            let (y, x) = (-2 * d as i32, 2 * hh as i32);
            let path = vec![(x, y), (48, y)];
            let path2 = vec![(0, y - 2), (x, y - 2), (x, y)];
            chart
                .draw_series([
                    PathElement::new(path, ONSET_COLOR.stroke_width(3)),
                    PathElement::new(path2, ONSET_COLOR.stroke_width(3)),
                ])
                .map_err(draw_err)?;
            let (px, py) = chart.backend_coord(&(48, y));
            let (px, py) = (px - base.0, py - base.1);
            self.root
                .draw(&TriangleMarker::new((px + 8, py), 6, ONSET_COLOR.filled()))
                .map_err(draw_err)?;
            put(
                self.root,
                "switch",
                &bold(13.0, ONSET_COLOR),
                (px + 16, py - 16),
            )?;
            put(self.root, "-on", &bold(13.0, ONSET_COLOR), (px + 16, py))?;
        }

        self.colour_bar(v_lo, v_hi)
    }

    /// The heat map's colour scale: the ramp with kW ticks, and the "no data" sample.
    fn colour_bar(&self, v_lo: f64, v_hi: f64) -> Result<(), ReportError> {
        let plot = self.layout.heatmap_plot;
        let bx0 = plot.x1 + 86;
        let bx1 = bx0 + 20;
        let (y0, y1) = (plot.y0 + 24, plot.y1);
        let r = self.root;
        put(r, "kW", &bold(15.0, INK), (bx0 - 2, plot.y0))?;
        let n = (y1 - y0).max(1);
        for i in 0..n {
            let t = 1.0 - i as f64 / (n - 1).max(1) as f64;
            r.draw(&PathElement::new(
                vec![(bx0, y0 + i), (bx1, y0 + i)],
                viridis(t),
            ))
            .map_err(draw_err)?;
        }
        r.draw(&Rectangle::new([(bx0, y0), (bx1, y1)], INK.stroke_width(1)))
            .map_err(draw_err)?;
        let ticks = nice_ticks(v_lo, v_hi, 6);
        let step = if ticks.len() > 1 {
            ticks[1] - ticks[0]
        } else {
            1.0
        };
        for v in ticks {
            let y = y1 - 1 - ((v - v_lo) / (v_hi - v_lo) * (n - 1) as f64).round() as i32;
            r.draw(&PathElement::new(
                vec![(bx1, y), (bx1 + 5, y)],
                INK.stroke_width(1),
            ))
            .map_err(draw_err)?;
            put(r, &tick_label(v, step), &text(13.0, INK), (bx1 + 8, y - 7))?;
        }
        // "No data" sample, in the label band under the bar.
        let sy = plot.y1 + 14;
        r.draw(&Rectangle::new([(bx0, sy), (bx1, sy + 14)], WHITE.filled()))
            .map_err(draw_err)?;
        for y in sy..sy + 14 {
            for x in bx0..bx1 {
                if (x + y).rem_euclid(5) == 0 {
                    r.draw_pixel((x, y), &MISSING_HATCH).map_err(draw_err)?;
                }
            }
        }
        r.draw(&Rectangle::new(
            [(bx0, sy), (bx1, sy + 14)],
            INK.stroke_width(1),
        ))
        .map_err(draw_err)?;
        put(r, "no data", &text(13.0, INK), (bx0 - 6, sy + 18))
    }

    // ---------------------------------------------------------------- daily profile

    fn profile(&self) -> Result<(), ReportError> {
        let input = self.input;
        let a = input.assessment;
        let panel = self.layout.profile;
        let plot = self.layout.profile_plot;
        let tz = self.tz;
        self.title(panel, "Average day", "kW by local hour")?;

        // Before and after the episode start (the window start when nothing was flagged).
        let split = a.since_hour.clamp(self.start, self.end);
        let by_hour = |from: i64, to: i64, get: &dyn Fn(i64) -> f32| -> [f32; 24] {
            let mut sum = [0f64; 24];
            let mut n = [0u32; 24];
            for h in from..to {
                let v = get(h);
                if v.is_finite() {
                    let hh = local_hour_index(h, tz).rem_euclid(24) as usize;
                    sum[hh] += v as f64;
                    n[hh] += 1;
                }
            }
            std::array::from_fn(|i| {
                if n[i] > 0 {
                    (sum[i] / n[i] as f64) as f32
                } else {
                    f32::NAN
                }
            })
        };
        let series = input.series;
        let before = by_hour(self.start, split, &|h| value_at(series, h));
        let after = by_hour(split, a.window_end_hour.min(self.end), &|h| {
            value_at(series, h)
        });
        let peers = input.band.map(|b| {
            let g = |v: &[f32]| {
                by_hour(split, a.window_end_hour.min(self.end), &|h| {
                    band_at(b.start_hour, v, h)
                })
            };
            (
                g(&b.median_kw),
                g(&b.p25_kw),
                g(&b.p75_kw),
                b.label.as_str(),
            )
        });

        let mut hi = 0f32;
        for v in before
            .iter()
            .chain(after.iter())
            .chain(peers.iter().flat_map(|p| p.2.iter()))
        {
            if v.is_finite() {
                hi = hi.max(*v);
            }
        }
        let y_hi = (hi as f64 * 1.15).max(0.5);
        let area = axes_area(self.root, plot, Y_LABEL_W);
        let mut chart = ChartBuilder::on(&area)
            .set_label_area_size(LabelAreaPosition::Left, Y_LABEL_W)
            .set_label_area_size(LabelAreaPosition::Bottom, X_LABEL_H)
            .build_cartesian_2d(
                (0i32..23).with_key_points((0..24).step_by(3).collect()),
                0f64..y_hi,
            )
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GREY_GRID)
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&|x| format!("{x:02}:00"))
            .y_label_formatter(&|v| thousands(*v, if y_hi < 5.0 { 1 } else { 0 }))
            .label_style(text(14.0, INK))
            .axis_desc_style(text(16.0, INK))
            .y_desc("kW")
            .x_desc(format!("local hour ({})", utc_offset_name(tz)))
            .draw()
            .map_err(draw_err)?;

        let pts = |p: &[f32; 24]| (0..24).map(|i| (i as i32, p[i])).collect::<Vec<_>>();
        let mut legend = Vec::new();
        if let Some((median, p25, p75, _)) = &peers {
            let runs = finite_runs(
                (0..24).map(|i| (i, if p25[i].is_finite() { p75[i] } else { f32::NAN })),
            );
            for run in runs {
                let mut outline: Vec<(i32, f64)> =
                    run.iter().map(|&(i, v)| (i as i32, v)).collect();
                outline.extend(run.iter().rev().map(|&(i, _)| (i as i32, p25[i] as f64)));
                chart
                    .draw_series(std::iter::once(Polygon::new(outline, GREY_BAND.filled())))
                    .map_err(draw_err)?;
            }
            for run in finite_runs(pts(median)) {
                chart
                    .draw_series(DashedLineSeries::new(run, 7, 5, GREY_DARK.stroke_width(2)))
                    .map_err(draw_err)?;
            }
        }
        let (before_label, after_label) = if self.episode && a.onset_found {
            ("before switch-on", "since switch-on")
        } else if self.episode {
            ("before the window", "during the episode")
        } else {
            ("before the window", "analysed window")
        };
        if before.iter().any(|v| v.is_finite()) {
            for run in finite_runs(pts(&before)) {
                chart
                    .draw_series(DashedLineSeries::new(
                        run.clone(),
                        10,
                        6,
                        OI_BLUE.stroke_width(2),
                    ))
                    .map_err(draw_err)?;
                chart
                    .draw_series(run.into_iter().map(|p| Circle::new(p, 4, OI_BLUE.filled())))
                    .map_err(draw_err)?;
            }
            legend.push((Swatch::Marker(OI_BLUE, 0), before_label.to_string()));
        }
        let after_color = if self.episode { VERMILLION } else { INK };
        for run in finite_runs(pts(&after)) {
            chart
                .draw_series(LineSeries::new(run.clone(), after_color.stroke_width(3)))
                .map_err(draw_err)?;
            chart
                .draw_series(
                    run.into_iter()
                        .map(|p| TriangleMarker::new(p, 6, after_color.filled())),
                )
                .map_err(draw_err)?;
        }
        legend.push((Swatch::Marker(after_color, 1), after_label.to_string()));
        // The comparable meters last: the meter's own before and after are what the panel
        // is for, and a long group name is the one to shorten when the row is full.
        if let Some((_, _, _, label)) = &peers {
            legend.push((
                Swatch::Dashed(GREY_DARK),
                format!("{label}: median, middle half"),
            ));
        }
        self.legend((plot.x0, panel.y0 + 34), &legend, panel.x1 - 8)?;
        Ok(())
    }

    // ---------------------------------------------------------------- population

    /// This meter's point in the fleet: from the population when it is there, else from
    /// the assessment (level) and its `flatness` feature.
    fn own_point(&self) -> Option<(f64, f64)> {
        let a = self.input.assessment;
        self.input
            .population
            .iter()
            .find(|p| p.meter_id == a.meter_id.as_str())
            .map(|p| (p.level_kw, p.flatness))
            .or_else(|| a.feature("flatness").map(|f| (a.level_kw, f)))
    }

    fn population(&self) -> Result<(), ReportError> {
        let panel = self.layout.population;
        let plot = self.layout.population_plot;
        let pop = self.input.population;
        self.title(
            panel,
            "Where it sits in the fleet",
            &format!("{} meters", thousands(pop.len() as f64, 0)),
        )?;
        let own = self.own_point();
        let levels = pop
            .iter()
            .map(|p| p.level_kw)
            .chain(own.map(|o| o.0))
            .filter(|v| v.is_finite() && *v > 0.0);
        let (mut lo, mut hi) = (f64::INFINITY, 0f64);
        for v in levels {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if !(lo.is_finite() && hi > 0.0) {
            put(
                self.root,
                "No fleet data given for comparison.",
                &text(16.0, GREY_DARK),
                (plot.x0, plot.y0 + 20),
            )?;
            return Ok(());
        }
        let (lo, hi) = ((lo / 1.6).max(0.01), (hi * 1.6).max(lo * 10.0));
        let area = axes_area(self.root, plot, Y_LABEL_W);
        let mut chart = ChartBuilder::on(&area)
            .set_label_area_size(LabelAreaPosition::Left, Y_LABEL_W)
            .set_label_area_size(LabelAreaPosition::Bottom, X_LABEL_H)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..1.05f64)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GREY_GRID)
            .x_labels(8)
            .y_labels(5)
            .x_label_formatter(&|v| log_kw_tick(*v))
            .y_label_formatter(&|v| format!("{v:.1}"))
            .label_style(text(13.0, INK))
            .axis_desc_style(text(15.0, INK))
            .x_desc("mean load, kW (log scale)")
            .y_desc("flatness (1 = flat)")
            .draw()
            .map_err(draw_err)?;
        let clamp = |p: &super::PopulationPoint| (p.level_kw.max(lo), p.flatness.clamp(0.0, 1.0));
        chart
            .draw_series(
                pop.iter()
                    .filter(|p| !p.flagged && p.level_kw.is_finite())
                    .map(|p| Circle::new(clamp(p), 2, GREY_POINT.filled())),
            )
            .map_err(draw_err)?;
        chart
            .draw_series(
                pop.iter()
                    .filter(|p| p.flagged && p.level_kw.is_finite())
                    .map(|p| TriangleMarker::new(clamp(p), 5, VERMILLION.filled())),
            )
            .map_err(draw_err)?;
        let mut legend = vec![
            (Swatch::Marker(GREY_POINT, 0), "other meters".to_string()),
            (Swatch::Marker(VERMILLION, 1), "flagged".to_string()),
        ];
        if let Some((level, flat)) = own {
            let p = (level.max(lo), flat.clamp(0.0, 1.0));
            chart
                .draw_series([
                    Circle::new(p, 10, INK.stroke_width(3)),
                    Circle::new(p, 2, INK.filled()),
                ])
                .map_err(draw_err)?;
            legend.push((Swatch::Marker(INK, 2), "this meter".to_string()));
        }
        self.legend((plot.x0, panel.y0 + 34), &legend, panel.x1 - 8)?;
        Ok(())
    }

    /// "Where it sits" in words: the share of the fleet below this meter on each axis.
    fn percentile_sentence(&self) -> Option<String> {
        let (level, flat) = self.own_point()?;
        let others: Vec<_> = self
            .input
            .population
            .iter()
            .filter(|p| p.meter_id != self.input.assessment.meter_id.as_str())
            .collect();
        if others.is_empty() {
            return None;
        }
        let pct = |f: &dyn Fn(&&super::PopulationPoint) -> bool| {
            100.0 * others.iter().filter(|p| f(p)).count() as f64 / others.len() as f64
        };
        // Rounded down, so "100%" is only said when it is true; then "all of them" reads better.
        let say = |share: f64| {
            if share >= 100.0 {
                "all".to_string()
            } else {
                format!("{:.0}%", share.floor())
            }
        };
        Some(format!(
            "Uses more than {} of the {} other meters, and is flatter than {} of them.",
            say(pct(&|p| p.level_kw < level)),
            thousands(others.len() as f64, 0),
            say(pct(&|p| p.flatness < flat))
        ))
    }

    // ---------------------------------------------------------------- reasons and limits

    /// Known limits: the assessment's notes plus what the page itself can see.
    fn limits(&self) -> Vec<String> {
        let a = self.input.assessment;
        let series = self.input.series;
        let mut out: Vec<String> = a.notes.clone();
        let mentioned = |s: &str, out: &[String]| {
            out.iter()
                .any(|n| n.to_lowercase().contains(&s.to_lowercase()))
        };
        if let Some(class) = self.input.registry_class {
            if !class.eq_ignore_ascii_case("residential") && !mentioned(class, &out) {
                out.push(format!("Registered as {class}: a flat load can be legitimate there; check the contracted capacity."));
            }
        }
        let data_days = series.kw.iter().filter(|v| v.is_finite()).count() as f64 / 24.0;
        if data_days < 28.0 && !mentioned("short history", &out) {
            out.push(format!("Short history: {data_days:.0} days of data."));
        }
        let shown: Vec<f32> = (self.start..self.end)
            .map(|h| value_at(series, h))
            .collect();
        let gap_share =
            shown.iter().filter(|v| !v.is_finite()).count() as f64 / shown.len().max(1) as f64;
        if gap_share >= 0.05 {
            out.push(format!("{:.0}% of the hours shown have no data (blank in the chart, hatched in the heat map).", gap_share * 100.0));
        }
        if series.resolution_min > 60 {
            out.push(format!(
                "The meter reports every {} hours: hour-of-day shapes are spread evenly and say little.",
                series.resolution_min / 60
            ));
        }
        if self.episode && !a.onset_found {
            out.push("No switch-on seen inside the window: the episode began earlier, so its length and energy are lower bounds.".to_string());
        }
        out
    }

    /// True when the caller gave a fleet to compare with (a scan does; a live alert's page
    /// may not).
    fn with_fleet(&self) -> bool {
        !self.input.population.is_empty()
    }

    /// The reasons' panel: its own, or with the fleet's above it when there is no fleet.
    fn reasons_panel(&self) -> PixelRect {
        let l = &self.layout;
        if self.with_fleet() {
            l.reasons
        } else {
            PixelRect {
                y0: l.population.y0,
                ..l.reasons
            }
        }
    }

    fn reasons(&self) -> Result<(), ReportError> {
        let a = self.input.assessment;
        let panel = self.reasons_panel();
        let x = panel.x0 + 18;
        let max_w = panel.width() - 36;
        let bottom = panel.y1 - 12;
        let mut y = panel.y0 + 10;
        let body = text(16.0, INK);
        let line_h = 21;

        if let Some(s) = self.percentile_sentence() {
            for line in wrap(self.root, &s, &text(16.0, GREY_DARK), max_w)? {
                put(self.root, &line, &text(16.0, GREY_DARK), (x, y))?;
                y += line_h;
            }
            y += 6;
        }
        let heading = match (a.status, self.episode) {
            (_, true) => "Why it was flagged",
            (Status::Clear, _) => "Why it was not flagged",
            (Status::InsufficientData, _) => "Why there is no verdict",
            _ => "Why it matched, and why it is not a case",
        };
        let mut sections = vec![(heading, a.reasons.clone())];
        let limits = self.limits();
        if !limits.is_empty() {
            sections.push(("Known limits", limits));
        }
        // Items not drawn for want of room are counted, not lost silently: the full list
        // is in the `reasons` of the CSV, NDJSON or alert that came with the page.
        let n_items: usize = sections.iter().map(|(_, items)| items.len().max(1)).sum();
        let mut n_drawn = 0;
        for (title, items) in sections {
            if y + line_h > bottom {
                break;
            }
            put(self.root, title, &bold(18.0, INK), (x, y))?;
            y += line_h + 5;
            let items = if items.is_empty() {
                vec!["(no reasons given by the detector)".to_string()]
            } else {
                items
            };
            for item in items {
                let lines = wrap(self.root, &item, &body, max_w - 20)?;
                for (i, line) in lines.iter().enumerate() {
                    if y + line_h > bottom {
                        put(
                            self.root,
                            &format!(
                                "… {} more in the reasons of the CSV, NDJSON or alert",
                                n_items - n_drawn
                            ),
                            &text(15.0, GREY_DARK),
                            (x + 20, y - 2),
                        )?;
                        return Ok(());
                    }
                    if i == 0 {
                        put(self.root, "•", &body, (x + 4, y))?;
                    }
                    put(self.root, line, &body, (x + 20, y))?;
                    y += line_h;
                }
                n_drawn += 1;
                y += 3;
            }
            y += 8;
        }
        Ok(())
    }

    /// Thin rules between the panels, so the page reads as separate exhibits.
    fn panel_rules(&self) -> Result<(), ReportError> {
        let l = &self.layout;
        let rule = RGBColor(190, 190, 190).stroke_width(1);
        let lines = [
            vec![(0, l.load.y0), (l.page.x1, l.load.y0)],
            vec![(0, l.heatmap.y0), (l.page.x1, l.heatmap.y0)],
            vec![(l.profile.x0, l.profile.y0), (l.profile.x0, l.page.y1)],
            vec![
                (l.population.x0, l.population.y0),
                (l.population.x0, l.page.y1),
            ],
        ];
        if self.with_fleet() {
            self.root
                .draw(&PathElement::new(
                    vec![(l.reasons.x0, l.reasons.y0), (l.page.x1, l.reasons.y0)],
                    rule,
                ))
                .map_err(draw_err)?;
        }
        for path in lines {
            self.root
                .draw(&PathElement::new(path, rule))
                .map_err(draw_err)?;
        }
        Ok(())
    }
}

/// Draws diagonal hatch lines (rising to the right, `spacing` pixels apart) clipped to `r`.
fn hatch<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    r: PixelRect,
    spacing: i32,
    color: RGBColor,
) -> Result<(), plotters::drawing::DrawingAreaErrorKind<DB::ErrorType>> {
    let h = r.height();
    // Lines are x + y = c; aligning c to the page (not to r) keeps neighbouring hatched
    // regions in phase.
    let c_lo = r.x0 + r.y0;
    let c_hi = r.x1 + r.y1;
    let mut c = c_lo - c_lo.rem_euclid(spacing);
    while c <= c_hi {
        // Points (x, c - x) with y in [y0, y1) and x in [x0, x1).
        let xa = r.x0.max(c - (r.y1 - 1));
        let xb = (r.x1 - 1).min(c - r.y0);
        if xa <= xb && h > 0 {
            root.draw(&PathElement::new(
                vec![(xa, c - xa), (xb, c - xb)],
                color.stroke_width(1),
            ))?;
        }
        c += spacing;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plotters_puts_each_plot_exactly_where_the_layout_says() {
        let l = chart_layout(REPORT_SIZE);
        let mut buf = vec![0u8; REPORT_SIZE.0 as usize * REPORT_SIZE.1 as usize * 3];
        let root = BitMapBackend::with_buffer(&mut buf, REPORT_SIZE).into_drawing_area();
        for (plot, left_w) in [
            (l.load_plot, Y_LABEL_W),
            (l.profile_plot, Y_LABEL_W),
            (l.heatmap_plot, super::super::layout::HEATMAP_LABEL_W),
        ] {
            let area = axes_area(&root, plot, left_w);
            let chart = ChartBuilder::on(&area)
                .set_label_area_size(LabelAreaPosition::Left, left_w)
                .set_label_area_size(LabelAreaPosition::Bottom, X_LABEL_H)
                .build_cartesian_2d(0i64..10, 0f64..1.0)
                .unwrap();
            let (xr, yr) = chart.plotting_area().get_pixel_range();
            assert_eq!(
                (xr.start, xr.end, yr.start, yr.end),
                (plot.x0, plot.x1, plot.y0, plot.y1)
            );
        }
    }

    #[test]
    fn runs_break_at_gaps() {
        let runs = finite_runs([(0, 1.0), (1, f32::NAN), (2, 2.0), (3, 3.0), (4, f32::NAN)]);
        assert_eq!(runs, vec![vec![(0, 1.0)], vec![(2, 2.0), (3, 3.0)]]);
    }

    #[test]
    fn nice_ticks_are_round_and_cover_the_range() {
        assert_eq!(nice_ticks(0.0, 5.4, 6), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(nice_ticks(0.0, 640.0, 6), vec![0.0, 200.0, 400.0, 600.0]);
    }

    #[test]
    fn day_ticks_stay_readable() {
        assert_eq!(day_step(10), 1);
        assert_eq!(day_step(28), 7);
        assert_eq!(day_step(91), 14);
    }
}
