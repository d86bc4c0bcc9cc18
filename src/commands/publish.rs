//! `flatline publish` (not yet written).

use super::Outcome;

/// Options of `flatline publish`.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {}

/// Runs `flatline publish`.
pub fn run(_args: PublishArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("flatline publish is not built yet")
}
