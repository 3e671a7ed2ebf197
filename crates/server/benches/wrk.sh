#!/usr/bin/env bash
# Load on `flowcompile serve` with wrk (Debian: apt-get install wrk): compiles the README's math
# artifact, serves it on the embedded zoo (time scale 0) and runs wrk with 256 connections for
# DURATION seconds (default 10) against one point (SERVE_MODEL, default math@p3: refine, detailed and
# two generators, then the vote). Needs a release build: cargo build --release -p flowcompile-cli.
set -euo pipefail
cd "$(dirname "$0")/../../.."
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
bin="${CARGO_TARGET_DIR:-target}/release/flowcompile"
[ -x "$bin" ] || { echo "$bin is missing: cargo build --release -p flowcompile-cli" >&2; exit 1; }
dir="$(mktemp -d)"
"$bin" compile examples/math/workflow.toml --profiles examples/math/profiles.csv -o "$dir/math.json" >/dev/null
"$bin" serve --workflow examples/math/workflow.toml --artifact "$dir/math.json" \
  --providers examples/providers/zoo.toml --zoo --tasks examples/data/gsm8k_validate.jsonl \
  --port 0 >"$dir/serve.out" 2>"$dir/serve.err" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do grep -q http "$dir/serve.out" && break; sleep 0.1; done
base="$(grep -o 'http://[0-9.:]*' "$dir/serve.out")"
SERVE_QUESTION="$(head -1 examples/data/gsm8k_validate.jsonl | sed -E 's/.*"problem": "([^"]*)".*/\1/')" \
  wrk -t 2 -c 256 -d "${DURATION:-10}s" --latency -s crates/server/benches/wrk.lua "$base/v1/chat/completions"
curl -s "$base/metrics" | grep '^flowcompile_requests_total'
