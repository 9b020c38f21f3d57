#!/usr/bin/env bash
# test_plugin_template.sh — `qpipe passes`, and a third-party plugin (examples/plugin_template) built
# against an INSTALLED qpipe, once with CMake (find_package) and once with pkg-config and cc.
. "$(dirname "$0")/lib.sh"
BUILD="$(cd "$(dirname "$QPIPE")" && pwd)"
TEMPLATE="$SRC/examples/plugin_template"
unset QPIPE_PLUGIN_PATH

# ---- qpipe passes in the build tree ----
expect_exit 0 "passes --help" -- "$QPIPE" passes --help
expect_match "$OUT" "usage: qpipe passes" "passes --help shows usage"
expect_exit 2 "passes with an unknown flag" -- "$QPIPE" passes --frob
expect_exit 0 "passes" -- "$QPIPE" passes
expect_match "$OUT" "plugin search path" "passes shows the search path"
expect_match "$OUT" "$BUILD/plugins" "the build tree's plugins/ is searched"
expect_exit 1 "passes with an unknown pass name" -- "$QPIPE" passes count_opz
expect_match "$ERR" "unknown pass 'count_opz' \(.*known: " "unknown pass lists the known ones"
mkdir -p "$TMP/bad"
printf 'not a shared object\n' > "$TMP/bad/x.so"
expect_exit 1 "a plugin dir with a broken .so" -- "$QPIPE" passes --plugin-path "$TMP/bad"
expect_match "$ERR" "$TMP/bad/x.so: cannot load plugin" "the broken plugin file is named"
expect_exit 0 "a missing plugin dir is skipped" -- "$QPIPE" passes --plugin-path "$TMP/none"

# ---- install, then build the template against the installed tree with CMake ----
PREFIX="$TMP/prefix"
if ! cmake --install "$BUILD" --prefix "$PREFIX" >"$TMP/install.log" 2>&1; then
  echo "FAIL cmake --install: $(tail -5 "$TMP/install.log")"; exit 1
fi
PC="$(find "$PREFIX" -name qpipe.pc | head -1)"
expect_true "[ -x '$PREFIX/bin/qpipe' ]" "qpipe installed"
expect_true "[ -f '$PREFIX/include/qpipe/qp_plugin.h' ] && [ -f '$PREFIX/include/qpipe/qp_session.h' ]" "plugin_api headers installed"
expect_true "[ -n '$(find "$PREFIX" -name qpipeConfig.cmake)' ]" "qpipeConfig.cmake installed"
expect_true "[ -n '$PC' ]" "qpipe.pc installed"
expect_true "[ ! -e '$PREFIX/include/ir' ] && [ -z \"\$(find '$PREFIX/include' -name 'ir.h')\" ]" "no host headers installed"

if cmake -S "$TEMPLATE" -B "$TMP/tpl" -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_BUILD_TYPE=Release \
     -DCMAKE_INSTALL_PREFIX="$PREFIX" >"$TMP/tpl.log" 2>&1 && cmake --build "$TMP/tpl" >>"$TMP/tpl.log" 2>&1; then
  n_pass=$((n_pass+1)); echo "ok   template configures and builds against the installed qpipe"
else
  n_fail=$((n_fail+1)); echo "FAIL template build:"; tail -20 "$TMP/tpl.log"
fi
expect_exit 0 "installed qpipe lists the template's pass" -- "$PREFIX/bin/qpipe" passes --plugin-path "$TMP/tpl"
expect_match "$OUT" "count_ops 1\.0\.0  \[$TMP/tpl/count_ops\.so\]" "count_ops listed with version and origin"
expect_match "$OUT" "top +int +0 +\[0, 1000\]" "count_ops parameter table shown"
expect_match "$OUT" "order +enum +count +count\|name" "count_ops enum parameter shown"
QPIPE_PLUGIN_PATH="$TMP/tpl" expect_exit 0 "found through QPIPE_PLUGIN_PATH" -- "$PREFIX/bin/qpipe" passes count_ops
if command -v nm >/dev/null; then
  expect_true "[ \"\$(nm -D --defined-only '$TMP/tpl/count_ops.so' | awk '{print \$3}')\" = qp_plugin_entry ]" \
    "the plugin exports only qp_plugin_entry"
fi
# Installed into the same prefix, qpipe finds it with no flag, even after the tree moves.
cmake --install "$TMP/tpl" >/dev/null 2>&1
expect_exit 0 "plugin installed beside qpipe is found" -- "$PREFIX/bin/qpipe" passes count_ops
mv "$PREFIX" "$TMP/moved"
PREFIX="$TMP/moved"
PC="$(find "$PREFIX" -name qpipe.pc | head -1)"
expect_exit 0 "a moved install still finds libqpipe and its plugins" -- "$PREFIX/bin/qpipe" passes count_ops
expect_match "$OUT" "\[$PREFIX/bin/\.\./lib[^]]*/qpipe/plugins/count_ops\.so\]" "origin is the moved plugin dir"

# ---- the same plugin with pkg-config and a plain compiler command ----
if command -v pkg-config >/dev/null && [ -n "$PC" ]; then
  export PKG_CONFIG_PATH="$(dirname "$PC")"
  mkdir -p "$TMP/pc"
  if ${CC:-cc} -std=c11 -shared -fPIC -fvisibility=hidden -Wl,--no-undefined "$TEMPLATE/count_ops.c" \
       -o "$TMP/pc/count_ops.so" $(pkg-config --cflags --libs qpipe) 2>"$TMP/pc.log"; then
    n_pass=$((n_pass+1)); echo "ok   template builds with pkg-config --cflags --libs qpipe"
  else
    n_fail=$((n_fail+1)); echo "FAIL pkg-config build: $(cat "$TMP/pc.log")"
  fi
  expect_exit 0 "pkg-config build is listed" -- "$PREFIX/bin/qpipe" passes --plugin-path "$TMP/pc" count_ops
  expect_match "$OUT" "count_ops 1\.0\.0  \[$TMP/pc/count_ops\.so\]" "--plugin-path shadows the installed count_ops.so"
else
  echo "skip pkg-config build (no pkg-config)"
fi
finish
