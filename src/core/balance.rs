//! Energy balance: what a transformer or feeder meter measured that its children's meters
//! did not, beyond the technical losses — and whether that unexplained load is a farm.
//!
//! A farm wired around the meters is invisible to the per-customer detector; it shows up
//! only at the node that feeds it. For each node meter (see [`Topology`]) this module
//! builds the hourly *balance* on the node's own hour grid:
//!
//! `unexplained = node kW − Σ children kW − losses(Σ children kW)`
//!
//! An hour in which the node or any child has no reading is *incomplete* (NaN): it is
//! never counted as theft, because a customer meter that stopped reporting would otherwise
//! look exactly like a hidden load of that customer's size. Losses follow [`LossModel`].
//! The unexplained series is an [`HourlySeries`] like any meter's, so
//! [`features::measure`] finds its step onset, flatness and uptime; [`assess_node`] turns
//! that into a verdict by an explicit rule ([`NodeRule`]) rather than the customer-trained
//! model, whose peer groups and levels describe premises, not residuals. It also looks for
//! the other telltale: a customer whose meter fell to near zero while the node's residual
//! rose by about what that customer used to draw (a meter bypass).
//!
//! This module is pure like the rest of the core: no IO, no clock. It does not read
//! registries or dumps (the drivers do) and does not judge customer meters (see
//! [`super::assess`]). The method and its limits are written up in `docs/balance.md`.

use std::collections::HashMap;

use super::features::{self, Feature, Measured, WINDOW_HOURS};
use super::registry::{Registry, Role, Topology};
use super::verdict::{hour_to_datetime, rigs_for_kw, Assessment, Status, MIN_RIG_KW, S19_KW};
use super::{HourlySeries, MeterId};

/// How technical losses between a node meter and its children's meters are estimated.
///
/// Real losses are a no-load (iron) term that runs whenever the transformer is energised,
/// plus load (copper and line) losses that grow with the square of the current. flatline
/// uses the linear approximation a utility's loss studies usually quote — a share of the
/// throughput plus a fixed no-load term — because the residual rule below only needs the
/// estimate to be right to within a few percent of throughput, and a flat farm is a step
/// that no smooth function of the children's load can produce.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossModel {
    /// Load losses as a share of the children's total draw (default 3%).
    pub load_share: f64,
    /// No-load losses as a share of the node's rating (default 0.5%).
    pub no_load_share_of_rating: f64,
}

impl Default for LossModel {
    fn default() -> Self {
        LossModel {
            load_share: 0.03,
            no_load_share_of_rating: 0.005,
        }
    }
}

impl LossModel {
    /// Estimated losses in kW for a children's draw of `children_kw` at a node rated `rating_kw`.
    pub fn losses_kw(&self, children_kw: f64, rating_kw: f64) -> f64 {
        self.load_share * children_kw.max(0.0) + self.no_load_share_of_rating * rating_kw
    }
}

/// One node's balance, hour by hour, on the node meter's grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Balance {
    /// The node meter.
    pub node: MeterId,
    /// Transformer or feeder.
    pub role: Role,
    /// The meters whose sum the node is balanced against (its metered children; an
    /// unmetered child node is replaced by its own children).
    pub children: Vec<MeterId>,
    /// The node's rating used for no-load losses, kW (registry `contracted_kw`, or twice
    /// the node's 98th-percentile load when the registry has none).
    pub rating_kw: f64,
    /// What the node meter read, kW (NaN where missing).
    pub node_kw: HourlySeries,
    /// Sum of the children's readings, kW (NaN where any child is missing).
    pub children_kw: HourlySeries,
    /// Estimated technical losses, kW (NaN where incomplete).
    pub losses_kw: HourlySeries,
    /// Node − children − losses, kW (NaN where incomplete): the load nobody metered.
    pub unexplained_kw: HourlySeries,
    /// For each child, the hours of the grid in which it had no reading (only children
    /// with at least one such hour), worst first.
    pub missing_hours: Vec<(MeterId, usize)>,
}

impl Balance {
    /// Hours of the grid that are incomplete (node or some child missing).
    pub fn n_incomplete(&self) -> usize {
        self.unexplained_kw
            .kw
            .iter()
            .filter(|v| !v.is_finite())
            .count()
    }
}

/// Builds a node's balance against the given children (`None` for a child with no
/// readings at all, which makes every hour incomplete).
pub fn balance(
    node: &MeterId,
    role: Role,
    node_series: &HourlySeries,
    children: &[(MeterId, Option<&HourlySeries>)],
    rating_kw: Option<f64>,
    losses: &LossModel,
) -> Balance {
    let start = node_series.start_hour;
    let n = node_series.kw.len();
    let mut sum = vec![0.0f64; n];
    let mut complete = vec![true; n];
    let mut missing_hours = Vec::new();
    for (id, s) in children {
        let mut n_missing = 0;
        for (i, (acc, ok)) in sum.iter_mut().zip(complete.iter_mut()).enumerate() {
            let v = s.map_or(f32::NAN, |s| value_at(s, start + i as i64));
            if v.is_finite() {
                *acc += v as f64;
            } else {
                *ok = false;
                n_missing += 1;
            }
        }
        if n_missing > 0 {
            missing_hours.push((id.clone(), n_missing));
        }
    }
    missing_hours.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    // Without a declared rating, assume the transformer was sized for about twice its
    // observed peak, the usual planning margin for distribution transformers.
    let rating_kw = rating_kw.filter(|r| *r > 0.0).unwrap_or_else(|| {
        let mut v: Vec<f64> = node_series
            .kw
            .iter()
            .filter(|v| v.is_finite())
            .map(|&v| v as f64)
            .collect();
        2.0 * features::quantile(&mut v, 0.98).max(0.0)
    });
    let rating_kw = if rating_kw.is_finite() {
        rating_kw
    } else {
        0.0
    };
    let mut children_kw = Vec::with_capacity(n);
    let mut losses_kw = Vec::with_capacity(n);
    let mut unexplained = Vec::with_capacity(n);
    for i in 0..n {
        let node_v = node_series.kw[i];
        if complete[i] && node_v.is_finite() {
            let l = losses.losses_kw(sum[i], rating_kw);
            children_kw.push(sum[i] as f32);
            losses_kw.push(l as f32);
            unexplained.push((node_v as f64 - sum[i] - l) as f32);
        } else {
            children_kw.push(if complete[i] { sum[i] as f32 } else { f32::NAN });
            losses_kw.push(f32::NAN);
            unexplained.push(f32::NAN);
        }
    }
    let grid = |kw: Vec<f32>| HourlySeries {
        start_hour: start,
        kw,
        resolution_min: node_series.resolution_min,
    };
    Balance {
        node: node.clone(),
        role,
        children: children.iter().map(|c| c.0.clone()).collect(),
        rating_kw,
        node_kw: node_series.clone(),
        children_kw: grid(children_kw),
        losses_kw: grid(losses_kw),
        unexplained_kw: grid(unexplained),
        missing_hours,
    }
}

/// The meters a node is balanced against: its children, with a child *node* that has no
/// readings replaced by its own children (recursively), so a feeder above unmetered
/// transformers still balances against the customers below them.
pub fn metered_children(
    topology: &Topology,
    node: &str,
    has_readings: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let mut out = Vec::new();
    for c in topology.children(node) {
        if topology.role(c).is_some() && !has_readings(c) {
            out.extend(metered_children(topology, c, has_readings));
        } else {
            out.push(c.clone());
        }
    }
    out
}

/// The rule that turns a measured residual into a node verdict.
///
/// The customer model is not used on residuals: its peer groups, levels and shapes were
/// learned on premises, and a residual of a few kW over a 100 kW transformer is neither.
/// Instead the residual must show the mining signature outright: a step up that is
/// significant (as [`features::measure`] judges steps), the same day and night, on for
/// most hours since, and large against both one rig and the uncertainty of the loss model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeRule {
    /// The step (or, with no step in the window, the floor) must be at least this many
    /// smallest rigs ([`MIN_RIG_KW`]).
    pub min_rigs: f64,
    /// … and at least this share of the children's mean draw, because the loss estimate
    /// can be off by a few percent of throughput (real losses run 2–6%).
    pub min_share_of_throughput: f64,
    /// The step's flatness (smallest slot gain over mean gain) must reach this.
    pub min_flatness: f64,
    /// The share of episode hours at or above 75% of the episode median must reach this.
    pub min_uptime: f64,
}

impl Default for NodeRule {
    fn default() -> Self {
        NodeRule {
            min_rigs: 4.0,
            min_share_of_throughput: 0.04,
            min_flatness: 0.6,
            min_uptime: 0.8,
        }
    }
}

/// A customer below a node whose meter fell to near zero while the node's residual rose.
#[derive(Debug, Clone, PartialEq)]
pub struct Bypass {
    /// The customer meter.
    pub customer: MeterId,
    /// First hour of near-zero readings.
    pub hour: i64,
    /// Mean kW the customer's meter read in the week before.
    pub before_kw: f64,
    /// Mean kW it has read since.
    pub after_kw: f64,
    /// How much the node's unexplained mean rose over the same split, kW.
    pub residual_rise_kw: f64,
}

/// A node's verdict with the balance facts behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeAssessment {
    /// Transformer or feeder.
    pub role: Role,
    /// The verdict, in the same shape as a customer meter's (`meter_id` is the node;
    /// `level_kw` is the unexplained mean; `peer_level_kw` the children's mean draw).
    pub assessment: Assessment,
    /// Number of meters balanced against.
    pub n_children: usize,
    /// Children's mean draw over the analysed window, kW.
    pub throughput_kw: f64,
    /// Estimated mean losses over the analysed window, kW.
    pub losses_kw: f64,
    /// Incomplete hours in the analysed window.
    pub n_incomplete: usize,
    /// Customers that look bypassed.
    pub bypassed: Vec<Bypass>,
    /// The balance judged, kept for evidence pages ([`assess_nodes`] fills it; `None`
    /// from [`assess_node`] and for node meters without readings).
    pub balance: Option<Balance>,
}

/// Judges one node's balance as of `as_of_hour` (exclusive). `children` are the series of
/// the customers below it, used for the bypass telltale.
pub fn assess_node(
    b: &Balance,
    children: &[(MeterId, Option<&HourlySeries>)],
    as_of_hour: i64,
    tz_offset_s: i32,
    rule: &NodeRule,
) -> NodeAssessment {
    let end = as_of_hour.min(b.unexplained_kw.end_hour());
    let from = end - WINDOW_HOURS;
    let mean_of = |s: &HourlySeries| mean_finite(s.window(from, end).1);
    let throughput_kw = mean_of(&b.children_kw);
    let losses_kw = mean_of(&b.losses_kw);
    let n_incomplete = b
        .unexplained_kw
        .window(from, end)
        .1
        .iter()
        .filter(|v| !v.is_finite())
        .count();
    let bypassed: Vec<Bypass> = children
        .iter()
        .filter_map(|(id, s)| find_bypass(id, (*s)?, &b.unexplained_kw, end))
        .collect();
    let role = b.role.as_str();
    let mut notes = Vec::new();
    if n_incomplete > 0 {
        let worst: Vec<String> = b
            .missing_hours
            .iter()
            .take(3)
            .map(|(id, n)| format!("{id} ({n} h)"))
            .collect();
        notes.push(format!(
            "{n_incomplete} incomplete hours in the window, not counted{}",
            if worst.is_empty() {
                " (node meter missing)".to_string()
            } else {
                format!("; missing: {}", worst.join(", "))
            }
        ));
    }
    let min_kw = (rule.min_rigs * MIN_RIG_KW).max(rule.min_share_of_throughput * throughput_kw);
    let measured = features::measure(&b.unexplained_kw, end, tz_offset_s);
    let mut a = match &measured {
        Some(m) => judge(&b.node, role, m, min_kw, rule),
        None => insufficient(&b.node, role, end, &b.unexplained_kw),
    };
    a.peer_group = format!("{role} balance");
    a.peer_level_kw = throughput_kw;
    a.notes.extend(notes);
    a.notes.push(format!(
        "losses estimated at {losses_kw:.1} kW on {throughput_kw:.1} kW through {} meters",
        b.children.len()
    ));
    // A customer meter that fell to zero as the residual rose is a suspect on its own,
    // whatever the residual's shape: the customer's own load moved off the meter.
    for by in &bypassed {
        a.reasons.insert(
            0,
            format!(
                "{role} {}: customer {} fell from {:.1} kW to {:.2} kW on {} while the unexplained load rose by {:.1} kW (meter bypass?)",
                b.node,
                by.customer,
                by.before_kw,
                by.after_kw,
                hour_to_datetime(by.hour).format("%-d %b %H:00"),
                by.residual_rise_kw
            ),
        );
        if a.status != Status::Suspect {
            a.status = Status::Suspect;
            a.flagged = true;
            a.excess_kw = a.excess_kw.max(by.residual_rise_kw);
            a.est_rigs = rigs_for_kw(a.excess_kw);
            a.excess_kwh_per_day = a.excess_kw * 24.0;
            a.since_hour = by.hour;
            a.onset_found = true;
            a.score = a.score.max(0.5);
        }
    }
    NodeAssessment {
        role: b.role,
        assessment: a,
        n_children: b.children.len(),
        throughput_kw,
        losses_kw,
        n_incomplete,
        bypassed,
        balance: None,
    }
}

/// Balances and judges every node meter in `topology` that has readings, in node id
/// order. `series` holds every meter's series (customers and nodes alike); `until_hour`
/// cuts the analysis as in `scan --until`. Nodes without readings get an
/// `insufficient_data` verdict, so the utility sees which node meters are silent.
pub fn assess_nodes(
    topology: &Topology,
    registry: &Registry,
    series: &[(MeterId, HourlySeries)],
    until_hour: Option<i64>,
    tz_offset_s: i32,
    losses: &LossModel,
    rule: &NodeRule,
) -> Vec<NodeAssessment> {
    let by_id: HashMap<&str, (&MeterId, &HourlySeries)> = series
        .iter()
        .map(|(id, s)| (id.as_str(), (id, s)))
        .collect();
    let has = |id: &str| by_id.contains_key(id);
    topology
        .nodes()
        .map(|(node, role)| {
            let ids = metered_children(topology, node, &has);
            let children: Vec<(MeterId, Option<&HourlySeries>)> = ids
                .iter()
                .map(|c| match by_id.get(c.as_str()) {
                    Some((id, s)) => ((*id).clone(), Some(*s)),
                    None => (MeterId::from(c.as_str()), None),
                })
                .collect();
            let node_id = MeterId::from(node);
            let Some((_, node_series)) = by_id.get(node) else {
                let end = until_hour.unwrap_or(0);
                let mut a = insufficient(
                    &node_id,
                    role.as_str(),
                    end,
                    &HourlySeries {
                        start_hour: end,
                        kw: Vec::new(),
                        resolution_min: 60,
                    },
                );
                a.reasons = vec![format!("no readings from {} meter {node}", role.as_str())];
                return NodeAssessment {
                    role,
                    assessment: a,
                    n_children: children.len(),
                    throughput_kw: 0.0,
                    losses_kw: 0.0,
                    n_incomplete: 0,
                    bypassed: Vec::new(),
                    balance: None,
                };
            };
            let readings = NodeReadings {
                id: &node_id,
                role,
                series: node_series,
                rating_kw: registry.get(node).and_then(|e| e.contracted_kw),
                children: &children,
            };
            let as_of =
                until_hour.map_or(node_series.end_hour(), |u| u.min(node_series.end_hour()));
            let (mut n, b) =
                balance_and_assess(topology, &readings, as_of, tz_offset_s, losses, rule);
            n.balance = Some(b);
            n
        })
        .collect()
}

/// One node meter's readings and what it is balanced against, as a driver has them.
pub struct NodeReadings<'a> {
    /// The node meter.
    pub id: &'a MeterId,
    /// Transformer or feeder.
    pub role: Role,
    /// Its own readings.
    pub series: &'a HourlySeries,
    /// Its rating from the registry, kW (sizes the no-load losses).
    pub rating_kw: Option<f64>,
    /// Its metered children ([`metered_children`]) with their series, `None` for a child
    /// without readings.
    pub children: &'a [(MeterId, Option<&'a HourlySeries>)],
}

/// The steps from a node's readings to its verdict, the same for `scan` ([`assess_nodes`])
/// and the daemon: the balance against its children, then [`assess_node`] as of
/// `as_of_hour` with only the customer children checked for a bypass (child nodes are
/// balanced on their own). Returns the verdict and the balance it judged.
pub fn balance_and_assess(
    topology: &Topology,
    node: &NodeReadings<'_>,
    as_of_hour: i64,
    tz_offset_s: i32,
    losses: &LossModel,
    rule: &NodeRule,
) -> (NodeAssessment, Balance) {
    let b = balance(
        node.id,
        node.role,
        node.series,
        node.children,
        node.rating_kw,
        losses,
    );
    let customers: Vec<(MeterId, Option<&HourlySeries>)> = node
        .children
        .iter()
        .filter(|(id, _)| topology.role(id.as_str()).is_none())
        .cloned()
        .collect();
    let n = assess_node(&b, &customers, as_of_hour, tz_offset_s, rule);
    (n, b)
}

/// Phrases one node's residual as a verdict under `rule`.
fn judge(node: &MeterId, role: &str, m: &Measured, min_kw: f64, rule: &NodeRule) -> Assessment {
    let ep = &m.episode;
    let load_factor = if ep.peak_kw > 1e-9 {
        ep.mean_kw / ep.peak_kw
    } else {
        0.0
    };
    // With a step, the added load is the step; without one, the floor the residual never
    // leaves (a farm older than the window, or a persistent unmetered load).
    let (excess_kw, flatness, since_hour) = match m.onset {
        Some(o) => (o.added_kw, o.flatness, o.hour),
        None => (ep.floor_kw.max(0.0), load_factor, m.window_start_hour),
    };
    let big = excess_kw >= min_kw;
    let flat = flatness >= rule.min_flatness;
    let steady = ep.uptime >= rule.min_uptime;
    let flagged = big && flat && steady;
    // An ordering, not a probability: size against the threshold (saturating at twice
    // it), times flatness, times uptime.
    let score = ((excess_kw / min_kw.max(1e-9)).clamp(0.0, 2.0) / 2.0
        * flatness.clamp(0.0, 1.0)
        * ep.uptime.clamp(0.0, 1.0))
    .clamp(0.0, 1.0);
    let mut reasons = Vec::new();
    let since_text = match m.onset {
        Some(_) => format!(
            "since {}",
            hour_to_datetime(since_hour).format("%-d %b %H:00")
        ),
        None => "since before the window".to_string(),
    };
    if flagged {
        reasons.push(format!(
            "{role} {node}: ≈{excess_kw:.0} kW unexplained, flat day and night {since_text}, ≈{:.0} S19-class rigs, ≈{:.0} kWh/day",
            excess_kw / S19_KW,
            excess_kw * 24.0
        ));
    }
    match m.onset {
        Some(o) => reasons.push(format!(
            "the unexplained load stepped up by {:.1} kW on {} (flatness {:.2}) and stayed on {:.0}% of hours",
            o.added_kw,
            hour_to_datetime(o.hour).format("%Y-%m-%d %H:00"),
            o.flatness,
            100.0 * ep.uptime
        )),
        None => reasons.push(format!(
            "no step in the unexplained load; its floor is {:.1} kW (mean {:.1} kW, load factor {load_factor:.2})",
            ep.floor_kw, ep.mean_kw
        )),
    }
    if !big {
        reasons.push(format!(
            "{excess_kw:.1} kW is below the {min_kw:.1} kW a loss estimate could be off by or a few rigs draw"
        ));
    }
    if !flat {
        reasons.push(format!(
            "not flat day and night (flatness {flatness:.2} < {:.2})",
            rule.min_flatness
        ));
    }
    if !steady {
        reasons.push(format!(
            "on only {:.0}% of hours (< {:.0}%)",
            100.0 * ep.uptime,
            100.0 * rule.min_uptime
        ));
    }
    let mut notes = Vec::new();
    if m.onset.is_none() && flagged {
        notes.push(
            "no onset in the window: could also be an unregistered customer or a metering offset"
                .into(),
        );
    }
    let excess_kw = if flagged || m.onset.is_some() {
        excess_kw
    } else {
        0.0
    };
    Assessment {
        meter_id: node.clone(),
        score,
        flagged,
        status: if flagged {
            Status::Suspect
        } else {
            Status::Clear
        },
        level_kw: ep.mean_kw,
        excess_kw,
        est_rigs: rigs_for_kw(excess_kw),
        excess_kwh_per_day: excess_kw * 24.0,
        since_hour,
        onset_found: m.onset.is_some(),
        window_start_hour: m.window_start_hour,
        window_end_hour: m.window_end_hour,
        peer_group: String::new(),
        peer_level_kw: 0.0,
        cluster: 0,
        reasons,
        notes,
        // Every feature but the one the model fills in: a node has no peer group.
        features: m
            .features
            .iter()
            .filter(|&(f, _)| f != Feature::LevelVsPeers)
            .map(|(f, v)| (f.name().to_string(), v))
            .collect(),
    }
}

/// A verdict for a node whose balance has too few complete hours to judge.
fn insufficient(node: &MeterId, role: &str, end: i64, s: &HourlySeries) -> Assessment {
    let n_valid = s
        .window(end - WINDOW_HOURS, end)
        .1
        .iter()
        .filter(|v| v.is_finite())
        .count();
    Assessment::insufficient(
        node,
        end,
        format!(
            "only {n_valid} complete hours in the {role}'s balance; at least {} are needed",
            features::MIN_VALID_HOURS
        ),
        Vec::new(),
    )
}

/// Hours of a week: the "before" of a bypass.
const WEEK_H: i64 = 7 * 24;
/// Near-zero readings needed after a drop before it counts: a full day, so a night of
/// low readings is not mistaken for a bypass.
const MIN_AFTER_H: usize = 24;
/// What "near zero" means for a customer meter, kW: below what a fridge on standby
/// draws in an empty home (≈0.05 kW), above what a meter's own electronics register.
const NEAR_ZERO_KW: f64 = 0.03;

/// Looks for the bypass telltale on one customer: from some hour on, every reading (a
/// day of them at least) is near zero (at most [`NEAR_ZERO_KW`], or 2% of the week
/// before for a big customer), the week before averaged at
/// least 0.3 kW, and over the same split the node's unexplained mean rose by at least
/// half of what the customer used to draw. A meter that *stopped reporting* has no
/// readings (NaN), not zeros, and never matches.
fn find_bypass(
    id: &MeterId,
    child: &HourlySeries,
    unexplained: &HourlySeries,
    end: i64,
) -> Option<Bypass> {
    let from = end - WINDOW_HOURS;
    let (start, w) = child.window(from, end);
    let n = w.len();
    if n < WEEK_H as usize + MIN_AFTER_H {
        return None;
    }
    // Suffix maxima and counts of valid hours: "everything from h on is near zero".
    let mut suf_max = vec![f32::NEG_INFINITY; n + 1];
    let mut suf_n = vec![0usize; n + 1];
    for i in (0..n).rev() {
        let v = w[i];
        suf_max[i] = if v.is_finite() {
            suf_max[i + 1].max(v)
        } else {
            suf_max[i + 1]
        };
        suf_n[i] = suf_n[i + 1] + v.is_finite() as usize;
    }
    for i in WEEK_H as usize..n {
        if suf_n[i] < MIN_AFTER_H {
            break;
        }
        let before_kw = mean_finite(&w[i - WEEK_H as usize..i]);
        if before_kw.is_nan()
            || before_kw < 0.3
            || suf_max[i] as f64 > (0.02 * before_kw).max(NEAR_ZERO_KW)
        {
            continue;
        }
        let hour = start + i as i64;
        let after_kw = mean_finite(&w[i..]);
        let r_before = mean_finite(unexplained.window(hour - WEEK_H, hour).1);
        let (_, r_after_w) = unexplained.window(hour, end);
        if r_after_w.iter().filter(|v| v.is_finite()).count() < MIN_AFTER_H {
            return None;
        }
        let rise = mean_finite(r_after_w) - r_before;
        return (rise >= 0.5 * before_kw).then(|| Bypass {
            customer: id.clone(),
            hour,
            before_kw,
            after_kw,
            residual_rise_kw: rise,
        });
    }
    None
}

/// The value of `s` at hour `h`, NaN outside its span.
fn value_at(s: &HourlySeries, h: i64) -> f32 {
    let i = h - s.start_hour;
    if i >= 0 && (i as usize) < s.kw.len() {
        s.kw[i as usize]
    } else {
        f32::NAN
    }
}

/// Mean of the finite values (NaN when there are none).
fn mean_finite(w: &[f32]) -> f64 {
    let (s, n) = w
        .iter()
        .filter(|v| v.is_finite())
        .fold((0.0f64, 0usize), |(s, n), &v| (s + v as f64, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(start_hour: i64, kw: &[f32]) -> HourlySeries {
        HourlySeries {
            start_hour,
            kw: kw.to_vec(),
            resolution_min: 60,
        }
    }

    fn id(x: &str) -> MeterId {
        MeterId::from(x)
    }

    const NO_LOSSES: LossModel = LossModel {
        load_share: 0.0,
        no_load_share_of_rating: 0.0,
    };

    /// Balances `node` against `children` without losses and compares the unexplained kW.
    fn check(node: &[f32], children: &[&[f32]], expected: &[f32]) {
        let kids: Vec<HourlySeries> = children.iter().map(|c| s(100, c)).collect();
        let refs: Vec<(MeterId, Option<&HourlySeries>)> = kids
            .iter()
            .enumerate()
            .map(|(i, k)| (id(&format!("c{i}")), Some(k)))
            .collect();
        let b = balance(
            &id("T"),
            Role::Transformer,
            &s(100, node),
            &refs,
            Some(1.0),
            &NO_LOSSES,
        );
        let got = &b.unexplained_kw.kw;
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(expected) {
            assert!(
                (g.is_nan() && e.is_nan()) || (g - e).abs() < 1e-5,
                "{got:?} vs {expected:?}"
            );
        }
    }

    #[test]
    fn the_unexplained_load_is_the_node_minus_its_children() {
        check(&[5.0, 6.0], &[&[1.0, 2.0], &[3.0, 1.0]], &[1.0, 3.0]);
        check(&[2.0], &[], &[2.0]);
    }

    #[test]
    fn an_hour_with_any_child_or_the_node_missing_is_incomplete() {
        let nan = f32::NAN;
        check(
            &[5.0, 6.0, 7.0],
            &[&[1.0, nan, 1.0], &[1.0, 1.0, 1.0]],
            &[3.0, nan, 5.0],
        );
        check(&[nan, 6.0], &[&[1.0, 1.0]], &[nan, 5.0]);
    }

    #[test]
    fn a_child_shorter_than_the_node_leaves_the_rest_incomplete() {
        let kid = s(101, &[1.0]);
        let b = balance(
            &id("T"),
            Role::Transformer,
            &s(100, &[3.0, 3.0, 3.0]),
            &[(id("c"), Some(&kid)), (id("gone"), None)],
            Some(1.0),
            &NO_LOSSES,
        );
        assert!(b.unexplained_kw.kw.iter().all(|v| v.is_nan()));
        assert_eq!(b.missing_hours, vec![(id("gone"), 3), (id("c"), 2)]);
        assert_eq!(b.n_incomplete(), 3);
    }

    #[test]
    fn losses_are_a_share_of_throughput_plus_a_no_load_term() {
        let losses = LossModel::default();
        assert!((losses.losses_kw(100.0, 200.0) - (3.0 + 1.0)).abs() < 1e-9);
        let kid = s(0, &[100.0]);
        let b = balance(
            &id("T"),
            Role::Transformer,
            &s(0, &[110.0]),
            &[(id("c"), Some(&kid))],
            Some(200.0),
            &losses,
        );
        assert!((b.unexplained_kw.kw[0] - 6.0).abs() < 1e-4);
    }

    #[test]
    fn without_a_rating_the_node_is_assumed_sized_at_twice_its_peak() {
        let kid = s(0, &[50.0; 10]);
        let b = balance(
            &id("T"),
            Role::Transformer,
            &s(0, &[52.0; 10]),
            &[(id("c"), Some(&kid))],
            None,
            &LossModel::default(),
        );
        assert!((b.rating_kw - 104.0).abs() < 1e-3, "{}", b.rating_kw);
    }

    #[test]
    fn an_unmetered_child_node_is_replaced_by_its_children() {
        let csv = "meter_id,feeder,role\nF,,feeder\nT1,F,transformer\nT2,F,transformer\na,T1,\nb,T2,\nc,T2,\n";
        let reg = crate::core::registry::parse_registry(csv.as_bytes(), "r").unwrap();
        let topo = Topology::from_registry(&reg).unwrap();
        let has = |m: &str| m != "T2";
        assert_eq!(metered_children(&topo, "F", &has), ["T1", "b", "c"]);
    }

    /// Ten days of a residual around `base` with a daily wobble, plus `step` kW from `on`.
    fn residual(base: f32, step: f32, on: i64) -> HourlySeries {
        let start = 480_000;
        s(
            start,
            &(0..30 * 24)
                .map(|i| {
                    let h = start + i;
                    let wobble = 0.4 * ((h % 24) as f32 / 24.0 * std::f32::consts::TAU).sin();
                    base + wobble + if h >= on { step } else { 0.0 }
                })
                .collect::<Vec<_>>(),
        )
    }

    fn judged(r: &HourlySeries) -> NodeAssessment {
        let b = Balance {
            node: id("T"),
            role: Role::Transformer,
            children: vec![id("c")],
            rating_kw: 200.0,
            node_kw: r.clone(),
            children_kw: s(r.start_hour, &vec![60.0; r.kw.len()]),
            losses_kw: s(r.start_hour, &vec![2.0; r.kw.len()]),
            unexplained_kw: r.clone(),
            missing_hours: Vec::new(),
        };
        assess_node(&b, &[], r.end_hour(), 0, &NodeRule::default())
    }

    #[test]
    fn a_flat_step_of_thirty_rigs_in_the_residual_is_a_suspect_phrased_for_the_inspector() {
        let on = 480_000 + 20 * 24 + 7;
        let n = judged(&residual(0.5, 30.0 * 3.25, on));
        let a = &n.assessment;
        assert_eq!(a.status, Status::Suspect, "{:?}", a.reasons);
        assert!((a.since_hour - on).abs() <= 3);
        assert!((a.est_rigs - 30.0).abs() < 3.0, "{}", a.est_rigs);
        assert!(
            a.reasons[0].starts_with("transformer T: ≈9")
                && a.reasons[0].contains("kW unexplained, flat day and night since"),
            "{}",
            a.reasons[0]
        );
    }

    #[test]
    fn a_step_smaller_than_the_loss_uncertainty_is_clear() {
        let n = judged(&residual(0.5, 2.0, 480_000 + 20 * 24));
        assert_eq!(
            n.assessment.status,
            Status::Clear,
            "{:?}",
            n.assessment.reasons
        );
    }

    #[test]
    fn a_customer_meter_falling_to_zero_as_the_residual_rises_is_a_bypass() {
        let on = 480_000 + 20 * 24 + 5;
        let base = |h: i64| 1.0 + 0.8 * ((h % 24) >= 17) as u8 as f32;
        let home = |h: i64| if h >= on { 0.01 } else { base(h) };
        let kid = s(
            480_000,
            &(480_000..480_000 + 30 * 24).map(home).collect::<Vec<_>>(),
        );
        let r = s(
            480_000,
            &(480_000..480_000 + 30 * 24)
                .map(|h| 0.3 + if h >= on { base(h) } else { 0.0 })
                .collect::<Vec<_>>(),
        );
        let found = find_bypass(&id("c"), &kid, &r, r.end_hour()).expect("bypass");
        assert_eq!(found.hour, on);
        assert!(found.residual_rise_kw > 0.9, "{found:?}");
        // The same customer going silent (no readings) is not a bypass.
        let mut silent = kid.clone();
        for v in &mut silent.kw[(on - 480_000) as usize..] {
            *v = f32::NAN;
        }
        assert_eq!(find_bypass(&id("c"), &silent, &r, r.end_hour()), None);
    }
}
