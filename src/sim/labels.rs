//! The ground truth written beside every synthetic or injected dump, and the registry.
//!
//! A label row says what a meter is and, for miners, how much mining was added from
//! when: `meter_id,kind,class,mining,onset,rigs,mining_kw,variant`. The evaluation reads
//! these to score a detector; nothing in the detector may read them. The registry rows
//! (`meter_id,class,contracted_kw,feeder,allowed`) are what a utility would know anyway.

use std::io::{Read, Write};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::load::{Class, Kind};

/// Errors writing or reading labels and registries.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// The CSV layer failed (IO or a malformed row).
    #[error("label CSV: {0}")]
    Csv(#[from] csv::Error),
    /// A row's onset is not a valid instant.
    #[error("label for {meter_id}: bad onset {onset}")]
    BadOnset {
        /// The meter of the offending row.
        meter_id: String,
        /// The onset as found.
        onset: i64,
    },
}

/// What one meter is, and what mining (if any) it carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// The meter id as written in the dump.
    pub meter_id: String,
    /// What the premises is.
    pub kind: Kind,
    /// Its tariff class.
    pub class: Class,
    /// Whether mining load is present (from `onset` on).
    pub mining: bool,
    /// When the mining started; `None` for clean meters.
    pub onset: Option<DateTime<Utc>>,
    /// Number of rigs (0 for clean meters).
    pub rigs: u32,
    /// Full mining draw at the reference temperature, kW (0 for clean meters).
    pub mining_kw: f64,
    /// `+`-joined tags of the premises' and the mining's peculiarities.
    pub variant: String,
}

impl Label {
    /// The onset as unix seconds, if any.
    pub fn onset_unix(&self) -> Option<i64> {
        self.onset.map(|t| t.timestamp())
    }
}

/// Turns unix seconds into a label onset.
pub fn onset_from_unix(meter_id: &str, t_unix: i64) -> Result<DateTime<Utc>, LabelError> {
    DateTime::from_timestamp(t_unix, 0).ok_or(LabelError::BadOnset {
        meter_id: meter_id.to_string(),
        onset: t_unix,
    })
}

/// Writes label rows as CSV with a header.
pub fn write_labels(labels: &[Label], w: impl Write) -> Result<(), LabelError> {
    let mut out = csv::Writer::from_writer(w);
    for l in labels {
        out.serialize(l)?;
    }
    out.flush().map_err(csv::Error::from)?;
    Ok(())
}

/// Reads label rows written by [`write_labels`].
pub fn read_labels(r: impl Read) -> Result<Vec<Label>, LabelError> {
    let mut rows = csv::Reader::from_reader(r);
    let labels = rows.deserialize().collect::<Result<Vec<Label>, _>>()?;
    Ok(labels)
}

/// What a utility's customer registry knows about one meter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryRow {
    /// The meter id.
    pub meter_id: String,
    /// Tariff class.
    pub class: Class,
    /// Contracted (declared) capacity, kW.
    pub contracted_kw: f64,
    /// The feeder or transformer the meter hangs off.
    pub feeder: String,
    /// Whether a large flat load here is declared and allowed (e.g. a licensed miner).
    pub allowed: bool,
}

/// Writes registry rows as CSV with a header.
pub fn write_registry(rows: &[RegistryRow], w: impl Write) -> Result<(), LabelError> {
    let mut out = csv::Writer::from_writer(w);
    for r in rows {
        out.serialize(r)?;
    }
    out.flush().map_err(csv::Error::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_survive_a_round_trip_through_csv() {
        let labels = vec![
            Label {
                meter_id: "M1".into(),
                kind: Kind::MinerHome,
                class: Class::Residential,
                mining: true,
                onset: Some(onset_from_unix("M1", 1_704_200_400).unwrap()),
                rigs: 3,
                mining_kw: 9.75,
                variant: "ripple3+curtail".into(),
            },
            Label {
                meter_id: "M2".into(),
                kind: Kind::Shop24h,
                class: Class::Commercial,
                mining: false,
                onset: None,
                rigs: 0,
                mining_kw: 0.0,
                variant: String::new(),
            },
        ];
        let mut buf = Vec::new();
        write_labels(&labels, &mut buf).unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        assert!(text.starts_with("meter_id,kind,class,mining,onset,rigs,mining_kw,variant\n"));
        assert!(text.contains(
            "M1,miner_home,residential,true,2024-01-02T13:00:00Z,3,9.75,ripple3+curtail"
        ));
        assert!(text.contains("M2,shop_24h,commercial,false,,0,0.0,"));
        assert_eq!(read_labels(&buf[..]).unwrap(), labels);
    }
}
