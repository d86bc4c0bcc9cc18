//! `flatline eval` (not yet written).

use super::Outcome;

/// Options of `flatline eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {}

/// Runs `flatline eval`.
pub fn run(_args: EvalArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("flatline eval is not built yet")
}
