#!/usr/bin/env bash
# Measures the README's main command (compile the math workflow on GSM8K against the zoo) as a
# first run: wall and CPU time (user + system, children included) of a cold run, each from an empty
# store in a fresh directory, then of a rerun served from that store.
#
#   scripts/bench-first-run.sh                 # builds the release binary, 3 cold runs
#   scripts/bench-first-run.sh 5 path/to/flowcompile
#
# Target (issue 14): a cold run under 15 s wall and 25 s CPU on a quiet machine. Load from other
# work on the machine inflates both; the load average is printed with each run.
set -euo pipefail
runs=${1:-3}
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${2:-}
if [ -z "$bin" ]; then
  (cd "$repo" && cargo build --release -q -p flowcompile-cli)
  bin=$repo/target/release/flowcompile
fi
if ! [[ $runs =~ ^[1-9][0-9]*$ ]]; then
  echo "error: runs '$runs': expected a positive count" >&2
  exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
measure() {
  local label=$1
  /usr/bin/time -f "%e %U %S" -o "$work/time" "$bin" compile "$repo/examples/math/workflow.toml" \
    --data "$repo/examples/data/gsm8k_validate.jsonl" --zoo -q \
    --store "$work/run/store.sqlite" -o "$work/run/math.artifact.json" >/dev/null
  read -r wall user sys <"$work/time"
  printf '%-6s wall %6.2f s  cpu %6.2f s (user %.2f, system %.2f)  load %s\n' "$label" "$wall" \
    "$(echo "$user + $sys" | bc)" "$user" "$sys" "$(cut -d' ' -f1 /proc/loadavg)"
}
for i in $(seq "$runs"); do
  rm -rf "$work/run"
  measure "cold $i"
done
measure rerun
