//! `flatline simulate` (not yet written).

use super::Outcome;

/// Options of `flatline simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {}

/// Runs `flatline simulate`.
pub fn run(_args: SimulateArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("flatline simulate is not built yet")
}
