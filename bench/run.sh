#!/usr/bin/env bash
# Offline benchmark, side by side: `flatline scan` against the Python reference
# (pandas + scikit-learn, bench/reference.py) and against the floor (reading the file,
# and a bare CSV parse that only counts rows with the same csv crate), on the same dump.
#
#   bench/run.sh            # ~10,000 meters × 90 days × 30 min ≈ 43 M readings
#   bench/run.sh --small    # 500 meters × 30 days × 30 min = 720 k readings (the CI smoke run)
#   bench/run.sh --rounds 5 # more alternating rounds (default 3)
#   bench/run.sh --no-python  # leave out the Python reference (~2 min a round): a quick
#                             # scan-against-bare-parse check; the published figures come
#                             # from a run with Python
#
# Everything lands under target/bench/: the dump (kept and reused: regenerating 43 M rows
# takes minutes), each tool's output, results-SIZE.tsv (one line per run) and
# results-SIZE.md (the table). The Python reference runs in a virtualenv at
# target/bench-venv, created and filled from PyPI on first use (bench/requirements.txt);
# when that fails the Python row is skipped with a message, never the whole run.
#
# The tools run alternately (cat, bare parse, scan, Python, then again), so a noisy
# neighbour on a shared machine hurts them all alike; the table shows the median wall time
# over the rounds and the largest peak RSS (GNU time's "Maximum resident set size").
# It is a measurement, not a test: it never fails on a slow result.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

size=default
rounds=3
no_python=0
while [ $# -gt 0 ]; do
  case "$1" in
    --small) size=small ;;
    --rounds) rounds="$2"; shift ;;
    --no-python) no_python=1 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$size" = small ]; then
  sim=(--homes 420 --businesses 70 --miners 10 --days 30)
else
  sim=(--homes 8500 --businesses 1400 --miners 100 --days 90)
fi
sim+=(--seed 6 --resolution-min 30 --start 2024-01-01)

out=target/bench
mkdir -p "$out"
dump="$out/dump-$size.csv"
tsv="$out/results-$size.tsv"
md="$out/results-$size.md"

# GNU time reports peak RSS; the shell keyword `time` does not.
if [ ! -x /usr/bin/time ]; then
  echo "bench: installing GNU time (apt-get install time)" >&2
  (apt-get update -qq && apt-get install -y -qq time) >/dev/null || {
    echo "bench: /usr/bin/time is needed for peak RSS; install the 'time' package" >&2
    exit 2
  }
fi

bench_build
bench_dump "$dump" "${sim[@]}"
rows=$("$csv_count" "$dump")
bytes=$(stat -c %s "$dump")
echo "bench: $dump: $rows readings, $((bytes / 1000000)) MB" >&2

# The Python reference's virtualenv; a failure only drops the Python row.
venv=target/bench-venv
python_ok=1
if [ "$no_python" = 1 ]; then
  python_ok=0
  echo "bench: --no-python: leaving out the Python reference" >&2
elif [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import pandas, sklearn' 2>/dev/null; then
  echo "bench: creating $venv and installing bench/requirements.txt from PyPI" >&2
  if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check -r bench/requirements.txt; }; then
    python_ok=0
    echo "bench: SKIPPING the Python reference: could not create $venv or install bench/requirements.txt (see pip's message above)" >&2
  fi
fi

# Runs one tool under GNU time; appends "tool round wall_s peak_rss_kb" to the TSV.
# flatline scan exits 1 when it finds suspects, which is a result, not a failure.
measure() {
  local tool=$1 round=$2
  shift 2
  local stats="$out/time.txt"
  # `cat` is the floor of reading the file: its output goes to /dev/null, not to disk.
  local sink="$out/$tool.stdout"
  [ "$tool" = cat ] && sink=/dev/null
  /usr/bin/time -f '%e %M' -o "$stats" "$@" >"$sink" 2>"$out/$tool.stderr" || {
    local rc=$?
    if [ "$tool" != scan ] || [ "$rc" -ne 1 ]; then
      echo "bench: $tool failed (exit $rc); see $out/$tool.stderr" >&2
      tail -5 "$out/$tool.stderr" >&2
      exit 2
    fi
  }
  # With a non-zero exit, GNU time writes a "Command exited with ..." line first.
  echo "$tool $round $(tail -1 "$stats")" >>"$tsv"
}

: >"$tsv"
for round in $(seq 1 "$rounds"); do
  echo "bench: round $round of $rounds" >&2
  measure cat "$round" cat "$dump"
  measure bare_parse "$round" "$csv_count" "$dump"
  measure scan "$round" "$flatline" scan --quiet --all --out "$out/scan-out.csv" "$dump"
  if [ "$python_ok" = 1 ]; then
    measure python "$round" "$venv/bin/python" bench/reference.py "$dump" --out "$out/python-out.csv"
  fi
done

# The table: median wall time per tool, largest peak RSS, rates and ratios.
awk -v rows="$rows" -v bytes="$bytes" -v size="$size" -v rounds="$rounds" '
  { wall[$1] = wall[$1] " " $2 ":" $3; n[$1]++; if ($4 > rss[$1]) rss[$1] = $4 }
  function median(tool,   parts, k, v, i, j, t) {
    k = split(wall[tool], parts, " ")
    for (i = 1; i <= k; i++) { split(parts[i], t, ":"); v[i] = t[2] + 0 }
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (v[j] < v[i]) { t[0] = v[i]; v[i] = v[j]; v[j] = t[0] }
    return (k % 2) ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2
  }
  END {
    split("cat bare_parse scan python", order, " ")
    label["cat"] = "`cat FILE > /dev/null` (reading the file)"
    label["bare_parse"] = "bare CSV parse, rows counted (csv crate)"
    label["scan"] = "`flatline scan` (release, end to end)"
    label["python"] = "pandas + scikit-learn reference"
    printf "Dump: %d readings, %.0f MB (%s size); median of %d alternating rounds, largest peak RSS.\n\n", rows, bytes / 1e6, size, rounds
    print "| tool | wall (s) | readings/s | peak RSS (MB) |"
    print "|---|---:|---:|---:|"
    for (i = 1; i <= 4; i++) {
      t = order[i]
      if (!(t in n)) continue
      m[t] = median(t)
      printf "| %s | %.2f | %.2f M | %.0f |\n", label[t], m[t], rows / (m[t] > 0 ? m[t] : 0.01) / 1e6, rss[t] / 1024
    }
    print ""
    if ("python" in n)
      printf "- Python / flatline: **%.1f×** the wall time, **%.1f×** the peak memory\n", m["python"] / m["scan"], rss["python"] / rss["scan"]
    else
      print "- Python / flatline: not measured (the Python reference was skipped)"
    printf "- flatline / bare parse: scan runs at **%.0f%%** of the bare-parse rate (%.2f× its time)\n", 100 * m["bare_parse"] / m["scan"], m["scan"] / m["bare_parse"]
    printf "- bare parse / cat: %.2f× the time of reading the file\n", m["bare_parse"] / (m["cat"] > 0 ? m["cat"] : 0.01)
  }' "$tsv" >"$md"

echo
cat "$md"
echo
echo "Command: bench/run.sh$( [ "$size" = small ] && echo ' --small')$( [ "$rounds" != 3 ] && echo " --rounds $rounds")$( [ "$no_python" = 1 ] && echo ' --no-python'); per-run figures in $tsv"
