#!/usr/bin/env bash
# Install modelwright into ./.venv on Debian/Ubuntu, with everything its solvers and tests need:
#   - apt (sudo when not root), only what is missing: minizinc (2.6, Gecode), nodejs + npm,
#     build-essential + cmake (llama-cpp-python is built from source), python3.11-venv;
#   - .venv with `pip install -e '.[dev]'`, llama.cpp compiled for this CPU (CMAKE_ARGS=-DGGML_NATIVE=OFF: portable);
#   - the WebAssembly MiniZinc 2.10 (HiGHS, COIN-BC, Chuffed): npm ci in solvers/mzn_wasm;
#   - the embedded language model: `modelwright model pull` (1.1 GB once, sha256-verified).
# Idempotent: a second run checks and skips (a few seconds). PYTHON=python3.12 ./setup.sh picks
# another interpreter (3.11 or newer).
set -euo pipefail

if [[ $# -gt 0 ]]; then
  case "$1" in
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup.sh: unknown argument '$1' (it takes none; --help says what it does)" >&2; exit 2 ;;
  esac
fi

cd "$(dirname "$0")"
VENV=.venv
PY=${PYTHON:-python3.11}
STAMP=$VENV/.modelwright-setup
WASM=solvers/mzn_wasm
LOG=$(mktemp "${TMPDIR:-/tmp}/modelwright-setup.XXXXXX.log")
START=$SECONDS

if [[ -t 1 ]]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD='' PLAIN=''; fi
say() { printf '%s==>%s %s\n' "$BOLD" "$PLAIN" "$*"; }
die() { printf 'setup.sh: error: %s\n' "$*" >&2; exit 1; }
# Run a noisy command with its output in $LOG; on failure show the end of it.
quiet() {
  if ! "$@" >>"$LOG" 2>&1; then
    printf 'setup.sh: error: this failed: %s\n--- last lines of %s:\n' "$*" "$LOG" >&2
    tail -n 40 "$LOG" >&2
    exit 1
  fi
}
digest() { cat "$@" | sha256sum | cut -c1-16; }

# ------------------------------------------------------------------ Python 3.11
command -v "$PY" >/dev/null 2>&1 || die "$PY not found. modelwright needs Python 3.11 or newer:
  Debian 12:        sudo apt-get install python3.11 python3.11-venv
  Ubuntu 22.04/24.04: sudo add-apt-repository ppa:deadsnakes/ppa && sudo apt-get install python3.11 python3.11-venv
  or set PYTHON=/path/to/python3.x (3.11 or newer)"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "$PY is Python $("$PY" -c 'import platform; print(platform.python_version())'); 3.11 or newer is needed"

# ------------------------------------------------------------------ system packages
missing=()
command -v minizinc >/dev/null 2>&1 || missing+=(minizinc)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
{ command -v g++ && command -v make; } >/dev/null 2>&1 || missing+=(build-essential)
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
if [[ ! -x $VENV/bin/python ]] && ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=("$(basename "$PY")-venv")  # Debian splits venv/ensurepip out of python3.x
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get: install them by hand"
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "missing ${missing[*]}; run as root or install sudo"
    SUDO=(sudo)
  fi
  say "apt-get install ${missing[*]}"
  quiet "${SUDO[@]}" apt-get update -q
  quiet "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
node -e 'process.exit(parseInt(process.versions.node, 10) >= 18 ? 0 : 1)' \
  || die "Node.js $(node --version) is too old for the WebAssembly MiniZinc; 18 or newer is needed"

# ------------------------------------------------------------------ virtualenv + Python packages
if [[ -x $VENV/bin/python ]] && ! $VENV/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  die "$VENV exists but is not a working Python 3.11+ environment; remove it (rm -rf $VENV) and run again"
fi
if [[ ! -x $VENV/bin/python ]]; then
  say "creating $VENV with $PY ($("$PY" -c 'import platform; print(platform.python_version())'))"
  quiet "$PY" -m venv "$VENV"
fi
# llama.cpp is compiled for this machine's CPU (llama-cpp-python's own default, -march=native): with AVX-512
# it checks a batch of 4 tokens in 1.5x the time of one, which the guessed-token decoding lives on
# (agent/llm/lookup_decoding.py); a portable build (AVX2) takes 2x. CMAKE_ARGS=-DGGML_NATIVE=OFF ./setup.sh
# builds the portable one, e.g. for a .venv copied to other machines.
LLAMA_BUILD="${CMAKE_ARGS:-native}"
rebuild_llama() {  # pip would reuse a wheel it built before with other flags: build this one afresh
  local version
  version=$($VENV/bin/python -c 'import llama_cpp; print(llama_cpp.__version__)')
  say "rebuilding llama-cpp-python $version for llama.cpp flags [$LLAMA_BUILD] ($1; 5-12 min)"
  quiet $VENV/bin/python -m pip install --disable-pip-version-check --no-cache-dir --force-reinstall \
    --no-deps "llama-cpp-python==$version"
}
# A native build that lacks a vector extension this CPU has: a wheel from pip's cache, built elsewhere or
# with other flags (the cache is keyed by version, not by CMAKE_ARGS). llama.cpp's own report is checked.
native_build_lacks() {
  [[ $LLAMA_BUILD == native ]] || return 1
  local info ext
  info=$($VENV/bin/python -c 'import llama_cpp; print(llama_cpp.llama_print_system_info().decode())' 2>/dev/null) \
    || return 1
  for ext in avx2:AVX2 avx512f:AVX512; do
    if grep -qw "${ext%%:*}" /proc/cpuinfo 2>/dev/null && [[ $info != *"${ext##*:} = 1"* ]]; then
      echo "${ext##*:}"
      return 0
    fi
  done
  return 1
}
want="python=$($VENV/bin/python -c 'import sys; print(sys.version.split()[0])') pyproject=$(digest pyproject.toml) llama=[$LLAMA_BUILD]"
if [[ -f $STAMP && $(cat "$STAMP") == "$want" && -x $VENV/bin/modelwright ]]; then
  say "Python packages up to date in $VENV"
else
  if $VENV/bin/python -c 'import llama_cpp' 2>/dev/null; then
    if [[ ! -f $STAMP || $(cat "$STAMP") != *"llama=[$LLAMA_BUILD]"* ]]; then
      rebuild_llama "the flags changed"
    fi
    say "pip install -e '.[dev]' into $VENV"
  else
    say "pip install -e '.[dev]' into $VENV (first time: builds llama-cpp-python, 5-12 min)"
  fi
  quiet $VENV/bin/python -m pip install --disable-pip-version-check -e '.[dev]'
  echo "$want" >"$STAMP"
fi
if missing=$(native_build_lacks); then
  rebuild_llama "this CPU has $missing and the installed build does not use it"
  if missing=$(native_build_lacks); then
    say "warning: the rebuilt llama.cpp still does not use $missing; it works, generating more slowly"
  fi
fi

# ------------------------------------------------------------------ WebAssembly MiniZinc 2.10
want_npm="lock=$(digest $WASM/package-lock.json)"
if [[ -f $WASM/node_modules/minizinc/dist/minizinc.wasm && -f $WASM/node_modules/.modelwright-setup \
      && $(cat $WASM/node_modules/.modelwright-setup) == "$want_npm" ]]; then
  say "WebAssembly MiniZinc up to date in $WASM/node_modules"
else
  say "npm ci --ignore-scripts --prefix $WASM (WebAssembly MiniZinc 2.10: HiGHS, COIN-BC, Chuffed)"
  quiet npm ci --ignore-scripts --no-audit --no-fund --prefix "$WASM"
  echo "$want_npm" >$WASM/node_modules/.modelwright-setup
fi

# ------------------------------------------------------------------ embedded language model
say "modelwright model pull (cached after the first time; sha256-verified)"
$VENV/bin/modelwright model pull

rm -f "$LOG"
say "ready in $((SECONDS - START)) s: .venv/bin/modelwright (minizinc $(minizinc --version | grep -o '[0-9][0-9.]*' | head -1), node $(node --version))"
