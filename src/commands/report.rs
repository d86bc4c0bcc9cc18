//! `flatline report` (wired when the report module lands).

use std::path::Path;

use super::Outcome;
use crate::core::registry::Registry;
use crate::core::{Assessment, Model};
use crate::scan::FleetSeries;

/// Options of `flatline report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {}

/// Runs `flatline report`.
pub fn run(_args: ReportArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("flatline report is not built yet")
}

/// Writes the reports of a scan (wired when the report module lands).
pub fn write_scan_reports(
    _dir: &Path,
    _series: &FleetSeries,
    _ranked: &[Assessment],
    _model: &Model,
    _registry: Option<&Registry>,
    _tz_offset_s: i32,
) -> anyhow::Result<()> {
    anyhow::bail!("reports are not built yet")
}
