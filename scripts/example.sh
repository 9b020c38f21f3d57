#!/usr/bin/env bash
# example.sh — the README's first command: installs what is missing, builds, and runs qpipe's main
# job on the embedded Fashion-MNIST example: fold BatchNorm, calibrate, score fp32/quantsim/int8.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build"
qpipe="$root/build/qpipe"
"$qpipe" inspect "$root/examples/fashion_mnist/model.onnx"
echo
exec "$qpipe" run "$root/pipelines/fashion_mnist.yaml" "$@"
