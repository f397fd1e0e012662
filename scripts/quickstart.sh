#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, installs into ./install
# (a relocatable prefix) and trains the default model on Fashion-MNIST, printing progress and
# the final test accuracy. Extra arguments go to `nntrain train` (e.g. --set train.epochs=1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
if [ ! -f build/build.ninja ]; then
  meson setup build --prefix "$PWD/install" >/dev/null
fi
ninja -C build
meson install -C build --quiet
MODEL=${NNTRAIN_MODEL:-examples/fashion_mnist_mlp.ini}
echo "quickstart: training $MODEL (Ctrl-C stops with a checkpoint; see README)"
exec install/bin/nntrain train "$MODEL" "$@"
