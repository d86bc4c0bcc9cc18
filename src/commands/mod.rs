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

/// The error and its causes on one line, `outer: inner: …`, leaving out a cause whose
/// text the message before it already quotes (many errors put their source in their own
/// message), so nothing is said twice.
pub fn error_message(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Restores the default action of SIGPIPE, as command-line tools have it: with output
/// piped into `head` or a closed pipe, the process ends quietly instead of panicking on
/// the failed write (exit 101). Not for the daemon, which keeps running when whoever read
/// its logs goes away.
pub fn die_quietly_on_broken_pipe() {
    #[cfg(unix)]
    // SAFETY: called once at start-up, before any thread is spawned; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_quoted_by_its_message_is_not_repeated() {
        let io = std::io::Error::other("incomplete deflate stream");
        let err = anyhow::Error::new(crate::ingest::IngestError::Io {
            path: "d.csv.gz".into(),
            source: io,
        })
        .context("reading the dumps");
        assert_eq!(
            error_message(&err),
            "reading the dumps: d.csv.gz: read error: incomplete deflate stream"
        );
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_message(&plain), "outer: inner");
    }
}
