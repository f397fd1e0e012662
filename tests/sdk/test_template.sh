#!/usr/bin/env bash
# test_template.sh: proves the plugin author's path end to end. Installs this build into a
# staging directory, moves the installed tree somewhere its build never knew (a relocated
# prefix), copies the installed template, builds it out of tree against the moved tree with
# pkg-config only (nntrain-sdk.pc follows its own location), runs its unit test (which finds
# libnncore through its rpath), checks that the plugin exports exactly one symbol, loads it
# with --plugin-dir, runs `plugins test` on it, then installs it and checks that the relocated
# bin/nntrain finds its installed plugins with no environment variable. It never writes into
# the source or build tree; everything lives in one temporary directory.
set -euo pipefail
: "${NNTRAIN_BUILD_ROOT:?run me with meson test}" "${NNTRAIN_SOURCE_ROOT:?run me with meson test}"

tmp=$(mktemp -d /tmp/nntest-sdk.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }
# the build tree's plugins must not leak into what the installed nntrain sees
build_plugin_path=$NNTRAIN_PLUGIN_PATH
nntrain_build=${NNTRAIN_EXE:?run me with meson test}
unset NNTRAIN_PLUGIN_PATH
# nor may meson test's LD_LIBRARY_PATH: the installed nntrain must find libnncore by its rpath
unset LD_LIBRARY_PATH

step "install into a staging directory, then move the tree elsewhere"
meson install -C "$NNTRAIN_BUILD_ROOT" --no-rebuild --quiet --destdir "$tmp/stage" >"$tmp/install.log"
staged_exe=$(find "$tmp/stage" -path '*/bin/nntrain' -type f | head -n 1)
[ -n "$staged_exe" ] || fail "meson install put no bin/nntrain under $tmp/stage"
mv "$(dirname "$(dirname "$staged_exe")")" "$tmp/inst"
root=$tmp/inst
nntrain=$root/bin/nntrain
pc=$(find "$root" -name nntrain-sdk.pc | head -n 1)
[ -n "$pc" ] || fail "nntrain-sdk.pc is not installed"

step "nntrain-sdk.pc, unedited, points into the moved tree"
grep -q '^prefix=${pcfiledir}/' "$pc" || fail "nntrain-sdk.pc does not follow its file: $(grep prefix= "$pc")"
export PKG_CONFIG_PATH=$(dirname "$pc")
for v in prefix libdir includedir plugindir templatedir; do
  p=$(pkg-config --variable=$v nntrain-sdk)
  [ -d "$p" ] || fail "pkg-config $v = $p is not a directory of the moved tree"
  case $(cd "$p" && pwd -P) in "$(cd "$root" && pwd -P)"*) ;; *) fail "$v $p is not under $root" ;; esac
done
# physical paths, as nntrain reports them (pkg-config's keep the file's '..')
plugindir=$(mkdir -p "$(pkg-config --variable=plugindir nntrain-sdk)" &&
            cd "$(pkg-config --variable=plugindir nntrain-sdk)" && pwd -P)
libdir=$(cd "$(pkg-config --variable=libdir nntrain-sdk)" && pwd -P)
[ -f "$libdir/libnncore.so" ] || fail "no libnncore.so in pkg-config's libdir $libdir"

step "build the installed template out of tree with dependency('nntrain-sdk')"
cp -r "$(pkg-config --variable=templatedir nntrain-sdk)" "$tmp/src"
for f in scale.c test_scale.c meson.build README.md; do
  [ -f "$tmp/src/$f" ] || fail "the installed template lacks $f"
done
grep -q "dependency('nntrain-sdk')" "$tmp/src/meson.build" || fail "template does not use nntrain-sdk"
if grep -n "include_directories\|\.\./" "$tmp/src/meson.build"; then
  fail "the template's meson.build reaches outside pkg-config"
fi
grep -q "nntrain plugins test scale" "$tmp/src/README.md" || fail "the template's README does not show plugins test"
# a sanitizer build of nntrain is a sanitizer SDK: programs that link libnncore (the
# template's test) must be built with the same sanitizers, as its users' would be
san=()
if nm -D "$libdir/libnncore.so" | grep " __asan_init" >/dev/null; then
  san=(-Db_sanitize=address,undefined -Db_lundef=false)
fi
meson setup "$tmp/build" "$tmp/src" "${san[@]}" >"$tmp/setup.log" 2>&1 ||
  { cat "$tmp/setup.log"; fail "meson setup"; }
ninja -C "$tmp/build" >"$tmp/ninja.log" 2>&1 || { cat "$tmp/ninja.log"; fail "ninja"; }
# (libasan's own link-time notes about tmpnam are not the template's)
if grep -i "warning" "$tmp/ninja.log" | grep -v "libasan"; then
  fail "the template builds with warnings"
fi
so=$tmp/build/scale.so
[ -f "$so" ] || fail "no scale.so built"

step "the template's unit test runs against the moved libnncore through its rpath"
meson test -C "$tmp/build" --print-errorlogs >"$tmp/test.log" 2>&1 || { cat "$tmp/test.log"; cat "$tmp/build/meson-logs/testlog.txt"; fail "meson test of the template"; }
grep -q "Ok: *1" "$tmp/test.log" || { cat "$tmp/test.log"; fail "the template's test did not run"; }
loaded=$(ldd "$tmp/build/test_scale" | awk '$1 ~ /^libnncore/ {print $3}')
[ "$(readlink -f "$loaded")" = "$(readlink -f "$libdir/libnncore.so")" ] ||
  fail "test_scale loads libnncore from '$loaded', not from $libdir"

step "exactly one exported symbol"
syms=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^__odr_asan\.')
[ "$syms" = "nn_plugin_descriptors" ] || fail "scale.so exports: $syms"

step "load it with --plugin-dir"
out=$("$nntrain" plugins show scale --plugin-dir "$tmp/build") || fail "plugins show scale: $out"
echo "$out"
grep -q "layer scale (1.0.0, device cpu)" <<<"$out" || fail "plugins show lacks the header"
grep -q "factor               float in (-inf, inf), default 1" <<<"$out" || fail "no factor row"
grep -q "fixed multiplier applied on top of the learned scalar alpha" <<<"$out" || fail "no doc"
out=$("$nntrain" plugins check "$tmp/build") || fail "plugins check failed: $out"
grep -q "1 file checked: 1 plugin ok, 0 problems" <<<"$out" || fail "plugins check: $out"
out=$("$nntrain" plugins test scale --plugin-dir "$tmp/build") || fail "plugins test failed: $out"
echo "$out"
grep -q "2 from the test spec" <<<"$out" || fail "plugins test did not use the template's cases"
grep -q " 0 failed" <<<"$out" || fail "plugins test: $out"

step "the relocated nntrain finds its installed plugins with no environment variable"
meson install -C "$tmp/build" --quiet >"$tmp/install2.log"
[ -f "$plugindir/scale.so" ] || fail "template did not install into $plugindir"
out=$(env -u NNTRAIN_PLUGIN_PATH "$nntrain" plugins --kind layer) || fail "plugins: $out"
echo "$out"
grep -q "$plugindir/scale.so" <<<"$out" || fail "installed scale.so not found from $root"
out=$(env -u NNTRAIN_PLUGIN_PATH "$nntrain" plugins check) || fail "plugins check of the install: $out"

step "the install holds every plugin of the build tree (no two plugin files share a name)"
listing() { "$@" | awk '/^[a-z]+ +[a-z0-9_]+ +[a-z0-9_]+ +[0-9]/ {print $1, $2, $3}' | sort; }
built=$(listing env NNTRAIN_PLUGIN_PATH="$build_plugin_path" "$nntrain_build" plugins) ||
  fail "plugins of the build tree"
installed=$(listing env -u NNTRAIN_PLUGIN_PATH "$nntrain" plugins | grep -v '^layer scale ')
[ -n "$built" ] || fail "the build tree lists no plugin"
[ "$built" = "$installed" ] || fail "installed plugins differ from the build tree's: $(diff <(echo "$built") <(echo "$installed"))"

step "the build tree's SDK: pkg-config finds it where meson devenv points, no install needed"
bsdk=$(PKG_CONFIG_PATH=$NNTRAIN_BUILD_ROOT/sdk pkg-config --cflags --libs nntrain-sdk)
binc=$(PKG_CONFIG_PATH=$NNTRAIN_BUILD_ROOT/sdk pkg-config --variable=includedir nntrain-sdk)
blib=$(PKG_CONFIG_PATH=$NNTRAIN_BUILD_ROOT/sdk pkg-config --variable=libdir nntrain-sdk)
[ -f "$binc/nntrain/layer.h" ] || fail "uninstalled includedir $binc lacks nntrain/layer.h"
[ -f "$blib/libnncore.so" ] || fail "uninstalled libdir $blib lacks libnncore.so"
mkdir -p "$tmp/bt"
# shellcheck disable=SC2086 # pkg-config's flags are words
cc -shared -fPIC -o "$tmp/bt/scale.so" "$NNTRAIN_SOURCE_ROOT/sdk/template/scale.c" $bsdk ||
  fail "the template does not build against the build tree's SDK ($bsdk)"
out=$("$nntrain_build" plugins check "$tmp/bt") || fail "plugins check (build-tree SDK): $out"
grep -q "1 plugin ok" <<<"$out" || fail "plugins check (build-tree SDK): $out"

step "every installed plugin exports exactly one symbol"
for f in "$plugindir"/*.so; do
  # ASan adds an __odr_asan.<global> indicator per exported global; it is not ours
  syms=$(nm -D --defined-only "$f" | awk '{print $3}' | grep -v '^__odr_asan\.' | tr '\n' ' ')
  [ "$syms" = "nn_plugin_descriptors " ] || fail "$f exports: $syms"
done
echo "PASS"
