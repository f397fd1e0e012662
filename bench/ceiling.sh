#!/usr/bin/env bash
# bench/ceiling.sh: what two cores give one model when nothing is shared between them. Per
# round, interleaved: two independent one-thread trainings at once (taskset to cores 0 and 1,
# each with its own loader threads), one training with [train] replicas = 2, and one
# one-thread training alone. Prints each one's best-epoch samples/s and the pair's sum: the
# sum bounds what any split of one training over the two cores can reach on this host.
#   bash bench/ceiling.sh [MODEL.ini [ROUNDS [EPOCHS]]]   (default: the MLP, 4 rounds, 3 epochs)
# Needs the release tree of bench/run.sh (build-bench/) and the Fashion-MNIST package.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-examples/fashion_mnist_mlp.ini}
rounds=${2:-4}
epochs=${3:-3}
[ -x build-bench/bench/bench_train ] || {
    echo "ceiling.sh: build-bench/bench/bench_train is missing: run bash bench/run.sh first" >&2
    exit 1
}
set +u # the dump extends variables that may be unset
eval "$(meson devenv -C build-bench --dump | sed 's/^/export /')"
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
train() { # TAG [ARGS...]: one training; prints its best-epoch samples/s
    local tag=$1
    shift
    "$@" build-bench/bench/bench_train "$model" --plugin-dir build-bench/bench \
        --set data.dir=/usr/share/datasets/fashion-mnist --set train.epochs="$epochs" \
        --run-dir "$tmp/$tag.run" --tag "$tag" "${TRAIN_ARGS[@]}" >"$tmp/$tag.out" 2>&1 || {
        echo "ceiling.sh: the $tag training failed:" >&2
        tail -5 "$tmp/$tag.out" >&2
        exit 1
    }
    grep -o 'best_epoch_samples_per_s=[0-9.]*' "$tmp/$tag.out" | cut -d= -f2
}
echo "model $model, $epochs epochs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
for r in $(seq "$rounds"); do
    rm -rf "$tmp"/*
    TRAIN_ARGS=(--threads 1)
    train a taskset -c 0 >"$tmp/a" &
    pa=$!
    train b taskset -c 1 >"$tmp/b" &
    pb=$!
    wait "$pa"
    wait "$pb"
    a=$(cat "$tmp/a") b=$(cat "$tmp/b")
    TRAIN_ARGS=(--threads 2 --set train.replicas=2)
    rep=$(train r)
    TRAIN_ARGS=(--threads 1)
    one=$(train o)
    sum=$(awk -v a="$a" -v b="$b" 'BEGIN { print a + b }')
    printf 'round %d: two at once %.0f + %.0f = %.0f; replicas = 2: %.0f; one alone: %.0f; ' \
        "$r" "$a" "$b" "$sum" "$rep" "$one"
    echo "load $(cut -d' ' -f1 /proc/loadavg)"
done
