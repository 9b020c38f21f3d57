#!/usr/bin/env bash
# example.sh — the README's first command: installs what is missing, builds, and runs qpipe's main
# job on the embedded Fashion-MNIST example.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build"
qpipe="$root/build/qpipe"
ex="$root/examples/fashion_mnist"
data=/usr/share/datasets/fashion-mnist
"$qpipe" inspect "$ex/model.onnx"
echo
"$qpipe" eval "$ex/model.onnx" --images "$data/t10k-images-idx3-ubyte.gz" \
  --labels "$data/t10k-labels-idx1-ubyte.gz" --scale 0.00392156862745098 --mean 0.2860 --std 0.3530
