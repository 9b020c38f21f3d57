#!/usr/bin/env bash
# test_usage.sh — exit codes and messages of the CLI on usage errors and bad input files.
. "$(dirname "$0")/lib.sh"
MODEL="$SRC/examples/fashion_mnist/model.onnx"

expect_exit 2 "no command" -- "$QPIPE"
expect_exit 0 "--help" -- "$QPIPE" --help
expect_match "$OUT" "inspect" "--help lists inspect"
expect_exit 2 "unknown command" -- "$QPIPE" frobnicate
expect_match "$ERR" "unknown command 'frobnicate'" "unknown command is named"
for cmd in inspect infer eval bench; do
  expect_exit 0 "$cmd --help" -- "$QPIPE" $cmd --help
  expect_match "$OUT" "usage: qpipe $cmd" "$cmd --help shows usage"
  expect_exit 2 "$cmd without arguments" -- "$QPIPE" $cmd
done
expect_exit 2 "unknown flag" -- "$QPIPE" inspect --frob "$MODEL"
expect_exit 2 "bad --shape" -- "$QPIPE" inspect --shape nonsense "$MODEL"
expect_exit 2 "bench: unknown mode in --mode list" -- "$QPIPE" bench --mode fp32,int9 "$MODEL"
expect_match "$ERR" "fp32, quantsim, int8" "bench names the allowed modes"
expect_exit 2 "bench: int8 on a float model" -- "$QPIPE" bench --mode int8 "$MODEL"
expect_match "$ERR" "needs a quantized model" "bench says int8 needs a quantized model"
expect_exit 0 "bench: fp32 of the example" -- "$QPIPE" bench --mode fp32 --batch 2 --threads 1,2 --repeat 2 --warmup 0 "$MODEL"
expect_match "$OUT" "fp32 +2 +2" "bench prints a row per (batch, threads)"

# Bad model files: exit 1 with the file named, no crash.
expect_exit 1 "missing model" -- "$QPIPE" inspect "$TMP/none.onnx"
expect_match "$ERR" "none.onnx" "missing model is named"
head -c 300 "$MODEL" > "$TMP/truncated.onnx"
expect_exit 1 "truncated model" -- "$QPIPE" inspect "$TMP/truncated.onnx"
expect_match "$ERR" "truncated.onnx" "truncated model is named"
printf 'this is not a protobuf at all\n' > "$TMP/garbage.onnx"
expect_exit 1 "garbage model" -- "$QPIPE" inspect "$TMP/garbage.onnx"
: > "$TMP/empty.onnx"
expect_exit 1 "empty model" -- "$QPIPE" inspect "$TMP/empty.onnx"

# infer: a corrupt .npy is bad input, the output folder gets nothing.
printf 'NOTNPY' > "$TMP/bad.npy"
expect_exit 1 "infer with corrupt npy" -- "$QPIPE" infer "$MODEL" --input "$TMP/bad.npy" --out "$TMP/o"
expect_match "$ERR" "bad.npy" "corrupt npy is named"
expect_true "[ ! -e $TMP/o ] || [ -z \"\$(ls -A $TMP/o)\" ]" "no partial output"
# eval: a folder with no images.
mkdir -p "$TMP/noimages"
expect_exit 1 "eval on a folder without images" -- "$QPIPE" eval "$MODEL" --images "$TMP/noimages"
finish
