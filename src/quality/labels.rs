//! Ground-truth labels for simulated and injected fleets: which meters mine, from when.
//!
//! `flatline simulate` and `flatline inject` write them; `flatline train` and
//! `flatline eval` read them, through [`read_label_files`], the one reader of label files.
//! The file is CSV with the header
//! `meter_id,kind,class,mining,onset,rigs,mining_kw,variant`.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One meter's ground truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// The meter.
    pub meter_id: String,
    /// What kind of load it is (e.g. `household`, `cold_store`, `miner_home_s9`, `real_home`).
    #[serde(default)]
    pub kind: String,
    /// Tariff class (`residential`, `commercial`, `datacentre`).
    #[serde(default)]
    pub class: String,
    /// True when mining load was added.
    pub mining: bool,
    /// When the mining load switched on (RFC 3339), for miners.
    #[serde(default)]
    pub onset: Option<String>,
    /// Rigs added.
    #[serde(default)]
    pub rigs: Option<f64>,
    /// Mining kW added (nominal).
    #[serde(default)]
    pub mining_kw: Option<f64>,
    /// Realism variant (ripple, curtailment, restarts …).
    #[serde(default)]
    pub variant: String,
}

impl Label {
    /// The onset as an hour index, if any.
    pub fn onset_hour(&self) -> Option<i64> {
        let s = self.onset.as_deref()?.trim();
        if s.is_empty() {
            return None;
        }
        let t = chrono::DateTime::parse_from_rfc3339(s)
            .map(|d| d.timestamp())
            .or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                    .map(|d| d.and_utc().timestamp())
            })
            .ok()?;
        Some(t.div_euclid(3600))
    }

    /// True for business-scale meters (by class or kind).
    pub fn is_business(&self) -> bool {
        let k = self.kind.to_ascii_lowercase();
        let c = self.class.to_ascii_lowercase();
        (c != "residential" && !c.is_empty())
            || k.contains("business")
            || k.contains("shophouse")
            || k.contains("farm")
    }
}

/// Why labels could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}:{line}: {detail}")]
pub struct LabelError {
    /// File name.
    pub source_name: String,
    /// 1-based line.
    pub line: u64,
    /// What was wrong.
    pub detail: String,
}

/// Reads and merges label files (a later file's row wins for a meter in two files).
pub fn read_label_files(paths: &[PathBuf]) -> Result<HashMap<String, Label>, LabelError> {
    let mut all = HashMap::new();
    for p in paths {
        let name = p.display().to_string();
        let f = std::fs::File::open(p).map_err(|e| LabelError {
            source_name: name.clone(),
            line: 0,
            detail: format!("cannot open labels: {e}"),
        })?;
        all.extend(parse_labels(f, &name)?);
    }
    Ok(all)
}

/// Parses a labels CSV into a map by meter id.
pub fn parse_labels(
    reader: impl std::io::Read,
    source: &str,
) -> Result<HashMap<String, Label>, LabelError> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(reader);
    let mut out = HashMap::new();
    for rec in rdr.deserialize::<Label>() {
        let label = rec.map_err(|e| LabelError {
            source_name: source.into(),
            line: e.position().map_or(0, |p| p.line()),
            detail: e.to_string(),
        })?;
        out.insert(label.meter_id.clone(), label);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse_with_and_without_onsets() {
        let csv = "meter_id,kind,class,mining,onset,rigs,mining_kw,variant\n\
                   a,household,residential,false,,,,\n\
                   b,miner_home_s9,residential,true,2024-01-20T13:00:00Z,1,1.4,ripple\n\
                   c,miner_farm,commercial,true,2024-01-20 13:00:00,300,975,curtailed\n";
        let l = parse_labels(csv.as_bytes(), "l.csv").unwrap();
        assert_eq!(l["a"].onset_hour(), None);
        assert_eq!(l["b"].onset_hour(), Some(1_705_755_600 / 3600));
        assert_eq!(l["c"].onset_hour(), l["b"].onset_hour());
        assert!(l["c"].is_business() && !l["a"].is_business());
    }

    #[test]
    fn a_bad_label_row_names_its_line() {
        let csv = "meter_id,kind,class,mining\na,x,y,maybe\n";
        let e = parse_labels(csv.as_bytes(), "l.csv").unwrap_err();
        assert_eq!(e.line, 2);
    }
}
