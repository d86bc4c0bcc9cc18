//! Reports: PNG evidence for inspectors, drawn with plotters.
//!
//! An inspector or police liaison decides on a site visit from one page per meter, so
//! the page has to make the case at a glance, honestly, and survive being printed in
//! black and white. This module owns that page ([`draw_meter_report`]), the fleet
//! overview ([`draw_overview`]), the static `index.html` that ranks the pages, and the
//! file naming that keeps hostile meter ids inside the output directory.
//!
//! It does not decide anything: every number it prints comes from the
//! [`Assessment`] the core produced, the meter's
//! [`HourlySeries`], and the comparison data the caller passes in ([`PeerBand`],
//! [`PopulationPoint`]). Rendering needs no system fonts: DejaVu Sans is embedded
//! (see `fonts`). Colours follow two rules: categorical colours come from the
//! Okabe–Ito palette, and continuous scales use viridis, whose lightness rises
//! monotonically so the heat map still reads on a greyscale printout; every
//! distinction that matters is also carried by a line style, a hatch or a label.
//!
//! Layout of the module:
//! - `layout`: the pixel rectangles of the page ([`chart_layout`]).
//! - `meter`: the per-meter page.
//! - `overview`: the fleet scatter.
//! - `node`: the energy-balance page of a transformer or feeder ([`draw_node_report`]), and
//!   its row in the index and point on the overview.
//! - `index`: `index.html` and [`safe_file_name`].
//! - `style`: palette, colour ramp, number and text helpers.
//! - `fonts`: the embedded font and its registration.

mod fonts;
mod index;
mod layout;
mod meter;
mod node;
mod overview;
mod style;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::core::balance::Balance;
use crate::core::{Assessment, HourlySeries};

pub use index::{safe_file_name, write_index_html, IndexEntry};
pub use layout::{chart_layout, Layout, PixelRect};
pub use meter::{
    draw_meter_report, render_meter_rgb, shown_hours, write_meter_png, ONSET_COLOR, PLATEAU_FILL,
};
pub use node::{
    draw_node_report, draw_node_report_with, write_node_png, write_node_png_with, BypassedCustomer,
};
mod fleet;
pub use fleet::{group_names, peer_bands, population};
pub use overview::{draw_overview, write_overview_png};

/// Pixel size of every page this module draws (width, height). Large enough to print on
/// A4 landscape at ~200 dpi and to stay readable as a screen thumbnail zoomed in.
pub const REPORT_SIZE: (u32, u32) = (1800, 1200);

/// The load of comparable meters, hour by hour, drawn behind the meter's own load.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerBand {
    /// Hour index (unix seconds / 3600) of the first element of each vector.
    pub start_hour: i64,
    /// Median kW of the comparable meters in each hour (`NaN` where unknown).
    pub median_kw: Vec<f32>,
    /// 25th percentile kW in each hour.
    pub p25_kw: Vec<f32>,
    /// 75th percentile kW in each hour.
    pub p75_kw: Vec<f32>,
    /// What the comparable meters are, as the legend names them (e.g. "homes (evening peak)").
    pub label: String,
}

/// One meter of the fleet on the features that decide most verdicts.
#[derive(Debug, Clone, PartialEq)]
pub struct PopulationPoint {
    /// The meter's id as the utility writes it.
    pub meter_id: String,
    /// Mean load in kW over the analysed window.
    pub level_kw: f64,
    /// How flat the load is, in 0..1 (1 − coefficient of variation, clipped).
    pub flatness: f64,
    /// True when the detector flagged the meter.
    pub flagged: bool,
    /// True when the load matched but the registry allows it (a licensed farm): marked
    /// as allowed on the overview, so an inspector sees it was seen and set aside.
    pub allowed: bool,
    /// The model cluster the meter fell in (an index into the overview's cluster names).
    pub cluster: usize,
}

/// A price per kWh, to put a money figure on unexplained energy.
#[derive(Debug, Clone, PartialEq)]
pub struct Tariff {
    /// Price of one kWh in `currency`.
    pub per_kwh: f64,
    /// Currency code or symbol as printed (e.g. "EUR", "MYR", "£").
    pub currency: String,
}

/// Everything one meter's page shows. Borrowed, so a scan can render many pages in
/// parallel from the data it already holds.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    /// The meter's hourly kW (`NaN` = gap); may span more than the analysed window.
    pub series: &'a HourlySeries,
    /// The detector's verdict and evidence for this meter.
    pub assessment: &'a Assessment,
    /// Comparable meters hour by hour, when the caller has them.
    pub band: Option<&'a PeerBand>,
    /// The fleet on the deciding features, for the "where it sits" panel.
    pub population: &'a [PopulationPoint],
    /// The registry's class for the site (e.g. "residential", "commercial", "datacentre").
    pub registry_class: Option<&'a str>,
    /// The feeder or transformer the meter hangs off, when known.
    pub feeder: Option<&'a str>,
    /// A price per kWh, to show the unexplained energy in money too.
    pub tariff: Option<Tariff>,
    /// Offset of local time from UTC in seconds, for day and hour-of-day panels.
    pub tz_offset_s: i32,
}

impl<'a> ReportInput<'a> {
    /// A page for `assessment` with the registry's class and feeder when the meter is
    /// registered, and no comparable band, population or tariff: set those fields when the
    /// caller has them.
    pub fn new(
        series: &'a HourlySeries,
        assessment: &'a Assessment,
        entry: Option<&'a crate::core::registry::RegistryEntry>,
        tz_offset_s: i32,
    ) -> Self {
        let non_empty = |s: &'a str| Some(s).filter(|s| !s.is_empty());
        ReportInput {
            series,
            assessment,
            band: None,
            population: &[],
            registry_class: entry.and_then(|e| non_empty(&e.class)),
            feeder: entry.and_then(|e| non_empty(&e.feeder)),
            tariff: None,
            tz_offset_s,
        }
    }
}

/// A flagged transformer or feeder in a report set: drawn as a node page, and listed in the
/// index and ringed on the overview beside the meters, so an inspector who starts from the
/// index sees a farm wired around the meters too.
#[derive(Debug, Clone)]
pub struct NodeInput<'a> {
    /// The node's balance (meter minus customers minus losses), hour by hour.
    pub balance: &'a Balance,
    /// The node's verdict (`level_kw` is the unexplained mean).
    pub assessment: &'a Assessment,
    /// The customers that look bypassed, with their readings when known.
    pub bypassed: Vec<BypassedCustomer<'a>>,
    /// Offset of local time from UTC in seconds.
    pub tz_offset_s: i32,
}

/// The name of the overview group that holds transformer and feeder residuals.
pub const NODE_GROUP_NAME: &str = "transformer/feeder: unexplained load";

/// The files [`write_reports`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSet {
    /// One PNG per input, in the order of the inputs.
    pub meter_pngs: Vec<PathBuf>,
    /// One PNG per node input, in the order of the node inputs.
    pub node_pngs: Vec<PathBuf>,
    /// The fleet overview.
    pub overview_png: PathBuf,
    /// The ids ringed as flagged on the overview (meters and nodes), in drawing order.
    pub overview_flagged: Vec<String>,
    /// The ranked index page linking everything.
    pub index_html: PathBuf,
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The embedded font could not be registered with plotters (a corrupt build).
    #[error("the embedded report font could not be loaded")]
    Font,
    /// plotters failed while drawing or encoding.
    #[error("drawing failed: {0}")]
    Draw(String),
    /// A file or directory could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Maps any plotters error into [`ReportError::Draw`], keeping its message.
pub(crate) fn draw_err<E: std::fmt::Display>(e: E) -> ReportError {
    ReportError::Draw(e.to_string())
}

/// Writes a complete report set into `dir`: one PNG per meter and per node (rendered in
/// parallel), `overview.png` of the fleet with the nodes as a group of their own, and
/// `index.html` ranking meters and nodes together.
///
/// Pages are ranked flagged first, then by the energy at stake (unexplained kWh/day), as
/// the terminal table is; each page's file name comes from [`safe_file_name`] (`node-`
/// before a node's), so any id is safe. `dir` is created when missing. The first failure
/// stops the set and is returned; pages already written stay.
pub fn write_reports(
    dir: &Path,
    inputs: &[ReportInput],
    nodes: &[NodeInput],
    population: &[PopulationPoint],
    cluster_names: &[String],
    title: &str,
) -> Result<ReportSet, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let file_names = unique_png_names(inputs);
    let meter_pngs: Vec<PathBuf> = file_names.iter().map(|name| dir.join(name)).collect();
    // Each page is independent and CPU-bound (rasterising text and ~2,000 rectangles),
    // so rayon's pool spreads them over the cores; the first error wins.
    inputs
        .par_iter()
        .zip(meter_pngs.par_iter())
        .try_for_each(|(input, path)| write_meter_png(input, path))?;
    let node_names: Vec<String> = nodes
        .iter()
        .map(|n| node_png_name(n.assessment.meter_id.as_str()))
        .collect();
    let node_pngs: Vec<PathBuf> = node_names.iter().map(|name| dir.join(name)).collect();
    nodes
        .par_iter()
        .zip(node_pngs.par_iter())
        .try_for_each(|(n, path)| {
            write_node_png_with(n.balance, n.assessment, &n.bypassed, n.tz_offset_s, path)
        })?;

    // The nodes join the overview as one more group, after the model's groups.
    let mut points = population.to_vec();
    let mut names = cluster_names.to_vec();
    if !nodes.is_empty() {
        let node_group = names
            .len()
            .max(points.iter().map(|p| p.cluster + 1).max().unwrap_or(0));
        names.resize(node_group, String::new());
        names.push(NODE_GROUP_NAME.to_string());
        points.extend(
            nodes
                .iter()
                .map(|n| node::population_point(n.assessment, node_group)),
        );
    }
    let overview_png = dir.join("overview.png");
    write_overview_png(&points, &names, &overview_png)?;
    let overview_flagged = points
        .iter()
        .filter(|p| p.flagged && overview::is_drawn(p))
        .map(|p| p.meter_id.clone())
        .collect();

    let mut ranked: Vec<(&Assessment, IndexEntry)> = inputs
        .iter()
        .zip(&file_names)
        .map(|(input, name)| (input.assessment, meter::index_entry(0, input, name)))
        .chain(
            nodes
                .iter()
                .zip(&node_names)
                .map(|(n, name)| (n.assessment, node::index_entry(n, name))),
        )
        .collect();
    ranked.sort_by(|(x, _), (y, _)| crate::scan::rank_order(x, y));
    let entries: Vec<IndexEntry> = ranked
        .into_iter()
        .enumerate()
        .map(|(i, (_, entry))| IndexEntry {
            rank: i + 1,
            ..entry
        })
        .collect();
    write_index_html(dir, title, &entries)?;
    Ok(ReportSet {
        meter_pngs,
        node_pngs,
        overview_png,
        overview_flagged,
        index_html: dir.join(index::INDEX_FILE),
    })
}

/// The file name of a node's page: `node-` and the safe name of its id.
pub fn node_png_name(node_id: &str) -> String {
    format!("node-{}.png", safe_file_name(node_id))
}

/// File names for the pages, one per input. Two inputs with the same meter id (a caller
/// mistake, but possible) get a rank suffix rather than overwriting each other.
fn unique_png_names(inputs: &[ReportInput]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let stem = safe_file_name(&input.assessment.meter_id.0);
            let mut name = format!("{stem}.png");
            if !seen.insert(name.to_ascii_lowercase()) {
                name = format!("{stem}-{}.png", i + 1);
                seen.insert(name.to_ascii_lowercase());
            }
            name
        })
        .collect()
}
