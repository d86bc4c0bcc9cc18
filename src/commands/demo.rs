//! `flatline demo`: the zero-setup tour — an embedded broker, a simulated fleet with a
//! hidden farm, the daemon watching it, alerts and pictures under `--out`.

use std::path::PathBuf;

use super::Outcome;
use crate::daemon::config::LogFormat;
use crate::daemon::demo::{self, DemoOptions};

/// Options of `flatline demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where alerts, reports and the daemon's state go.
    #[arg(long, default_value = "flatline-demo")]
    pub out: PathBuf,
    /// Use this broker instead of the embedded one (mqtt://HOST:PORT).
    #[arg(long)]
    pub broker: Option<String>,
    /// Homes in the simulated fleet.
    #[arg(long, default_value_t = 300)]
    pub homes: usize,
    /// Seed of the simulated fleet.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// Runs `flatline demo`. Exits 1 when suspects were found, like `scan`.
pub fn run(args: DemoArgs) -> anyhow::Result<Outcome> {
    // rumqttd logs an ERROR for every normal disconnect: keep it out of the tour.
    super::watch::init_logging(LogFormat::Text, "warn,rumqttd=off");
    let opts = DemoOptions {
        out_dir: args.out,
        broker_url: args.broker,
        n_homes: args.homes,
        seed: args.seed,
        ..DemoOptions::default()
    };
    println!("flatline demo: {} homes, a shop and one hidden farm, {} days of hourly readings, through an MQTT broker…", opts.n_homes, opts.days);
    let s = demo::run(&opts)?;
    println!(
        "published {} readings in {:.1} s; the daemon tracked {} meters and sent {} alerts",
        s.published.n_published,
        s.published.elapsed.as_secs_f64(),
        s.daemon.n_meters,
        s.daemon.n_alerts
    );
    let suspects = demo::open_suspects(&s.alerts);
    for a in &suspects {
        println!(
            "  SUSPECT {}: {:.1} kW flat since {} (≈{:.0} S19 rigs, {:.0} kWh/day unexplained), score {:.2}{}",
            a.meter_id,
            a.level_kw,
            a.since,
            a.est_rigs,
            a.excess_kwh_per_day,
            a.score,
            a.report_path.as_deref().map(|p| format!("\n           picture: {p}")).unwrap_or_default()
        );
    }
    if suspects.is_empty() {
        println!("  no suspects found");
    }
    println!(
        "alerts: {}\nreports: {}\ndone in {:.1} s",
        s.alerts_path.display(),
        s.report_dir.display(),
        s.elapsed.as_secs_f64()
    );
    Ok(if suspects.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Found
    })
}
