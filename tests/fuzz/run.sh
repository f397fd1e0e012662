#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] [TARGET...]: builds the libFuzzer targets with clang
# (-fsanitize=fuzzer,address,undefined), writes a small seed corpus for each, and runs each
# target for SECONDS (default 10). Exits non-zero on the first crash, leak or sanitizer report;
# the reproducer is kept in the work directory it prints. Longer runs: see README.md.
set -euo pipefail
secs=${1:-10}
shift || true
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(idx csv cifar text image safetensors config)
cc=$(command -v clang || command -v clang-14 || true)
if [ -z "$cc" ]; then
  echo "fuzz: clang not found (apt-get install clang libclang-rt-14-dev); skipping"
  exit 77
fi
work=${NN_FUZZ_WORK:-$(mktemp -d /tmp/nntrain-fuzz.XXXXXX)}
mkdir -p "$work"
echo "fuzz: work directory $work"
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){(void)d;(void)n;return 0;}' \
     >"$work/probe.c" || ! "$cc" -fsanitize=fuzzer "$work/probe.c" -o "$work/probe" 2>/dev/null; then
  echo "fuzz: clang cannot link libFuzzer (apt-get install libclang-rt-14-dev); skipping"
  exit 77
fi

seed() { # target
  local c="$work/corpus-$1"
  mkdir -p "$c"
  case $1 in
    idx)
      printf '\0\0\x08\x01\0\0\0\x03\x07\x00\x09' >"$c/labels"
      printf '\0\0\x08\x03\0\0\0\x01\0\0\0\x02\0\0\0\x02\x01\x02\x03\x04' >"$c/images"
      gzip -c "$c/images" >"$c/images.gz" ;;
    cifar)
      { printf '\0\x03'; head -c 3072 /dev/zero; } >"$c/c10"
      { printf '\x01\x05\x33'; head -c 3072 /dev/zero; } >"$c/c100" ;;
    csv)
      printf '\x02a,b,label\n1,2,x\n3.5,-4e2,y\n' >"$c/header"
      printf '\x05 1;2;3\n4;5;6.5\n' >"$c/regression"
      printf '\x12a,b,label\n1,2,x\n3.5,-4e2,y\n' >"$c/predict-header"
      printf '\x26a,label,b\n1,2,3\n' >"$c/test-header" ;;
    text)
      printf '\x45pos\tThe cat sat\nneg\tthe dog ran\n\npos\ta cat\n' >"$c/lines" ;;
    image) # PNG and JPEG files made by libpng and libjpeg themselves
      "$cc" -O1 -I"$root/sdk/include" "$here/fuzz_image_seeds.c" -o "$work/seeds" -lpng -ljpeg
      "$work/seeds" "$c" ;;
    config)
      # the examples as users write them, one with --set assignments after a NUL
      cp "$root"/examples/*.ini "$c/"
      { cat "$root/examples/fashion_mnist_mlp.ini"; printf '\0optimizer.type=adamw\0'
        printf 'layer.fc1.units=64\0train.epochs=2\0transform.n.type=normalize\0'
        printf '!optimizer.momentum\0train.seed='; } >"$c/with-set"
      printf '[train]\r\nepochs = 2\r\n[layer.a]\rtype = dense\runits = 3\r' >"$c/line-ends" ;;
    safetensors)
      h='{"__metadata__":{"epoch":"1"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
      { printf '%b' "$(printf '\\x%02x' $(( ${#h} )) )"; printf '\0\0\0\0\0\0\0'; printf '%s' "$h";
        head -c 8 /dev/zero; } >"$c/small" ;;
  esac
}

status=0
for t in "${targets[@]}"; do
  bin="$work/fuzz_$t"
  extra=()
  if [ "$t" = safetensors ]; then
    extra=("$root/core/checkpoint.c" "$root/core/file_replace.c" "$root/core/rundir.c"
           "$root/core/json_text.c" "$root/core/params.c"
           "$root/core/file.c" "$root/core/status.c" -I"$root/core")
  elif [ "$t" = config ]; then
    extra=("$root/core/config.c" "$root/core/params.c" "$root/core/file.c" "$root/core/status.c"
           -I"$root/core" -linih)
  elif [ "$t" = image ]; then # the decoder image_folder links (libnn_imagedec.a)
    extra=("$root"/plugins/common/nn_{image,datafile}.c "$root/core/file.c" -lpng -ljpeg)
  else # a data plugin and the helpers it links (plugins/common/libnn_datautil.a)
    extra=("$root"/plugins/common/nn_{datafile,classdir,dsutil,nameidx}.c "$root/core/file.c"
           -I"$root/plugins/common")
  fi
  "$cc" -g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=all -I"$root/sdk/include" "$here/fuzz_$t.c" "${extra[@]}" -o "$bin" -lz -lm
  seed "$t"
  echo "fuzz: $t for ${secs}s"
  if ! (cd "$work" && "$bin" -max_total_time="$secs" -seed=1 -print_final_stats=1 \
          -max_len=65536 "$work/corpus-$t" >"$work/$t.log" 2>&1); then
    echo "fuzz: $t FAILED; log $work/$t.log:"
    tail -n 40 "$work/$t.log"
    status=1
  else
    grep -E "^stat::number_of_executed_units|^stat::new_units_added" "$work/$t.log" | \
      sed "s/^/fuzz: $t /"
  fi
done
[ $status -ne 0 ] || [ -n "${NN_FUZZ_WORK:-}" ] || rm -rf "$work"
exit $status
