# Shared by the bench scripts (sourced, not run): the release build and the simulated dump
# they measure on. Run from the repository root.

# Builds the release binary and the bare-parse counter; sets $flatline and $csv_count.
bench_build() {
  echo "bench: building (release)" >&2
  cargo build --release --quiet --bin flatline --example csv_count
  flatline=target/release/flatline
  csv_count=target/release/examples/csv_count
}

# bench_dump PATH SIMULATE_ARGS…: writes PATH with `flatline simulate` unless it is already
# there (the same seed always writes the same bytes, and a large dump takes minutes).
bench_dump() {
  local dump=$1
  shift
  if [ ! -s "$dump" ]; then
    echo "bench: generating $dump (flatline simulate $*)" >&2
    "$flatline" simulate "$@" --out "$dump.tmp"
    mv "$dump.tmp" "$dump"
  fi
}
