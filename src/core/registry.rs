//! The registry: what the utility already knows about a meter — its tariff class,
//! contracted load, feeder, and whether a flat load there is allowed (a licensed miner).
//!
//! The registry can silence a verdict (allowed sites) or explain it (a declared data centre
//! within its contracted load); it never makes a meter suspect on its own. Parsing takes any
//! reader so the core stays free of file IO; the caller opens the file.
//!
//! The registry also carries the grid's topology for the energy balance: an optional
//! `role` column says whether a row is a `customer` meter (the default, so older files
//! without the column still read as before), a `transformer` meter or a `feeder`-head
//! meter, and the existing `feeder` column names the parent (a customer names its
//! transformer, a transformer its feeder). [`Topology::from_registry`] checks that
//! structure once; [`crate::core::balance`] uses it.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

/// What the utility knows about one meter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RegistryEntry {
    /// The meter's id.
    pub meter_id: String,
    /// Tariff class as the utility writes it (e.g. `residential`, `commercial`, `datacentre`).
    #[serde(default)]
    pub class: String,
    /// Contracted (declared) load in kW, if known.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub contracted_kw: Option<f64>,
    /// The feeder or transformer the meter hangs off, if known.
    #[serde(default)]
    pub feeder: String,
    /// True for sites allowed to run flat loads (licensed miners): never flagged.
    #[serde(default, deserialize_with = "parse_bool")]
    pub allowed: bool,
    /// What the meter measures: one customer (default), a transformer or a feeder head.
    #[serde(default, deserialize_with = "parse_role")]
    pub role: Role,
}

/// What a meter in the registry measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Role {
    /// One customer's premises (the default when the column is absent or blank).
    #[default]
    Customer,
    /// A distribution transformer: everything its customers draw, plus its losses.
    Transformer,
    /// A feeder head: everything its transformers draw, plus the line's losses.
    Feeder,
}

impl Role {
    /// The role as written in the registry and in output files.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Transformer => "transformer",
            Role::Feeder => "feeder",
        }
    }

    /// True for the meters that have children to balance against (transformers, feeders).
    pub fn is_node(self) -> bool {
        self != Role::Customer
    }
}

impl RegistryEntry {
    /// True when the class names a connection where a flat, high load is ordinary business
    /// (data centres, telecom sites, server rooms).
    pub fn is_declared_flat_load(&self) -> bool {
        let c = self.class.to_ascii_lowercase();
        [
            "datacentre",
            "datacenter",
            "data_centre",
            "data_center",
            "telecom",
            "server",
        ]
        .iter()
        .any(|k| c.contains(k))
    }

    /// True when the class is residential.
    pub fn is_residential(&self) -> bool {
        let c = self.class.to_ascii_lowercase();
        c.starts_with("res") || c == "domestic" || c == "household"
    }
}

/// Why a registry could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A row did not parse.
    #[error("{source_name}:{line}: {detail}")]
    BadRow {
        /// File or stream name.
        source_name: String,
        /// 1-based line.
        line: u64,
        /// What was wrong.
        detail: String,
    },
    /// The header lacks `meter_id`.
    #[error("{0}: registry needs a header with at least meter_id (and class, contracted_kw, feeder, allowed)")]
    NoMeterId(String),
}

/// All registry entries by meter id.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    by_id: HashMap<String, RegistryEntry>,
}

impl Registry {
    /// The entry for a meter.
    pub fn get(&self, id: &str) -> Option<&RegistryEntry> {
        self.by_id.get(id)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every entry, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &RegistryEntry> {
        self.by_id.values()
    }

    /// True when at least one row is a transformer or feeder meter, i.e. the registry
    /// describes a topology to balance.
    pub fn has_topology(&self) -> bool {
        self.by_id.values().any(|e| e.role.is_node())
    }
}

/// Why a registry's topology is unusable. Each names the meter at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// A meter names a parent that is not a transformer or feeder in the registry.
    #[error("meter {meter} names parent {parent:?}, which is not a transformer or feeder in the registry")]
    UnknownParent {
        /// The meter whose parent is unknown.
        meter: String,
        /// The parent it names.
        parent: String,
    },
    /// A meter's parent is a customer, or a feeder names a transformer as its parent.
    #[error("meter {meter} ({role}) cannot hang off {parent} ({parent_role})")]
    BadParentRole {
        /// The meter.
        meter: String,
        /// Its role.
        role: &'static str,
        /// The parent it names.
        parent: String,
        /// The parent's role.
        parent_role: &'static str,
    },
    /// Following parents from this meter comes back to it.
    #[error("meter {meter} is its own ancestor (a cycle in the topology)")]
    Cycle {
        /// A meter on the cycle.
        meter: String,
    },
}

/// The grid below the meters: which transformer and feeder meters exist and what hangs
/// off each. Built once from a [`Registry`] and checked; nothing downstream re-checks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Topology {
    /// Node meters (transformers and feeders) with their role, by id.
    nodes: BTreeMap<String, Role>,
    /// Children of each node, sorted by id.
    children: BTreeMap<String, Vec<String>>,
    /// Parent of each meter that names one.
    parent: HashMap<String, String>,
}

impl Topology {
    /// Builds and checks the topology of `registry`. A registry without any transformer
    /// or feeder row has an empty topology (and then a customer's `feeder` column is just
    /// a label, as it always was). With nodes present, every non-empty parent must be a
    /// node, customers may only hang off nodes, a feeder may not hang off a transformer,
    /// and there must be no cycles.
    pub fn from_registry(registry: &Registry) -> Result<Topology, TopologyError> {
        if !registry.has_topology() {
            return Ok(Topology::default());
        }
        let nodes: BTreeMap<String, Role> = registry
            .entries()
            .filter(|e| e.role.is_node())
            .map(|e| (e.meter_id.clone(), e.role))
            .collect();
        let mut children: BTreeMap<String, Vec<String>> =
            nodes.keys().map(|k| (k.clone(), Vec::new())).collect();
        let mut parent = HashMap::new();
        // Sorted so that the first error reported is the same on every run.
        let mut entries: Vec<&RegistryEntry> = registry.entries().collect();
        entries.sort_by(|a, b| a.meter_id.cmp(&b.meter_id));
        for e in &entries {
            let p = e.feeder.trim();
            if p.is_empty() {
                continue;
            }
            let Some(&parent_role) = nodes.get(p) else {
                return Err(TopologyError::UnknownParent {
                    meter: e.meter_id.clone(),
                    parent: p.to_string(),
                });
            };
            // A feeder under a transformer is upside down; anything else nests.
            if e.role == Role::Feeder && parent_role == Role::Transformer {
                return Err(TopologyError::BadParentRole {
                    meter: e.meter_id.clone(),
                    role: e.role.as_str(),
                    parent: p.to_string(),
                    parent_role: parent_role.as_str(),
                });
            }
            children
                .entry(p.to_string())
                .or_default()
                .push(e.meter_id.clone());
            parent.insert(e.meter_id.clone(), p.to_string());
        }
        // Only node meters can be parents, so a cycle runs through nodes only: walk up
        // from each one, at most as many steps as there are nodes.
        for start in nodes.keys() {
            let mut cur = start.as_str();
            for _ in 0..nodes.len() {
                match parent.get(cur) {
                    Some(p) if p == start => {
                        return Err(TopologyError::Cycle {
                            meter: start.clone(),
                        })
                    }
                    Some(p) => cur = p,
                    None => break,
                }
            }
        }
        Ok(Topology {
            nodes,
            children,
            parent,
        })
    }

    /// True when there is nothing to balance.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node meters (transformers and feeders) with their roles, sorted by id.
    pub fn nodes(&self) -> impl Iterator<Item = (&str, Role)> {
        self.nodes.iter().map(|(k, &r)| (k.as_str(), r))
    }

    /// The role of a node, or `None` for a customer or an unknown id.
    pub fn role(&self, id: &str) -> Option<Role> {
        self.nodes.get(id).copied()
    }

    /// The meters that hang directly off `node`, sorted by id (empty for a customer).
    pub fn children(&self, node: &str) -> &[String] {
        self.children.get(node).map_or(&[], Vec::as_slice)
    }

    /// The node a meter hangs off, if it names one.
    pub fn parent(&self, id: &str) -> Option<&str> {
        self.parent.get(id).map(String::as_str)
    }
}

/// Parses a registry CSV (`meter_id,class,contracted_kw,feeder,allowed`; extra columns ignored).
pub fn parse_registry(reader: impl std::io::Read, source: &str) -> Result<Registry, RegistryError> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(reader);
    let headers = rdr
        .headers()
        .map_err(|e| RegistryError::BadRow {
            source_name: source.into(),
            line: 1,
            detail: e.to_string(),
        })?
        .clone();
    if !headers.iter().any(|h| h == "meter_id") {
        return Err(RegistryError::NoMeterId(source.into()));
    }
    let mut by_id = HashMap::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| RegistryError::BadRow {
            source_name: source.into(),
            line: e.position().map_or(0, |p| p.line()),
            detail: e.to_string(),
        })?;
        let line = rec.position().map_or(0, |p| p.line());
        let entry: RegistryEntry =
            rec.deserialize(Some(&headers))
                .map_err(|e| RegistryError::BadRow {
                    source_name: source.into(),
                    line,
                    detail: e.to_string(),
                })?;
        by_id.insert(entry.meter_id.clone(), entry);
    }
    Ok(Registry { by_id })
}

fn empty_as_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Ok(None);
    }
    s.trim()
        .parse::<f64>()
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn parse_role<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Role, D::Error> {
    let s = String::deserialize(d)?;
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "customer" | "meter" => Ok(Role::Customer),
        "transformer" | "substation" => Ok(Role::Transformer),
        "feeder" => Ok(Role::Feeder),
        other => Err(serde::de::Error::custom(format!(
            "role must be customer, transformer or feeder, not {other:?}"
        ))),
    }
}

fn parse_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let s = String::deserialize(d)?;
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "no" | "0" | "n" => Ok(false),
        "true" | "yes" | "1" | "y" => Ok(true),
        other => Err(serde::de::Error::custom(format!(
            "allowed must be true or false, not {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_parses_with_blanks_and_booleans() {
        let csv = "meter_id,class,contracted_kw,feeder,allowed\nm1,datacentre,50,F1,false\nm2,residential,,F1,\nm3,commercial,200,F2,yes\n";
        let r = parse_registry(csv.as_bytes(), "reg.csv").unwrap();
        assert_eq!(r.len(), 3);
        assert!(r.get("m1").unwrap().is_declared_flat_load());
        assert_eq!(r.get("m2").unwrap().contracted_kw, None);
        assert!(r.get("m2").unwrap().is_residential());
        assert!(r.get("m3").unwrap().allowed);
    }

    #[test]
    fn a_bad_row_names_its_line() {
        let csv = "meter_id,class,contracted_kw,feeder,allowed\nm1,res,lots,F1,false\n";
        let e = parse_registry(csv.as_bytes(), "reg.csv")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("reg.csv:2:"), "{e}");
    }

    fn topology(csv: &str) -> Result<Topology, TopologyError> {
        Topology::from_registry(&parse_registry(csv.as_bytes(), "reg.csv").unwrap())
    }

    const HEADER: &str = "meter_id,class,contracted_kw,feeder,allowed,role\n";

    #[test]
    fn a_registry_without_roles_reads_as_customers_with_no_topology() {
        let csv = "meter_id,class,contracted_kw,feeder,allowed\nm1,residential,12,F01,\n";
        let r = parse_registry(csv.as_bytes(), "reg.csv").unwrap();
        assert_eq!(r.get("m1").unwrap().role, Role::Customer);
        assert!(!r.has_topology());
        assert!(Topology::from_registry(&r).unwrap().is_empty());
    }

    #[test]
    fn customers_transformers_and_feeders_nest() {
        let t = topology(&format!(
            "{HEADER}F1,,,,,feeder\nT1,,300,F1,,transformer\nT2,,300,F1,,Transformer\nc2,res,,T1,,\nc1,res,,T1,,customer\nc3,res,,T2,,\n"
        ))
        .unwrap();
        assert_eq!(t.role("T1"), Some(Role::Transformer));
        assert_eq!(t.role("c1"), None);
        assert_eq!(t.children("T1"), ["c1", "c2"]);
        assert_eq!(t.children("F1"), ["T1", "T2"]);
        assert_eq!(t.parent("c3"), Some("T2"));
        assert_eq!(t.nodes().count(), 3);
    }

    #[test]
    fn an_unknown_parent_names_the_meter() {
        let e = topology(&format!("{HEADER}T1,,,,,transformer\nc1,res,,T9,,\n")).unwrap_err();
        assert_eq!(
            e,
            TopologyError::UnknownParent {
                meter: "c1".into(),
                parent: "T9".into()
            }
        );
        assert!(e.to_string().contains("c1"), "{e}");
    }

    #[test]
    fn a_customer_cannot_be_a_parent_nor_a_feeder_hang_off_a_transformer() {
        assert!(matches!(
            topology(&format!("{HEADER}T1,,,,,transformer\nc1,res,,T1,,\nc2,res,,c1,,\n")),
            Err(TopologyError::UnknownParent { meter, .. }) if meter == "c2"
        ));
        assert!(matches!(
            topology(&format!("{HEADER}T1,,,,,transformer\nF1,,,T1,,feeder\n")),
            Err(TopologyError::BadParentRole { meter, .. }) if meter == "F1"
        ));
    }

    #[test]
    fn a_cycle_is_refused_naming_a_meter_on_it() {
        let e = topology(&format!(
            "{HEADER}T1,,,T2,,transformer\nT2,,,T1,,transformer\n"
        ))
        .unwrap_err();
        assert_eq!(e, TopologyError::Cycle { meter: "T1".into() });
    }

    #[test]
    fn an_unknown_role_names_its_line() {
        let csv = format!("{HEADER}T1,,,,,substaton\n");
        let e = parse_registry(csv.as_bytes(), "reg.csv")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("reg.csv:2:") && e.contains("substaton"),
            "{e}"
        );
    }

    #[test]
    fn a_header_without_meter_id_is_refused() {
        assert!(matches!(
            parse_registry("id,class\n".as_bytes(), "r"),
            Err(RegistryError::NoMeterId(_))
        ));
    }
}
