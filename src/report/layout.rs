//! The page geometry: where each panel of a meter report sits, in pixels.
//!
//! The geometry is a pure function of the page size so that tests can compute where a
//! mark must appear (the onset line, the plateau shading, the heat-map cells) and look
//! at those pixels. The drawing code builds its charts on exactly these rectangles: the
//! `*_plot` rectangles are the plotting areas inside the axes, and a unit test in
//! `meter` checks plotters agrees.

/// A rectangle in page pixels; `x1` and `y1` are exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelRect {
    /// Left edge.
    pub x0: i32,
    /// Top edge.
    pub y0: i32,
    /// One past the right edge.
    pub x1: i32,
    /// One past the bottom edge.
    pub y1: i32,
}

impl PixelRect {
    /// Width in pixels.
    pub fn width(&self) -> i32 {
        self.x1 - self.x0
    }

    /// Height in pixels.
    pub fn height(&self) -> i32 {
        self.y1 - self.y0
    }

    /// True when the pixel lies inside.
    pub fn contains(&self, (x, y): (i32, i32)) -> bool {
        x >= self.x0 && x < self.x1 && y >= self.y0 && y < self.y1
    }

    /// The rectangle shrunk by the given margins.
    pub(crate) fn inset(&self, top: i32, bottom: i32, left: i32, right: i32) -> PixelRect {
        PixelRect {
            x0: self.x0 + left,
            y0: self.y0 + top,
            x1: self.x1 - right,
            y1: self.y1 - bottom,
        }
    }
}

/// The panels of a meter page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The whole page.
    pub page: PixelRect,
    /// Meter id, verdict, episode and estimates.
    pub header: PixelRect,
    /// Load over time panel (title, axes and plot).
    pub load: PixelRect,
    /// Plotting area of the load chart: hour `h` of the shown range maps linearly across it.
    pub load_plot: PixelRect,
    /// Day-by-hour heat map panel, with its colour scale.
    pub heatmap: PixelRect,
    /// The heat-map cells: days down, local hours across.
    pub heatmap_plot: PixelRect,
    /// Average daily profile panel.
    pub profile: PixelRect,
    /// Plotting area of the profile chart.
    pub profile_plot: PixelRect,
    /// "Where it sits in the fleet" scatter panel.
    pub population: PixelRect,
    /// Plotting area of the population scatter.
    pub population_plot: PixelRect,
    /// Reasons and known limits, as text.
    pub reasons: PixelRect,
}

/// Space above a chart's plot for its title and legend.
pub(crate) const TITLE_H: i32 = 56;
/// Space left of a chart's plot for tick labels and the axis description.
pub(crate) const Y_LABEL_W: i32 = 78;
/// Space below a chart's plot for tick labels and the axis description.
pub(crate) const X_LABEL_H: i32 = 52;
/// Breathing room on the outer edges of a panel.
pub(crate) const PAD: i32 = 14;
/// Width of the heat map's colour scale (bar, ticks and unit).
pub(crate) const COLOUR_BAR_W: i32 = 150;
/// Space left of the heat map for its date labels.
pub(crate) const HEATMAP_LABEL_W: i32 = 104;

/// The panels of a meter page of the given size (normally [`REPORT_SIZE`](super::REPORT_SIZE)).
///
/// Rows: header (12%), load over time (34%), then three columns sharing the rest: the
/// heat map, the daily profile, and a right column with the fleet scatter above the
/// reasons. Proportions rather than fixed pixels keep the page usable at other sizes.
pub fn chart_layout(size: (u32, u32)) -> Layout {
    let (w, h) = (size.0 as i32, size.1 as i32);
    let page = PixelRect {
        x0: 0,
        y0: 0,
        x1: w,
        y1: h,
    };
    let header_h = (h * 12 / 100).max(130);
    let load_y1 = header_h + h * 34 / 100;
    let col1 = w * 34 / 100;
    let col2 = w * 66 / 100;
    let pop_y1 = load_y1 + (h - load_y1) * 52 / 100;

    let header = PixelRect {
        x0: 0,
        y0: 0,
        x1: w,
        y1: header_h,
    };
    let load = PixelRect {
        x0: 0,
        y0: header_h,
        x1: w,
        y1: load_y1,
    };
    let heatmap = PixelRect {
        x0: 0,
        y0: load_y1,
        x1: col1,
        y1: h,
    };
    let profile = PixelRect {
        x0: col1,
        y0: load_y1,
        x1: col2,
        y1: h,
    };
    let population = PixelRect {
        x0: col2,
        y0: load_y1,
        x1: w,
        y1: pop_y1,
    };
    let reasons = PixelRect {
        x0: col2,
        y0: pop_y1,
        x1: w,
        y1: h,
    };
    Layout {
        page,
        header,
        load,
        load_plot: chart_plot(load),
        heatmap,
        heatmap_plot: heatmap.inset(
            TITLE_H,
            X_LABEL_H + PAD,
            HEATMAP_LABEL_W + PAD,
            COLOUR_BAR_W + PAD,
        ),
        profile,
        profile_plot: chart_plot(profile),
        population,
        population_plot: chart_plot(population),
        reasons,
    }
}

/// The plotting area of a standard chart panel: title above, tick labels left and below.
pub(crate) fn chart_plot(panel: PixelRect) -> PixelRect {
    panel.inset(TITLE_H, X_LABEL_H + PAD, Y_LABEL_W + PAD, PAD + 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_tile_the_page_without_overlap() {
        let l = chart_layout(crate::report::REPORT_SIZE);
        let panels = [
            l.header,
            l.load,
            l.heatmap,
            l.profile,
            l.population,
            l.reasons,
        ];
        let area: i64 = panels
            .iter()
            .map(|p| p.width() as i64 * p.height() as i64)
            .sum();
        assert_eq!(area, 1800 * 1200);
        for (i, a) in panels.iter().enumerate() {
            for b in &panels[i + 1..] {
                let overlap_x = a.x0.max(b.x0) < a.x1.min(b.x1);
                let overlap_y = a.y0.max(b.y0) < a.y1.min(b.y1);
                assert!(!(overlap_x && overlap_y), "{a:?} overlaps {b:?}");
            }
        }
    }

    #[test]
    fn every_plot_lies_inside_its_panel_with_room_to_read() {
        let l = chart_layout(crate::report::REPORT_SIZE);
        for (panel, plot) in [
            (l.load, l.load_plot),
            (l.heatmap, l.heatmap_plot),
            (l.profile, l.profile_plot),
            (l.population, l.population_plot),
        ] {
            assert!(
                panel.contains((plot.x0, plot.y0)) && panel.contains((plot.x1 - 1, plot.y1 - 1))
            );
            assert!(
                plot.width() > 250 && plot.height() > 200,
                "{plot:?} too small"
            );
        }
    }
}
