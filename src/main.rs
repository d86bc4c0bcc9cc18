//! The `flatline` binary: a doorway. Parse the command line, run the command, map the
//! outcome to an exit status (0 nothing found, 1 suspects found, 2 error), print errors.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = flatline::cli::Cli::parse();
    if !matches!(cli.command, flatline::cli::Command::Watch(_)) {
        flatline::commands::die_quietly_on_broken_pipe();
    }
    match flatline::commands::run(cli) {
        Ok(outcome) => outcome.exit_code(),
        Err(err) => {
            // Never a panic here: stderr may be gone.
            let _ = writeln!(
                std::io::stderr(),
                "flatline: error: {}",
                flatline::commands::error_message(&err)
            );
            ExitCode::from(2)
        }
    }
}
