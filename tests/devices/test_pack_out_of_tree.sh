#!/usr/bin/env bash
# test_pack_out_of_tree.sh: a device pack built as a vendor builds one. Installs this build
# into a staging directory moved somewhere its build never knew, takes the installed sim.so
# away, builds plugins/backends/sim out of tree with only `dependency('nntrain-sdk')`, and has
# the installed nntrain list it and pass `devices test sim` with it loaded by --plugin-dir.
# Writes only into one temporary directory.
set -euo pipefail
: "${NNTRAIN_BUILD_ROOT:?run me with meson test}" "${NNTRAIN_SOURCE_ROOT:?run me with meson test}"

tmp=$(mktemp -d /tmp/nntest-pack.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }
unset NNTRAIN_PLUGIN_PATH LD_LIBRARY_PATH # the installed nntrain finds its own

step "install, then move the tree elsewhere"
meson install -C "$NNTRAIN_BUILD_ROOT" --no-rebuild --quiet --destdir "$tmp/stage" >"$tmp/install.log"
exe=$(find "$tmp/stage" -path '*/bin/nntrain' -type f | head -n 1)
[ -n "$exe" ] || fail "meson install put no bin/nntrain under $tmp/stage"
mv "$(dirname "$(dirname "$exe")")" "$tmp/inst"
nntrain=$tmp/inst/bin/nntrain
pc=$(find "$tmp/inst" -name nntrain-sdk.pc | head -n 1)
[ -n "$pc" ] || fail "nntrain-sdk.pc is not installed"
printf '#!/bin/sh\nexec pkg-config --define-variable=prefix="%s" "$@"\n' "$tmp/inst" >"$tmp/pkg-config"
chmod +x "$tmp/pkg-config"
export PKG_CONFIG="$tmp/pkg-config" PKG_CONFIG_PATH=$(dirname "$pc")
plugindir=$("$PKG_CONFIG" --variable=plugindir nntrain-sdk)
[ -f "$plugindir/sim.so" ] || fail "the in-tree sim pack is not installed in $plugindir"
rm "$plugindir/sim.so"
out=$("$nntrain" devices) || fail "devices: $out"
if grep -q '^sim ' <<<"$out"; then fail "sim is still listed without its pack: $out"; fi

step "the pack's sources use the SDK only"
cp -r "$NNTRAIN_SOURCE_ROOT/plugins/backends/sim" "$tmp/src"
grep -q "dependency('nntrain-sdk')" "$tmp/src/meson.build" || fail "meson.build lacks nntrain-sdk"
if grep -n "include_directories\|\.\./" "$tmp/src/meson.build"; then
  fail "the pack's meson.build reaches outside pkg-config"
fi
if grep -n '#include' "$tmp/src"/*.[ch] | grep -v -E '<nntrain/[a-z]+\.h>|<[a-z/]+\.h>|"sim\.h"'; then
  fail "the pack includes something other than the SDK, libc and its own sim.h"
fi

step "build it out of tree"
meson setup "$tmp/build" "$tmp/src" >"$tmp/setup.log" 2>&1 || { cat "$tmp/setup.log"; fail "meson setup"; }
ninja -C "$tmp/build" >"$tmp/ninja.log" 2>&1 || { cat "$tmp/ninja.log"; fail "ninja"; }
if grep -i "warning" "$tmp/ninja.log"; then fail "the pack builds with warnings"; fi
syms=$(nm -D --defined-only "$tmp/build/sim.so" | awk '{print $3}' | grep -v '^__odr_asan\.')
[ "$syms" = "nn_plugin_descriptors" ] || fail "sim.so exports: $syms"

step "load it with --plugin-dir"
out=$("$nntrain" devices --plugin-dir "$tmp/build") || fail "devices: $out"
echo "$out"
grep -q "^sim        2      pretend accelerator" <<<"$out" || fail "devices does not list sim"
grep -q "backend:    $tmp/build/sim.so" <<<"$out" || fail "the listed backend is not the new build"
out=$("$nntrain" devices test sim --plugin-dir "$tmp/build") || { echo "$out"; fail "devices test sim"; }
echo "$out" | tail -n 3
grep -q " passed, 0 failed, 0 skipped" <<<"$out" || fail "devices test: $out"
echo "PASS"
