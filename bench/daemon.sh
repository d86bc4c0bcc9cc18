#!/usr/bin/env bash
# Daemon benchmark: readings/s through `flatline watch` against `mosquitto_sub` receiving
# the same stream alone, both fed by `flatline publish` at full speed (QoS 1) through a
# private Mosquitto, with every reading counted (zero loss or the run says so).
#
#   bench/daemon.sh            # 1,000 meters × 28 days hourly = 672 k readings
#   bench/daemon.sh --small    # 100 meters × 14 days hourly = 33.6 k readings
#   bench/daemon.sh --rounds 3 # alternating rounds (default 2)
#
# Per round: (1) mosquitto_sub -q 1 -C N alone, timed from the start of the publisher to
# the N-th message; (2) flatline watch with the shipped defaults (every meter due for
# scoring each hour of event time; scorings the scorer could not keep up with are merged,
# counted as coalesced), timed from the start of the publisher until it has applied, logged
# and acknowledged N messages (its Prometheus counter), then until its scorer has caught
# up; (3) the same with --rescore-every-hours 24. The broker: a private mosquitto on a free
# loopback port with the limits docs/operations.md asks for, persistence off. Needs
# mosquitto, mosquitto_sub and curl. It is a measurement, never a pass/fail.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

size=default
rounds=2
while [ $# -gt 0 ]; do
  case "$1" in
    --small) size=small ;;
    --rounds) rounds="$2"; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench/daemon.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$size" = small ]; then
  sim=(--homes 80 --businesses 15 --miners 5 --days 14)
else
  sim=(--homes 800 --businesses 150 --miners 50 --days 28)
fi
sim+=(--seed 6 --resolution-min 60 --start 2024-01-01)

for tool in mosquitto mosquitto_sub curl; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || {
    echo "bench/daemon.sh: $tool is needed (apt-get install mosquitto mosquitto-clients curl)" >&2
    exit 2
  }
done
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)

out=target/bench
mkdir -p "$out"
dump="$out/daemon-$size.csv"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

bench_build
bench_dump "$dump" "${sim[@]}"
n=$("$csv_count" "$dump")
echo "daemon bench: $dump, $n readings" >&2

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# A fresh broker per run, so no queue or session carries over between tools.
start_broker() {
  port=$(free_port)
  local user=""
  [ "$(id -u)" = 0 ] && user="user root"
  printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 100\nmax_queued_messages 1000000\npersistence false\nlog_dest none\n%s\n' \
    "$port" "$user" >"$work/mosquitto.conf"
  "$mosquitto_bin" -c "$work/mosquitto.conf" >/dev/null 2>&1 &
  broker=$!
  pids+=("$broker")
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.1; done
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

metric() { # metric NAME PORT -> value (0 when absent)
  curl -s "http://127.0.0.1:$2/metrics" | awk -v m="flatline_$1" '$1 == m { printf "%d", $2; found = 1 } END { if (!found) print 0 }'
}

publish() {
  "$flatline" publish "$dump" --broker "mqtt://127.0.0.1:$port" --qos 1 --client-id "bench-pub-$RANDOM" \
    >"$work/publish.out" 2>&1
}

tsv="$out/daemon-$size.tsv"
: >"$tsv"
run_sub() {
  start_broker
  mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -t 'meters/+/reading' -C "$n" -i bench-sub >"$work/sub.out" &
  local sub=$!
  pids+=("$sub")
  sleep 1 # subscribed before the first message
  local t0 t_pub t_end got
  t0=$(now)
  publish
  t_pub=$(now)
  # -C N exits at the N-th message; a lost message would leave it waiting.
  timeout 120 tail --pid="$sub" -f /dev/null || true
  t_end=$(now)
  got=$(wc -l <"$work/sub.out")
  stop "$sub"
  stop "$broker"
  echo "mosquitto_sub $1 $(since "$t0" "$t_end") $(since "$t0" "$t_pub") $got $got" >>"$tsv"
}

run_watch() { # run_watch ROUND LABEL EXTRA_ARGS...
  local round=$1 label=$2
  shift 2
  start_broker
  local mport
  mport=$(free_port)
  rm -rf "$work/state"
  "$flatline" watch --broker "mqtt://127.0.0.1:$port" --state-dir "$work/state" \
    --metrics-listen "127.0.0.1:$mport" --client-id "bench-watch-$RANDOM" "$@" >"$work/watch.log" 2>&1 &
  local watch=$!
  pids+=("$watch")
  until [ "$(metric mqtt_subscribed "$mport")" = 1 ]; do sleep 0.2; done
  local t0 t_pub t_ingest t_scored processed=0 scored prev=-1
  t0=$(now)
  publish &
  local pub=$!
  local deadline=$((SECONDS + 600))
  while [ "$processed" -lt "$n" ] && [ $SECONDS -lt $deadline ]; do
    sleep 0.05
    processed=$(metric mqtt_messages_processed_total "$mport")
  done
  t_ingest=$(now)
  wait "$pub"
  t_pub=$(now)
  # The scorer runs on its own thread behind ingest: wait until its count stops moving.
  scored=$(metric assessments_total "$mport")
  t_scored=$t_ingest
  while [ "$scored" != "$prev" ]; do
    prev=$scored
    sleep 0.5
    scored=$(metric assessments_total "$mport")
    [ "$scored" != "$prev" ] && t_scored=$(now)
  done
  local accepted coalesced
  accepted=$(metric readings_accepted_total "$mport")
  coalesced=$(metric scoring_coalesced_total "$mport")
  # Kept for a look at rejections, duplicates and reconnects when a count is off.
  curl -s "http://127.0.0.1:$mport/metrics" >"$out/$label-$round.metrics"
  cp "$work/watch.log" "$out/$label-$round.log"
  stop "$watch"
  stop "$broker"
  echo "$label $round $(since "$t0" "$t_ingest") $(since "$t0" "$t_pub") $processed $accepted $(since "$t0" "$t_scored") $scored $coalesced" >>"$tsv"
}

for round in $(seq 1 "$rounds"); do
  echo "daemon bench: round $round of $rounds" >&2
  run_sub "$round"
  run_watch "$round" watch_rescore_1h
  run_watch "$round" watch_rescore_24h --rescore-every-hours 24
done

awk -v n="$n" -v rounds="$rounds" '
  { t[$1] += $3; p[$1] += $4; r[$1]++; if (!($1 in lost) || n - $6 > lost[$1]) lost[$1] = n - $6
    if (NF >= 9) { s[$1] += $7; a[$1] = $8; c[$1] = $9 } }
  END {
    printf "Stream: %d readings (QoS 1, one message each), mean of %d rounds.\n\n", n, rounds
    print "| receiver | wall (s) | readings/s | publisher finished (s) | lost | scorer caught up (s) | assessments (last round) | coalesced |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|"
    split("mosquitto_sub watch_rescore_1h watch_rescore_24h", order, " ")
    label["mosquitto_sub"] = "`mosquitto_sub -q 1` alone"
    label["watch_rescore_1h"] = "`flatline watch` (defaults: rescore every hour)"
    label["watch_rescore_24h"] = "`flatline watch --rescore-every-hours 24`"
    for (i = 1; i <= 3; i++) {
      k = order[i]
      if (!(k in r)) continue
      m[k] = t[k] / r[k]
      sc = (k in s) ? sprintf("%.1f", s[k] / r[k]) : "-"
      as = (k in a) ? a[k] : "-"
      co = (k in c) ? c[k] : "-"
      printf "| %s | %.1f | %.0f | %.1f | %d | %s | %s | %s |\n", label[k], m[k], n / m[k], p[k] / r[k], lost[k], sc, as, co
    }
    print ""
    for (i = 2; i <= 3; i++) {
      k = order[i]
      if (k in m) printf "- %s: **%.0f%%** of mosquitto_sub'\''s rate\n", label[k], 100 * m["mosquitto_sub"] / m[k]
    }
  }' "$tsv" | tee "$out/daemon-$size.md"
echo
echo "Command: bench/daemon.sh$( [ "$size" = small ] && echo ' --small'); per-run figures in $tsv"
