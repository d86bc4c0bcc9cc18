//! `flatline publish`: replay meter dumps into a broker in the default topic layout — how an
//! operator tests a deployment, and how the tests feed the daemon.

use std::path::PathBuf;

use anyhow::Context as _;

use super::common::ReadArgs;
use super::Outcome;
use crate::daemon::config::BrokerSettings;
use crate::daemon::{config::LogFormat, mqtt};
use crate::replay::publisher::{self, Dump, PublishOptions};

/// Options of `flatline publish`.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// Meter dumps: files or folders, plain or .gz, in any layout `flatline scan` reads.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Broker URL: mqtt://HOST:PORT or mqtts://HOST:PORT.
    #[arg(long)]
    pub broker: String,
    /// Replay speed: event-time seconds per wall second (3600 = an hour per second).
    /// Without it, as fast as the broker acknowledges.
    #[arg(long)]
    pub speed: Option<f64>,
    /// QoS: 0 or 1.
    #[arg(long, default_value_t = 1)]
    pub qos: u8,
    /// Topic prefix before `meters/<id>/reading` (e.g. `feeder/1/`, for sharded daemons).
    #[arg(long, default_value = "")]
    pub topic_prefix: String,
    /// MQTT client id (a persistent session is kept under it).
    #[arg(long, default_value = "flatline-publish")]
    pub client_id: String,
    /// CA certificate (PEM) for mqtts://.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// Runs `flatline publish`.
pub fn run(args: PublishArgs) -> anyhow::Result<Outcome> {
    crate::logging::init(LogFormat::Text, "info");
    mqtt::install_crypto_provider();
    let broker = BrokerSettings::from_url(&args.broker, &args.client_id, args.ca_file.clone())?;
    let qos = match args.qos {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        q => anyhow::bail!("--qos must be 0 or 1, not {q}"),
    };
    let read_opts = args.read.read_options(None)?;
    let (dump, summary) = Dump::read(&args.paths, &read_opts).context("reading the dumps")?;
    args.read.accept(&summary, false)?;
    eprintln!(
        "publishing {} readings of {} meters in time order",
        dump.len(),
        dump.n_meters()
    );
    let opts = PublishOptions {
        topic_prefix: args.topic_prefix,
        qos,
        speed: args.speed,
        ..PublishOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let report = runtime.block_on(publisher::publish_all(&broker, dump.readings(), &opts))?;
    let secs = report.elapsed.as_secs_f64();
    println!(
        "published {} readings ({} acknowledged) in {:.2} s ({:.0} msgs/s)",
        report.n_published,
        report.n_acked,
        secs,
        report.n_published as f64 / secs.max(1e-9)
    );
    Ok(Outcome::Clean)
}
