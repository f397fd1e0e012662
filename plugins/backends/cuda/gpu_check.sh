#!/usr/bin/env bash
# gpu_check.sh: every check of the CUDA pack that needs a GPU, as one command from the
# repository root, in under ten minutes on one H200:
#   1. the versions: GPU, driver, CUDA runtime, cuDNN, cuBLASLt (and PyTorch's, when present)
#   2. the CUDA unit tests (tests/cuda), the GPU suite included
#   3. `nntrain devices test cuda`: every kernel against the CPU plugins, and `plugins test
#      --device cuda` of three layers and a loss (device memory fenced, device leaks counted)
#   4. both Fashion-MNIST examples trained with --device cuda (their own epochs)
#   5. bench/cuda_fmnist.sh: samples/s at batch 128 and 1024 against PyTorch eager
#
# Two steps when the GPU machine cannot build nntrain (no Debian packages there):
#   bash plugins/backends/cuda/gpu_check.sh --pack   # here: build with -Dcuda=enabled, put the
#                                                    # binaries, their libraries and the data
#                                                    # into .gpu/ (git-excluded, ~50 MiB)
#   bash plugins/backends/cuda/gpu_check.sh          # there, with .gpu carried along: unpack
#                                                    # and run 1-5 (logs in $OUT or .gpu/out)
# With the device tool: run(command="bash plugins/backends/cuda/gpu_check.sh",
#                           carry=[".gpu"], timeout_s=600)
# Typically 6-7 minutes: the conformance run opens the device once per check (253 checks),
# and each stage has its own time limit. Everything is logged as it goes, so a stage cut short
# still leaves what it printed.
# On a machine that has both the toolchain and a GPU, the second command alone builds and runs.
set -uo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
pack=$root/.gpu

# ---- --pack: what the GPU machine needs, built and gathered here --------------------------
if [ "${1:-}" = "--pack" ]; then
  set -e
  [ -f build/build.ninja ] || meson setup build -Dcuda=enabled
  meson configure build -Dcuda=enabled >/dev/null
  ninja -C build
  [ -f build/plugins/backends/cuda/cuda.so ] || { echo "gpu_check: the CUDA pack did not build"; exit 1; }
  rm -rf "$pack" && mkdir -p "$pack/libs" "$pack/fashion-mnist"
  excl=$(git rev-parse --git-path info/exclude)
  grep -qx '/.gpu/' "$excl" 2>/dev/null || echo '/.gpu/' >> "$excl"
  mapfile -t elves < <(find build/core build/plugins build/tests/cuda \( -type f -o -type l \) \
    \( -name '*.so' -o -name '*.so.*' -o -name nntrain -o -name 'test_cu_*' \) \
    ! -path '*.p/*' | sort)
  tar -cJf "$pack/build.tar.xz" "${elves[@]}"
  # every library they load that a CUDA development image (Ubuntu) may lack: not the C and C++
  # runtimes, not the base system's (an older copy first on the path would shadow a newer
  # one that other programs there need), not CUDA's own (found there)
  for f in "${elves[@]}"; do ldd "$f" 2>/dev/null; done |
    awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
    grep -vE '^(libc|libm|libdl|libpthread|librt|libresolv|libgcc_s|libstdc\+\+|ld-linux|libz|libcrypto|libssl|libgssapi_krb5|libkrb5|libk5crypto|libkrb5support|libcom_err|libkeyutils|libffi|libpcre2-8|libgomp)[.-]' |
    grep -vE "$root/build|/usr/local/cuda|libcud|libcublas" |
    while read -r name path; do cp -L "$path" "$pack/libs/$name"; done
  tar -cJf "$pack/libs.tar.xz" -C "$pack" libs && rm -rf "$pack/libs"
  cp /usr/share/datasets/fashion-mnist/*-ubyte.gz "$pack/fashion-mnist/"
  du -sh "$pack"
  echo "gpu_check: packed; on the GPU machine run: bash plugins/backends/cuda/gpu_check.sh (carry .gpu)"
  exit 0
fi

# ---- the run -----------------------------------------------------------------------------
out=${OUT:-$pack/out}
mkdir -p "$out"
exec > >(tee "$out/gpu_check.log") 2>&1
t0=$(date +%s)
stage() { printf '\n==== %s (%ds so far)\n' "$1" $(($(date +%s) - t0)); }
declare -A result

if [ -f "$pack/build.tar.xz" ]; then
  stage "unpacking .gpu (built elsewhere)"
  tar -xJf "$pack/build.tar.xz" && mkdir -p "$pack/libs" && tar -xJf "$pack/libs.tar.xz" -C "$pack"
  export LD_LIBRARY_PATH=$pack/libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
elif [ ! -f build/plugins/backends/cuda/cuda.so ]; then
  stage "building"
  { [ -f build/build.ninja ] || meson setup build -Dcuda=enabled; } && ninja -C build ||
    { echo "gpu_check: cannot build here; run --pack where nntrain builds, carry .gpu"; exit 1; }
fi
# cuDNN and cuBLASLt of this machine: the toolkit's, the system's, or PyTorch's wheels'
for lib in libcudnn.so.9 libcublasLt.so.13; do
  if ! ldconfig -p 2>/dev/null | grep -q "$lib" && [ ! -e /usr/local/cuda/lib64/$lib ]; then
    hit=$(find /usr /opt -name "$lib" -not -path '*/proc/*' 2>/dev/null | head -1)
    [ -n "$hit" ] && export LD_LIBRARY_PATH=$(dirname "$hit")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  fi
done
data=${NNTRAIN_FMNIST_DIR:-}
for d in "$pack/fashion-mnist" /usr/share/datasets/fashion-mnist; do
  [ -z "$data" ] && [ -f "$d/train-images-idx3-ubyte.gz" ] && data=$d
done
missing=$(for f in build/core/cli/nntrain build/plugins/layers/dense.so build/tests/cuda/test_cu_gpu \
           build/plugins/backends/cuda/cuda.so; do ldd "$f"; done 2>&1 | grep 'not found' | sort -u)
[ -n "$missing" ] && echo "gpu_check: libraries not found (what fails below needs them):" && echo "$missing"
b=$root/build/plugins
export NNTRAIN_PLUGIN_PATH=$b/layers:$b/losses:$b/optim:$b/data:$b/data/transforms:$b/loggers:$b/backends:$b/backends/cuda
export NNTRAIN_EXE=$root/build/core/cli/nntrain NNTRAIN_SOURCE_ROOT=$root
export NNTRAIN_BUILD_ROOT=$root/build NNTRAIN_FMNIST_DIR=$data
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
nntrain=$NNTRAIN_EXE
work=$(mktemp -d /tmp/gpu-check.XXXXXX)

stage "1. versions"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | head -3
command -v nvcc >/dev/null && nvcc --version | tail -2
env -u LD_LIBRARY_PATH python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' 2>/dev/null
echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
echo "Fashion-MNIST: ${data:-not found}"
timeout 60 "$nntrain" devices > "$out/devices.txt" 2>&1
grep -A1 -E '^(DEVICE|cuda)' "$out/devices.txt"
grep -q '^cuda *[1-9]' "$out/devices.txt" && result[versions]=PASS || result[versions]=FAIL

stage "2. unit tests (tests/cuda)"
ok=PASS
for t in alloc issue host emul nodevice gpu; do
  limit=20; [ $t = gpu ] && limit=150
  (cd "$work" && timeout $limit "$root/build/tests/cuda/test_cu_$t" --jobs=1 > "$out/test_$t.txt" 2>&1)
  rc=$?
  printf '%-9s rc=%-3d %s\n' $t $rc "$(grep -E 'Synthesis' "$out/test_$t.txt" | tail -1)"
  [ $rc = 0 ] || { ok=FAIL; grep -E 'Assert|FAIL|CRASH|\[----\]' "$out/test_$t.txt" | head -20; }
done
result[unit]=$ok

stage "3. nntrain devices test cuda (every kernel against the CPU plugins)"
(cd "$work" && timeout 240 "$nntrain" devices test cuda > "$out/conformance.txt" 2>&1)
rc=$?
grep -E 'FAIL|CRASH|SKIP' "$out/conformance.txt" | head -40
tail -3 "$out/conformance.txt"
[ $rc = 0 ] && result[conformance]=PASS || result[conformance]="FAIL (rc $rc)"

stage "3b. nntrain plugins test --device cuda (device memory fenced, leaks counted)"
ok=PASS
for p in dense conv2d maxpool2d cross_entropy; do
  (cd "$work" && timeout 60 "$nntrain" plugins test $p --device cuda > "$out/plugtest_$p.txt" 2>&1)
  rc=$?
  printf '%-14s rc=%-3d %s\n' $p $rc "$(tail -1 "$out/plugtest_$p.txt")"
  [ $rc = 0 ] || { ok=FAIL; grep -E 'FAIL' "$out/plugtest_$p.txt" | head -5; }
done
result[plugtest]=$ok

stage "4. the Fashion-MNIST examples with --device cuda"
for ex in mlp cnn; do
  (cd "$work" && timeout 45 "$nntrain" train "$root/examples/fashion_mnist_$ex.ini" \
     --device cuda --run-dir "$work/$ex" --set data.dir="$data" > "$out/example_$ex.txt" 2>&1)
  rc=$?
  echo "fashion_mnist_$ex (rc $rc):"
  if [ $rc = 0 ]; then grep -E '^(epoch|test:|trained|device)' "$out/example_$ex.txt" | tail -8
  else tail -4 "$out/example_$ex.txt"; fi
  [ $rc = 0 ] && result[example_$ex]=PASS || result[example_$ex]="FAIL (rc $rc)"
done

stage "5. benchmark against PyTorch eager (bench/cuda_fmnist.sh)"
timeout 150 bash "$root/bench/cuda_fmnist.sh" "$nntrain" "$data" 2 > "$out/bench.txt" 2>&1
cat "$out/bench.txt"

stage "summary"
for k in versions unit conformance plugtest example_mlp example_cnn; do printf '%-12s %s\n' "$k" "${result[$k]:-not run}"; done
echo "logs: $out"
rm -rf "$work"
