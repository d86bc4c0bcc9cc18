#!/usr/bin/env bash
# Rebuilds models/default.json from scratch: a simulated fleet plus the real data in
# ../shared/datasets with miners injected into 30% of quarter-long pieces. Deterministic:
# the same flatline source gives the same model. Usage (from the repository root):
#   bash models/train-default.sh [OUT]   (default OUT: models/default.json)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-models/default.json}
data=${FLATLINE_DATASETS:-../shared/datasets}
work=target/model-data
mkdir -p "$work"
cargo build --release --quiet
fl=target/release/flatline

$fl simulate --seed 11 --homes 800 --businesses 200 --miners 250 --days 90 \
  --out $work/sim.csv.gz --labels $work/sim-labels.csv
$fl inject "$data/lcl_london_halfhourly_2013" --cut quarter --share 0.3 --seed 12 \
  --out $work/lcl.csv.gz --labels $work/lcl-labels.csv
$fl inject "$data/enernoc_2012_commercial" --unit kwh --cut quarter --share 0.3 --seed 13 \
  --out $work/enernoc.csv.gz --labels $work/enernoc-labels.csv
$fl train $work/sim.csv.gz $work/lcl.csv.gz $work/enernoc.csv.gz \
  --labels $work/sim-labels.csv --labels $work/lcl-labels.csv --labels $work/enernoc-labels.csv \
  --seed 42 --clusters 40 --peer-clusters 6 --target-fpr 0.005 --model-out "$out"
