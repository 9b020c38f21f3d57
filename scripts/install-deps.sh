#!/usr/bin/env bash
# install-deps.sh — installs the Debian 12 packages qpipe needs, only those missing (idempotent).
set -euo pipefail

# Build and run: toolchain, protobuf-c + ONNX schema, libyaml, Jansson (JSON), OpenBLAS, libjpeg-turbo, zlib, cmocka.
# Tests: ONNX backend test data, Fashion-MNIST for the embedded example.
packages=(build-essential cmake pkg-config protobuf-c-compiler libprotobuf-c-dev libonnx-dev
          libyaml-dev libjansson-dev libopenblas-dev libjpeg62-turbo-dev zlib1g-dev libcmocka-dev
          libonnx-testdata dataset-fashion-mnist python3)
if [ "${1:-}" = "--python" ]; then
  # Fixture generators and peer comparisons (benchmarks): Debian's numpy/onnx, venv for pip's onnxruntime.
  packages+=(python3 python3-numpy python3-onnx python3-venv)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "qpipe: installing missing packages: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
