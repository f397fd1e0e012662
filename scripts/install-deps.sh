#!/usr/bin/env bash
# Installs the Debian packages that building, testing and training need; idempotent:
# `apt-get update` runs once, and only when something is missing.
set -euo pipefail
PKGS=(
  meson ninja-build pkg-config gcc clang libc6-dev
  libdnnl-dev libuv1-dev libcriterion-dev libinih-dev libdlpack-dev zlib1g-dev
  libpng-dev libsndfile1-dev
  libclang-rt-14-dev
  dataset-fashion-mnist
  chromium # tests/loggers renders the HTML report headless to a PNG (~80 MB, ~20 s to install)
)
# extra packages a caller needs (e.g. the test script adds python3-protobuf)
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
