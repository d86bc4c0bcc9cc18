//! Verdicts: what the detector concludes about one meter, in the words an analyst reads.
//!
//! An [`Assessment`] is the single output of the pure core for one meter at one moment.
//! Scan writes it as CSV/NDJSON, the daemon turns changes in it into alerts, and the
//! report draws it. This module owns the type and the arithmetic of the evidence
//! (rig counts, excess energy); the reasons themselves are phrased in `model`.

use serde::{Deserialize, Serialize};

use super::fleet::MeterId;

/// Rated power of one S19-class ASIC miner (Antminer S19 Pro: 3,250 W ±5%).
pub const S19_KW: f64 = 3.25;

/// The smallest flat load that can be a mining rig, kW. The smallest ASICs still found in
/// the field (Antminer L3+, older S9 boards run low) draw about 0.8 kW; a flat addition
/// below that is a dehumidifier, an aquarium or a heater, not a rig.
pub const MIN_RIG_KW: f64 = 0.8;

/// What the detector concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The load matches the mining signature.
    Suspect,
    /// Nothing suspicious.
    Clear,
    /// Matches the signature, but the registry lists the site as allowed (licensed miner).
    Allowed,
    /// Matches the signature, but the registry explains it (e.g. a declared data centre within its contracted load).
    Explained,
    /// Too little recent data to judge.
    InsufficientData,
}

impl Status {
    /// The status as written in CSV output.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Suspect => "suspect",
            Status::Clear => "clear",
            Status::Allowed => "allowed",
            Status::Explained => "explained",
            Status::InsufficientData => "insufficient_data",
        }
    }
}

/// The detector's conclusion about one meter at one moment, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    /// The meter.
    pub meter_id: MeterId,
    /// Calibrated probability-like score in [0, 1] that the recent load is mining.
    pub score: f64,
    /// True when the meter is a suspect an inspector should look at.
    pub flagged: bool,
    /// The verdict.
    pub status: Status,
    /// Mean kW over the suspicious episode (or the analysed window when there is none).
    pub level_kw: f64,
    /// Unexplained load in kW added *on average* over the episode, beyond what the meter drew
    /// before it (or beyond a quiet premises' floor when no switch-on was seen): the energy
    /// taken. Lower than the rigs' running power when they are curtailed or restart.
    pub excess_kw: f64,
    /// The rigs' running power (the flat step) in S19-class rigs.
    pub est_rigs: f64,
    /// `excess_kw` as energy per day.
    pub excess_kwh_per_day: f64,
    /// Hour index (unix seconds / 3600) at which the episode began: the onset when one was
    /// found, else the start of the analysed window.
    pub since_hour: i64,
    /// True when a step onset was found inside the window; false when the load was already
    /// like this when the window began.
    pub onset_found: bool,
    /// First hour of the analysed window.
    pub window_start_hour: i64,
    /// One past the last hour analysed ("as of").
    pub window_end_hour: i64,
    /// The comparable group the meter was matched to (e.g. "homes (evening peak)").
    pub peer_group: String,
    /// Median level of that group, kW.
    pub peer_level_kw: f64,
    /// The model cluster the meter fell in.
    pub cluster: usize,
    /// Plain-language reasons, strongest first.
    pub reasons: Vec<String>,
    /// Limits that apply to this verdict ("short history", "registered as commercial").
    pub notes: Vec<String>,
    /// Feature values by name, in the model's feature order.
    pub features: Vec<(String, f64)>,
}

impl Assessment {
    /// The verdict for a window with too little data to judge: nothing flagged, the reason
    /// stated, the window ending at `end_hour`.
    pub fn insufficient(
        meter_id: &MeterId,
        end_hour: i64,
        reason: String,
        notes: Vec<String>,
    ) -> Assessment {
        Assessment {
            meter_id: meter_id.clone(),
            score: 0.0,
            flagged: false,
            status: Status::InsufficientData,
            level_kw: 0.0,
            excess_kw: 0.0,
            est_rigs: 0.0,
            excess_kwh_per_day: 0.0,
            since_hour: end_hour,
            onset_found: false,
            window_start_hour: end_hour - crate::core::features::WINDOW_HOURS,
            window_end_hour: end_hour,
            peer_group: String::new(),
            peer_level_kw: 0.0,
            cluster: 0,
            reasons: vec![reason],
            notes,
            features: Vec::new(),
        }
    }

    /// Hours the episode has lasted at the time of the verdict.
    pub fn episode_hours(&self) -> i64 {
        self.window_end_hour - self.since_hour
    }

    /// Unexplained energy over the episode so far, kWh.
    pub fn excess_kwh_total(&self) -> f64 {
        self.excess_kw * self.episode_hours() as f64
    }

    /// The value of a named feature, if the model has it.
    pub fn feature(&self, name: &str) -> Option<f64> {
        self.features
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, v)| v)
    }
}

/// Converts an hour index to a UTC timestamp.
pub fn hour_to_datetime(hour: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(hour * 3600, 0).unwrap_or_default()
}

/// Rigs equivalent to `kw` of flat load.
pub fn rigs_for_kw(kw: f64) -> f64 {
    (kw / S19_KW).max(0.0)
}
