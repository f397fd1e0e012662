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
if [ "${1:-}" = "--test" ]; then
  shift
  PKGS+=(
    libcriterion-dev          # the test framework
    clang libclang-rt-14-dev  # libFuzzer targets in tests/fuzz
    python3 python3-protobuf  # independent readers of our TensorBoard, CSV and JSONL files
    chromium                  # tests/loggers renders the HTML report headless (~80 MB)
    binutils                  # nm, to check that plugins export one symbol
    python3-torch             # tests/layers: PyTorch's outputs for lstm, gru, attention, ... (~400 MB)
  )
fi
PKGS+=("$@")
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
