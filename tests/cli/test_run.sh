#!/usr/bin/env bash
# test_run.sh — `qpipe run`: the example pipeline end to end (JSON report keys), and invalid pipelines failing with file:line:col.
. "$(dirname "$0")/lib.sh"
DATA=/usr/share/datasets/fashion-mnist
if [ ! -f "$DATA/t10k-images-idx3-ubyte.gz" ]; then echo "SKIP: $DATA missing (apt package dataset-fashion-mnist)"; exit 77; fi
PIPE="$SRC/pipelines/fashion_mnist.yaml"

expect_exit 0 "run --help" -- "$QPIPE" run --help
expect_match "$OUT" "--set KEY=VALUE" "help documents --set"
expect_exit 2 "run without a pipeline is a usage error" -- "$QPIPE" run
expect_exit 2 "--set without '=' is a usage error" -- "$QPIPE" run "$PIPE" --set fold_bn

# The example: fold_bn + calib_minmax, scored on 1000 test images in fp32, quantsim and int8.
# One thread: on a busy machine OpenMP's spinning workers make this small model many times slower.
expect_exit 0 "run the example pipeline" -- "$QPIPE" run "$PIPE" --set data.evaluation.count=1000 \
  --set run.threads=1 --json "$TMP/out.json" --no-progress
expect_match "$OUT" "images: +1000 evaluated, 1000 labelled" "1000 images scored"
expect_match "$OUT" "^int8 +[0-9.]+%" "int8 row in the table"
expect_match "$OUT" "calib_minmax +[0-9.]+" "pass times in the table"
expect_match "$ERR" "folded 12 BatchNormalization" "fold_bn folded the example's 12 BN"
expect_true "[ -f '$TMP/out.json' ] && [ ! -e '$TMP/out.json.tmp' ]" "JSON written by rename"
expect_true "/usr/bin/python3 - '$TMP/out.json' <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert set(r) == {'model', 'images', 'fp32', 'quantsim', 'int8', 'passes'}, r.keys()
assert r['images'] == 1000
assert set(r['fp32']) == {'top1', 'top5'}
for m in ('quantsim', 'int8'):
    assert set(r[m]) == {'top1', 'top5', 'agreement', 'sqnr_db'}, r[m]
    assert 0 <= r[m]['top1'] <= 1 and 0 <= r[m]['agreement'] <= 1
    assert r[m]['sqnr_db'] is None or r[m]['sqnr_db'] > 10
assert 0.8 < r['fp32']['top1'] <= 1
assert [p['name'] for p in r['passes']] == ['fold_bn', 'calib_minmax']
assert all(p['seconds'] >= 0 for p in r['passes'])
PY" "JSON has exactly the documented keys and sane values"

# Invalid pipelines: exit 1, the message names file:line:col, and no pass has run.
printf 'model: ../examples/fashion_mnist/model.onnx\npasses:\n  - fold_bn\n  - calib_minmaxx\n' > "$TMP/bad.yaml"
expect_exit 1 "unknown pass" -- "$QPIPE" run "$TMP/bad.yaml"
expect_match "$ERR" "$TMP/bad.yaml:4:5: unknown pass 'calib_minmaxx' \(did you mean 'calib_minmax'\?" "unknown pass at file:line:col"
printf 'model: m.onnx\nquant:\n  weights: {bits: 99}\n' > "$TMP/range.yaml"
expect_exit 1 "out of range value" -- "$QPIPE" run "$TMP/range.yaml"
expect_match "$ERR" "range.yaml:3:19: quant.weights.bits: 99 is out of range 2..16" "range error at file:line:col"
printf 'model: [unclosed\n' > "$TMP/broken.yaml"
expect_exit 1 "malformed YAML" -- "$QPIPE" run "$TMP/broken.yaml"
expect_match "$ERR" "broken.yaml:2:1: malformed YAML" "libyaml's line and column"
expect_exit 1 "bad --set value" -- "$QPIPE" run "$PIPE" --set calib_minmax.momentum=2
expect_match "$ERR" "--set calib_minmax.momentum=2: parameter 'momentum' of pass 'calib_minmax' must be in \[0, 1\]" "--set error names the override"
expect_exit 1 "missing model" -- "$QPIPE" run "$PIPE" --model "$TMP/none.onnx"
expect_match "$ERR" "model: cannot find" "missing model reported"
finish
