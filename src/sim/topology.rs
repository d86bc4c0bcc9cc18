//! A simulated grid for the energy balance: feeders → transformers (~100 homes each) →
//! customers, with meters at every level and one scenario per transformer.
//!
//! The customers are an ordinary simulated fleet of homes ([`simulate`]); this module adds
//! what a balance needs above them. A transformer meter reads what flows into it: the sum
//! of what its customers *draw* (not what their meters say), plus its technical losses,
//! plus any load tapped before the meters. A feeder-head meter reads the sum of its
//! transformers' inputs plus line losses. Losses follow the physics rather than the
//! detector's linear estimate (`core::balance::LossModel`): a no-load term of 0.4% of the
//! rating and load losses growing with the square of the load (2.5% at half rating), so a
//! test that passes is not the detector recognising its own model.
//!
//! Transformers are given scenarios in turn ([`NodeScenario`]): a hidden farm of tens of
//! rigs switched on part-way, a bypassed existing customer (its meter reads ~0 while it
//! keeps drawing), a customer meter that stops reporting, and clean ones (losses only).
//! [`NodeLabel`]s say which node hides what. Pure and seeded like the rest of `sim`.

use std::io::{self, Write};

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::fleet::{format_timestamp, simulate, SimConfig, SimFleet};
use super::labels::LabelError;
use super::mining::{mining_kw, MinerSpec, S19_KW};
use super::noise::mix;
use super::weather::DAY_S;

/// What to grow.
#[derive(Debug, Clone, PartialEq)]
pub struct TopologyConfig {
    /// Seed of everything.
    pub seed: u64,
    /// Number of feeders.
    pub feeders: usize,
    /// Transformers on each feeder.
    pub transformers_per_feeder: usize,
    /// Homes on each transformer.
    pub homes_per_transformer: usize,
    /// Length of the span, days.
    pub days: u32,
    /// First instant, unix seconds.
    pub start_unix: i64,
    /// Reading interval, minutes.
    pub resolution_min: u32,
    /// Rigs in the hidden farm.
    pub farm_rigs: u32,
    /// Day (after the start) on which each scenario begins: the farm switches on, the
    /// customer is bypassed, the meter goes silent.
    pub event_day: f64,
    /// Local time offset from UTC, seconds.
    pub tz_offset_s: i32,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        TopologyConfig {
            seed: 1,
            feeders: 1,
            transformers_per_feeder: 5,
            homes_per_transformer: 100,
            days: 40,
            start_unix: 1_704_067_200,
            resolution_min: 60,
            farm_rigs: 40,
            event_day: 25.3,
            tz_offset_s: 0,
        }
    }
}

/// What one transformer hides.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeScenario {
    /// Nothing: the meter reads its customers plus losses.
    Clean,
    /// A farm tapped before the customer meters.
    HiddenFarm(MinerSpec),
    /// A customer whose meter reads ~0 from `from_unix` on while it keeps drawing.
    BypassedCustomer {
        /// Index of the customer in [`TopoFleet::homes`].
        customer: usize,
        /// When the bypass was wired in.
        from_unix: i64,
    },
    /// A customer whose meter sends nothing from `from_unix` on (it still draws).
    SilentCustomer {
        /// Index of the customer in [`TopoFleet::homes`].
        customer: usize,
        /// When the meter went silent.
        from_unix: i64,
    },
}

/// One transformer of the simulated grid.
#[derive(Debug, Clone, PartialEq)]
pub struct SimTransformer {
    /// Its meter id (`T-0101`: feeder 1, transformer 1).
    pub id: String,
    /// The feeder it hangs off.
    pub feeder: String,
    /// Rating, kW (≈ kVA at unity power factor).
    pub rating_kw: f64,
    /// Its customers, as indices into [`TopoFleet::homes`].
    pub customers: std::ops::Range<usize>,
    /// What it hides.
    pub scenario: NodeScenario,
}

/// One feeder of the simulated grid.
#[derive(Debug, Clone, PartialEq)]
pub struct SimFeeder {
    /// Its meter id (`F-01`).
    pub id: String,
    /// Rating, kW: the sum of its transformers'.
    pub rating_kw: f64,
    /// Its transformers, as indices into [`TopoFleet::transformers`].
    pub transformers: std::ops::Range<usize>,
}

/// The ground truth of one node: what it hides, from when.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NodeLabel {
    /// The node's meter id.
    pub node_id: String,
    /// `transformer` or `feeder`.
    pub role: String,
    /// `clean`, `hidden_farm`, `bypassed_customer` or `silent_customer`.
    pub scenario: String,
    /// When it began (RFC 3339), empty for clean nodes.
    pub onset: String,
    /// Rigs hidden (hidden farms only).
    pub rigs: u32,
    /// Full draw of the hidden rigs, kW.
    pub mining_kw: f64,
    /// The customer concerned (bypass and silent scenarios).
    pub customer: String,
}

/// A grown grid, ready to produce readings.
#[derive(Debug, Clone)]
pub struct TopoFleet {
    /// The configuration it was grown from.
    pub config: TopologyConfig,
    /// The customers (homes), their meters and weather.
    pub homes: SimFleet,
    /// The transformers, in id order.
    pub transformers: Vec<SimTransformer>,
    /// The feeders, in id order.
    pub feeders: Vec<SimFeeder>,
}

/// No-load losses as a share of rating (iron losses of a distribution transformer).
const NO_LOAD_SHARE: f64 = 0.004;
/// Load losses as a share of the load when loaded to half the rating; they scale with the
/// load's square (copper losses, I²R).
const LOAD_LOSS_AT_HALF: f64 = 0.025;
/// The same for a feeder's lines (no no-load term).
const LINE_LOSS_AT_HALF: f64 = 0.02;

/// The scenarios given to the first transformers, in order; the rest are clean.
const CYCLE: [&str; 4] = [
    "hidden_farm",
    "bypassed_customer",
    "silent_customer",
    "clean",
];

/// Grows a grid.
pub fn grow(cfg: &TopologyConfig) -> TopoFleet {
    let n_tx = cfg.feeders.max(1) * cfg.transformers_per_feeder.max(1);
    let homes = simulate(&SimConfig {
        seed: cfg.seed,
        homes: n_tx * cfg.homes_per_transformer.max(1),
        businesses: 0,
        miners: 0,
        licensed: 0,
        days: cfg.days,
        start_unix: cfg.start_unix,
        resolution_min: cfg.resolution_min,
        onset_after_days: (0.0, 0.0),
        tz_offset_s: cfg.tz_offset_s,
    });
    let per = cfg.homes_per_transformer.max(1);
    let event_unix = {
        let t = cfg.start_unix + (cfg.event_day * DAY_S as f64) as i64;
        t - t.rem_euclid(300)
    };
    let mut transformers = Vec::with_capacity(n_tx);
    for t in 0..n_tx {
        let customers = t * per..(t + 1) * per;
        // Diversified peak of homes is about a third of the sum of their peaks; the
        // transformer is sized at twice that, rounded up to a standard 50 kVA step.
        let peak: f64 = customers
            .clone()
            .map(|i| homes.meters[i].base.peak_kw())
            .sum();
        let rating_kw = (2.0 * peak / 3.0 / 50.0).ceil() * 50.0;
        // The customer drawing most (by its rough peak) is the one bypassed or silenced,
        // so the telltale has something to see.
        let biggest = customers
            .clone()
            .max_by(|&a, &b| {
                homes.meters[a]
                    .base
                    .peak_kw()
                    .total_cmp(&homes.meters[b].base.peak_kw())
            })
            .unwrap_or(customers.start);
        // The first three transformers hide one scenario each; the rest are clean.
        let scenario = match CYCLE.get(t).copied().unwrap_or("clean") {
            "hidden_farm" => {
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(mix(cfg.seed ^ 0xFA2 ^ t as u64));
                let mut spec =
                    MinerSpec::draw(&mut rng, cfg.farm_rigs, S19_KW, event_unix, cfg.tz_offset_s);
                // A farm of this size runs around the clock: it is why it was hidden.
                spec.curtail_peak = false;
                NodeScenario::HiddenFarm(spec)
            }
            "bypassed_customer" => NodeScenario::BypassedCustomer {
                customer: biggest,
                from_unix: event_unix,
            },
            "silent_customer" => NodeScenario::SilentCustomer {
                customer: biggest,
                from_unix: event_unix,
            },
            _ => NodeScenario::Clean,
        };
        let f = t / cfg.transformers_per_feeder.max(1);
        transformers.push(SimTransformer {
            id: format!(
                "T-{:02}{:02}",
                f + 1,
                t % cfg.transformers_per_feeder.max(1) + 1
            ),
            feeder: format!("F-{:02}", f + 1),
            rating_kw,
            customers,
            scenario,
        });
    }
    let tpf = cfg.transformers_per_feeder.max(1);
    let feeders = (0..cfg.feeders.max(1))
        .map(|f| SimFeeder {
            id: format!("F-{:02}", f + 1),
            rating_kw: transformers[f * tpf..(f + 1) * tpf]
                .iter()
                .map(|t| t.rating_kw)
                .sum(),
            transformers: f * tpf..(f + 1) * tpf,
        })
        .collect();
    TopoFleet {
        config: cfg.clone(),
        homes,
        transformers,
        feeders,
    }
}

/// Technical losses at `load_kw` through equipment rated `rating_kw`.
fn losses_kw(load_kw: f64, rating_kw: f64, no_load_share: f64, at_half: f64) -> f64 {
    let half = 0.5 * rating_kw.max(1.0);
    no_load_share * rating_kw + at_half * load_kw * (load_kw / half)
}

impl TopoFleet {
    /// Every meter id: customers, then transformers, then feeders. Readings index into it.
    pub fn meter_ids(&self) -> Vec<String> {
        self.homes
            .meters
            .iter()
            .map(|m| m.id.clone())
            .chain(self.transformers.iter().map(|t| t.id.clone()))
            .chain(self.feeders.iter().map(|f| f.id.clone()))
            .collect()
    }

    /// The readings of one interval, kWh, by index into [`Self::meter_ids`]; `None` where
    /// a meter sends nothing.
    pub fn step_kwh(&self, step: i64) -> Vec<Option<f64>> {
        let t = self.homes.step_start(step);
        let hours = self.homes.interval_s() as f64 / 3600.0;
        let n_homes = self.homes.meters.len();
        // What each customer draws, whatever its meter says.
        let drawn: Vec<f64> = (0..n_homes)
            .map(|i| self.homes.base_kw(i, t) + self.homes.mining_kw(i, t))
            .collect();
        let mut out: Vec<Option<f64>> = drawn.iter().map(|kw| Some(kw * hours)).collect();
        let mut tx_in = Vec::with_capacity(self.transformers.len());
        for tr in &self.transformers {
            let load: f64 = drawn[tr.customers.clone()].iter().sum();
            let mut input = load + losses_kw(load, tr.rating_kw, NO_LOAD_SHARE, LOAD_LOSS_AT_HALF);
            match &tr.scenario {
                NodeScenario::Clean => {}
                NodeScenario::HiddenFarm(spec) => {
                    let temp_c = self.homes.weather.temp_c(t + self.homes.interval_s() / 2);
                    input += mining_kw(spec, t, self.homes.interval_s(), temp_c);
                }
                NodeScenario::BypassedCustomer {
                    customer,
                    from_unix,
                } if t >= *from_unix => {
                    // The meter's own electronics still register a trickle.
                    out[*customer] = Some(0.002 * hours);
                }
                NodeScenario::SilentCustomer {
                    customer,
                    from_unix,
                } if t >= *from_unix => out[*customer] = None,
                _ => {}
            }
            tx_in.push(input);
            out.push(Some(input * hours));
        }
        for f in &self.feeders {
            let load: f64 = tx_in[f.transformers.clone()].iter().sum();
            let input = load + losses_kw(load, f.rating_kw, 0.0, LINE_LOSS_AT_HALF);
            out.push(Some(input * hours));
        }
        out
    }

    /// Number of intervals in the span.
    pub fn n_steps(&self) -> i64 {
        self.homes.n_steps()
    }

    /// Start of interval `step`, unix seconds.
    pub fn step_start(&self, step: i64) -> i64 {
        self.homes.step_start(step)
    }

    /// Writes every reading as long CSV (`meter_id,timestamp,kwh`), time then meter order,
    /// and returns the number of rows.
    pub fn write_csv(&self, mut w: impl Write) -> io::Result<u64> {
        let ids = self.meter_ids();
        writeln!(w, "meter_id,timestamp,kwh")?;
        let mut n = 0;
        for step in 0..self.n_steps() {
            let stamp = format_timestamp(self.step_start(step));
            for (id, v) in ids.iter().zip(self.step_kwh(step)) {
                if let Some(kwh) = v {
                    writeln!(w, "{id},{stamp},{kwh:.4}")?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// Writes the registry with topology
    /// (`meter_id,class,contracted_kw,feeder,allowed,role`).
    pub fn write_registry(&self, w: impl Write) -> Result<(), LabelError> {
        let mut out = csv::Writer::from_writer(w);
        out.write_record([
            "meter_id",
            "class",
            "contracted_kw",
            "feeder",
            "allowed",
            "role",
        ])?;
        for f in &self.feeders {
            let rating = format!("{:.0}", f.rating_kw);
            out.write_record([f.id.as_str(), "network", &rating, "", "false", "feeder"])?;
        }
        for t in &self.transformers {
            let rating = format!("{:.0}", t.rating_kw);
            out.write_record([
                t.id.as_str(),
                "network",
                &rating,
                &t.feeder,
                "false",
                "transformer",
            ])?;
            for i in t.customers.clone() {
                let m = &self.homes.meters[i];
                let contracted = format!("{}", m.contracted_kw);
                out.write_record([
                    m.id.as_str(),
                    m.class.as_str(),
                    &contracted,
                    &t.id,
                    "false",
                    "customer",
                ])?;
            }
        }
        out.flush().map_err(csv::Error::from)?;
        Ok(())
    }

    /// The ground truth of every node, transformers then feeders.
    pub fn node_labels(&self) -> Vec<NodeLabel> {
        let stamp = |t: i64| {
            chrono::DateTime::from_timestamp(t, 0)
                .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default()
        };
        let mut out: Vec<NodeLabel> = self
            .transformers
            .iter()
            .map(|t| {
                let (scenario, onset, rigs, kw, customer) = match &t.scenario {
                    NodeScenario::Clean => ("clean", String::new(), 0, 0.0, String::new()),
                    NodeScenario::HiddenFarm(s) => (
                        "hidden_farm",
                        stamp(s.onset_unix),
                        s.rigs,
                        (s.nominal_kw() * 1000.0).round() / 1000.0,
                        String::new(),
                    ),
                    NodeScenario::BypassedCustomer {
                        customer,
                        from_unix,
                    } => (
                        "bypassed_customer",
                        stamp(*from_unix),
                        0,
                        0.0,
                        self.homes.meters[*customer].id.clone(),
                    ),
                    NodeScenario::SilentCustomer {
                        customer,
                        from_unix,
                    } => (
                        "silent_customer",
                        stamp(*from_unix),
                        0,
                        0.0,
                        self.homes.meters[*customer].id.clone(),
                    ),
                };
                NodeLabel {
                    node_id: t.id.clone(),
                    role: "transformer".into(),
                    scenario: scenario.into(),
                    onset,
                    rigs,
                    mining_kw: kw,
                    customer,
                }
            })
            .collect();
        // Everything hidden below a feeder is in its transformers' meters, so a feeder's
        // own balance is clean: only line losses.
        out.extend(self.feeders.iter().map(|f| NodeLabel {
            node_id: f.id.clone(),
            role: "feeder".into(),
            scenario: "clean".into(),
            onset: String::new(),
            rigs: 0,
            mining_kw: 0.0,
            customer: String::new(),
        }));
        out
    }
}

/// Writes node labels as CSV with a header
/// (`node_id,role,scenario,onset,rigs,mining_kw,customer`).
pub fn write_node_labels(labels: &[NodeLabel], w: impl Write) -> Result<(), LabelError> {
    let mut out = csv::Writer::from_writer(w);
    for l in labels {
        out.serialize(l)?;
    }
    out.flush().map_err(csv::Error::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> TopologyConfig {
        TopologyConfig {
            feeders: 1,
            transformers_per_feeder: 4,
            homes_per_transformer: 5,
            days: 3,
            event_day: 1.0,
            ..TopologyConfig::default()
        }
    }

    #[test]
    fn each_transformer_gets_the_next_scenario_and_every_meter_an_id() {
        let g = grow(&small());
        let kinds: Vec<String> = g.node_labels().into_iter().map(|l| l.scenario).collect();
        assert_eq!(
            kinds,
            [
                "hidden_farm",
                "bypassed_customer",
                "silent_customer",
                "clean",
                "clean"
            ]
        );
        assert_eq!(g.meter_ids().len(), 20 + 4 + 1);
    }

    #[test]
    fn a_clean_transformer_reads_its_customers_plus_a_few_percent() {
        let g = grow(&small());
        let step = 10;
        let v = g.step_kwh(step);
        let clean = &g.transformers[3];
        let sum: f64 = clean.customers.clone().map(|i| v[i].unwrap()).sum();
        let node = v[20 + 3].unwrap();
        let loss = node - sum;
        assert!(
            loss > 0.0 && loss < 0.1 * sum + 0.01 * clean.rating_kw,
            "{loss} on {sum}"
        );
    }

    #[test]
    fn after_the_event_the_bypassed_meter_reads_zero_and_the_silent_one_nothing() {
        let g = grow(&small());
        let after = 2 * 24;
        let v = g.step_kwh(after);
        let NodeScenario::BypassedCustomer { customer: b, .. } = g.transformers[1].scenario else {
            panic!()
        };
        let NodeScenario::SilentCustomer { customer: s, .. } = g.transformers[2].scenario else {
            panic!()
        };
        assert!(v[b].unwrap() < 0.01);
        assert_eq!(v[s], None);
        assert!(g.step_kwh(0)[s].is_some());
    }

    #[test]
    fn the_registry_names_roles_and_parents() {
        let g = grow(&small());
        let mut buf = Vec::new();
        g.write_registry(&mut buf).unwrap();
        let reg = crate::core::registry::parse_registry(&buf[..], "r").unwrap();
        let topo = crate::core::registry::Topology::from_registry(&reg).unwrap();
        assert_eq!(
            topo.children("F-01"),
            ["T-0101", "T-0102", "T-0103", "T-0104"]
        );
        assert_eq!(topo.children("T-0101").len(), 5);
    }
}
