#!/usr/bin/env bash
# The measured study on real models, one command: compiles examples/hotpotqa-small/workflow.toml end to
# end against the llama.cpp server (induction, profiling, search) on validation items, tests every
# compiled point on held-out items, measures each model's prefill and decode speed and one call per
# item for each model and budget, and rewrites docs/real-models.md from what it measured
# (scripts/real-models/report.py).
#
# HotpotQA ships one split (200 items): the first VAL items compile, the next TEST items are held out.
# Starts the server (scripts/real-models/setup.sh and serve.sh) unless FLOWCOMPILE_LLAMA_URL names one;
# a server it started is stopped at the end. Results stay in OUT (default .flowcompile/real-models):
# the store (a rerun resumes from it), the artifact, validation.json, profiles.csv, throughput.csv,
# timings.tsv and the logs.
#
# Usage: scripts/real-models-study.sh [--val N] [--test N] [--calls N] [--points N] [--min-score X]
#                                     [--out DIR] [--doc FILE]
#   defaults: --val 30 --test 30 --calls 20 (profiling calls per agent setting), --min-score 0.5 (a
#   reference run's F1 to keep it as an induced example), every compiled point
#   (--points N: at most N, spread along the frontier), --out .flowcompile/real-models,
#   --doc docs/real-models.md. A throughput or eval result already in OUT is reused (delete the file
#   to measure it again); compile and test always run, from the store's measurements where it has them.
# Environment: FLOWCOMPILE (the flowcompile binary; default: cargo build --release -p flowcompile-cli),
#              FLOWCOMPILE_LLAMA_URL, FLOWCOMPILE_LLAMA_HOME, FLOWCOMPILE_LLAMA_PORT (as for serve.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

n_val=30
n_test=30
calls=20
points=()
min_score=0.5
out=.flowcompile/real-models
doc=docs/real-models.md
while [ $# -gt 0 ]; do
  case "$1" in
    --val) n_val=${2:?--val needs a number}; shift 2 ;;
    --test) n_test=${2:?--test needs a number}; shift 2 ;;
    --calls) calls=${2:?--calls needs a number}; shift 2 ;;
    --points) points=(--max-points "${2:?--points needs a number}"); shift 2 ;;
    --min-score) min_score=${2:?--min-score needs a number}; shift 2 ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --doc) doc=${2:?--doc needs a file}; shift 2 ;;
    -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "real-models-study: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
for n in "$n_val" "$n_test" "$calls"; do
  case "$n" in '' | *[!0-9]* | 0) echo "real-models-study: --val, --test and --calls take a number >= 1, got '$n'" >&2; exit 2 ;; esac
done

say() { echo "study: $*" >&2; }
die() { echo "study: error: $*" >&2; exit 1; }
workflow=examples/hotpotqa-small/workflow.toml
data=examples/data/hotpotqa_validate.jsonl
[ -f "$data" ] || die "$data not found (the shared datasets sit beside the checkout)"
total=$(grep -c . "$data")
[ $((n_val + n_test)) -le "$total" ] || die "--val $n_val + --test $n_test exceeds the $total items of $data"
mkdir -p "$out"
timings="$out/timings.tsv"
touch "$timings"
timed() { # timed NAME LOG COMMAND...: runs COMMAND, logs its output, records its wall time
  local name=$1 log=$2 start end
  shift 2
  # Only the throughput and the single-configuration evals are reused; the compile stages always run.
  if [ -s "$log" ] && { [ "$name" = throughput ] || [ "${name%% *}" = eval ]; }; then
    say "$name: reusing $log (delete it to measure again)"
    return 0
  fi
  say "$name: $*"
  start=$(date +%s.%N)
  if ! "$@" >"$log" 2>"$log.err"; then
    tail -20 "$log.err" >&2
    die "$name failed (stdout: $log, stderr: $log.err)"
  fi
  end=$(date +%s.%N)
  # The machine's 1-minute load average at the end: other processes slow every figure down.
  awk -F '\t' -v n="$name" '$1 != n' "$timings" >"$timings.tmp" && mv "$timings.tmp" "$timings"
  awk -v n="$name" -v s="$start" -v e="$end" -v l="$(cut -d' ' -f1 /proc/loadavg)" \
    'BEGIN { printf "%s\t%.1f\t%s\n", n, e - s, l }' >>"$timings"
}

# 1. The flowcompile binary.
if [ -z "${FLOWCOMPILE:-}" ]; then
  timed build "$out/build.log" cargo build --release -p flowcompile-cli
  FLOWCOMPILE="${CARGO_TARGET_DIR:-$repo/target}/release/flowcompile"
fi
[ -x "$FLOWCOMPILE" ] || die "no flowcompile binary at $FLOWCOMPILE"

# 2. The server.
started_server=0
if [ -z "${FLOWCOMPILE_LLAMA_URL:-}" ]; then
  timed setup "$out/setup.log" scripts/real-models/setup.sh
  FLOWCOMPILE_LLAMA_URL=$(scripts/real-models/serve.sh)
  started_server=1
fi
url=${FLOWCOMPILE_LLAMA_URL%/}
url_port=${url##*:}
url_port=${url_port%%/*}
stop_server() {
  if [ "$started_server" = 1 ]; then scripts/real-models/serve.sh --stop --port "$url_port" || true; fi
}
trap stop_server EXIT

# 3. Inputs: the two splits and the providers file pointed at the server.
head -n "$n_val" "$data" >"$out/validate.jsonl"
awk -v a="$n_val" -v b="$n_test" 'NR > a && NR <= a + b' "$data" >"$out/heldout.jsonl"
sed "s#http://127.0.0.1:8090/v1#$url#" examples/providers/llama.toml >"$out/providers.toml"
store="$out/store.sqlite"
fc() { "$FLOWCOMPILE" "$@"; }

# 4. Each model's speed, for the token-based latency model.
timed throughput "$out/throughput.csv" python3 scripts/real-models/throughput.py "$url" "$data" smollm2 gemma3

# 5. One call per item for each model and budget (structure 0), and two other structures: how far
#    budgets, models and structure move accuracy and latency.
for model in smollm2 gemma3; do
  for budget in 4 16 64; do
    timed "eval $model@$budget" "$out/eval-$model-$budget.json" fc eval "$workflow" \
      --providers "$out/providers.toml" --data "$out/heldout.jsonl" --store "$store" --structure 0 \
      --all "$model@$budget" --concurrency 1 --json
  done
done

# Two structures beyond one call: the chat model's answer cut down by the base model (structure 1), and
# two voted answers of the base model (structure 2).
timed "eval s1 smollm2@16 + format gemma3@16" "$out/eval-s1-smollm2-16-format-gemma3-16.json" fc eval \
  "$workflow" --providers "$out/providers.toml" --data "$out/heldout.jsonl" --store "$store" --structure 1 \
  --set answer_generate=smollm2@16 --set format_answer=gemma3@16 --concurrency 1 --json
timed "eval s2 gemma3@16" "$out/eval-s2-gemma3-16.json" fc eval "$workflow" --providers "$out/providers.toml" \
  --data "$out/heldout.jsonl" --store "$store" --structure 2 --all gemma3@16 --concurrency 1 --json

report() {
  python3 scripts/real-models/report.py --dir "$out" --workflow "$workflow" --server-home \
    "${FLOWCOMPILE_LLAMA_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/flowcompile/llama}" \
    --n-val "$n_val" --n-test "$n_test" --study-args "--calls $calls${points[*]:+ --points ${points[1]}} --min-score $min_score" -o "$doc"
}
compile_help=$(fc compile --help)
if ! grep -q -- '--data' <<<"$compile_help"; then
  report
  die "this flowcompile cannot compile from a dataset yet (no 'compile --data'); $doc has the measurements so far"
fi

# 6. Compile end to end (induce, profile, search). The server runs one request at a time, so parallel
#    branches run one after another: --execution sequential.
#    One call at a time (--concurrency 1), so that no call's latency includes waiting for another.
timed compile "$out/compile.json" fc compile "$workflow" --data "$out/validate.jsonl" \
  --providers "$out/providers.toml" --store "$store" --execution sequential \
  --calls-per-setting "$calls" --min-score "$min_score" --concurrency 1 --export-profiles "$out/profiles.csv" \
  --models-label "llama.cpp: SmolLM2-135M-Instruct Q4_1, Gemma 3 270M Q4_K_M (2 threads)" \
  -o "$out/artifact.json" --json
timed compile_tokens "$out/compile-tokens.json" fc compile "$workflow" --profiles "$out/profiles.csv" \
  --throughput "$out/throughput.csv" --latency tokens --execution sequential \
  -o "$out/artifact-tokens.json" --json

# 7. Every compiled point on the held-out items.
timed test "$out/test.log" fc test "$workflow" --artifact "$out/artifact.json" --data "$out/heldout.jsonl" \
  --providers "$out/providers.toml" --store "$store" "${points[@]}" --concurrency 1 --json \
  -o "$out/validation.json"

# 8. The document.
report
say "wrote $doc (inputs and logs in $out)"
