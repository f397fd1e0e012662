#!/usr/bin/env bash
# test_stock_data.sh: `nntrain plugins test` over the stock datasets and the transforms that
# need files or keys, on tiny fixtures written here (CSV, text, PNG, WAV, CIFAR batches, a
# vocabulary). Every run must exit 0 with no failed and no skipped dataset check.
set -euo pipefail
: "${NNTRAIN_EXE:?run me with meson test}"
tmp=$(mktemp -d /tmp/nntest-stockdata.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

python3 - "$tmp" <<'PY'
import os, struct, sys, wave, zlib
d = sys.argv[1]
with open(f"{d}/train.csv", "w") as f:
    f.write("a,b,label\n")
    for i in range(12):
        f.write(f"{i * 0.5},{(i % 5) - 2},{'cat' if i % 3 else 'dog'}\n")
with open(f"{d}/train.txt", "w") as f:
    for i in range(10):
        f.write(f"{'pos' if i % 2 else 'neg'}\tthe movie was {'good' if i % 2 else 'bad'} {i}\n")
def png(path, w, h, seed):
    rows = b"".join(b"\0" + bytes((seed * 7 + x * 3 + y * 5 + c) % 256
                                  for x in range(w) for c in range(3)) for y in range(h))
    def chunk(t, b):
        return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b) & 0xffffffff)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
for c in ("ants", "bees"):
    os.makedirs(f"{d}/images/{c}")
    os.makedirs(f"{d}/audio/{c}")
    for i in range(3):
        png(f"{d}/images/{c}/{i}.png", 6, 5, i + len(c))
        with wave.open(f"{d}/audio/{c}/{i}.wav", "wb") as w:
            w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
            w.writeframes(b"".join(struct.pack("<h", (k * 37 * (i + 1)) % 2000 - 1000)
                                   for k in range(300)))
os.makedirs(f"{d}/cifar")
with open(f"{d}/cifar/data_batch_1.bin", "wb") as f:
    for r in range(6):
        f.write(bytes([r % 10]) + bytes((r * 13 + k) % 256 for k in range(3072)))
with open(f"{d}/vocab.txt", "w") as f:
    f.write("<pad>\n<unk>\nhappy\nglad\nsad\nunhappy\nbig\nlarge\n")
with open(f"{d}/syn.txt", "w") as f:
    f.write("happy, glad\nsad, unhappy\nbig, large\n")
PY

check() { # KIND NAME ARGS...
  local kind=$1 name=$2
  shift 2
  local out
  out=$(env -u NNTRAIN_PLUGIN_PATH NNTRAIN_PLUGIN_PATH="$NNTRAIN_PLUGIN_PATH" \
        "$NNTRAIN_EXE" plugins test "$name" --kind "$kind" "$@" 2>&1) ||
    fail "plugins test $name $*:"$'\n'"$out"
  echo "$out"
  if grep -E "^  (dataset|transform|cases|events) +skip" <<<"$out"; then
    fail "$name: a check was skipped"
  fi
  grep -q " 0 failed" <<<"$out" || fail "$name: no summary line"
}

check dataset csv --param "path=$tmp/train.csv"
check dataset text --param "path=$tmp/train.txt" --param max_len=8
check dataset image_folder --param "dir=$tmp/images"
check dataset audio_folder --param "dir=$tmp/audio" --param rate=8000 --param length=256
check dataset cifar --param "dir=$tmp/cifar" --param train_files=data_batch_1.bin
check transform normalize --param from_data=true
check transform normalize --param mean=0.5 --param std=0.25
check transform synonym_replacement --param "vocab=$tmp/vocab.txt" --param "synonyms=$tmp/syn.txt"
echo PASS
