//! The trained model: two linfa k-means clusterings and a calibration, saved with serde.
//!
//! 1. **Peers.** A k-means over scale-free shape features of each meter's *baseline*
//!    (before any step) groups meters that behave alike — evening-peak homes, daytime
//!    businesses, round-the-clock sites — without a registry. Each group keeps the median
//!    and spread of its members' levels, so "7× comparable homes" has a meaning.
//! 2. **Detector.** A k-means over all standardised features (including the level against
//!    peers) partitions the population; clusters whose training members were mostly mining
//!    mark where the mining signature lives in feature space. A meter's raw score is how
//!    much nearer it sits to a mining centroid than to a clean one.
//! 3. **Calibration.** A logistic (Platt) fit turns the raw score into [0, 1]; the flag
//!    threshold is chosen on the training population for a target false-positive rate.
//!
//! This module owns the model's types, loading (with a format and feature-set check) and
//! scoring; `fit` fits one, `reasons` words a scored meter (one sentence per
//! [`Feature`](super::features::Feature), matched on the feature, not its name). It reads
//! no files: callers read the bytes and pass them in.

mod fit;
mod reasons;

use linfa_clustering::KMeans;
use linfa_nn::distance::L2Dist;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::features::{Features, Measured, FEATURE_NAMES, N_FEATURES, PEER_FEATURES, WINDOW_HOURS};
/// Version of the saved model format; bump on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;

/// The default model, compiled into the binary (identical to `models/default.json`).
const EMBEDDED_MODEL: &str = include_str!("../../../models/default.json");

/// A fitted model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Model {
    /// Format version of this file.
    pub format_version: u32,
    /// Feature names the detector was trained on, in order.
    pub feature_names: Vec<String>,
    /// Shape features the peer clustering was trained on, in order.
    pub peer_feature_names: Vec<String>,
    /// Hours in the analysed window.
    pub window_hours: i64,
    /// Standardisation of the peer features.
    pub peer_scaler: Scaler,
    /// The peer clustering.
    pub peer_kmeans: KMeans<f64, L2Dist>,
    /// What each peer cluster means.
    pub peers: Vec<PeerGroup>,
    /// Standardisation of the detector features.
    pub scaler: Scaler,
    /// The detector: several k-means fits of the same population with different seeds,
    /// whose raw scores are averaged (one fit's boundary is partly an accident of its seed).
    pub detectors: Vec<Detector>,
    /// Raw score → [0, 1].
    pub calibration: Calibration,
    /// Calibrated score at or above which a meter is flagged, over all training samples;
    /// each peer group carries its own (see [`PeerGroup::threshold`]).
    pub threshold: f64,
    /// How the model was made.
    pub training: TrainingSummary,
}

/// Per-feature mean, standard deviation and weight; NaN inputs standardise to 0 (the mean).
///
/// The weight stretches a standardised feature before clustering. k-means treats every
/// axis alike, so without weights a weak feature moves a meter as far as a decisive one;
/// the detector's weights come from each feature's Fisher score on the training labels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scaler {
    /// Means.
    pub mean: Vec<f64>,
    /// Standard deviations (never zero).
    pub std: Vec<f64>,
    /// Multipliers applied after standardising (1 for the peer clustering).
    pub weight: Vec<f64>,
}

impl Scaler {
    /// Fits on rows, skipping NaN.
    pub fn fit(rows: &[Vec<f64>]) -> Scaler {
        let d = rows.first().map_or(0, |r| r.len());
        let mut mean = vec![0.0; d];
        let mut std = vec![1.0; d];
        let weight = vec![1.0; d];
        for j in 0..d {
            let v: Vec<f64> = rows
                .iter()
                .map(|r| r[j])
                .filter(|x| x.is_finite())
                .collect();
            if v.is_empty() {
                continue;
            }
            let m = v.iter().sum::<f64>() / v.len() as f64;
            let s = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
            mean[j] = m;
            std[j] = if s > 1e-9 { s } else { 1.0 };
        }
        Scaler { mean, std, weight }
    }

    /// Standardises one row.
    pub fn transform(&self, row: &[f64]) -> Vec<f64> {
        row.iter()
            .enumerate()
            .map(|(j, &x)| {
                if x.is_finite() {
                    self.weight[j] * (x - self.mean[j]) / self.std[j]
                } else {
                    0.0
                }
            })
            .collect()
    }
}

/// A group of comparable meters found by the peer clustering.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerGroup {
    /// Plain name, e.g. "homes (evening peak)".
    pub name: String,
    /// Median log10 level of clean members.
    pub median_log_level: f64,
    /// Robust spread (scaled MAD) of the log10 level, floored.
    pub spread_log_level: f64,
    /// Median level, kW.
    pub median_level_kw: f64,
    /// Median floor (10th-percentile kW) of clean members.
    pub median_floor_kw: f64,
    /// Clean training meters in the group.
    pub n_members: usize,
    /// Calibrated score at or above which a meter of this group is flagged, chosen for the
    /// target false-positive rate among the group's clean training samples (a home and a
    /// cold store do not share a base rate of odd-looking weeks).
    pub threshold: f64,
}

/// What a detector cluster means.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// Clean training samples in the cluster.
    pub n_clean: usize,
    /// Mining training samples in the cluster.
    pub n_mining: usize,
    /// True when the cluster marks the mining signature.
    pub mining: bool,
    /// 99th-percentile distance of the members from the centroid: how far the cluster's
    /// kind of meter reaches in feature space.
    pub reach: f64,
}

/// Logistic calibration: score = 1 / (1 + exp(−(a·raw + b))).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Calibration {
    /// Slope.
    pub a: f64,
    /// Intercept.
    pub b: f64,
}

impl Calibration {
    /// Calibrated score for a raw score.
    pub fn apply(&self, raw: f64) -> f64 {
        1.0 / (1.0 + (-(self.a * raw + self.b)).exp())
    }
}

/// How a model was trained, for the record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// The command line that made the model.
    pub command: String,
    /// Meters read.
    pub n_meters: usize,
    /// Training samples (meter × moment).
    pub n_samples: usize,
    /// Samples labelled mining.
    pub n_mining_samples: usize,
    /// Seed of the clusterings.
    pub seed: u64,
    /// Clean-sample false-positive rate the threshold was chosen for.
    pub target_fpr: f64,
    /// On the training samples at the threshold: share of clean samples flagged.
    pub train_fpr: f64,
    /// On the training samples at the threshold: share of mining samples flagged.
    pub train_recall: f64,
}

/// Why a model could not be loaded or fitted.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The model file could not be read (reported by the caller that reads it).
    #[error("{source_name}: cannot read the model")]
    Io {
        /// Where it came from.
        source_name: String,
        /// The reader's error.
        #[source]
        source: std::io::Error,
    },
    /// Not valid JSON for a model.
    #[error("{source_name}: not a flatline model: {detail}")]
    Parse {
        /// Where it came from.
        source_name: String,
        /// The parser's words.
        detail: String,
    },
    /// Written by an incompatible flatline.
    #[error("{source_name}: model format {found}, this flatline reads format {FORMAT_VERSION}; retrain with `flatline train`")]
    Version {
        /// Where it came from.
        source_name: String,
        /// The version in the file.
        found: u32,
    },
    /// Trained on other features.
    #[error("{source_name}: model was trained on features [{found}] but this flatline computes [{expected}]; retrain with `flatline train`")]
    Features {
        /// Where it came from.
        source_name: String,
        /// Features in the file.
        found: String,
        /// Features this build computes.
        expected: String,
    },
    /// Internally inconsistent (dimensions, empty clusters).
    #[error("{source_name}: model is inconsistent: {detail}")]
    Inconsistent {
        /// Where it came from.
        source_name: String,
        /// What is wrong.
        detail: String,
    },
    /// Fitting failed.
    #[error("training failed: {0}")]
    Fit(String),
}

/// Settings for [`Model::fit`].
#[derive(Debug, Clone)]
pub struct TrainParams {
    /// Peer clusters.
    pub n_peer_clusters: usize,
    /// Detector clusters per fit.
    pub n_clusters: usize,
    /// Independent k-means fits in the detector ensemble.
    pub n_fits: usize,
    /// Seed for the clusterings.
    pub seed: u64,
    /// Share of clean samples the threshold may flag.
    pub target_fpr: f64,
    /// Recorded in the model.
    pub command: String,
    /// Recorded in the model.
    pub n_meters: usize,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            n_peer_clusters: 6,
            n_clusters: 40,
            n_fits: 5,
            seed: 42,
            target_fpr: 0.005,
            command: String::new(),
            n_meters: 0,
        }
    }
}

/// One training sample: a meter measured at one moment, and whether it was mining then.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The measurement.
    pub measured: Measured,
    /// The label.
    pub mining: bool,
}

/// A scored measurement, before the registry and wording.
#[derive(Debug, Clone)]
pub struct Scored {
    /// Calibrated score.
    pub score: f64,
    /// Score at or above the threshold.
    pub flagged: bool,
    /// Assigned detector cluster.
    pub cluster: usize,
    /// Assigned peer group.
    pub peer: usize,
    /// The features with `level_vs_peers` filled in.
    pub features: Features,
    /// Per-feature pull towards the mining cluster (positive = looks like mining), in
    /// the order of the `Feature` enum.
    pub pull: [f64; N_FEATURES],
}

impl Model {
    /// The model compiled into the binary.
    pub fn embedded() -> &'static Model {
        static MODEL: std::sync::OnceLock<Model> = std::sync::OnceLock::new();
        MODEL.get_or_init(|| {
            Model::from_json(EMBEDDED_MODEL, "embedded default model")
                .expect("the embedded default model is checked by a test")
        })
    }

    /// Parses and checks a model from the bytes of a model file, which the caller read.
    pub fn from_bytes(bytes: &[u8], source_name: &str) -> Result<Model, ModelError> {
        let text = std::str::from_utf8(bytes).map_err(|e| ModelError::Parse {
            source_name: source_name.into(),
            detail: e.to_string(),
        })?;
        Model::from_json(text, source_name)
    }

    /// Parses and checks a model.
    pub fn from_json(text: &str, source_name: &str) -> Result<Model, ModelError> {
        // Check the version before the full parse so an old file gets the clear message.
        #[derive(Deserialize)]
        struct Head {
            format_version: u32,
        }
        let head: Head = serde_json::from_str(text).map_err(|e| ModelError::Parse {
            source_name: source_name.into(),
            detail: e.to_string(),
        })?;
        if head.format_version != FORMAT_VERSION {
            return Err(ModelError::Version {
                source_name: source_name.into(),
                found: head.format_version,
            });
        }
        let model: Model = serde_json::from_str(text).map_err(|e| ModelError::Parse {
            source_name: source_name.into(),
            detail: e.to_string(),
        })?;
        model.check(source_name)?;
        Ok(model)
    }

    /// Serialises to pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a model always serialises")
    }

    fn check(&self, source_name: &str) -> Result<(), ModelError> {
        let expected: Vec<String> = FEATURE_NAMES.iter().map(|s| s.to_string()).collect();
        let expected_peer: Vec<String> = peer_feature_names();
        if self.feature_names != expected || self.peer_feature_names != expected_peer {
            return Err(ModelError::Features {
                source_name: source_name.into(),
                found: [
                    self.feature_names.join(", "),
                    self.peer_feature_names.join(", "),
                ]
                .join(" | "),
                expected: [expected.join(", "), expected_peer.join(", ")].join(" | "),
            });
        }
        let bad = |detail: String| ModelError::Inconsistent {
            source_name: source_name.into(),
            detail,
        };
        if self.window_hours != WINDOW_HOURS {
            return Err(bad(format!(
                "window of {} h, this flatline analyses {} h",
                self.window_hours, WINDOW_HOURS
            )));
        }
        if self.detectors.is_empty() || self.scaler.mean.len() != N_FEATURES {
            return Err(bad("no detector, or a scaler of the wrong size".into()));
        }
        for d in &self.detectors {
            let c = d.kmeans.centroids();
            if c.ncols() != N_FEATURES || c.nrows() != d.clusters.len() {
                return Err(bad("detector dimensions do not match its features".into()));
            }
            if !d.clusters.iter().any(|c| c.mining) || !d.clusters.iter().any(|c| !c.mining) {
                return Err(bad(
                    "each detector needs at least one mining and one clean cluster".into(),
                ));
            }
        }
        let p = self.peer_kmeans.centroids();
        if p.ncols() != PEER_FEATURES.len()
            || p.nrows() != self.peers.len()
            || self.peer_scaler.mean.len() != p.ncols()
        {
            return Err(bad(format!(
                "peer clustering has {} centroids of {} values and a scaler of {}, for {} groups of {} features",
                p.nrows(),
                p.ncols(),
                self.peer_scaler.mean.len(),
                self.peers.len(),
                PEER_FEATURES.len()
            )));
        }
        Ok(())
    }

    /// Assigns the peer group and fills in `level_vs_peers`.
    fn complete(&self, m: &Measured) -> (usize, Features) {
        let pz = self.peer_scaler.transform(&peer_vector(m));
        let (peer, _) = nearest(self.peer_kmeans.centroids(), &pz);
        let g = &self.peers[peer];
        let mut features = m.features;
        features.level_vs_peers =
            ((features.log_level - g.median_log_level) / g.spread_log_level).clamp(-10.0, 10.0);
        (peer, features)
    }

    /// The ensemble's raw score: the mean of its detectors' raw scores.
    fn raw_score(&self, z: &[f64]) -> f64 {
        self.detectors.iter().map(|d| d.raw_score(z)).sum::<f64>()
            / self.detectors.len().max(1) as f64
    }

    /// Scores one measurement.
    pub fn score(&self, m: &Measured) -> Scored {
        let (peer, features) = self.complete(m);
        let z = self.scaler.transform(&features.to_array());
        let first = &self.detectors[0];
        let (clean, mine) = first.nearest_by_kind(&z);
        // The nearest centroid of all is the nearer of the nearest of each kind (the lower
        // index on a tie, as a scan over all centroids finds it).
        let cluster = nearer(clean, mine).0;
        let score = self.calibration.apply(self.raw_score(&z));
        // A feature pulls towards mining when it is closer to the mining centroid's value
        // than to the clean centroid's value (in the first fit); this orders the reasons.
        let c = first.kmeans.centroids();
        let mut pull = [0.0; N_FEATURES];
        for j in 0..N_FEATURES {
            pull[j] = (z[j] - c[[clean.0, j]]).powi(2) - (z[j] - c[[mine.0, j]]).powi(2);
        }
        Scored {
            score,
            flagged: score >= self.peers[peer].threshold,
            cluster,
            peer,
            features,
            pull,
        }
    }
}

/// One k-means fit of the standardised population, with what each cluster means.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Detector {
    /// The clustering.
    pub kmeans: KMeans<f64, L2Dist>,
    /// What each cluster means, in centroid order.
    pub clusters: Vec<ClusterInfo>,
}
impl Detector {
    /// How much nearer the meter sits to a mining centroid than to a clean one.
    ///
    /// Nearest-prototype scoring alone would hand a meter unlike anything seen in training
    /// (a big step on a load that is not flat at all) to whichever prototype is less far,
    /// sometimes a mining one. So a meter beyond the *reach* of its nearest mining cluster
    /// (the 99th-percentile distance of that cluster's members) scores no higher than how
    /// far outside that reach it lies, negated: not like any mining seen.
    fn raw_score(&self, z: &[f64]) -> f64 {
        let (d_clean, d_mine) = self.nearest_by_kind(z);
        let raw = d_clean.1 - d_mine.1;
        let reach = REACH_FACTOR * self.clusters[d_mine.0].reach;
        if d_mine.1 > reach {
            raw.min(reach - d_mine.1)
        } else {
            raw
        }
    }

    /// (index, distance) of the nearest clean and the nearest mining centroid.
    fn nearest_by_kind(&self, z: &[f64]) -> ((usize, f64), (usize, f64)) {
        let c = self.kmeans.centroids().as_standard_layout();
        let rows = c
            .as_slice()
            .expect("a standard-layout array is one slice")
            .chunks_exact(c.ncols());
        let mut clean = (0, f64::INFINITY);
        let mut mine = (0, f64::INFINITY);
        debug_assert_eq!(
            rows.len(),
            self.clusters.len(),
            "checked when the model loads"
        );
        for (i, (info, row)) in self.clusters.iter().zip(rows).enumerate() {
            let d = dist(z, row.iter());
            let slot = if info.mining { &mut mine } else { &mut clean };
            if d < slot.1 {
                *slot = (i, d);
            }
        }
        (clean, mine)
    }
}

/// The peer-clustering input: the [`PEER_FEATURES`] of the baseline's shape.
fn peer_vector(m: &Measured) -> Vec<f64> {
    let baseline = Features::of(&m.baseline, None);
    PEER_FEATURES.iter().map(|&f| baseline.get(f)).collect()
}

/// The names of [`PEER_FEATURES`], as a model file lists them.
fn peer_feature_names() -> Vec<String> {
    PEER_FEATURES.iter().map(|f| f.name().to_string()).collect()
}

/// How far beyond its 99th-percentile member a mining cluster still vouches for a meter:
/// new miners land in sparse corners of a cluster more often than its training members did.
const REACH_FACTOR: f64 = 1.5;

fn to_array(rows: &[Vec<f64>]) -> Array2<f64> {
    let d = rows.first().map_or(0, |r| r.len());
    Array2::from_shape_vec((rows.len(), d), rows.iter().flatten().copied().collect())
        .expect("rows have equal length")
}

/// Euclidean distance between a centroid row and a point.
fn dist<'a>(z: &[f64], row: impl Iterator<Item = &'a f64>) -> f64 {
    row.zip(z).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt()
}

/// The nearer of two (index, distance) candidates, the lower index on a tie: what
/// [`nearest`] over both candidates' centroids would pick.
fn nearer(a: (usize, f64), b: (usize, f64)) -> (usize, f64) {
    if a.1 < b.1 || (a.1 == b.1 && a.0 < b.0) {
        a
    } else {
        b
    }
}

fn nearest(centroids: &Array2<f64>, z: &[f64]) -> (usize, f64) {
    let c = centroids.as_standard_layout();
    let flat = c.as_slice().expect("a standard-layout array is one slice");
    let mut best = (0, f64::INFINITY);
    for (i, row) in flat.chunks(c.ncols().max(1)).enumerate() {
        let d = dist(z, row.iter());
        if d < best.1 {
            best = (i, d);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use linfa::prelude::*;

    #[test]
    fn scaler_maps_nan_to_the_mean() {
        let s = Scaler::fit(&[vec![1.0, f64::NAN], vec![3.0, 2.0]]);
        assert_eq!(s.weight, vec![1.0, 1.0]);
        assert_eq!(s.transform(&[2.0, f64::NAN]), vec![0.0, 0.0]);
    }

    #[test]
    fn the_embedded_model_loads() {
        let m = Model::embedded();
        assert_eq!(m.feature_names.len(), N_FEATURES);
        assert!(m
            .detectors
            .iter()
            .all(|d| d.clusters.iter().any(|c| c.mining)));
    }

    #[test]
    fn a_model_for_other_features_is_refused_with_a_clear_error() {
        let mut v: serde_json::Value = serde_json::from_str(EMBEDDED_MODEL).unwrap();
        v["feature_names"][0] = "something_else".into();
        let e = Model::from_json(&v.to_string(), "old.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("old.json") && e.contains("retrain"), "{e}");
    }

    #[test]
    fn our_nearest_centroid_is_linfas_own_assignment() {
        // Scoring reads the centroids directly; this pins it to what linfa's predict says.
        let m = Model::embedded();
        let rows: Vec<Vec<f64>> = (0..200)
            .map(|i| {
                (0..N_FEATURES)
                    .map(|j| (((i * 31 + j * 17) % 97) as f64 / 97.0 - 0.5) * 4.0)
                    .collect()
            })
            .collect();
        for d in &m.detectors {
            let linfa = d.kmeans.predict(&to_array(&rows));
            for (row, &c) in rows.iter().zip(linfa.iter()) {
                assert_eq!(nearest(d.kmeans.centroids(), row).0, c);
            }
        }
    }

    #[test]
    fn the_nearer_of_the_nearest_clean_and_mining_centroids_is_the_nearest_of_all() {
        let m = Model::embedded();
        for i in 0..500usize {
            let z: Vec<f64> = (0..N_FEATURES)
                .map(|j| (((i * 37 + j * 13) % 101) as f64 / 101.0 - 0.5) * 6.0)
                .collect();
            for d in &m.detectors {
                let (clean, mine) = d.nearest_by_kind(&z);
                assert_eq!(nearer(clean, mine), nearest(d.kmeans.centroids(), &z));
            }
        }
    }

    #[test]
    fn a_model_of_another_format_version_is_refused() {
        let mut v: serde_json::Value = serde_json::from_str(EMBEDDED_MODEL).unwrap();
        v["format_version"] = 99.into();
        let e = Model::from_json(&v.to_string(), "future.json").unwrap_err();
        assert!(matches!(e, ModelError::Version { found: 99, .. }), "{e}");
    }
}
