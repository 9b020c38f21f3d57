#!/usr/bin/env bash
# figures_core.sh — issue figures for the core loop: per classification pipeline, fp32 / quantsim /
# int8 top-1, agreement with fp32, SQNR, calibration time per image and the run's peak memory.
# Usage: scripts/figures_core.sh [PIPELINE.yaml ...]   (default: every pipeline without a _kl suffix)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
qpipe="${QPIPE:-$root/build/qpipe}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
if [ $# -eq 0 ]; then set -- $(ls "$root"/pipelines/*.yaml | grep -v '_kl\.yaml$'); fi
printf '%-18s %6s %8s %8s %8s %8s %8s %8s %10s %9s\n' pipeline images fp32 quantsim int8 agree_q agree_i8 sqnr_i8 calib_ms/img peak_MiB
for p in "$@"; do
  name="$(basename "$p" .yaml)"
  /usr/bin/time -f '%M' -o "$tmp/mem" "$qpipe" run "$p" --no-progress --json "$tmp/r.json" >"$tmp/out" 2>"$tmp/err" || {
    echo "$name: qpipe run failed: $(tail -2 "$tmp/err")"; continue; }
  calib_count="$(grep -oE 'from [0-9]+ calibration images' "$tmp/err" | grep -oE '[0-9]+' | head -1)"
  python3 - "$tmp/r.json" "$tmp/mem" "$name" "${calib_count:-0}" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); mem_kib = int(open(sys.argv[2]).read().split()[-1])
name, calib = sys.argv[3], int(sys.argv[4])
def pct(x): return "-" if x is None else f"{100 * x:.2f}"
cal = next((p["seconds"] for p in r["passes"] if p["name"].startswith("calib")), None)
per = f"{1000 * cal / calib:.2f}" if cal is not None and calib else "-"
q, i = r["quantsim"], r["int8"]
sq = "-" if i.get("sqnr_db") is None else f"{i['sqnr_db']:.1f}"
print(f"{name:18} {r['images']:6} {pct(r['fp32']['top1']):>8} {pct(q['top1']):>8} {pct(i['top1']):>8} "
      f"{pct(q['agreement']):>8} {pct(i['agreement']):>8} {sq:>8} {per:>10} {mem_kib / 1024:9.1f}")
PY
done
