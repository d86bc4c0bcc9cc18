//! The command-line grammar. Each subcommand's options live beside its code in
//! `commands/`; this file only lists the subcommands.

use clap::{Parser, Subcommand};

use crate::commands;

/// Find hidden cryptocurrency-mining loads in smart-meter data.
#[derive(Debug, Parser)]
#[command(name = "flatline", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan meter dumps and list suspected mining loads, ranked.
    Scan(commands::scan::ScanArgs),
    /// Fit the clustering model on a population and save it.
    Train(commands::train::TrainArgs),
    /// Generate a seeded synthetic fleet (homes, businesses, confounders, miners) with labels.
    Simulate(commands::simulate::SimulateArgs),
    /// Add synthetic mining load to a share of the real meters in a dump, with labels.
    Inject(commands::inject::InjectArgs),
    /// Measure detection quality against labels (AUC, recall, time to detection).
    Eval(commands::eval::EvalArgs),
    /// Draw the evidence report for one meter.
    Report(commands::report::ReportArgs),
    /// Run the MQTT daemon on a broker.
    Watch(Box<commands::watch::WatchArgs>),
    /// Replay a meter dump into an MQTT broker.
    Publish(commands::publish::PublishArgs),
    /// Zero-setup demo: embedded broker, simulated fleet with a hidden farm, alerts and reports.
    Demo(commands::demo::DemoArgs),
}
