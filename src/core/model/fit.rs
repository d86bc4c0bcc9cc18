//! Fitting a model on labelled samples: the peer clustering, the detector ensemble with
//! Fisher-score weights, the Platt calibration and the per-group thresholds.

use linfa::prelude::*;
use linfa::DatasetBase;
use linfa_clustering::KMeans;
use linfa_nn::distance::L2Dist;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;

use super::{
    dist, nearest, peer_feature_names, peer_vector, to_array, Calibration, ClusterInfo, Detector,
    Model, ModelError, PeerGroup, Sample, Scaler, TrainParams, TrainingSummary, FORMAT_VERSION,
};
use crate::core::features::{self, Measured, FEATURE_NAMES, N_FEATURES, WINDOW_HOURS};

impl Model {
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
            peer_feature_names: peer_feature_names(),
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
            .map(|s| partial.complete(&s.measured).1.to_array().to_vec())
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
}
