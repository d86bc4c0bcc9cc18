//! `flatline inject` (not yet written).

use super::Outcome;

/// Options of `flatline inject`.
#[derive(Debug, clap::Args)]
pub struct InjectArgs {}

/// Runs `flatline inject`.
pub fn run(_args: InjectArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("flatline inject is not built yet")
}
