#!/usr/bin/env bash
# cuda_fmnist.sh: nntrain on CUDA against PyTorch eager on the same GPU, on the two reference
# workloads of torch_fmnist_gpu.py (MLP and CNN, batch 128 and 1024, 3 epochs each, best epoch's
# samples/s, test accuracy). A benchmark: it prints figures and never fails on a slow machine.
#   bash bench/cuda_fmnist.sh [NNTRAIN [FASHION_MNIST_DIR [EPOCHS]]]
# NNTRAIN defaults to build/core/cli/nntrain (plugins found through NNTRAIN_PLUGIN_PATH, which
# is set to the build tree's plugin folders when unset). The PyTorch run needs python3 with
# torch and a GPU; set NNTRAIN_BENCH_NO_TORCH=1 to skip it.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
nntrain=${1:-$root/build/core/cli/nntrain}
data=${2:-/usr/share/datasets/fashion-mnist}
epochs=${3:-3}
b=$root/build/plugins
export NNTRAIN_PLUGIN_PATH=${NNTRAIN_PLUGIN_PATH:-$b/layers:$b/losses:$b/optim:$b/data:$b/data/transforms:$b/loggers:$b/backends:$b/backends/cuda}
work=$(mktemp -d /tmp/nntrain-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

# the reference figures of shared/bench/README.md (PyTorch 2.11 eager, one H200)
declare -A ref=([mlp128]=128000 [mlp1024]=972000 [cnn128]=69000 [cnn1024]=389000)
declare -A goal=([128]=3.0 [1024]=1.2)

# best epoch's samples/s and test accuracy of one nntrain run
run_nntrain() { # model batch extra-env
  local model=$1 batch=$2 dir=$work/$1-$2-$RANDOM
  env ${3:-} "$nntrain" train "$root/examples/fashion_mnist_$model.ini" --device cuda \
    --run-dir "$dir" --set data.dir="$data" --set train.epochs="$epochs" \
    --set train.batch_size="$batch" --set logger.j.type=jsonl > "$dir.out" 2>&1 || {
    echo "nntrain $model batch $batch failed:" >&2; tail -5 "$dir.out" >&2; echo "- -"; return; }
  local sps acc
  sps=$(grep '"kind":"epoch"' "$dir/metrics.jsonl" |
        sed 's/.*"samples_per_s":\([0-9.e+]*\).*/\1/' | sort -g | tail -1)
  acc=$(sed -n 's/^test: loss [0-9.]*  accuracy \([0-9.]*\)%.*/\1/p' "$dir.out" | tail -1)
  grep '^device cuda' "$dir.out" > "$work/device.txt"
  printf '%.0f %s\n' "$sps" "$acc"
}

declare -A torch_sps torch_acc
# PyTorch runs with the machine's own libraries, whatever nntrain's runs were given
torch_py() { env -u LD_LIBRARY_PATH python3 "$@"; }
if [ "${NNTRAIN_BENCH_NO_TORCH:-0}" != 1 ] && torch_py -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  echo "PyTorch eager, the same workloads (bench/torch_fmnist_gpu.py):"
  PYTHONUNBUFFERED=1 torch_py "$root/bench/torch_fmnist_gpu.py" "$data" > "$work/torch.txt" 2>&1
  grep RESULT "$work/torch.txt" || tail -5 "$work/torch.txt"
  while read -r line; do
    m=$(sed 's/.* model=\([a-z]*\) .*/\1/' <<<"$line"); bt=$(sed 's/.* batch=\([0-9]*\) .*/\1/' <<<"$line")
    torch_sps[$m$bt]=$(sed 's/.*best_samples_per_s=\([0-9]*\).*/\1/' <<<"$line")
    torch_acc[$m$bt]=$(sed 's/.*test_acc=\([0-9.]*\).*/\1/' <<<"$line")
  done < <(grep RESULT "$work/torch.txt")
fi

printf '\n%-5s %6s %14s %14s %14s %8s %6s %10s %10s\n' model batch nntrain/s torch_now/s \
  torch_ref/s ratio goal acc_nntrain acc_torch
for model in mlp cnn; do
  for batch in 128 1024; do
    read -r sps acc < <(run_nntrain $model $batch)
    t=${torch_sps[$model$batch]:-}
    base=${t:-${ref[$model$batch]}}
    ratio=$(awk -v a="$sps" -v b="$base" 'BEGIN { if (a + 0 > 0) printf "%.2fx", a / b; else print "-" }')
    ta=${torch_acc[$model$batch]:-}
    printf '%-5s %6s %14s %14s %14s %8s %5sx %10s %10s\n' $model $batch "$sps" "${t:--}" \
      "${ref[$model$batch]}" "$ratio" "${goal[$batch]}" "${acc:--}" \
      "${ta:+$(awk -v x="$ta" 'BEGIN { printf "%.2f", 100 * x }')}"
  done
done
read -r sps acc < <(run_nntrain mlp 128 NNTRAIN_CUDA_GRAPHS=0)
printf '%-5s %6s %14s   (CUDA graphs off: what the graphs are worth)\n' mlp 128 "$sps"
# PyTorch runs cuDNN convolutions in TF32 by default; nntrain keeps FP32 unless asked
for batch in 128 1024; do
  read -r sps acc < <(run_nntrain cnn $batch NNTRAIN_CUDA_TF32=1)
  printf '%-5s %6s %14s   test accuracy %s%% (NNTRAIN_CUDA_TF32=1: TF32 products, as PyTorch '\
'convolves by default)\n' cnn $batch "$sps" "${acc:--}"
done
echo "(ratio: nntrain over PyTorch measured now, or over the reference figure when PyTorch did not run)"
cat "$work/device.txt" 2>/dev/null
