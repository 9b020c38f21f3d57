#!/usr/bin/env bash
# ensure-venv.sh — creates .venv (with the system's site packages: numpy, onnx) and installs ONNX Runtime and its quantization tools' needs into it when missing; the export tests use it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  echo "== creating $venv"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
# onnxruntime runs the exported models; its quantization tools (quantize_static, used to make a
# QDQ model the way other tools do) need ml_dtypes and an onnx newer than Debian's.
missing=()
"$venv/bin/python" -c "import onnxruntime" 2>/dev/null || missing+=(onnxruntime)
"$venv/bin/python" -c "import ml_dtypes" 2>/dev/null || missing+=(ml_dtypes)
"$venv/bin/python" -c "import onnx; assert hasattr(onnx.TensorProto, 'INT4')" 2>/dev/null || missing+=("onnx>=1.16")
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing into $venv: ${missing[*]}"
  "$venv/bin/python" -m pip install --quiet "${missing[@]}"
fi
"$venv/bin/python" -c "import onnxruntime, onnx, ml_dtypes; print('venv ok: onnxruntime', onnxruntime.__version__, '| onnx', onnx.__version__)"
