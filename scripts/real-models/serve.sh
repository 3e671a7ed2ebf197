#!/usr/bin/env bash
# Starts the llama.cpp server (llama-cpp-python) set up by scripts/real-models/setup.sh on a loopback
# port, in the background, waits until /v1/models lists both models (smollm2, gemma3) and prints the
# base URL (only that goes to stdout), e.g.
#   export FLOWCOMPILE_LLAMA_URL=$(scripts/real-models/serve.sh)      # http://127.0.0.1:8090/v1
#   scripts/real-models/serve.sh --stop                                # stops it
# A server already answering on the port with both models is reused. Its log and pid file are
# FLOWCOMPILE_LLAMA_HOME/server-PORT.log and .pid.
#
# Usage: scripts/real-models/serve.sh [--port N] [--stop] [--help]
# Environment: FLOWCOMPILE_LLAMA_HOME (as for setup.sh), FLOWCOMPILE_LLAMA_PORT (default 8090),
#              FLOWCOMPILE_LLAMA_WAIT (seconds to wait for the models, default 120)
set -euo pipefail

home="${FLOWCOMPILE_LLAMA_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/flowcompile/llama}"
port="${FLOWCOMPILE_LLAMA_PORT:-8090}"
wait_s="${FLOWCOMPILE_LLAMA_WAIT:-120}"
stop=0
while [ $# -gt 0 ]; do
  case "$1" in
    --port) [ $# -ge 2 ] || { echo "serve.sh: --port needs a number" >&2; exit 2; }; port=$2; shift 2 ;;
    --port=*) port=${1#--port=}; shift ;;
    --stop) stop=1; shift ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "serve.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
case "$port" in
  '' | *[!0-9]*) echo "serve.sh: the port must be a number, got '$port'" >&2; exit 2 ;;
esac
case "$wait_s" in
  '' | *[!0-9]*) echo "serve.sh: FLOWCOMPILE_LLAMA_WAIT must be a number of seconds, got '$wait_s'" >&2; exit 2 ;;
esac

say() { echo "serve: $*" >&2; }
die() { echo "serve: error: $*" >&2; exit 1; }
pidfile="$home/server-$port.pid"
log="$home/server-$port.log"
url="http://127.0.0.1:$port/v1"
python="$home/venv/bin/python"

if [ "$stop" = 1 ]; then
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    rm -f "$pidfile" "$home/server-$port.json"
    say "stopped the server on port $port (pid $pid)"
  else
    rm -f "$pidfile"
    say "no server started by serve.sh is running on port $port"
  fi
  exit 0
fi

[ -x "$python" ] || die "no venv at $home/venv: run scripts/real-models/setup.sh first"
[ -f "$home/server.json" ] || die "no server config at $home/server.json: run scripts/real-models/setup.sh first"

# Prints "ok" when the server at $url lists both aliases, "other: ..." when something else answers,
# nothing when nothing answers.
probe() {
  "$python" - "$url" <<'EOF' 2>/dev/null || true
import json, sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1] + "/models", timeout=2) as r:
        ids = {m.get("id") for m in json.load(r).get("data", [])}
except OSError:
    sys.exit(0)
except ValueError:
    print("other: not an OpenAI /v1/models reply")
    sys.exit(0)
print("ok" if {"smollm2", "gemma3"} <= ids else "other: lists " + ", ".join(sorted(map(str, ids))))
EOF
}

state=$(probe)
if [ "$state" = ok ]; then
  say "reusing the server already on port $port"
  echo "$url"
  exit 0
elif [ -n "$state" ]; then
  die "port $port is taken by another server ($state); pick another with --port N"
fi

# The models must still be there and intact (setup.sh verifies their checksums).
for model in $("$python" -c 'import json,sys; [print(m["model"]) for m in json.load(open(sys.argv[1]))["models"]]' "$home/server.json"); do
  [ -f "$model" ] || die "model file $model is missing: rerun scripts/real-models/setup.sh"
done

config="$home/server-$port.json"
"$python" - "$home/server.json" "$config" "$port" <<'EOF'
import json, sys
config = json.load(open(sys.argv[1]))
config["host"], config["port"] = "127.0.0.1", int(sys.argv[3])
json.dump(config, open(sys.argv[2], "w"), indent=2)
EOF

say "starting the llama.cpp server on $url (log: $log)"
nohup "$python" -m llama_cpp.server --config_file "$config" >"$log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$pidfile"
deadline=$(($(date +%s) + wait_s))
while :; do
  state=$(probe)
  [ "$state" = ok ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$pidfile"
    tail -20 "$log" >&2
    die "the server exited while starting (log above, full log: $log)"
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    kill "$pid" 2>/dev/null || true
    rm -f "$pidfile"
    tail -20 "$log" >&2
    die "the server did not list both models (smollm2, gemma3) at $url/models within $wait_s s; stopped it (log: $log)"
  fi
  sleep 0.5
done
say "ready: models smollm2 and gemma3 at $url (pid $pid; stop with: scripts/real-models/serve.sh --stop${port:+ --port $port})"
echo "$url"
