#!/usr/bin/env bash
# Installs the Debian packages that building, testing and training need; idempotent:
# `apt-get update` runs once, and only when something is missing.
set -euo pipefail
# Usage: install-deps.sh [--test] [EXTRA-PACKAGE...]
PKGS=(
  meson ninja-build pkg-config gcc libc6-dev
  libdnnl-dev libuv1-dev libinih-dev libdlpack-dev zlib1g-dev
  libpng-dev libsndfile1-dev libjpeg62-turbo-dev
  libopenmpi-dev openmpi-bin  # plugins/comm/mpi.so: `mpirun -np N nntrain train` (docs/distributed.md)
  dataset-fashion-mnist
)
TEST=0
if [ "${1:-}" = "--test" ]; then
  shift
  TEST=1
  PKGS+=(
    libcriterion-dev          # the test framework
    clang libclang-rt-14-dev  # libFuzzer targets in tests/fuzz
    python3 python3-protobuf  # independent readers of our TensorBoard, CSV and JSONL files
    chromium                  # tests/loggers renders the HTML report headless (~80 MB)
    binutils                  # nm, to check that plugins export one symbol
    python3-torch             # tests/layers: PyTorch's outputs for lstm, gru, attention, ... (~400 MB)
    python3-onnx              # tests/export: onnx.checker.check_model(full_check=True)
    nodejs npm                # tests/export: ONNX Runtime, from npm (below)
  )
fi
PKGS+=("$@")
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# a node from elsewhere (nodesource's nodejs bundles npm) satisfies tests/export as it is
if command -v node >/dev/null && command -v npm >/dev/null; then
  for i in "${!missing[@]}"; do
    case ${missing[$i]} in nodejs|npm) unset 'missing[i]' ;; esac
  done
  missing=("${missing[@]}")
fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
else
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# tests/export runs exported models in ONNX Runtime: the npm package onnxruntime-node (its CPU
# runtime is in the package; --ignore-scripts stops its install script from fetching GPU
# binaries), test-only, into .deps/npm of the source tree (git ignores it), where
# tests/export/ort_check.js looks (or $NNTRAIN_NODE_MODULES)
if [ "$TEST" = 1 ]; then
  ORT_VERSION=1.30.0 # the version tests/export was checked with
  npm_dir="$(cd "$(dirname "$0")/.." && pwd)/.deps/npm"
  if [ -f "$npm_dir/node_modules/onnxruntime-node/package.json" ]; then
    echo "install-deps: onnxruntime-node present in $npm_dir"
  else
    mkdir -p "$npm_dir"
    [ -f "$npm_dir/package.json" ] || echo '{"name": "nntrain-test-deps", "private": true}' > "$npm_dir/package.json"
    (cd "$npm_dir" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error \
       "onnxruntime-node@$ORT_VERSION")
  fi
fi
