#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, installs into ./install
# (a relocatable prefix) and trains the default model on Fashion-MNIST, printing progress and
# the final test accuracy. Extra arguments go to `nntrain train` (e.g. --set train.epochs=1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# its own build directory: no test framework needed here (scripts/test.sh uses build/)
if [ ! -f build-quickstart/build.ninja ]; then
  meson setup build-quickstart --prefix "$PWD/install" -Dtests=false >/dev/null
fi
ninja -C build-quickstart
meson install -C build-quickstart --quiet
MODEL=${NNTRAIN_MODEL:-examples/fashion_mnist_mlp.ini}
echo "quickstart: training $MODEL (Ctrl-C stops with a checkpoint; see README)"
exec install/bin/nntrain train "$MODEL" "$@"
