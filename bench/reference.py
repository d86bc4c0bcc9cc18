"""The Python reference for bench/run.sh: what a utility's data team would write instead of
`flatline scan`, the usual way — pandas to read the long dump and build hourly series per
meter, the same features as flatline (as far as they translate to a few lines of pandas),
then StandardScaler + scikit-learn KMeans, and a ranked list of suspects.

It is meant to be a fair, readable peer, not a strawman: vectorised pandas wherever pandas
offers it (read_csv with dtypes, one to_datetime with an explicit format, a groupby-resample,
groupby aggregations), a per-meter Python function only where a feature genuinely needs the
meter's own series (the step search). It is not meant to find the same suspects as
flatline: flatline's model is trained, this one clusters and ranks by a simple rule.

Usage: python bench/reference.py DUMP.csv [--out suspects.csv]
"""

import argparse
import sys

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

WINDOW_HOURS = 13 * 7 * 24  # flatline's analysed window: 13 weeks of hours
EPISODE_HOURS = 28 * 24  # the shape features describe the last 28 days
MIN_VALID_HOURS = 72
N_CLUSTERS = 40
N_FITS = 5  # flatline scores with an ensemble of 5 k-means fits

FEATURES = [
    "log_level",
    "log_floor",
    "base_ratio",
    "load_factor",
    "variability",
    "night_day",
    "daily_shape",
    "weekly_shape",
    "uptime",
    "step",
]


def read_hourly(path):
    """The dump as one column of hourly average kW per (meter, hour)."""
    df = pd.read_csv(path, dtype={"meter_id": "category", "kwh": "float32"})
    df["timestamp"] = pd.to_datetime(df["timestamp"], format="%Y-%m-%d %H:%M:%S")
    # kWh per hour is the hour's average kW; hours with no reading stay missing (NaN).
    hourly = (
        df.set_index("timestamp")
        .groupby("meter_id", observed=True)["kwh"]
        .resample("1h")
        .sum(min_count=1)
    )
    return hourly.rename("kw").reset_index()


def last_window(hourly):
    """Each meter's last WINDOW_HOURS hours, and the last EPISODE_HOURS of those."""
    end = hourly.groupby("meter_id", observed=True)["timestamp"].transform("max")
    age_h = (end - hourly["timestamp"]) / pd.Timedelta(hours=1)
    window = hourly[age_h < WINDOW_HOURS].copy()
    window["recent"] = age_h[age_h < WINDOW_HOURS] < EPISODE_HOURS
    return window


def shape_features(recent):
    """Level, floor, spread, rhythm and uptime of each meter's last 28 days."""
    g = recent.groupby("meter_id", observed=True)["kw"]
    f = pd.DataFrame(
        {
            "mean": g.mean(),
            "floor": g.quantile(0.20),
            "q25": g.quantile(0.25),
            "median": g.median(),
            "q75": g.quantile(0.75),
            "peak": g.quantile(0.98),
            "n": g.count(),
        }
    )
    f["log_level"] = np.log10(f["mean"].clip(lower=0) + 0.05)
    f["log_floor"] = np.log10(f["floor"].clip(lower=0) + 0.05)
    f["base_ratio"] = (f["floor"] / f["mean"]).where(f["mean"] > 1e-9, 0).clip(upper=1.5)
    f["load_factor"] = (f["mean"] / f["peak"]).where(f["peak"] > 1e-9, 0).clip(upper=1.5)
    f["variability"] = ((f["q75"] - f["q25"]) / f["median"]).where(f["median"] > 1e-9, 0).clip(upper=3)

    above = recent["kw"] >= 0.75 * recent["meter_id"].map(f["median"]).astype("float64")
    f["uptime"] = above.groupby(recent["meter_id"], observed=True).mean()

    # The mean profile by hour of day: night (0-6 h) over day (9-21 h), and its IQR over median.
    hod = recent["timestamp"].dt.hour
    profile = recent.groupby(["meter_id", hod], observed=True)["kw"].mean().unstack()
    night = profile[list(range(0, 6))].median(axis=1)
    day = profile[list(range(9, 21))].median(axis=1)
    f["night_day"] = np.log2((night + 0.02) / (day + 0.02)).clip(-4, 4)
    pq = profile.quantile([0.25, 0.5, 0.75], axis=1).T
    f["daily_shape"] = ((pq[0.75] - pq[0.25]) / (pq[0.5] + 0.02)).clip(0, 3)

    # Weekly rhythm: spread of the day-of-week profile of daily means, over the mean level.
    daily = recent.groupby(["meter_id", recent["timestamp"].dt.floor("D")], observed=True)["kw"].agg(
        ["mean", "count"]
    )
    daily = daily[daily["count"] >= 20].reset_index()
    daily["weekday"] = daily["timestamp"].dt.day_of_week
    week = daily.groupby(["meter_id", "weekday"], observed=True)["mean"].mean().unstack()
    f["weekly_shape"] = (week.std(axis=1, ddof=0) / daily.groupby("meter_id", observed=True)["mean"].mean()).clip(
        0, 3
    )
    return f


def step_statistic(kw):
    """A simple step: the largest rise of the mean after a split over before it, in robust
    standard deviations of the daily means before, over splits at day boundaries with at
    least a week before and a day after."""
    daily = kw.groupby(kw.index // 24).mean().dropna().to_numpy()
    if len(daily) < 8:
        return 0.0
    csum = np.cumsum(daily)
    n = len(daily)
    best = 0.0
    for split in range(7, n - 1):
        before = csum[split - 1] / split
        after = (csum[-1] - csum[split - 1]) / (n - split)
        mad = np.median(np.abs(daily[:split] - np.median(daily[:split]))) * 1.4826 + 0.01
        best = max(best, (after - before) / mad)
    return float(best)


def step_features(window):
    """The step statistic per meter over its whole 13-week window."""
    steps = {}
    for meter, rows in window.groupby("meter_id", observed=True):
        kw = rows["kw"].reset_index(drop=True)
        steps[meter] = step_statistic(kw)
    return pd.Series(steps, name="step")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dump")
    ap.add_argument("--out")
    args = ap.parse_args()

    hourly = read_hourly(args.dump)
    window = last_window(hourly)
    valid = window.groupby("meter_id", observed=True)["kw"].count()
    window = window[window["meter_id"].map(valid).astype("int64") >= MIN_VALID_HOURS]

    features = shape_features(window[window["recent"]])
    features["step"] = np.log2(1 + step_features(window).clip(lower=0))
    x = features[FEATURES].fillna(features[FEATURES].median())
    x = StandardScaler().fit_transform(x)

    # An ensemble of k-means fits, as flatline has: a meter far from every cluster centre in
    # most fits, or in a small cluster, is unusual; unusual and flat and high is a suspect.
    distance = np.zeros(len(x))
    for seed in range(N_FITS):
        km = KMeans(n_clusters=N_CLUSTERS, n_init=1, random_state=seed).fit(x)
        distance += km.transform(x).min(axis=1) / N_FITS
    features["score"] = distance * features["base_ratio"].clip(0, 1) * features["uptime"]
    ranked = features.sort_values("score", ascending=False)
    if args.out:
        ranked.to_csv(args.out)
    print(f"reference: {len(features)} meters scored, {len(hourly)} meter-hours", file=sys.stderr)
    print(ranked[["score", "mean", "base_ratio", "uptime", "step"]].head(10).to_string())


if __name__ == "__main__":
    main()
