//! The energy balance end to end on a simulated grid: one feeder, five transformers of
//! 100 homes each, one hiding a farm of 40 rigs, one a bypassed customer, one a silent
//! customer meter, two clean — through the same readings → series → balance → verdict
//! path that `scan` uses.

mod common;

use std::collections::HashMap;

use common::{code, flatline, read_csv, stderr};

use flatline::core::balance::{assess_nodes, LossModel, NodeAssessment, NodeRule};
use flatline::core::registry::{parse_registry, Registry, Topology};
use flatline::core::Model;
use flatline::core::{HourlySeries, MeterId, SeriesBuilder, Status, Unit};
use flatline::report::{population, write_reports, NodeInput, ReportInput};
use flatline::sim::{grow, NodeScenario, TopoFleet, TopologyConfig};

struct Grid {
    fleet: TopoFleet,
    series: Vec<(MeterId, HourlySeries)>,
    registry: Registry,
    topology: Topology,
}

fn grid(cfg: TopologyConfig) -> Grid {
    let fleet = grow(&cfg);
    let ids = fleet.meter_ids();
    let mut builders: Vec<SeriesBuilder> = ids.iter().map(|_| SeriesBuilder::new()).collect();
    for step in 0..fleet.n_steps() {
        let ts = fleet.step_start(step);
        for (b, v) in builders.iter_mut().zip(fleet.step_kwh(step)) {
            if let Some(kwh) = v {
                b.push(ts, kwh as f32).unwrap();
            }
        }
    }
    let series = ids
        .iter()
        .zip(&builders)
        .filter(|(_, b)| !b.is_empty())
        .map(|(id, b)| (MeterId::from(id.as_str()), b.finish(Unit::Kwh)))
        .collect();
    let mut buf = Vec::new();
    fleet.write_registry(&mut buf).unwrap();
    let registry = parse_registry(&buf[..], "registry.csv").unwrap();
    let topology = Topology::from_registry(&registry).unwrap();
    Grid {
        fleet,
        series,
        registry,
        topology,
    }
}

fn verdicts(g: &Grid, until_hour: i64, losses: &LossModel) -> HashMap<String, NodeAssessment> {
    assess_nodes(
        &g.topology,
        &g.registry,
        &g.series,
        Some(until_hour),
        0,
        losses,
        &NodeRule::default(),
    )
    .into_iter()
    .map(|n| (n.assessment.meter_id.to_string(), n))
    .collect()
}

fn event_hour(g: &Grid) -> i64 {
    let TopologyConfig {
        start_unix,
        event_day,
        ..
    } = g.fleet.config;
    (start_unix + (event_day * 86_400.0) as i64).div_euclid(3600)
}

#[test]
fn a_bypassed_farm_of_forty_rigs_is_found_within_48_hours_and_nothing_else_alarms() {
    let g = grid(TopologyConfig::default());
    let on = event_hour(&g);
    let losses = LossModel::default();
    let before = verdicts(&g, on - 1, &losses);
    assert!(
        before.values().all(|n| !n.assessment.flagged),
        "nothing is suspect before the events"
    );
    let mut found_after = None;
    for h in (6..=48).step_by(6) {
        let v = verdicts(&g, on + h, &losses);
        for id in ["T-0103", "T-0104", "T-0105", "F-01"] {
            assert!(
                !v[id].assessment.flagged,
                "{id} at +{h} h: {:?}",
                v[id].assessment.reasons
            );
        }
        if found_after.is_none() && v["T-0101"].assessment.flagged {
            found_after = Some(h);
            let a = &v["T-0101"].assessment;
            assert!(
                (a.since_hour - on).abs() <= 6,
                "onset dated {}",
                a.since_hour - on
            );
            assert!(
                a.reasons[0].starts_with("transformer T-0101: ≈"),
                "{}",
                a.reasons[0]
            );
        }
    }
    let found_after = found_after.expect("the farm transformer is flagged within 48 h");
    eprintln!("hidden farm flagged {found_after} h after switch-on");
}

#[test]
fn at_the_end_the_farm_is_sized_and_the_bypassed_customer_named() {
    let g = grid(TopologyConfig::default());
    let end = g.fleet.step_start(g.fleet.n_steps()).div_euclid(3600);
    let v = verdicts(&g, end, &LossModel::default());
    let farm = &v["T-0101"].assessment;
    assert_eq!(farm.status, Status::Suspect);
    let NodeScenario::HiddenFarm(spec) = &g.fleet.transformers[0].scenario else {
        panic!("T-0101 hides the farm")
    };
    assert!(
        (farm.excess_kw - spec.nominal_kw()).abs() < 0.15 * spec.nominal_kw(),
        "{} kW found, {} kW hidden",
        farm.excess_kw,
        spec.nominal_kw()
    );
    let NodeScenario::BypassedCustomer { customer, .. } = g.fleet.transformers[1].scenario else {
        panic!("T-0102 hides a bypass")
    };
    let bypassed = &v["T-0102"];
    assert_eq!(bypassed.assessment.status, Status::Suspect);
    assert_eq!(
        bypassed.bypassed[0].customer.as_str(),
        g.fleet.homes.meters[customer].id
    );
    for id in ["T-0103", "T-0104", "T-0105", "F-01"] {
        assert!(
            !v[id].assessment.flagged,
            "{id}: {:?}",
            v[id].assessment.reasons
        );
    }
}

#[test]
fn a_customer_meter_that_stopped_reporting_leaves_its_transformer_incomplete_not_suspect() {
    let g = grid(TopologyConfig::default());
    let end = g.fleet.step_start(g.fleet.n_steps()).div_euclid(3600);
    let v = verdicts(&g, end, &LossModel::default());
    let silent = &v["T-0103"];
    assert!(!silent.assessment.flagged);
    assert!(silent.n_incomplete > 0);
    assert!(
        silent
            .assessment
            .notes
            .iter()
            .any(|n| n.contains("incomplete")),
        "{:?}",
        silent.assessment.notes
    );
}

#[test]
fn losses_alone_do_not_alarm_even_when_the_loss_model_is_off_by_half() {
    let g = grid(TopologyConfig {
        seed: 7,
        ..TopologyConfig::default()
    });
    let end = g.fleet.step_start(g.fleet.n_steps()).div_euclid(3600);
    for losses in [
        LossModel {
            load_share: 0.015,
            no_load_share_of_rating: 0.0025,
        },
        LossModel::default(),
        LossModel {
            load_share: 0.06,
            no_load_share_of_rating: 0.01,
        },
    ] {
        let v = verdicts(&g, end, &losses);
        for id in ["T-0104", "T-0105", "F-01"] {
            assert!(
                !v[id].assessment.flagged,
                "{id} with {losses:?}: {:?}",
                v[id].assessment.reasons
            );
        }
    }
}

#[test]
fn simulate_topology_then_scan_reports_the_suspect_nodes_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let sim = flatline(&[
        "simulate",
        "--topology",
        "--transformers",
        "4",
        "--homes-per-transformer",
        "30",
        "--farm-rigs",
        "30",
        "--days",
        "30",
        "--resolution-min",
        "60",
        "--out",
        &p("grid.csv"),
        "--registry-out",
        &p("reg.csv"),
        "--node-labels",
        &p("nodes.csv"),
    ]);
    assert_eq!(code(&sim), 0, "{}", stderr(&sim));
    let scan = flatline(&[
        "scan",
        &p("grid.csv"),
        "--registry",
        &p("reg.csv"),
        "--out",
        &p("out.csv"),
        "--all",
        "--nodes-out",
        &p("nodes_out.csv"),
        "--report-dir",
        &p("reports"),
    ]);
    assert_eq!(code(&scan), 1, "{}", stderr(&scan));
    // Every suspect, meter or node, is in the index an inspector starts from.
    let index = std::fs::read_to_string(dir.path().join("reports/index.html")).unwrap();
    let flagged_meters = read_csv(std::path::Path::new(&p("out.csv")))
        .into_iter()
        .filter(|r| r["flagged"] == "true")
        .map(|r| r["meter_id"].clone());
    let flagged_nodes = read_csv(std::path::Path::new(&p("nodes_out.csv")))
        .into_iter()
        .filter(|r| r["flagged"] == "true")
        .map(|r| r["node_id"].clone());
    for id in flagged_meters.chain(flagged_nodes) {
        assert!(
            index.contains(&format!(">{id}</a>")),
            "{id} not in index.html"
        );
    }
    assert!(index.contains("href=\"node-T-0101-"), "{index}");
    let stdout = String::from_utf8_lossy(&scan.stdout);
    assert!(stdout.contains("transformer T-0101: ≈"), "{stdout}");
    let flagged: Vec<String> = read_csv(std::path::Path::new(&p("nodes_out.csv")))
        .into_iter()
        .filter(|r| r["flagged"] == "true")
        .map(|r| r["node_id"].clone())
        .collect();
    assert_eq!(flagged, ["T-0101", "T-0102"]);
    let customers = read_csv(std::path::Path::new(&p("out.csv")));
    assert_eq!(
        customers.len(),
        4 * 30,
        "node meters are not judged as premises"
    );

    // The loss model is the operator's: assuming more losses leaves a lower unexplained
    // level (the farm's step itself does not depend on it: losses follow the customers).
    let level = |extra: &[&str], name: &str| -> (f64, f64) {
        let (grid_csv, reg_csv, out) = (p("grid.csv"), p("reg.csv"), p(name));
        let mut args = vec![
            "scan",
            &grid_csv,
            "--registry",
            &reg_csv,
            "--nodes-out",
            &out,
            "-q",
        ];
        args.extend_from_slice(extra);
        flatline(&args);
        let rows = read_csv(std::path::Path::new(&out));
        let r = rows.iter().find(|r| r["node_id"] == "T-0101").unwrap();
        (
            r["unexplained_kw"].parse().unwrap(),
            r["losses_kw"].parse().unwrap(),
        )
    };
    let default = level(&[], "n1.csv");
    let lossy = level(
        &["--loss-share", "0.10", "--no-load-loss-share", "0.02"],
        "n2.csv",
    );
    assert!(
        lossy.1 > default.1,
        "losses assumed: {lossy:?} vs {default:?}"
    );
    assert!(lossy.0 < default.0, "unexplained: {lossy:?} vs {default:?}");
}

#[test]
fn every_flagged_meter_and_node_of_a_grid_is_in_the_index_and_ringed_on_the_overview() {
    let g = grid(TopologyConfig::default());
    let until = event_hour(&g) + 72;
    let model = Model::embedded();
    let meters = flatline::scan::assess_all(&g.series, Some(until), model, 0, Some(&g.registry));
    let nodes: Vec<NodeAssessment> = verdicts(&g, until, &LossModel::default())
        .into_values()
        .collect();
    let flagged_nodes: Vec<NodeInput> = nodes
        .iter()
        .filter(|n| n.assessment.flagged)
        .map(|n| NodeInput {
            balance: n.balance.as_ref().unwrap(),
            assessment: &n.assessment,
            bypassed: Vec::new(),
            tz_offset_s: 0,
        })
        .collect();
    assert_eq!(flagged_nodes.len(), 2, "the farm and the bypass");
    let by_id: HashMap<&str, &HourlySeries> =
        g.series.iter().map(|(id, s)| (id.as_str(), s)).collect();
    let inputs: Vec<ReportInput> = meters
        .iter()
        .filter(|a| a.flagged)
        .map(|a| ReportInput::new(by_id[a.meter_id.as_str()], a, None, 0))
        .collect();
    let pop = population(&meters, model);
    let dir = tempfile::tempdir().unwrap();
    let names = flatline::report::group_names(model);
    let set = write_reports(dir.path(), &inputs, &flagged_nodes, &pop, &names, "t").unwrap();
    let index = std::fs::read_to_string(&set.index_html).unwrap();
    let expected: Vec<String> = inputs
        .iter()
        .map(|i| i.assessment.meter_id.to_string())
        .chain(
            flagged_nodes
                .iter()
                .map(|n| n.assessment.meter_id.to_string()),
        )
        .collect();
    for id in &expected {
        assert!(
            index.contains(&format!(">{id}</a>")),
            "{id} not in index.html"
        );
        assert!(
            set.overview_flagged.contains(id),
            "{id} not on the overview"
        );
    }
    assert_eq!(set.overview_flagged.len(), expected.len());
    for p in &set.node_pngs {
        assert!(p.metadata().unwrap().len() > 1000, "{}", p.display());
    }
}
