#!/usr/bin/env bash
# bench/run.sh: the benchmark's one command. Installs what it needs that the build and the test
# suite do not (OpenBLAS, so that Debian's PyTorch is not on the reference BLAS), builds a release
# tree in build-bench/ and runs compare.py, which writes bench/RESULTS.md.
#   bash bench/run.sh            # full: MLP 5 epochs, CNN 2 epochs, 1 and 2 threads, 3 rounds
#   bash bench/run.sh --quick    # the same matrix on a few thousand samples (minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh python3-torch python3-numpy libopenblas0-openmp
exec /usr/bin/python3 bench/compare.py "$@"
