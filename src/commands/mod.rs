//! One module per subcommand. Each owns its options (`…Args`) and its flow, and returns
//! an [`Outcome`]; `main` turns that into the exit status.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub mod common;
pub mod demo;
pub mod eval;
pub mod inject;
pub mod publish;
pub mod report;
pub mod scan;
pub mod simulate;
pub mod train;
pub mod watch;

/// How a successful run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done; nothing suspicious (exit 0).
    Clean,
    /// Done; suspects were found (exit 1).
    Found,
}

impl Outcome {
    /// The process exit status for this outcome.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Clean => ExitCode::SUCCESS,
            Outcome::Found => ExitCode::from(1),
        }
    }
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Scan(a) => scan::run(a),
        Command::Train(a) => train::run(a),
        Command::Simulate(a) => simulate::run(a),
        Command::Inject(a) => inject::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Report(a) => report::run(a),
        Command::Watch(a) => watch::run(*a),
        Command::Publish(a) => publish::run(a),
        Command::Demo(a) => demo::run(a),
    }
}
