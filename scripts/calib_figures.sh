#!/usr/bin/env bash
# calib_figures.sh — issue 4's figures: top-1, agreement with fp32 and calibration time of the int8 engine for
# minmax, percentile, mse and kl (W8A8 per-channel) on every classification pipeline, plus the histogram
# overhead against plain fp32 inference of the same images, measured in the same run.
#
# usage: scripts/calib_figures.sh [-b BUILD_DIR] [-n EVAL_COUNT] [-t THREADS] [-m "METHODS"] [-p "PIPELINES"]
#                                 [-o OUT_DIR] [-- EXTRA qpipe run ARGS...]
#   -b  build folder holding qpipe and plugins/ (default: build)
#   -n  data.evaluation.count for every run (default: the pipeline's own, i.e. all images)
#   -t  threads for the engine (run.threads) and for calib_kl's binning (default: all cores)
#   -m  methods (default: "minmax percentile mse kl")
#   -p  pipeline names without .yaml (default: every pipelines/*.yaml whose model exists, except *_kl)
#   -o  where the JSON reports and logs go (default: a temporary folder, kept and printed)
# Anything after -- goes to every `qpipe run` (e.g. --set data.calibration.count=128).
# A benchmark figure is not a test: nothing here fails on time.
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$ROOT/build"
COUNT=""
THREADS=""
METHODS="minmax percentile mse kl"
PIPES=""
OUT=""
while getopts "b:n:t:m:p:o:h" opt; do
  case "$opt" in
    b) BUILD="$(cd "$OPTARG" && pwd)" ;;
    n) COUNT="$OPTARG" ;;
    t) THREADS="$OPTARG" ;;
    m) METHODS="$OPTARG" ;;
    p) PIPES="$OPTARG" ;;
    o) OUT="$OPTARG" ;;
    h) sed -n '2,14p' "$0"; exit 0 ;;
    *) sed -n '2,14p' "$0" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
EXTRA=("$@")
QPIPE="$BUILD/qpipe"
[ -x "$QPIPE" ] || { echo "calib_figures: no qpipe in $BUILD (build first, or pass -b)" >&2; exit 2; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
if [ -z "$OUT" ]; then OUT="$(mktemp -d /tmp/qpipe-calib-figures-XXXXXX)"; fi
mkdir -p "$OUT"

if [ -z "$PIPES" ]; then
  for f in "$ROOT"/pipelines/*.yaml; do
    name="$(basename "$f" .yaml)"
    case "$name" in *_kl) continue ;; esac
    PIPES="$PIPES $name"
  done
fi

# The model a pipeline names, resolved against the pipeline's folder (skip pipelines whose model is absent).
model_of() { sed -n 's/^model:[[:space:]]*//p' "$1" | head -1 | sed 's/[[:space:]]*#.*$//'; }

KL_THREADS=""
[ -n "$THREADS" ] && KL_THREADS=", threads: $THREADS"
pass_for() {
  case "$1" in
    minmax) echo "calib_minmax" ;;
    *) echo "{calib_kl: {method: $1$KL_THREADS}}" ;;
  esac
}

COUNT_ARGS=()
[ -n "$COUNT" ] && COUNT_ARGS=(--set "data.evaluation.count=$COUNT")
[ -n "$THREADS" ] && EXTRA=(--set "run.threads=$THREADS" "${EXTRA[@]}")
ran=()
for name in $PIPES; do
  pipe="$ROOT/pipelines/$name.yaml"
  [ -f "$pipe" ] || { echo "calib_figures: no pipeline $pipe" >&2; continue; }
  model="$(model_of "$pipe")"
  case "$model" in /*) ;; *) model="$(dirname "$pipe")/$model" ;; esac
  if [ ! -f "$model" ]; then echo "calib_figures: skipping $name: $model not found" >&2; continue; fi
  for m in $METHODS; do
    echo "calib_figures: $name / $m" >&2
    "$QPIPE" run "$pipe" --no-progress --json "$OUT/$name.$m.json" "${COUNT_ARGS[@]}" \
      --set "passes=[fold_bn, $(pass_for "$m")]" "${EXTRA[@]}" >"$OUT/$name.$m.out" 2>"$OUT/$name.$m.log" ||
      echo "calib_figures: $name / $m failed (exit $?), see $OUT/$name.$m.log" >&2
  done
  # Overhead: calibration with histograms against plain fp32 inference of the same calibration images,
  # both timed inside one calib_kl pass (benchmark: true); only one evaluation image is scored. Twice:
  # with the default sampling (one value in 8 of large activations) and with every value (sample: 1).
  for variant in default exact; do
    opt=""
    [ "$variant" = exact ] && opt=", sample: 1"
    echo "calib_figures: $name / overhead ($variant)" >&2
    "$QPIPE" run "$pipe" --no-progress --set data.evaluation.count=1 \
      --set "passes=[fold_bn, {calib_kl: {method: kl, benchmark: true$KL_THREADS$opt}}]" "${EXTRA[@]}" \
      >"$OUT/$name.bench-$variant.out" 2>"$OUT/$name.bench-$variant.log" ||
      echo "calib_figures: $name / overhead ($variant) failed, see $OUT/$name.bench-$variant.log" >&2
  done
  ran+=("$name")
done

"$PY" - "$OUT" "$METHODS" "${ran[@]}" <<'PY'
import json, os, re, sys
out, methods, names = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
def pct(v):
    return "     -" if v is None else "%6.2f" % (100 * v)
print()
print("W8A8 (weights int8 per-channel symmetric, activations uint8 asymmetric); int8 engine")
print("%-18s %-10s %7s %7s %7s %9s %8s %9s %6s" % ("model", "method", "images", "fp32", "int8", "int8-fp32",
                                                    "agree", "SQNR dB", "calib s"))
for name in names:
    for m in methods:
        path = os.path.join(out, "%s.%s.json" % (name, m))
        try:
            r = json.load(open(path))
        except (OSError, ValueError):
            print("%-18s %-10s   (no result: see %s)" % (name, m, path.replace(".json", ".log")))
            continue
        fp, q = r.get("fp32") or {}, r.get("int8") or {}
        f1, q1 = fp.get("top1"), q.get("top1")
        drop = "%+9.2f" % (100 * (q1 - f1)) if f1 is not None and q1 is not None else "        -"
        sq = q.get("sqnr_db")
        calib = sum(p["seconds"] for p in r.get("passes", []) if p["name"].startswith("calib"))
        print("%-18s %-10s %7d %7s %7s %9s %8s %9s %6.1f" % (name, m, r.get("images", 0), pct(f1), pct(q1), drop,
              pct(q.get("agreement")), "-" if sq is None else "%.2f" % sq, calib))
print()
print("Calibration with histograms (calib_kl, kl) against plain fp32 inference of the same images, same run")
print("(default: one value in 8 of activations >= 16384 values/image binned; exact: sample 1, every value)")
print("overhead = time with histograms / plain time - 1: forward passes alone, then with the range search")
print("%-18s %-8s %6s %10s %10s %10s %10s %10s %10s" % ("model", "binning", "images", "plain im/s", "calib im/s",
                                                      "fwd wall", "fwd CPU", "all wall", "all CPU"))
pat = re.compile(r"plain fp32 inference of the same images ([0-9.]+) s, ([0-9.]+) CPU s \(([0-9.]+) images/s\); "
                 r"forward passes with histograms ([0-9.]+) s, ([0-9.]+) CPU s: overhead ([-+0-9.]+)% wall, "
                 r"([-+0-9.]+)% CPU; with the range search ([-+0-9.]+)% wall, ([-+0-9.]+)% CPU")
enc = re.compile(r"from ([0-9]+) images: forward passes with histograms ([0-9.]+) s, range search ([0-9.]+) s")
for name in names:
    for variant in ("default", "exact"):
        path = os.path.join(out, "%s.bench-%s.log" % (name, variant))
        try:
            log = open(path).read()
        except OSError:
            continue
        m, e = pat.search(log), enc.search(log)
        if not m or not e:
            print("%-18s %-8s (no benchmark line: see %s)" % (name, variant, path))
            continue
        g = m.groups()
        images, fwd, search = int(e.group(1)), float(e.group(2)), float(e.group(3))
        print("%-18s %-8s %6d %10s %10.1f %9s%% %9s%% %9s%% %9s%%" % (name, variant, images, g[2],
              images / (fwd + search), g[5], g[6], g[7], g[8]))
print()
print("reports and logs: " + out)
PY
