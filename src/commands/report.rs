//! `flatline report` (not yet written).

use super::Outcome;

/// Options of `flatline report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {}

/// Runs `flatline report`.
pub fn run(_args: ReportArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("flatline report is not built yet")
}
