//! The tracing set-up shared by the long-running commands (`watch`, `publish`, `demo`):
//! one place, so commands do not call into each other for it.

use crate::daemon::config::LogFormat;

/// Installs the tracing subscriber on stderr (`RUST_LOG` wins over `filter`).
pub fn init(format: LogFormat, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    // Colour codes only for a person at a terminal, never into a redirected log file.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // A second initialisation (tests running commands in-process) is harmless: keep the first.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
