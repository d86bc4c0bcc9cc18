//! `flatline train` (not yet written).

use super::Outcome;

/// Options of `flatline train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {}

/// Runs `flatline train`.
pub fn run(_args: TrainArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("flatline train is not built yet")
}
