#!/usr/bin/env bash
# test.sh — the README's second command: installs what is missing, builds (Release, and an
# ASan+UBSan build with warnings as errors) and runs the whole test suite.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
jobs="$(nproc 2>/dev/null || echo 2)"

# ONNX Runtime for the export checks (tests skip, saying why, when it cannot be installed).
"$root/scripts/ensure-venv.sh" || echo "warning: .venv with onnxruntime unavailable; ONNX Runtime comparisons will skip" >&2

echo "== Release build: unit, conformance, CLI and real-model tests"
"$root/scripts/build.sh" "$root/build" -DQP_WERROR=ON
(cd "$root/build" && ctest --output-on-failure -j "$jobs")

echo "== ASan+UBSan build: unit tests"
BUILD_TYPE=Debug "$root/scripts/build.sh" "$root/build-asan" -DQP_SANITIZE=ON -DQP_WERROR=ON
(cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j "$jobs" -L unit)
