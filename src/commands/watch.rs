//! `flatline watch` (not yet written).

use super::Outcome;

/// Options of `flatline watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {}

/// Runs `flatline watch`.
pub fn run(_args: WatchArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("flatline watch is not built yet")
}
