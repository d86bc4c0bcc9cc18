//! The `flatline` binary: a doorway. Parse the command line, run the command, map the
//! outcome to an exit status (0 nothing found, 1 suspects found, 2 error), print errors.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = flatline::cli::Cli::parse();
    match flatline::commands::run(cli) {
        Ok(outcome) => outcome.exit_code(),
        Err(err) => {
            eprintln!("flatline: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
