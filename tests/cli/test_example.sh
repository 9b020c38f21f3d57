#!/usr/bin/env bash
# test_example.sh — the embedded Fashion-MNIST example: inspect, infer against torch, eval against the training script.
. "$(dirname "$0")/lib.sh"
EX="$SRC/examples/fashion_mnist"
DATA=/usr/share/datasets/fashion-mnist
if [ ! -f "$DATA/t10k-images-idx3-ubyte.gz" ]; then echo "SKIP: $DATA missing (apt package dataset-fashion-mnist)"; exit 77; fi

expect_exit 0 "inspect example" -- "$QPIPE" inspect "$EX/model.onnx" --layers
expect_match "$OUT" "BatchNormalization" "inspect shows unfolded BatchNormalization"
expect_match "$OUT" "MACs \(batch 1\): [1-9]" "inspect reports MACs"
expect_match "$OUT" "parameters: [1-9]" "inspect reports parameters"

# infer: each reference input against torch's logits (float tolerance 1e-4 relative).
for f in "$EX"/ref/input_*.npy; do
  i="${f##*input_}"; i="${i%.npy}"
  expect_exit 0 "infer ref input $i" -- "$QPIPE" infer "$EX/model.onnx" --input "$f" --out "$TMP/infer$i"
  out="$(ls "$TMP/infer$i"/*.npy | head -1)"
  expect_true "python3 - '$out' '$EX/ref/output_$i.npy' <<'PY'
import sys, struct
def load(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<H', b[8:10])[0]
    return struct.unpack('<%df' % ((len(b) - 10 - n) // 4), b[10 + n:])
a, r = load(sys.argv[1]), load(sys.argv[2])
m = max(1.0, max(abs(x) for x in r))
sys.exit(0 if len(a) == len(r) and max(abs(x - y) for x, y in zip(a, r)) <= 1e-4 * m else 1)
PY" "infer output $i matches torch"
done

# eval: fp32 top-1 on the 10,000 test images equals what the training script measured.
expect_exit 0 "eval example" -- "$QPIPE" eval "$EX/model.onnx" --images "$DATA/t10k-images-idx3-ubyte.gz" \
  --labels "$DATA/t10k-labels-idx1-ubyte.gz" --color GRAY --scale 1/255 --mean 0.2860 --std 0.3530 \
  --batch 64 --json "$TMP/eval.json"
expect_match "$OUT" "10000 evaluated" "eval reads all 10,000 test images"
want="$(sed -n 's/.*"fp32_top1": *\([0-9.]*\).*/\1/p' "$EX/expected.json")"
got="$(sed -n 's/.*"top1": *\([0-9.]*\).*/\1/p' "$TMP/eval.json")"
# Same model, same data: only float summation order differs, which may flip a near-tie or two.
expect_true "awk -v a=$got -v b=$want 'BEGIN{d=a-b; if(d<0)d=-d; exit !(d<=0.0003)}'" "eval top-1 $got equals training script's $want (±3 images)"
finish
