#!/usr/bin/env bash
# Renders a flowcompile report (or any HTML/SVG file) to a PNG with headless Chromium, as a browser
# shows it: the top WIDTHxHEIGHT pixels of the page.
#
#   scripts/report-screenshot.sh math.report.html math.png            # 1200x1600
#   scripts/report-screenshot.sh math.report.html math.png 1200x3000
#
# The browser is $FLOWCOMPILE_CHROMIUM, else the first of chromium, chromium-browser,
# google-chrome on PATH (Debian: apt-get install -y chromium).
set -euo pipefail
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 REPORT.html OUT.png [WIDTHxHEIGHT]" >&2
  exit 2
fi
input=$1
output=$2
size=${3:-1200x1600}
if ! [[ $size =~ ^[0-9]+x[0-9]+$ ]]; then
  echo "error: size '$size': expected WIDTHxHEIGHT, e.g. 1200x1600" >&2
  exit 2
fi
if [ ! -f "$input" ]; then
  echo "error: $input: no such file" >&2
  exit 3
fi
browser=${FLOWCOMPILE_CHROMIUM:-}
if [ -z "$browser" ]; then
  for candidate in chromium chromium-browser google-chrome; do
    if command -v "$candidate" >/dev/null; then
      browser=$candidate
      break
    fi
  done
fi
if [ -z "$browser" ]; then
  echo "error: no Chromium found: set FLOWCOMPILE_CHROMIUM or install it (apt-get install -y chromium)" >&2
  exit 1
fi
abs() { (cd "$(dirname "$1")" && printf '%s/%s' "$(pwd)" "$(basename "$1")"); }
input_abs=$(abs "$input")
output_abs=$(abs "$output")
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
rm -f "$output_abs"
# --no-sandbox: Chromium refuses to run as root with its sandbox (containers, CI).
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
  --user-data-dir="$profile" --window-size="${size/x/,}" \
  --screenshot="$output_abs" "file://$input_abs" >/dev/null 2>"$profile/stderr" || {
  cat "$profile/stderr" >&2
  exit 1
}
if [ ! -s "$output_abs" ]; then
  cat "$profile/stderr" >&2
  echo "error: $browser wrote no screenshot" >&2
  exit 1
fi
echo "wrote $output ($size)"
