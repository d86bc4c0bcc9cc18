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
//! This module owns fitting, saving, loading (with a format and feature-set check),
//! scoring and the wording of reasons. It reads no files: callers pass text.

use linfa::prelude::*;
use linfa::DatasetBase;
use linfa_clustering::KMeans;
use linfa_nn::distance::L2Dist;
use ndarray::Array2;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;
use serde::{Deserialize, Serialize};

use super::features::{
    self, Measured, FEATURE_NAMES, LEVEL_VS_PEERS, N_FEATURES, PEER_FEATURE_NAMES, WINDOW_HOURS,
};
use super::verdict::{hour_to_datetime, rigs_for_kw};

/// Version of the saved model format; bump on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;

/// The default model, compiled into the binary (identical to `models/default.json`).
const EMBEDDED_MODEL: &str = include_str!("../../models/default.json");

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
    /// Feature values with `level_vs_peers` filled in.
    pub values: [f64; N_FEATURES],
    /// Per-feature pull towards the mining cluster (positive = looks like mining).
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

    /// Loads and checks a model file.
    pub fn load(path: &std::path::Path) -> Result<Model, ModelError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::Parse {
            source_name: name.clone(),
            detail: e.to_string(),
        })?;
        Model::from_json(&text, &name)
    }

    /// Serialises to pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a model always serialises")
    }

    fn check(&self, source_name: &str) -> Result<(), ModelError> {
        let expected: Vec<String> = FEATURE_NAMES.iter().map(|s| s.to_string()).collect();
        let expected_peer: Vec<String> = PEER_FEATURE_NAMES.iter().map(|s| s.to_string()).collect();
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
        if p.ncols() != PEER_FEATURE_NAMES.len()
            || p.nrows() != self.peers.len()
            || self.peer_scaler.mean.len() != p.ncols()
        {
            return Err(bad(format!(
                "peer clustering has {} centroids of {} values and a scaler of {}, for {} groups of {} features",
                p.nrows(),
                p.ncols(),
                self.peer_scaler.mean.len(),
                self.peers.len(),
                PEER_FEATURE_NAMES.len()
            )));
        }
        Ok(())
    }

    /// Fits a model on labelled samples.
    pub fn fit(samples: &[Sample], params: &TrainParams) -> Result<Model, ModelError> {
        let n_mining = samples.iter().filter(|s| s.mining).count();
        let n_clean = samples.len() - n_mining;
        if n_mining < params.n_clusters || n_clean < params.n_clusters {
            return Err(ModelError::Fit(format!(
                "need at least {} clean and {} mining samples, got {n_clean} and {n_mining}",
                params.n_clusters, params.n_clusters
            )));
        }

        // 1. Peers: cluster the clean samples' baseline shapes.
        let peer_rows: Vec<Vec<f64>> = samples.iter().map(|s| peer_vector(&s.measured)).collect();
        let clean_peer_rows: Vec<Vec<f64>> = samples
            .iter()
            .zip(&peer_rows)
            .filter(|(s, _)| !s.mining)
            .map(|(_, r)| r.clone())
            .collect();
        let mut peer_scaler = Scaler::fit(&clean_peer_rows);
        if let Some(w) = peer_scaler.weight.last_mut() {
            *w = PEER_LEVEL_WEIGHT;
        }
        let z: Vec<Vec<f64>> = clean_peer_rows
            .iter()
            .map(|r| peer_scaler.transform(r))
            .collect();
        let peer_kmeans = fit_kmeans(&z, params.n_peer_clusters, params.seed)?;
        let mut peers = Vec::new();
        let clean_assign: Vec<usize> = z
            .iter()
            .map(|r| nearest(peer_kmeans.centroids(), r).0)
            .collect();
        let clean_measured: Vec<&Measured> = samples
            .iter()
            .filter(|s| !s.mining)
            .map(|s| &s.measured)
            .collect();
        for g in 0..params.n_peer_clusters {
            let members: Vec<&Measured> = clean_measured
                .iter()
                .zip(&clean_assign)
                .filter(|(_, &a)| a == g)
                .map(|(m, _)| *m)
                .collect();
            let mut levels: Vec<f64> = members
                .iter()
                .map(|m| features::log_kw(m.baseline.mean_kw))
                .collect();
            let mut floors: Vec<f64> = members.iter().map(|m| m.baseline.floor_kw).collect();
            let (median, spread) = if levels.is_empty() {
                (0.0, 0.5)
            } else {
                median_mad(&mut levels)
            };
            let median_floor = if floors.is_empty() {
                0.0
            } else {
                features::quantile(&mut floors, 0.5)
            };
            let centroid: Vec<f64> = peer_kmeans
                .centroids()
                .row(g)
                .iter()
                .zip(&peer_scaler.mean)
                .zip(&peer_scaler.std)
                .map(|((z, m), s)| z * s + m)
                .collect();
            peers.push(PeerGroup {
                name: peer_name(&centroid, 10f64.powf(median) - 0.05),
                median_log_level: median,
                spread_log_level: spread.max(0.15),
                median_level_kw: (10f64.powf(median) - 0.05).max(0.0),
                median_floor_kw: median_floor,
                n_members: members.len(),
                threshold: 0.5,
            });
        }

        // Two groups can earn the same words; number the repeats so a reader can tell them apart.
        for i in 0..peers.len() {
            let n_before = peers[..i]
                .iter()
                .filter(|p| p.name == peers[i].name)
                .count();
            if n_before > 0 {
                peers[i].name = format!("{} {}", peers[i].name, n_before + 1);
            }
        }

        // 2. Detector: complete level_vs_peers, standardise, cluster, label the clusters.
        let mut partial = Model {
            format_version: FORMAT_VERSION,
            feature_names: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            peer_feature_names: PEER_FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            window_hours: WINDOW_HOURS,
            peer_scaler,
            peer_kmeans,
            peers,
            scaler: Scaler {
                mean: vec![0.0; N_FEATURES],
                std: vec![1.0; N_FEATURES],
                weight: vec![1.0; N_FEATURES],
            },
            detectors: Vec::new(),
            calibration: Calibration { a: 1.0, b: 0.0 },
            threshold: 0.5,
            training: TrainingSummary::default(),
        };
        let rows: Vec<Vec<f64>> = samples
            .iter()
            .map(|s| partial.complete(&s.measured).1.to_vec())
            .collect();
        partial.scaler = Scaler::fit(&rows);
        partial.scaler.weight = fisher_weights(&rows, &partial.scaler, samples);
        let z: Vec<Vec<f64>> = rows.iter().map(|r| partial.scaler.transform(r)).collect();
        partial.detectors = (0..params.n_fits.max(1))
            .map(|f| {
                Detector::fit(
                    &z,
                    samples,
                    params.n_clusters,
                    params.seed.wrapping_add(1 + f as u64),
                )
            })
            .collect::<Result<_, _>>()?;

        // 3. Calibrate the raw score and choose the threshold.
        let raw: Vec<f64> = z.iter().map(|r| partial.raw_score(r)).collect();
        let labels: Vec<bool> = samples.iter().map(|s| s.mining).collect();
        partial.calibration = platt(&raw, &labels);
        let scores: Vec<f64> = raw.iter().map(|&r| partial.calibration.apply(r)).collect();
        let mut clean_scores: Vec<f64> = scores
            .iter()
            .zip(&labels)
            .filter(|(_, &m)| !m)
            .map(|(&s, _)| s)
            .collect();
        partial.threshold = threshold_for(&mut clean_scores, params.target_fpr);
        let peer_of: Vec<usize> = samples
            .iter()
            .map(|s| partial.complete(&s.measured).0)
            .collect();
        for g in 0..partial.peers.len() {
            let mut group: Vec<f64> = (0..scores.len())
                .filter(|&i| !labels[i] && peer_of[i] == g)
                .map(|i| scores[i])
                .collect();
            // A group with few clean samples cannot support its own quantile: use the global one.
            partial.peers[g].threshold = if group.len() >= MIN_GROUP_SAMPLES {
                threshold_for(&mut group, params.target_fpr)
            } else {
                partial.threshold
            };
        }
        let flagged = |i: usize| scores[i] >= partial.peers[peer_of[i]].threshold;
        let train_fpr = (0..scores.len())
            .filter(|&i| !labels[i] && flagged(i))
            .count() as f64
            / clean_scores.len() as f64;
        let train_recall = (0..scores.len())
            .filter(|&i| labels[i] && flagged(i))
            .count() as f64
            / n_mining as f64;
        partial.training = TrainingSummary {
            command: params.command.clone(),
            n_meters: params.n_meters,
            n_samples: samples.len(),
            n_mining_samples: n_mining,
            seed: params.seed,
            target_fpr: params.target_fpr,
            train_fpr,
            train_recall,
        };
        partial.check("fitted model")?;
        Ok(partial)
    }

    /// Assigns the peer group and fills in `level_vs_peers`.
    fn complete(&self, m: &Measured) -> (usize, [f64; N_FEATURES]) {
        let pz = self.peer_scaler.transform(&peer_vector(m));
        let (peer, _) = nearest(self.peer_kmeans.centroids(), &pz);
        let g = &self.peers[peer];
        let mut values = m.values;
        values[LEVEL_VS_PEERS] =
            ((values[0] - g.median_log_level) / g.spread_log_level).clamp(-10.0, 10.0);
        (peer, values)
    }

    /// The ensemble's raw score: the mean of its detectors' raw scores.
    fn raw_score(&self, z: &[f64]) -> f64 {
        self.detectors.iter().map(|d| d.raw_score(z)).sum::<f64>()
            / self.detectors.len().max(1) as f64
    }

    /// Scores one measurement.
    pub fn score(&self, m: &Measured) -> Scored {
        let (peer, values) = self.complete(m);
        let z = self.scaler.transform(&values);
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
            values,
            pull,
        }
    }

    /// Plain-language reasons for a scored measurement, strongest first.
    /// `running_kw` is the rigs' power when running (counts rigs); `excess_kw` the power
    /// added on average (the energy taken).
    pub fn reasons(
        &self,
        m: &Measured,
        s: &Scored,
        running_kw: f64,
        excess_kw: f64,
    ) -> Vec<String> {
        let ep = &m.episode;
        let peer = &self.peers[s.peer];
        let mut out = Vec::new();
        // Half the interquartile range, as "±" around the median.
        let spread_pct = (ep.variability * 50.0).round();
        let since = match m.onset {
            Some(o) => format!(
                "since {}",
                hour_to_datetime(o.hour).format("%-d %b %Y %H:00 UTC")
            ),
            None => format!(
                "throughout the {} days analysed",
                (m.window_end_hour - m.window_start_hour) / 24
            ),
        };
        if s.flagged {
            out.push(format!(
                "flat {:.1} kW day and night {since} (±{spread_pct:.0}%)",
                ep.mean_kw
            ));
        } else {
            out.push(format!(
                "averages {:.1} kW {since} (±{spread_pct:.0}% hour to hour)",
                ep.mean_kw
            ));
        }
        let mut order: Vec<usize> = (0..N_FEATURES).collect();
        order.sort_by(|&a, &b| s.pull[b].total_cmp(&s.pull[a]));
        let ratio = ep.mean_kw / peer.median_level_kw.max(0.05);
        for j in order.into_iter().take(4) {
            let towards = s.pull[j] > 0.0;
            if s.flagged != towards {
                continue;
            }
            let v = s.values[j];
            let sentence = match FEATURE_NAMES[j] {
                "level_vs_peers" | "log_level" => {
                    if ratio >= 1.0 {
                        format!("{ratio:.1}× the typical level of comparable {}", peer.name)
                    } else {
                        format!(
                            "{:.0}% of the typical level of comparable {}",
                            ratio * 100.0,
                            peer.name
                        )
                    }
                }
                "log_floor" | "base_ratio" => {
                    let share = ep.floor_kw / ep.mean_kw.max(1e-9);
                    if share < 0.995 {
                        format!(
                            "at or above {:.1} kW in 80% of hours ({:.0}% of its average)",
                            ep.floor_kw,
                            100.0 * share
                        )
                    } else {
                        format!("at or above {:.1} kW in 80% of hours: its average is pulled down only by short breaks", ep.floor_kw)
                    }
                }
                "load_factor" => format!(
                    "load factor {:.2} (homes are near 0.3, mining rigs near 1)",
                    ep.mean_kw / ep.peak_kw.max(1e-9)
                ),
                "variability" => format!(
                    "half of all hours within ±{:.0}% of the median",
                    ep.variability * 50.0
                ),
                "night_day" if v.is_finite() => {
                    format!(
                        "night-time load is {:.0}% of daytime load",
                        100.0 * (2f64.powf(v))
                    )
                }
                "daily_shape" if v.is_finite() => {
                    if v < 0.2 {
                        "no daily rhythm".to_string()
                    } else {
                        format!("a daily rhythm explains {:.0}% of the variation", v * 100.0)
                    }
                }
                "weekly_shape" if v.is_finite() => {
                    if v < 0.1 {
                        "no weekly rhythm: weekends look like weekdays".to_string()
                    } else {
                        format!(
                            "a weekly rhythm explains {:.0}% of the day-to-day variation",
                            v * 100.0
                        )
                    }
                }
                "uptime" => format!(
                    "on at ≥75% of its median level in {:.0}% of hours",
                    v * 100.0
                ),
                "step" | "step_flatness" => match m.onset {
                    Some(o) => format!(
                        "stepped up by {:.1} kW on {} and stayed up{}",
                        o.added_kw,
                        hour_to_datetime(o.hour).format("%-d %b"),
                        if o.flatness > 0.6 {
                            ", the same at every time of day"
                        } else {
                            ""
                        }
                    ),
                    None => "no step change in the window".to_string(),
                },
                _ => continue,
            };
            if !out.contains(&sentence) {
                out.push(sentence);
            }
        }
        if s.flagged {
            let rigs = rigs_for_kw(running_kw);
            let rig_text = if rigs < 0.75 {
                "less than one S19-class rig (≈ an older S9)".to_string()
            } else {
                format!(
                    "≈{:.0} S19-class rig{}",
                    rigs,
                    if rigs.round() == 1.0 { "" } else { "s" }
                )
            };
            out.push(format!(
                "{rig_text}, ≈{:.0} kWh/day unexplained",
                excess_kw * 24.0
            ));
        }
        out
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
    /// Fits one clustering and labels its clusters by their training members.
    fn fit(
        z: &[Vec<f64>],
        samples: &[Sample],
        k: usize,
        seed: u64,
    ) -> Result<Detector, ModelError> {
        let kmeans = fit_kmeans(z, k, seed)?;
        let assign = kmeans.predict(&to_array(z));
        let mut clusters = vec![
            ClusterInfo {
                n_clean: 0,
                n_mining: 0,
                mining: false,
                reach: 0.0
            };
            k
        ];
        let mut member_dist: Vec<Vec<f64>> = vec![Vec::new(); k];
        for ((s, row), &c) in samples.iter().zip(z).zip(assign.iter()) {
            if s.mining {
                clusters[c].n_mining += 1;
            } else {
                clusters[c].n_clean += 1;
            }
            member_dist[c].push(dist(row, kmeans.centroids().row(c).iter()));
        }
        for (c, d) in clusters.iter_mut().zip(member_dist.iter_mut()) {
            c.mining = c.n_mining > c.n_clean;
            c.reach = if d.is_empty() {
                0.0
            } else {
                features::quantile(d, 0.99)
            };
        }
        if !clusters.iter().any(|c| c.mining) {
            return Err(ModelError::Fit(
                "no cluster is mostly mining: the features do not separate the labels".into(),
            ));
        }
        Ok(Detector { kmeans, clusters })
    }

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

/// The peer-clustering input: scale-free shape of the baseline.
fn peer_vector(m: &Measured) -> Vec<f64> {
    let b = &m.baseline;
    vec![
        if b.mean_kw > 1e-9 {
            (b.floor_kw / b.mean_kw).min(1.5)
        } else {
            0.0
        },
        if b.peak_kw > 1e-9 {
            (b.mean_kw / b.peak_kw).min(1.5)
        } else {
            0.0
        },
        b.night_day,
        b.daily_shape,
        b.weekly_shape,
        features::log_kw(b.mean_kw),
    ]
}

/// Names a peer group from its centroid (in raw units) and median level.
fn peer_name(c: &[f64], level_kw: f64) -> String {
    let (base_ratio, night_day, daily, weekly) = (c[0], c[2], c[3], c[4]);
    let who = if level_kw < 0.15 {
        "near-empty premises"
    } else if level_kw < 4.0 {
        "homes"
    } else {
        "businesses"
    };
    let how = if base_ratio > 0.6 && night_day > -0.5 {
        "round the clock"
    } else if night_day > 0.5 {
        "night-heavy"
    } else if weekly > 0.3 && night_day < -1.0 {
        "weekday daytime"
    } else if night_day < -1.0 {
        "daytime"
    } else if daily > 0.3 {
        "evening peak"
    } else {
        "irregular"
    };
    format!("{who} ({how})")
}

/// How far beyond its 99th-percentile member a mining cluster still vouches for a meter:
/// new miners land in sparse corners of a cluster more often than its training members did.
const REACH_FACTOR: f64 = 1.5;

/// Weight of the baseline's size in the peer clustering: "comparable" must mean the same
/// scale of premises first (a school is not compared with homes), then the same shape.
const PEER_LEVEL_WEIGHT: f64 = 3.0;

/// Fewest clean training samples a peer group needs for a threshold of its own.
const MIN_GROUP_SAMPLES: usize = 300;

/// The score just above the clean score ranked at `target_fpr` (sorts `clean` descending),
/// never below 0.5: a flag should mean "more likely mining than not".
fn threshold_for(clean: &mut [f64], target_fpr: f64) -> f64 {
    clean.sort_by(|a, b| b.total_cmp(a));
    let k = ((target_fpr * clean.len() as f64).floor() as usize).min(clean.len().saturating_sub(1));
    clean.get(k).map_or(0.5, |&s| (s + 1e-9).max(0.5))
}

/// Weights from each feature's Fisher score, (μ_mining − μ_clean)² / (σ²_mining + σ²_clean),
/// on standardised values: the square root of the score relative to the best feature,
/// floored at 0.25 so no feature is silenced entirely.
fn fisher_weights(rows: &[Vec<f64>], scaler: &Scaler, samples: &[Sample]) -> Vec<f64> {
    let d = scaler.mean.len();
    let mut score = vec![0.0; d];
    for (j, sc) in score.iter_mut().enumerate() {
        let stats = |mining: bool| {
            let v: Vec<f64> = rows
                .iter()
                .zip(samples)
                .filter(|(r, s)| s.mining == mining && r[j].is_finite())
                .map(|(r, _)| (r[j] - scaler.mean[j]) / scaler.std[j])
                .collect();
            let m = v.iter().sum::<f64>() / v.len().max(1) as f64;
            let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len().max(1) as f64;
            (m, var)
        };
        let (mm, vm) = stats(true);
        let (mc, vc) = stats(false);
        *sc = (mm - mc).powi(2) / (vm + vc + 1e-9);
    }
    let best = score.iter().copied().fold(0.0, f64::max).max(1e-12);
    score.iter().map(|s| (s / best).sqrt().max(0.25)).collect()
}

fn median_mad(v: &mut [f64]) -> (f64, f64) {
    let med = features::quantile(v, 0.5);
    let mut dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
    (med, 1.4826 * features::quantile(&mut dev, 0.5))
}

fn to_array(rows: &[Vec<f64>]) -> Array2<f64> {
    let d = rows.first().map_or(0, |r| r.len());
    Array2::from_shape_vec((rows.len(), d), rows.iter().flatten().copied().collect())
        .expect("rows have equal length")
}

fn fit_kmeans(rows: &[Vec<f64>], k: usize, seed: u64) -> Result<KMeans<f64, L2Dist>, ModelError> {
    let x = to_array(rows);
    let ds = DatasetBase::from(x);
    KMeans::params_with_rng(k, Xoshiro256Plus::seed_from_u64(seed))
        .n_runs(4)
        .max_n_iterations(300)
        .tolerance(1e-6)
        .fit(&ds)
        .map_err(|e| ModelError::Fit(e.to_string()))
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

/// One-dimensional logistic regression by Newton's method, with Platt's target smoothing.
fn platt(raw: &[f64], labels: &[bool]) -> Calibration {
    let n_pos = labels.iter().filter(|&&l| l).count() as f64;
    let n_neg = labels.len() as f64 - n_pos;
    let t_pos = (n_pos + 1.0) / (n_pos + 2.0);
    let t_neg = 1.0 / (n_neg + 2.0);
    let (mut a, mut b) = (1.0f64, 0.0f64);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 1e-9, 0.0, 1e-9);
        for (&x, &l) in raw.iter().zip(labels) {
            let p = 1.0 / (1.0 + (-(a * x + b)).exp());
            let t = if l { t_pos } else { t_neg };
            let w = (p * (1.0 - p)).max(1e-12);
            ga += (p - t) * x;
            gb += p - t;
            haa += w * x * x;
            hab += w * x;
            hbb += w;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-18 {
            break;
        }
        let da = (hbb * ga - hab * gb) / det;
        let db = (haa * gb - hab * ga) / det;
        a -= da;
        b -= db;
        if da.abs() < 1e-10 && db.abs() < 1e-10 {
            break;
        }
    }
    Calibration { a, b }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platt_separates_two_groups() {
        let raw = [-2.0, -1.5, -1.0, -0.5, 0.5, 1.0, 1.5, 2.0];
        let labels = [false, false, false, false, true, true, true, true];
        let c = platt(&raw, &labels);
        assert!(c.apply(2.0) > 0.8 && c.apply(-2.0) < 0.2, "{c:?}");
        assert!(c.a > 0.0);
    }

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
