#!/usr/bin/env bash
# test_encodings_flag.sh — eval / infer / bench --encodings: a float model plus an AIMET encodings file runs
# on the int8 engine exactly like the QDQ file exported from the same pipeline.
. "$(dirname "$0")/lib.sh"
M="$SHARED/models"
if [ ! -f "$M/mnist-8/model.onnx" ]; then echo "SKIP: $M missing (needs ../shared beside the checkout)"; exit 77; fi
IDX="$M/mnist-8/t10k"
DATA=(--images "$IDX/t10k-images-idx3-ubyte.gz" --labels "$IDX/t10k-labels-idx1-ubyte.gz" --preset raw --color GRAY --count 500)

# Without fold_bn (which folds mnist-8's bias Adds into its Convs) the encodings name the file's own tensors.
sed -e "s|\.\./\.\./shared|$SHARED|g" -e "/^  - fold_bn/d" \
    -e "s|^  - calib_minmax.*|  - calib_minmax\n  - export_encodings: {path: $TMP/m.enc.json}\n  - export_qdq: {path: $TMP/m.qdq.onnx}|" \
    "$SRC/pipelines/mnist-8.yaml" > "$TMP/p.yaml"
expect_exit 0 "pipeline exports encodings and QDQ" -- "$QPIPE" run "$TMP/p.yaml" --no-progress --set data.evaluation.count=8

expect_exit 0 "eval float model --encodings" -- "$QPIPE" eval "$M/mnist-8/model.onnx" --encodings "$TMP/m.enc.json" \
  "${DATA[@]}" --batch 1 --json "$TMP/e1.json"
expect_match "$OUT" "int8 top-1" "runs int8 by default"
expect_match "$OUT" "encodings: .*m.enc.json" "says which encodings it used"
expect_exit 0 "eval the QDQ file" -- "$QPIPE" eval "$TMP/m.qdq.onnx" "${DATA[@]}" --batch 1 --json "$TMP/e2.json" \
  --dump "$TMP/dump"
t1="$(sed -n 's/.*"top1": *\([0-9.]*\).*/\1/p' "$TMP/e1.json")"; t2="$(sed -n 's/.*"top1": *\([0-9.]*\).*/\1/p' "$TMP/e2.json")"
expect_true "[ -n '$t1' ] && [ '$t1' = '$t2' ]" "same int8 top-1 as the QDQ file ($t1 vs $t2)"
expect_exit 0 "eval --encodings --mode quantsim" -- "$QPIPE" eval "$M/mnist-8/model.onnx" --encodings "$TMP/m.enc.json" \
  "${DATA[@]}" --mode quantsim --batch 1
expect_match "$OUT" "quantsim top-1" "quantsim runs"

first_in="$(ls "$TMP/dump"/batch_*_input.npy | head -1)"
expect_exit 0 "infer float model --encodings" -- "$QPIPE" infer "$M/mnist-8/model.onnx" --encodings "$TMP/m.enc.json" \
  --input "$first_in" --out "$TMP/inf"
expect_true "/usr/bin/python3 -c \"import numpy as n,glob,sys; a=n.load(sys.argv[1]); b=n.load(glob.glob(sys.argv[2]+'/*.npy')[0]); sys.exit(0 if n.array_equal(a.reshape(b.shape),b) else 1)\" '${first_in%_input.npy}_output.npy' '$TMP/inf'" "infer output equals the QDQ file's int8 output"

expect_exit 0 "bench float model --encodings" -- "$QPIPE" bench "$M/mnist-8/model.onnx" --encodings "$TMP/m.enc.json" \
  --batch 1 --threads 1 --repeat 2 --warmup 0
expect_match "$OUT" "^int8 +1 +1 " "bench times int8 by default"
expect_match "$OUT" "^fp32 +1 +1 " "and fp32 beside it"

# bad encodings files: clear error naming the file, exit 1, nothing run
printf '{"activation_encodings": {"x": [{"bitwidth": 8,' > "$TMP/trunc.json"
expect_exit 1 "truncated encodings file" -- "$QPIPE" eval "$M/mnist-8/model.onnx" --encodings "$TMP/trunc.json" "${DATA[@]}"
expect_match "$ERR" "trunc.json:[0-9]+:[0-9]+" "the error names file:line:column"
expect_exit 1 "missing encodings file" -- "$QPIPE" bench "$M/mnist-8/model.onnx" --encodings "$TMP/none.json" --repeat 1
expect_match "$ERR" "none.json" "the error names the file"
echo '{"activation_encodings": {"no_such_tensor": [{"bitwidth": 8, "dtype": "int", "is_symmetric": "False", "max": 1.0, "min": 0.0, "offset": 0, "scale": 0.0039}]}, "param_encodings": {}}' > "$TMP/unknown.json"
expect_exit 1 "encodings for a tensor the model lacks" -- "$QPIPE" infer "$M/mnist-8/model.onnx" --encodings "$TMP/unknown.json" \
  --input "$first_in" --out "$TMP/inf2"
expect_match "$ERR" "no_such_tensor" "the error names the tensor"
expect_match "$ERR" "export_qdq" "and says how to run a rewritten model"
expect_true "[ ! -e '$TMP/inf2' ]" "no output written"
finish
