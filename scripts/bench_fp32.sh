#!/usr/bin/env bash
# bench_fp32.sh — builds qpipe, prepares .venv with pip's onnxruntime, runs scripts/bench_fp32.py.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh" --python
"$root/scripts/build.sh" "$root/build"
if [ ! -x "$root/.venv/bin/python" ]; then
  python3 -m venv --system-site-packages "$root/.venv"
fi
"$root/.venv/bin/python" -c "import onnxruntime" 2>/dev/null || "$root/.venv/bin/pip" install -q onnxruntime
exec "$root/.venv/bin/python" "$root/scripts/bench_fp32.py" "$@"
