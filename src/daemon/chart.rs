//! TEMPORARY evidence picture for alerts, until the report helper's
//! `flatline::report::write_meter_png` lands: the meter's hourly kW over its window as a
//! line, with the suspected episode shaded and its level drawn flat. It draws no text at
//! all, so it needs no font (plotters panics on the first glyph without one).

use std::path::Path;

use plotters::prelude::*;

use crate::core::series::HourlySeries;
use crate::core::verdict::Assessment;

/// Draws `series` with the episode of `a` to a PNG at `path` (removed again on failure).
pub fn write_png(path: &Path, series: &HourlySeries, a: &Assessment) -> Result<(), String> {
    let result = draw(path, series, a);
    if result.is_err() {
        // A failed draw leaves a partial file behind.
        let _ = std::fs::remove_file(path);
    }
    result
}

fn draw(path: &Path, series: &HourlySeries, a: &Assessment) -> Result<(), String> {
    let e = |err: &dyn std::fmt::Display| err.to_string();
    let (start, kw) = series.window(a.window_start_hour, a.window_end_hour);
    let y_max = kw
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(1.0f32, f32::max) as f64
        * 1.1;
    let x0 = start as f64;
    let x1 = (start + kw.len().max(1) as i64) as f64;
    let root = BitMapBackend::new(path, (960, 360)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let area = root.margin(12, 12, 12, 12);
    let mut chart = ChartBuilder::on(&area)
        .build_cartesian_2d(x0..x1, 0.0..y_max)
        .map_err(|x| e(&x))?;
    if a.flagged {
        let since = a.since_hour.max(start) as f64;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(since, 0.0), (x1, y_max)],
                RGBColor(255, 228, 225).filled(),
            )))
            .map_err(|x| e(&x))?;
        chart
            .draw_series(LineSeries::new(
                [(since, a.level_kw), (x1, a.level_kw)],
                RED.stroke_width(2),
            ))
            .map_err(|x| e(&x))?;
    }
    // Break the line at missing hours instead of bridging them.
    let mut run: Vec<(f64, f64)> = Vec::new();
    for (i, v) in kw.iter().enumerate() {
        if v.is_finite() {
            run.push(((start + i as i64) as f64, *v as f64));
        } else if !run.is_empty() {
            chart
                .draw_series(LineSeries::new(std::mem::take(&mut run), BLUE))
                .map_err(|x| e(&x))?;
        }
    }
    if !run.is_empty() {
        chart
            .draw_series(LineSeries::new(run, BLUE))
            .map_err(|x| e(&x))?;
    }
    root.present().map_err(|x| e(&x))
}
