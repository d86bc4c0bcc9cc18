//! The registry: what the utility already knows about a meter — its tariff class,
//! contracted load, feeder, and whether a flat load there is allowed (a licensed miner).
//!
//! The registry can silence a verdict (allowed sites) or explain it (a declared data centre
//! within its contracted load); it never makes a meter suspect on its own. Parsing takes any
//! reader so the core stays free of file IO; the caller opens the file.

use std::collections::HashMap;

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

    #[test]
    fn a_header_without_meter_id_is_refused() {
        assert!(matches!(
            parse_registry("id,class\n".as_bytes(), "r"),
            Err(RegistryError::NoMeterId(_))
        ));
    }
}
