#!/usr/bin/env bash
# bench_dist.sh: data-parallel throughput of both Fashion-MNIST examples. Trains each example
# for one epoch (a prefix of the data) as
#   1 process x 1 thread, 1 process x 2 threads, 2 processes x 1 thread (mpirun)
# and prints samples/s, the speed-up over one process with one thread, the step time, and
# for the 2-process run the time a step waited for the gradient sums and the time they were
# in flight. A benchmark, not a test: run it on a quiet machine, side by side, several times.
#
#   bash bench/bench_dist.sh [BUILD_DIR]          (default: build)
#   MLP_LIMIT=19200 CNN_LIMIT=6400 REPEAT=3 bash bench/bench_dist.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
exe=$build/core/cli/nntrain
[ -x "$exe" ] || { echo "bench_dist: no $exe: build first (ninja -C $build)"; exit 1; }
command -v mpirun >/dev/null ||
  { echo "bench_dist: no mpirun (apt-get install openmpi-bin)"; exit 1; }
plugin_path=$(find "$build/plugins" -name '*.so' ! -path '*.p/*' -printf '%h\n' | sort -u |
              paste -sd: -)
export NNTRAIN_PLUGIN_PATH=$plugin_path OMP_WAIT_POLICY=passive
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
repeat=${REPEAT:-1}
work=$(mktemp -d /tmp/nntrain-bench-dist.XXXXXX)
trap 'rm -rf "$work"' EXIT

# one run: prints "samples/s step_ms wait_ms flight_ms" (the last two "-" without mpirun)
run() { # label, np (0 = no launcher), threads, model, limit
  local label=$1 np=$2 threads=$3 model=$4 limit=$5 dir="$work/$1"
  local args=(train "examples/$model" --run-dir "$dir" --set train.epochs=1
              --set "data.limit=$limit" --set data.test_limit=1 --set logger.j.type=jsonl
              --threads "$threads" --no-test)
  rm -rf "$dir"
  if [ "$np" -eq 0 ]; then
    OMP_NUM_THREADS=$threads "$exe" "${args[@]}" > "$work/out.txt" 2>&1
  else
    OMP_NUM_THREADS=$threads mpirun -np "$np" -x NNTRAIN_PLUGIN_PATH -x OMP_NUM_THREADS \
      -x OMP_WAIT_POLICY "$exe" "${args[@]}" > "$work/out.txt" 2>&1
  fi
  local sps steps
  sps=$(grep '"kind":"epoch"' "$dir/metrics.jsonl" | sed 's/.*"samples_per_s":\([0-9.e+]*\).*/\1/')
  steps=$(grep -c '"kind":"step"' "$dir/metrics.jsonl")
  local line wait flight
  line=$(grep 'data-parallel on' "$work/out.txt" || true)
  wait=$(echo "$line" | sed -n 's/.*waited \([0-9.]*\) ms.*/\1/p')
  flight=$(echo "$line" | sed -n 's/.*(\([0-9.]*\) ms from.*/\1/p')
  awk -v s="$sps" -v n="$steps" -v l="$limit" -v w="${wait:--}" -v f="${flight:--}" \
    'BEGIN { printf "%.0f %.2f %s %s\n", s, 1000 * l / s / n, w, f }'
}

printf '%-5s %-22s %10s %9s %9s %12s %14s\n' model setup samples/s speed-up step_ms \
  allreduce_ms in_flight_ms
for spec in "mlp fashion_mnist_mlp.ini ${MLP_LIMIT:-19200}" \
            "cnn fashion_mnist_cnn.ini ${CNN_LIMIT:-6400}"; do
  set -- $spec
  name=$1 model=$2 limit=$3
  base=""
  for setup in "1x1 0 1" "1x2 0 2" "2x1 2 1"; do
    set -- $setup
    for ((i = 0; i < repeat; i++)); do
      read -r sps step wait flight < <(run "$name-$1" "$2" "$3" "$model" "$limit")
      [ -z "$base" ] && base=$sps
      desc=$([ "$2" -eq 0 ] && echo "1 process x $3 thread" || echo "$2 processes x $3 thread")
      printf '%-5s %-22s %10s %8.2fx %9s %12s %14s\n' "$name" "$desc" "$sps" \
        "$(awk -v a="$sps" -v b="$base" 'BEGIN { print a / b }')" "$step" "$wait" "$flight"
    done
  done
done
echo "(allreduce_ms: what a step of the 2-process run waited for its gradient sums after"
echo " backward; in_flight_ms: from the first bucket's start to the last one's end)"
