//! `flatline demo` (not yet written).

use super::Outcome;

/// Options of `flatline demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

/// Runs `flatline demo`.
pub fn run(_args: DemoArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("flatline demo is not built yet")
}
