//! `flatline scan` (not yet written).

use super::Outcome;

/// Options of `flatline scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {}

/// Runs `flatline scan`.
pub fn run(_args: ScanArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("flatline scan is not built yet")
}
