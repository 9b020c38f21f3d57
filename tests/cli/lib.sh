# lib.sh — tiny assertion helpers for the CLI tests (sourced). Each check prints ok/FAIL; the
# script exits 1 if any failed, 77 (ctest skip) if it asked to skip.
QPIPE="$1"; SRC="$2"; SHARED="$3"
TMP="$(mktemp -d /tmp/qpipe-cli-XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
n_pass=0; n_fail=0

# expect_exit CODE DESCRIPTION -- command...: runs the command, keeps stdout/stderr in $OUT/$ERR.
expect_exit() {
  local want="$1" what="$2"; shift 3
  "$@" >"$TMP/out" 2>"$TMP/err"; local got=$?
  OUT="$(cat "$TMP/out")"; ERR="$(cat "$TMP/err")"
  if [ "$got" = "$want" ]; then n_pass=$((n_pass+1)); echo "ok   $what"
  else n_fail=$((n_fail+1)); echo "FAIL $what: exit $got, wanted $want"; echo "  stderr: $ERR" | head -5; fi
}
# expect_match TEXT REGEX DESCRIPTION
expect_match() {
  if printf '%s' "$1" | grep -Eq -- "$2"; then n_pass=$((n_pass+1)); echo "ok   $3"
  else n_fail=$((n_fail+1)); echo "FAIL $3: /$2/ not in: $(printf '%s' "$1" | head -c 400)"; fi
}
expect_true() {
  if eval "$1"; then n_pass=$((n_pass+1)); echo "ok   $2"; else n_fail=$((n_fail+1)); echo "FAIL $2 ($1)"; fi
}
finish() {
  echo "$n_pass passed, $n_fail failed"
  [ "$n_fail" = 0 ]
}
