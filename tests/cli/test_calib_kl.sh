#!/usr/bin/env bash
# test_calib_kl.sh — calib_kl end to end: every method on the example pipeline, the calibration cache (written, reused without forward passes, corrupt), parameter errors.
. "$(dirname "$0")/lib.sh"
DATA=/usr/share/datasets/fashion-mnist
if [ ! -f "$DATA/t10k-images-idx3-ubyte.gz" ]; then echo "SKIP: $DATA missing (apt package dataset-fashion-mnist)"; exit 77; fi
PIPE="$SRC/pipelines/fashion_mnist_kl.yaml"
# Small counts keep the test quick; one thread keeps it deterministic and polite on shared machines.
FAST=(--no-progress --set data.calibration.count=128 --set data.evaluation.count=300 --set run.threads=1
      --set calib_kl.threads=1)

expect_exit 0 "passes lists calib_kl" -- "$QPIPE" passes calib_kl
expect_match "$OUT" "method +enum +kl +kl\|percentile\|mse" "method parameter documented"
expect_match "$OUT" "cache +string" "cache parameter documented"

for m in kl percentile mse; do
  expect_exit 0 "method $m runs" -- "$QPIPE" run "$PIPE" "${FAST[@]}" --set calib_kl.method=$m --json "$TMP/$m.json"
  expect_match "$ERR" "activation encodings \($m, 2048 bins\) from 128 images" "method $m calibrated 128 images"
  expect_true "/usr/bin/python3 - '$TMP/$m.json' <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert [p['name'] for p in r['passes']] == ['fold_bn', 'calib_kl'], r['passes']
assert r['images'] == 300
assert r['int8']['agreement'] >= 0.9, r['int8']
assert r['int8']['top1'] >= r['fp32']['top1'] - 0.05, (r['int8'], r['fp32'])
PY" "method $m: int8 agrees with fp32"
done

# The cache: written by the first run, read by the second without forward passes, same encodings.
CACHE="$TMP/fashion.calib"
expect_exit 0 "first run writes the cache" -- "$QPIPE" run "$PIPE" "${FAST[@]}" --set calib_kl.method=kl \
  --set calib_kl.cache="$CACHE" --json "$TMP/c1.json"
expect_match "$ERR" "wrote calibration cache" "cache written"
expect_true "head -1 '$CACHE' | grep -Eq '^TRT-8601-EntropyCalibration2 qpipe method=kl bins=2048 '" "TensorRT-style header"
expect_true "grep -Eq '^logits: [0-9a-f]{8} [0-9a-f]{8} [0-9a-f]{8}$' '$CACHE'" "asymmetric lines carry min and max"
expect_exit 0 "second run reads the cache" -- "$QPIPE" run "$PIPE" "${FAST[@]}" --set calib_kl.method=kl \
  --set calib_kl.cache="$CACHE" --json "$TMP/c2.json"
expect_match "$ERR" "from calibration cache .*\(no forward passes\)" "forward passes skipped"
expect_true "/usr/bin/python3 -c 'import json,sys; a,b=(json.load(open(f))[\"int8\"] for f in sys.argv[1:]); assert a==b,(a,b)' '$TMP/c1.json' '$TMP/c2.json'" "same int8 results from the cache"
expect_exit 0 "another method recalibrates" -- "$QPIPE" run "$PIPE" "${FAST[@]}" --set calib_kl.method=mse \
  --set calib_kl.cache="$CACHE" --set data.evaluation.count=10
expect_match "$ERR" "does not fit this run" "mismatch explained"
expect_true "head -1 '$CACHE' | grep -q '^TRT-8601-MSECalibration qpipe method=mse'" "cache rewritten for mse"
printf 'TRT-8601-MSECalibration qpipe method=mse bins=2048 percentile=99.99 spec=0123456789abcdef\ninput: 3c010a14\nnot a line\n' > "$TMP/bad.calib"
expect_exit 1 "corrupt cache fails" -- "$QPIPE" run "$PIPE" "${FAST[@]}" --set calib_kl.method=mse --set calib_kl.cache="$TMP/bad.calib"
expect_match "$ERR" "bad.calib:3: expected '<tensor>: <hex scale>" "corrupt cache names file:line"

# Parameter errors come from the pass's table before anything runs.
expect_exit 1 "bins out of range" -- "$QPIPE" run "$PIPE" --set calib_kl.bins=100
expect_match "$ERR" "parameter 'bins' of pass 'calib_kl' must be in \[128, 65536\]" "bins range message"
expect_exit 1 "unknown method" -- "$QPIPE" run "$PIPE" --set calib_kl.method=entropy
expect_match "$ERR" "kl, percentile, mse" "method choices listed"
finish
