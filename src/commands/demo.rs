//! `flatline demo`: the zero-setup tour — an embedded broker, a simulated fleet with a
//! hidden farm, the daemon watching it, alerts and pictures under `--out`.

use std::path::PathBuf;

use super::Outcome;
use crate::daemon::config::LogFormat;
use crate::replay::demo::{self, DemoOptions};

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
    #[arg(long, default_value_t = 250)]
    pub homes: usize,
    /// Businesses in the simulated fleet.
    #[arg(long, default_value_t = 50)]
    pub businesses: usize,
    /// Hidden miners (cycling through home, shophouse, S9 home and farm sizes).
    #[arg(long, default_value_t = 4)]
    pub miners: usize,
    /// Days simulated (hourly readings; at least 22).
    #[arg(long, default_value_t = 40)]
    pub days: u32,
    /// Seed of the simulated fleet.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Skip the second phase (a farm wired around the meters, found by energy balance).
    #[arg(long)]
    pub no_grid: bool,
}

/// Runs `flatline demo`. Exits 0 when it found every miner and theft it planted; fails
/// (exit 2) naming what it missed otherwise.
pub fn run(args: DemoArgs) -> anyhow::Result<Outcome> {
    // rumqttd logs an ERROR for every normal disconnect: keep it out of the tour.
    crate::logging::init(LogFormat::Text, "warn,rumqttd=off");
    let opts = DemoOptions {
        out_dir: args.out,
        broker_url: args.broker,
        n_homes: args.homes,
        n_businesses: args.businesses,
        n_miners: args.miners,
        days: args.days,
        seed: args.seed,
        grid: !args.no_grid,
        ..DemoOptions::default()
    };
    println!(
        "flatline demo: {} homes, {} businesses, a licensed miner and {} hidden ones, {} days of hourly readings through an MQTT broker, the daemon watching…",
        opts.n_homes, opts.n_businesses, opts.n_miners, opts.days.max(22)
    );
    let s = demo::run(&opts)?;
    let suspects = demo::open_suspects(&s.alerts);
    println!(
        "published {} readings of {} meters in {:.1} s; the daemon tracked {} meters and sent {}; {} open at the end:",
        s.published.n_published,
        s.n_meters,
        s.published.elapsed.as_secs_f64(),
        s.daemon.n_meters,
        alert_counts(&s.alerts),
        plural(suspects.len(), "suspect"),
    );
    for a in &suspects {
        let truth = if s.true_miners.contains(&a.meter_id) {
            "a true miner"
        } else {
            "NOT a miner in the sim: a false alarm"
        };
        println!(
            "  SUSPECT {} ({truth}): {:.1} kW, flat load since {} (≈{:.1} S19 rigs, {:.0} kWh/day unexplained), score {:.2}{}",
            a.meter_id,
            a.level_kw,
            a.since,
            a.est_rigs,
            a.excess_kwh_per_day,
            a.score,
            a.report_path.as_deref().map(|p| format!("\n      picture: {p}")).unwrap_or_default()
        );
    }
    let missed: Vec<&str> = s
        .true_miners
        .iter()
        .filter(|m| !suspects.iter().any(|a| &a.meter_id == *m))
        .map(String::as_str)
        .collect();
    if suspects.is_empty() {
        println!("  no suspects found");
    }
    if !missed.is_empty() {
        println!(
            "  missed (hidden miners not alerted): {}",
            missed.join(", ")
        );
    }
    let mut planted_missed: Vec<String> = missed.iter().map(|m| m.to_string()).collect();
    if let Some(g) = &s.grid {
        println!(
            "energy balance: a feeder of 4 transformers × 60 homes ({} meters, {} readings), a farm wired around the customer meters under one of them…",
            g.n_meters, g.published.n_published
        );
        let nodes = demo::open_suspects(&g.alerts);
        for a in &nodes {
            let truth = g
                .node_labels
                .iter()
                .find(|l| l.node_id == a.meter_id)
                .map(|l| match l.scenario.as_str() {
                    "hidden_farm" => format!("hides a {}-rig farm in the sim", l.rigs),
                    "bypassed_customer" => format!("customer {} bypassed in the sim", l.customer),
                    other => format!("NOT a theft in the sim ({other}): a false alarm"),
                })
                .unwrap_or_else(|| "not a node: a customer meter".into());
            println!(
                "  SUSPECT {} ({truth}): {}{}",
                a.meter_id,
                a.reasons.first().cloned().unwrap_or_default(),
                a.report_path
                    .as_deref()
                    .map(|p| format!("\n      picture: {p}"))
                    .unwrap_or_default()
            );
        }
        if nodes.is_empty() {
            println!("  no node suspects found");
        }
        // A farm wired around the meters or a bypassed customer is a theft the demo planted.
        planted_missed.extend(
            g.node_labels
                .iter()
                .filter(|l| matches!(l.scenario.as_str(), "hidden_farm" | "bypassed_customer"))
                .filter(|l| !nodes.iter().any(|a| a.meter_id == l.node_id))
                .map(|l| format!("{} ({})", l.node_id, l.scenario)),
        );
    }
    println!(
        "alerts: {}\nreports: {}\ndone in {:.1} s",
        s.alerts_path.display(),
        s.report_dir.display(),
        s.elapsed.as_secs_f64()
    );
    demo_outcome(&planted_missed)
}

/// A demo succeeds (exit 0) when it found everything it planted, so `flatline demo && …`
/// works; it fails, naming what it missed, when it did not. False alarms are printed
/// above but do not fail the tour: the demo shows the detector as it is.
fn demo_outcome(planted_missed: &[String]) -> anyhow::Result<Outcome> {
    if planted_missed.is_empty() {
        Ok(Outcome::Clean)
    } else {
        anyhow::bail!(
            "the demo did not find what it planted: {}",
            planted_missed.join(", ")
        )
    }
}

/// "5 alerts (4 suspect, 1 changed)": the alerts sent, by kind, so the count agrees with
/// the suspects listed after it.
fn alert_counts(alerts: &[crate::core::alerts::Alert]) -> String {
    use crate::core::alerts::AlertKind;
    let by_kind: Vec<String> = [AlertKind::Suspect, AlertKind::Changed, AlertKind::Cleared]
        .into_iter()
        .map(|k| (k, alerts.iter().filter(|a| a.kind == k).count()))
        .filter(|&(_, n)| n > 0)
        .map(|(k, n)| format!("{n} {}", k.as_str()))
        .collect();
    if by_kind.is_empty() {
        "no alerts".to_string()
    } else {
        format!("{} ({})", plural(alerts.len(), "alert"), by_kind.join(", "))
    }
}

/// "1 suspect", "4 suspects".
fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_demo_that_found_what_it_planted_exits_clean_and_one_that_missed_fails() {
        assert_eq!(demo_outcome(&[]).unwrap(), Outcome::Clean);
        let err = demo_outcome(&["MTR00053".into()]).unwrap_err().to_string();
        assert!(err.contains("MTR00053"), "{err}");
    }
}
