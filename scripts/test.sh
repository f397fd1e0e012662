#!/usr/bin/env bash
# The README's test command: installs what is missing, builds twice (plain, and with
# ASan+UBSan), runs every suite in both, and fails on any sanitizer report, including the
# ones Criterion alone would not fail on (leaks at worker exit, reports in child processes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive

run_suite() { # build-dir, extra meson options...
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >/dev/null
  fi
  ninja -C "$dir"
  meson test -C "$dir" --print-errorlogs --num-processes 2 || {
    echo "test.sh: failures in $dir (log: $dir/meson-logs/testlog.txt)"; return 1; }
}

summary() { # build-dir
  python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, re, sys
ok = fail = skip = 0
why = []
for line in open(sys.argv[1]):
    t = json.loads(line)
    r = t["result"]
    if r in ("OK", "EXPECTEDFAIL"): ok += 1
    elif r == "SKIP":
        skip += 1
        # a TAP suite's skipped cases carry the reason; a test that cannot run names it
        reasons = sorted(set(re.findall(r"# SKIP (.*)", t.get("stdout") or "")))
        why.append(f"  skipped: {t['name']}" + (f": {'; '.join(reasons)}" if reasons else ""))
    else: fail += 1
print(f"{ok} passed, {fail} failed, {skip} skipped")
if why:
    print("\n".join(why))
PY
}

status=0
run_suite build || status=1
summary build

logdir=$(mktemp -d /tmp/nntrain-san.XXXXXX)
export ASAN_OPTIONS="log_path=$logdir/asan:detect_leaks=1:abort_on_error=0"
export LSAN_OPTIONS="use_tls=0:suppressions=$PWD/tests/lsan.supp"
export UBSAN_OPTIONS="log_path=$logdir/ubsan:print_stacktrace=1:halt_on_error=1"
run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false \
  --buildtype=debugoptimized || status=1
summary build-asan
# LeakSanitizer writes a 'Suppressions used' table even for its built-in glibc suppressions;
# only errors count
if reports=$(grep -l -E "ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error:" \
             "$logdir"/* 2>/dev/null); then
  echo "test.sh: sanitizer reports:"
  for f in $reports; do head -n 40 "$f"; done
  status=1
fi
rm -rf "$logdir"
exit $status
