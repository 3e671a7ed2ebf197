#!/usr/bin/env bash
# Creates (or refreshes) the cached virtualenv of the example LangGraph app
# (examples/apps/math_langgraph) at ${XDG_CACHE_HOME:-$HOME/.cache}/flowcompile/app-venv and prints
# its python's path on stdout. Idempotent and quiet: when the venv already satisfies
# requirements.txt, it only checks that (no network); otherwise it installs them from PyPI with pip.
# Exits non-zero if it cannot. Usage: py=$(scripts/app-venv.sh) && "$py" examples/apps/math_langgraph/app.py --help
set -euo pipefail
cd "$(dirname "$0")/.."
req=examples/apps/math_langgraph/requirements.txt
venv="${XDG_CACHE_HOME:-$HOME/.cache}/flowcompile/app-venv"
stamp="$venv/.requirements"
if ! { [ -x "$venv/bin/python" ] && cmp -s "$req" "$stamp" \
       && "$venv/bin/python" -c 'import langgraph, langchain_openai, httpx' 2>/dev/null; }; then
  { [ -x "$venv/bin/python" ] || python3 -m venv "$venv"; } >&2
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2
  "$venv/bin/python" -c 'import langgraph, langchain_openai, httpx' >&2
  cp "$req" "$stamp"
fi
echo "$venv/bin/python"
