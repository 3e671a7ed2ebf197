#!/usr/bin/env bash
# The example LangGraph app (examples/apps/math_langgraph) compiled through `flowcompile gateway`,
# against the zoo's synthetic models:
#   1. zoo: `flowcompile zoo serve` on a free loopback port with the GSM8K validation and test
#      task files, time scale 0 (instant replies); a providers file pointing at it;
#   2. capture: a capture gateway (--shape examples/math/workflow.toml --capture); the app runs
#      over every validation item through it (concurrency 8);
#   3. compile: `flowcompile compile ... --captured` replays the captured calls under every
#      setting (profiling calls into DIR/store.sqlite) and writes the artifact;
#   4. deploy: the zoo again at --time-scale S (default 1: latency measurable), one deploy gateway per
#      preset (--artifact, --preset); the app runs on the first N test items at each;
#   5. a table per preset: the point (the gateway's plan endpoint), predicted accuracy with its
#      90% interval, the app's own measured accuracy, predicted and measured latency (the app's
#      wall latency per item divided by S: modelled seconds), and whether the measured accuracy
#      is within 0.05 of the prediction or inside its interval. Also written to DIR/app-demo.json.
# Exits non-zero if a stage fails; a missed target is printed, not an error.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/app-demo.sh [--items-test N] [--out DIR] [--presets LIST] [--time-scale S]
                           [--calls-per-setting K] [--bin PATH]

Capture, compile and deploy the LangGraph math app (examples/apps/math_langgraph) through
`flowcompile gateway` against the zoo, then print predicted against measured accuracy and
latency per preset.

  --items-test N   test items the app runs at each preset (default 100)
  --out DIR        output directory (default .flowcompile/app-demo): capture.sqlite,
                   app.artifact.json, app-demo.json, per-item results and server logs
  --presets LIST   comma-separated presets to deploy (default fast,medium,high)
  --time-scale S   the zoo's time scale while deploying (default 1: real time): measured latency
                   is the app's wall latency per item divided by S. A smaller S is faster but
                   multiplies the app's own overhead (Python, HTTP, the program it runs) by 1/S
  --calls-per-setting K
                   compile's replays per (agent, model, budget) (default: compile's, 100 of
                   the 264 captured runs; 264 replays them all, about 2.5x the compile time)
  --bin PATH       the flowcompile binary (default: $FLOWCOMPILE_BIN, else flowcompile on PATH,
                   else target/release/flowcompile)
  -h, --help       this help
EOF
}

cd "$(dirname "$0")/.."
items_test=100
out=.flowcompile/app-demo
presets=fast,medium,high
scale=1
bin="${FLOWCOMPILE_BIN:-}"
compile_extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --items-test) items_test="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --presets) presets="$2"; shift 2 ;;
    --time-scale) scale="$2"; shift 2 ;;
    --calls-per-setting) compile_extra=(--calls-per-setting "$2"); shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "app-demo: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$bin" ]; then
  if command -v flowcompile >/dev/null; then bin=flowcompile
  elif [ -x target/release/flowcompile ]; then bin=target/release/flowcompile
  else echo "app-demo: no flowcompile binary (build it, or pass --bin)" >&2; exit 2; fi
fi
case "$items_test" in ''|*[!0-9]*) echo "app-demo: --items-test needs a number" >&2; exit 2 ;; esac
awk -v s="$scale" 'BEGIN { exit !(s + 0 > 0) }' || { echo "app-demo: --time-scale must be > 0" >&2; exit 2; }

shape=examples/math/workflow.toml
val=examples/data/gsm8k_validate.jsonl
test=examples/data/gsm8k_test.jsonl
app=examples/apps/math_langgraph/app.py
mkdir -p "$out"
rm -f "$out"/capture.sqlite* "$out"/store.sqlite* "$out"/app.artifact.json "$out"/app-demo.json "$out"/*.log "$out"/*.jsonl

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stage() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)" >&2; }
fail() { echo "app-demo: FAILED: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# start NAME CMD...: runs CMD in the background (stdout NAME.out, stderr NAME.log in $out), waits
# for its first stdout line and sets $url to the first http://127.0.0.1:PORT in it.
start() {
  local name="$1"; shift
  : > "$out/$name.out"
  "$@" > "$out/$name.out" 2> "$out/$name.log" &
  local pid=$!
  pids+=("$pid")
  last_pid=$pid
  for _ in $(seq 1 200); do
    url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$out/$name.out" | head -1 || true)
    [ -n "$url" ] && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$out/$name.log" >&2; fail "$name exited at start: $*"; }
    sleep 0.05
  done
  fail "$name printed no address within 10 s: $*"
}

# stop PID WHAT LOG [OK]: SIGTERM, wait; fails unless it exited 0 (or OK: `zoo serve` stops on
# Ctrl-C and dies of SIGTERM, 143).
stop() {
  kill -TERM "$1"
  local rc=0
  wait "$1" || rc=$?
  [ "$rc" -eq "${4:-0}" ] && rc=0
  local keep=()
  for p in "${pids[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
  pids=("${keep[@]+"${keep[@]}"}")
  [ "$rc" -eq 0 ] || fail "$2 exited with $rc after SIGTERM (log: $3)"
}

py=$(scripts/app-venv.sh) || fail "scripts/app-venv.sh could not make the app's virtualenv"
t_all=$(now)
timings=()

stage "1. zoo at time scale 0"
start zoo "$bin" zoo serve --port 0 --tasks "$val" --tasks "$test" --time-scale 0
zoo_pid=$last_pid
sed "s#http://127.0.0.1:8000/v1#$url/v1#" examples/providers/zoo.toml > "$out/providers.toml"
grep -q "$url/v1" "$out/providers.toml" || fail "examples/providers/zoo.toml has no http://127.0.0.1:8000/v1 to replace"
echo "zoo on $url; providers in $out/providers.toml" >&2

stage "2. capture: the app over $(wc -l < "$val") validation items through a capture gateway"
t=$(now)
start capture-gateway "$bin" gateway --providers "$out/providers.toml" --shape "$shape" \
  --capture --store "$out/capture.sqlite" --port 0
gw_pid=$last_pid
echo "capture gateway on $url" >&2
"$py" "$app" --data "$val" --concurrency 8 --base-url "$url/v1" --json \
  --out "$out/capture-results.jsonl" > "$out/capture-summary.json" \
  || fail "the app's capture run: $py $app --data $val --base-url $url/v1 (summary: $(cat "$out/capture-summary.json"))"
echo "app: $(cat "$out/capture-summary.json")" >&2
stop "$gw_pid" "capture gateway" "$out/capture-gateway.log"
timings+=("capture=$(elapsed "$t")")

stage "3. compile from the capture"
t=$(now)
"$bin" compile "$shape" --captured "$out/capture.sqlite" --data "$val" \
  --providers "$out/providers.toml" --store "$out/store.sqlite" "${compile_extra[@]+"${compile_extra[@]}"}" -o "$out/app.artifact.json" > "$out/compile.out" 2> "$out/compile.log" \
  || { tail -20 "$out/compile.log" >&2; fail "$bin compile $shape --captured $out/capture.sqlite --data $val --providers $out/providers.toml --store $out/store.sqlite ${compile_extra[*]+"${compile_extra[*]}"} -o $out/app.artifact.json"; }
grep -E 'captured (calls|runs)' "$out/compile.log" >&2 || true
timings+=("compile=$(elapsed "$t")")
stop "$zoo_pid" "zoo" "$out/zoo.log" 143

stage "4. deploy: zoo at time scale $scale, the app on $items_test test items per preset"
start zoo-deploy "$bin" zoo serve --port 0 --tasks "$val" --tasks "$test" --time-scale "$scale"
sed "s#http://127.0.0.1:8000/v1#$url/v1#" examples/providers/zoo.toml > "$out/providers.toml"
rows=()
IFS=, read -r -a preset_list <<< "$presets"
for preset in "${preset_list[@]}"; do
  t=$(now)
  start "gateway-$preset" "$bin" gateway --providers "$out/providers.toml" --shape "$shape" \
    --artifact "$out/app.artifact.json" --preset "$preset" --port 0
  gw_pid=$last_pid
  curl -sS --max-time 10 "$url/flowcompile/plan" > "$out/plan-$preset.json" \
    || fail "GET $url/flowcompile/plan (gateway $preset)"
  "$bin" select "$out/app.artifact.json" --prefer "$preset" --json > "$out/select-$preset.json" \
    || fail "$bin select $out/app.artifact.json --prefer $preset --json"
  rc=0
  "$py" "$app" --data "$test" --limit "$items_test" --concurrency 8 --base-url "$url/v1" --json \
    --out "$out/deploy-$preset.jsonl" > "$out/deploy-$preset-summary.json" || rc=$?
  curl -sS --max-time 10 "$url/metrics" > "$out/metrics-$preset.txt" || true
  stop "$gw_pid" "gateway $preset" "$out/gateway-$preset.log"
  [ "$rc" -eq 0 ] || fail "the app at preset $preset exited $rc: $py $app --data $test --limit $items_test --base-url $url/v1 (summary: $(cat "$out/deploy-$preset-summary.json"))"
  echo "$preset: $(cat "$out/deploy-$preset-summary.json")" >&2
  timings+=("deploy-$preset=$(elapsed "$t")")
  rows+=("$preset")
done

stage "5. predicted against measured"
timings+=("total=$(elapsed "$t_all")")
"$py" - "$out" "$scale" "$items_test" "${timings[*]}" "${rows[@]}" <<'EOF'
import json, sys
out, scale, n, timings, presets = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5:]
art = json.load(open(f"{out}/app.artifact.json"))
points = {p["id"]: p for p in art["points"]}
rows = []
for preset in presets:
    plan = json.load(open(f"{out}/plan-{preset}.json"))
    sel = json.load(open(f"{out}/select-{preset}.json"))
    got = json.load(open(f"{out}/deploy-{preset}-summary.json"))
    pid = plan["point"]
    pred = points[pid]["predicted"] if pid in points else sel["predicted"]
    acc, (lo, hi) = pred["accuracy"], pred["accuracy_interval"]
    m_acc = got["accuracy"]
    m_lat = got["mean_latency_s"] / scale if got["mean_latency_s"] is not None else None
    within = abs(m_acc - acc) <= 0.05
    inside = lo <= m_acc <= hi
    # Calls the gateway counted per agent (its Prometheus metrics).
    calls = {}
    for line in open(f"{out}/metrics-{preset}.txt"):
        if line.startswith("flowcompile_gateway_calls_total{agent=\"") and not line.startswith('flowcompile_gateway_calls_total{agent=""'):
            agent = line.split('agent="')[1].split('"')[0]
            calls[agent] = calls.get(agent, 0) + int(float(line.split()[-1]))
    drift = sum(int(float(l.split()[-1])) for l in open(f"{out}/metrics-{preset}.txt")
                if l.startswith("flowcompile_gateway_structure_drift_total{"))
    rows.append({
        "preset": preset, "point": pid, "select_point": sel["id"],
        "structure": points.get(pid, sel).get("structure"), "settings": points.get(pid, sel).get("settings"),
        "predicted_accuracy": acc, "predicted_accuracy_interval": [lo, hi],
        "measured_accuracy": m_acc, "items": got["items"], "correct": got["correct"], "failed": got["failed"],
        "predicted_latency_s": pred["latency_s"], "predicted_latency_interval_s": pred.get("latency_interval_s"),
        "measured_latency_wall_s": got["mean_latency_s"], "measured_latency_modelled_s": m_lat,
        "within_0.05": within, "inside_interval": inside, "target_met": within or inside,
        "gateway_calls": calls, "structure_drift_calls": drift,
    })
summary = {"time_scale": scale, "items_test": n, "rows": rows,
           "timings_s": {k: float(v) for k, v in (t.split("=") for t in timings.split())}}
json.dump(summary, open(f"{out}/app-demo.json", "w"), indent=2)
print(f"app on the first {n} GSM8K test items per preset; zoo time scale {scale:g} "
      f"(measured latency = app wall latency / {scale:g}, in modelled seconds)")
print(f"{'preset':<7} {'point':<6} {'pred acc':>8} {'90% interval':>16} {'meas acc':>8} "
      f"{'pred lat s':>10} {'meas lat s':>10}  target")
for r in rows:
    lo, hi = r["predicted_accuracy_interval"]
    lat = f"{r['measured_latency_modelled_s']:.3f}" if r["measured_latency_modelled_s"] is not None else "-"
    verdict = ("met" if r["target_met"] else "MISSED") + (
        " (within 0.05" + (", inside interval)" if r["inside_interval"] else ")") if r["within_0.05"]
        else " (inside interval)" if r["inside_interval"] else f" (off by {r['measured_accuracy'] - r['predicted_accuracy']:+.3f}, outside interval)")
    print(f"{r['preset']:<7} {r['point']:<6} {r['predicted_accuracy']:>8.3f} {f'[{lo:.3f}, {hi:.3f}]':>16} "
          f"{r['measured_accuracy']:>8.3f} {r['predicted_latency_s']:>10.3f} {lat:>10}  {verdict}")
print("timings (wall s): " + ", ".join(f"{k} {v:.1f}" for k, v in summary["timings_s"].items()))
for r in rows:
    if r["point"] != r["select_point"]:
        print(f"note: at {r['preset']} the gateway chose {r['point']}, `flowcompile select` {r['select_point']}")
    if r["structure_drift_calls"]:
        print(f"note: at {r['preset']} the gateway counted {r['structure_drift_calls']} calls to agents its point switches off")
print(f"wrote {out}/app-demo.json")
EOF
