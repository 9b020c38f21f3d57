#!/usr/bin/env python3
# bench_int8_vs_ort.py — times qpipe's int8 engine and ONNX Runtime on the same QDQ model, input and thread count; prints latencies and ratios.
"""Compare qpipe int8 with ONNX Runtime int8 on the QDQ models qpipe exports.

For every pipeline (default: pipelines/{mobilenetv2-12,squeezenet1.1,shufflenet-v2-12,mnist-8}.yaml)
the script

1. makes a QDQ model: `qpipe run PIPELINE` with the pipeline's own passes plus an `export_qdq`
   pass (calibration on the pipeline's calibration data; scoring limited to a few images). When
   the exporters plugin is missing it falls back to ONNX Runtime's `quantize_static` on the fp32
   model, calibrated on the model's reference inputs in ../shared (or random data), and says so;
2. for batch 8, when the model's batch dimension is fixed at 1, writes a copy with a symbolic
   batch (graph inputs/outputs, and Reshape shape constants whose first entry is 1 -> 0, "copy
   the input's dim"), so both runtimes run the same 8-image graph;
3. times qpipe's int8 plan of the QDQ file, qpipe's fp32 plan of the fp32 model and ONNX
   Runtime's CPU provider on the same QDQ file (intra_op_num_threads = threads, sequential
   execution, all graph optimizations, which fuse Q/DQ into its int8 kernels), on the same input:
   the model's first reference input from ../shared when there is one, else seeded random data,
   repeated over the batch;
4. prints one table: per model, batch and thread count the median latencies, the ratio
   qpipe int8 / ORT int8 (< 1: qpipe is faster) and the int8 speed-up over qpipe fp32.

Timing. By default qpipe runs as `qpipe bench` subprocesses, each runtime alone on the machine:
--rounds alternating measurements (qpipe, then ORT, then again), each runtime keeping its best
median of --repeat runs. With --in-process qpipe runs in this process through libqpipe (ctypes)
in alternating blocks of --block runs with ORT and qpipe fp32; that spreads bursts of load over
all three alike but is wrong at 2 threads on a 2-core machine: after an ORT run the other
runtime stays measurably slower for seconds (ORT's pool threads keep the second core busy), which
once made qpipe's 2-thread int8 look 2x slower than `qpipe bench` measures it.

Run with a Python that has onnxruntime and onnx, e.g. /work/main/.venv/bin/python:
    scripts/bench_int8_vs_ort.py [--qpipe build/qpipe] [--batch 1,8] [--threads 1,2]
                                 [--repeat 30] [--rounds 3] [--in-process [--block 5]]
                                 [--workdir DIR [--reuse]]
                                 [--json out.json] [PIPELINE.yaml ...]
Exit codes: 0 success (including models skipped with a reason), 2 usage error.
"""

import argparse
import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_PIPELINES = ["mobilenetv2-12", "squeezenet1.1", "shufflenet-v2-12", "mnist-8"]

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
except ImportError as e:  # pragma: no cover - depends on the interpreter
    sys.stderr.write(f"bench_int8_vs_ort: needs numpy, onnx and onnxruntime ({e}); "
                     "try /work/main/.venv/bin/python\n")
    sys.exit(2)


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def find_qpipe(explicit):
    if explicit:
        return explicit
    for d in ("build", "build-speed", "build-lead", "build-pipe-rel"):
        p = os.path.join(ROOT, d, "qpipe")
        if os.access(p, os.X_OK):
            return p
    return shutil.which("qpipe")


def run(cmd, timeout=1800):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def pipeline_model(pipeline_path):
    """The fp32 model a pipeline names (relative to the pipeline file)."""
    import yaml  # only needed here; the venv has PyYAML
    with open(pipeline_path) as f:
        doc = yaml.safe_load(f)
    model = doc.get("model")
    if not model:
        return None, doc
    return os.path.normpath(os.path.join(os.path.dirname(pipeline_path), model)), doc


def pass_to_flow(p):
    """One pipeline pass (a name or {name: {params}}) in YAML flow style for --set."""
    if isinstance(p, str):
        return p
    (name, params), = p.items()
    if not params:
        return name
    return "{%s: %s}" % (name, json.dumps(params))


def has_pass(qpipe, name):
    code, out, err = run([qpipe, "passes"])
    return code == 0 and re.search(r"^%s\b" % re.escape(name), out, re.M) is not None


def export_qdq_with_qpipe(qpipe, pipeline_path, doc, out_path, calib_count):
    passes = [pass_to_flow(p) for p in (doc.get("passes") or [])]
    passes.append("{export_qdq: {path: %s}}" % json.dumps(out_path))
    cmd = [qpipe, "run", pipeline_path, "--no-progress", "-q",
           "--set", "data.calibration.count=%d" % calib_count,
           "--set", "data.evaluation.count=8",
           "--set", "passes=[%s]" % ", ".join(passes)]
    code, out, err = run(cmd)
    if code != 0 or not os.path.exists(out_path):
        raise RuntimeError("qpipe run with export_qdq failed (exit %d): %s" % (code, (err or out).strip()[-600:]))


def reference_input(fp32_model):
    """The first reference input of a shared model, or None."""
    d = os.path.join(os.path.dirname(fp32_model), "ref")
    p = os.path.join(d, "input_0.npy")
    return np.load(p) if os.path.exists(p) else None


def export_qdq_with_ort(fp32_model, out_path, calib):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    m = onnx.load(fp32_model)
    name = m.graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{name: x[None] if x.ndim == len(calib.shape) - 1 else x} for x in calib])

        def get_next(self):
            return next(self.items, None)

    quantize_static(fp32_model, out_path, Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)


def input_shape(model_path):
    m = onnx.load(model_path)
    inits = {i.name for i in m.graph.initializer}
    for i in m.graph.input:
        if i.name in inits:
            continue
        dims = [d.dim_value if d.HasField("dim_value") else None for d in i.type.tensor_type.shape.dim]
        return i.name, dims
    raise RuntimeError("no graph input")


def batchify(src, dst):
    """A copy of src whose batch dimension is symbolic (see the module docstring). Returns dst."""
    m = onnx.load(src)
    inits = {t.name: t for t in m.graph.initializer}
    for v in list(m.graph.input) + list(m.graph.output):
        if v.name in inits:
            continue
        dims = v.type.tensor_type.shape.dim
        if len(dims) > 0:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = "N"
    del m.graph.value_info[:]
    consts = {}
    for n in m.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    consts[n.output[0]] = a
    for n in m.graph.node:
        if n.op_type != "Reshape" or len(n.input) < 2:
            continue
        t = inits.get(n.input[1])
        if t is not None:
            arr = onnx.numpy_helper.to_array(t).copy()
            if arr.size and arr[0] == 1:
                arr[0] = 0
                t.CopyFrom(onnx.numpy_helper.from_array(arr, t.name))
        elif n.input[1] in consts:
            a = consts[n.input[1]]
            arr = onnx.numpy_helper.to_array(a.t).copy()
            if arr.size and arr[0] == 1:
                arr[0] = 0
                a.t.CopyFrom(onnx.numpy_helper.from_array(arr, a.t.name))
    onnx.save(m, dst)
    return dst


def make_input(shape, batch, ref):
    """The input both runtimes get: ref's first sample (or seeded random data) over the batch."""
    sample_shape = [d if d else 1 for d in shape[1:]]
    if ref is not None and list(ref.shape[1:]) == sample_shape:
        sample = ref[:1].astype(np.float32)
    else:
        sample = np.random.RandomState(0).uniform(-1, 1, [1] + sample_shape).astype(np.float32)
    return np.repeat(sample, batch, axis=0)


def ort_session(path, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


class QpShape(ctypes.Structure):
    _fields_ = [("rank", ctypes.c_int), ("dims", ctypes.c_int64 * 8)]


class QpValue(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int), ("shape", QpShape), ("data", ctypes.c_void_p), ("nbytes", ctypes.c_size_t)]


class QpPlanOptions(ctypes.Structure):
    _fields_ = [("mode", ctypes.c_int), ("batch", ctypes.c_int), ("n_threads", ctypes.c_int),
                ("input_shapes", ctypes.c_void_p), ("n_input_shapes", ctypes.c_int),
                ("observer", ctypes.c_void_p), ("observer_user", ctypes.c_void_p),
                ("encodings", ctypes.c_void_p), ("quantsim_float", ctypes.c_int)]


QP_MODE_FP32, QP_MODE_INT8 = 0, 2


class QpipeLib:
    """The few libqpipe calls a benchmark needs (engine.h, qdq_import.h), through ctypes."""

    def __init__(self, qpipe_exe):
        d = os.path.dirname(os.path.realpath(qpipe_exe))
        path = next((os.path.join(d, n) for n in ("libqpipe.so", "libqpipe.dylib")
                     if os.path.exists(os.path.join(d, n))), None)
        if not path:
            raise OSError("no libqpipe.so next to %s" % qpipe_exe)
        self.path = path
        L = self.lib = ctypes.CDLL(path)
        vp, i = ctypes.c_void_p, ctypes.c_int
        L.qp_model_load_any.argtypes = [ctypes.c_char_p, ctypes.POINTER(vp), ctypes.POINTER(vp), vp]
        L.qp_model_load_any.restype = i
        L.qp_plan_create.argtypes = [vp, ctypes.POINTER(QpPlanOptions), ctypes.POINTER(vp)]
        L.qp_plan_create.restype = i
        L.qp_plan_run.argtypes = [vp]
        L.qp_plan_run.restype = i
        L.qp_plan_free.argtypes = [vp]
        L.qp_plan_input.argtypes = [vp, i]
        L.qp_plan_input.restype = ctypes.POINTER(QpValue)
        L.qp_plan_num_inputs.argtypes = [vp]
        L.qp_plan_num_inputs.restype = i
        L.qp_error_message.restype = ctypes.c_char_p
        L.qp_graph_free.argtypes = [vp]
        L.qp_encodings_free.argtypes = [vp]
        L.qp_q8_active_isa.restype = ctypes.c_char_p

    def error(self):
        return (self.lib.qp_error_message() or b"").decode(errors="replace")

    def isa(self):
        return self.lib.qp_q8_active_isa().decode()


class QpipePlan:
    """One qpipe plan (model file, mode, batch, threads) with its input filled from x."""

    def __init__(self, q, model, mode, batch, threads, x):
        self.q, self.graph, self.enc, self.plan = q, ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
        if q.lib.qp_model_load_any(model.encode(), ctypes.byref(self.graph), ctypes.byref(self.enc), None) != 0:
            raise RuntimeError("qpipe load: " + q.error())
        o = QpPlanOptions(mode=mode, batch=batch, n_threads=threads, encodings=self.enc.value)
        if q.lib.qp_plan_create(self.graph, ctypes.byref(o), ctypes.byref(self.plan)) != 0:
            self.close()
            raise RuntimeError("qpipe plan: " + q.error())
        v = q.lib.qp_plan_input(self.plan, 0).contents
        x = np.ascontiguousarray(x, dtype=np.float32)
        if v.nbytes != x.nbytes:
            self.close()
            raise RuntimeError("qpipe input holds %d bytes, the data %d" % (v.nbytes, x.nbytes))
        ctypes.memmove(v.data, x.ctypes.data, x.nbytes)

    def run(self):
        if self.q.lib.qp_plan_run(self.plan) != 0:
            raise RuntimeError("qpipe run: " + self.q.error())

    def close(self):
        if self.plan:
            self.q.lib.qp_plan_free(self.plan)
            self.plan = ctypes.c_void_p()
        if self.enc:
            self.q.lib.qp_encodings_free(self.enc)
            self.enc = ctypes.c_void_p()
        if self.graph:
            self.q.lib.qp_graph_free(self.graph)
            self.graph = ctypes.c_void_p()


def time_alternating(runners, repeat, block, warmup=3):
    """Runs each callable in turn, `block` timed runs at a time, until each has `repeat`; returns
    the median ms per runner."""
    for r in runners:
        for _ in range(warmup):
            r()
    times = [[] for _ in runners]
    while min(len(t) for t in times) < repeat:
        for r, t in zip(runners, times):
            r()  # untimed: wakes the runtime's threads after the other one ran
            for _ in range(block):
                t0 = time.perf_counter()
                r()
                t.append((time.perf_counter() - t0) * 1e3)
    return [float(np.median(t)) for t in times]


def time_ort(sess, name, x, repeat, warmup=3):
    for _ in range(warmup):
        sess.run(None, {name: x})
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        sess.run(None, {name: x})
        t.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(t))


def time_qpipe(qpipe, model, mode, batch, threads, repeat, input_npy):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        jpath = f.name
    try:
        cmd = [qpipe, "bench", model, "--mode", mode, "--batch", str(batch), "--threads", str(threads),
               "--repeat", str(repeat), "--json", jpath]
        if input_npy:
            cmd += ["--input", input_npy]
        code, out, err = run(cmd)
        if code != 0:
            raise RuntimeError("qpipe bench --mode %s failed (exit %d): %s" % (mode, code, (err or out).strip()[-400:]))
        with open(jpath) as f:
            rows = json.load(f)
        return float(rows[0]["median_ms"]), rows[0]
    finally:
        os.unlink(jpath)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pipelines", nargs="*", help="pipeline YAML files (default: the five CNN pipelines)")
    ap.add_argument("--qpipe", help="qpipe executable (default: build*/qpipe in the checkout, then PATH)")
    ap.add_argument("--batch", default="1,8")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeat", type=int, default=30, help="timed runs per runtime and configuration (median)")
    ap.add_argument("--block", type=int, default=5, help="--in-process: runs per turn when alternating")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternating measurements (default mode); each runtime keeps its best median")
    ap.add_argument("--reuse", action="store_true", help="keep QDQ models already in --workdir instead of exporting again")
    ap.add_argument("--in-process", action="store_true",
                    help="time qpipe through libqpipe in this process, alternating with ORT (see the notes on timing)")
    ap.add_argument("--calib", type=int, default=64, help="calibration images for the QDQ export")
    ap.add_argument("--workdir", help="where QDQ models and inputs go (default: a temporary folder)")
    ap.add_argument("--json", help="also write the rows as JSON")
    args = ap.parse_args()

    qpipe = find_qpipe(args.qpipe)
    if not qpipe:
        log("bench_int8_vs_ort: no qpipe executable (build it, or pass --qpipe)")
        return 2
    try:
        batches = [int(b) for b in args.batch.split(",")]
        threads_list = [int(t) for t in args.threads.split(",")]
    except ValueError:
        log("bench_int8_vs_ort: --batch and --threads take comma-separated integers")
        return 2
    pipelines = args.pipelines or [os.path.join(ROOT, "pipelines", p + ".yaml") for p in DEFAULT_PIPELINES]
    work = args.workdir or tempfile.mkdtemp(prefix="qpipe-vs-ort-")
    os.makedirs(work, exist_ok=True)
    code, out, err = run([qpipe, "bench", "--help"])
    qpipe_has_mode = "--mode" in out + err
    exporter = has_pass(qpipe, "export_qdq")
    lib = None
    if args.in_process:
        try:
            lib = QpipeLib(qpipe)
        except (OSError, AttributeError) as e:
            log("libqpipe not usable in-process (%s): timing `qpipe bench` subprocesses instead" % e)
    log("qpipe %s (%s; int8 isa %s; export_qdq pass: %s), onnxruntime %s, work dir %s"
        % (qpipe, ("in-process " + lib.path) if lib else "subprocesses", lib.isa() if lib else "?",
           "yes" if exporter else "no", ort.__version__, work))
    if not lib and not qpipe_has_mode:
        log("bench_int8_vs_ort: this qpipe's bench has no --mode: int8 cannot be timed")
        return 2

    rows, skipped = [], []
    for pipeline in pipelines:
        tag = os.path.splitext(os.path.basename(pipeline))[0]
        try:
            fp32_model, doc = pipeline_model(pipeline)
            if not fp32_model or not os.path.exists(fp32_model):
                raise RuntimeError("model %s not found" % fp32_model)
            qdq = os.path.join(work, tag + ".qdq.onnx")
            how = "qpipe export_qdq"
            if args.reuse and os.path.exists(qdq):
                how = "an earlier run (--reuse)"
            elif exporter:
                export_qdq_with_qpipe(qpipe, pipeline, doc, qdq, args.calib)
            else:
                name, shape = input_shape(fp32_model)
                ref = reference_input(fp32_model)
                calib = ref if ref is not None else make_input(shape, 8, None)
                export_qdq_with_ort(fp32_model, qdq, calib)
                how = "ORT quantize_static (fallback: no export_qdq pass)"
            name, shape = input_shape(qdq)
            ref = reference_input(fp32_model)
        except Exception as e:  # one model's failure must not stop the others
            skipped.append((tag, str(e)))
            log("%s: skipped: %s" % (tag, e))
            continue
        log("%s: QDQ model from %s" % (tag, how))
        for batch in batches:
            model, fp32 = qdq, fp32_model
            if batch > 1 and shape and shape[0] == 1:
                model = batchify(qdq, os.path.join(work, "%s.qdq.b%d.onnx" % (tag, batch)))
                fp32 = batchify(fp32_model, os.path.join(work, "%s.fp32.b%d.onnx" % (tag, batch)))
            x = make_input(shape, batch, ref)
            npy = os.path.join(work, "%s.input.b%d.npy" % (tag, batch))
            np.save(npy, x)
            for threads in threads_list:
                row = {"model": tag, "batch": batch, "threads": threads}
                try:
                    sess = ort_session(model, threads)
                    ort_run = lambda: sess.run(None, {name: x})  # noqa: E731
                    if lib:
                        plans = []
                        try:
                            plans.append(QpipePlan(lib, model, QP_MODE_INT8, batch, threads, x))
                            plans.append(QpipePlan(lib, fp32, QP_MODE_FP32, batch, threads, x))
                            q_best, o_best, f_best = time_alternating([plans[0].run, ort_run, plans[1].run],
                                                                      args.repeat, max(1, args.block))
                        finally:
                            for pl in plans:
                                pl.close()
                        info = {}
                    else:
                        q_best = o_best = float("inf")
                        for _ in range(max(1, args.rounds)):
                            q, info = time_qpipe(qpipe, model, "int8", batch, threads, args.repeat, npy)
                            o = time_ort(sess, name, x, args.repeat)
                            q_best, o_best = min(q_best, q), min(o_best, o)
                        f_best, _ = time_qpipe(qpipe, fp32, "fp32", batch, threads, args.repeat, npy)
                    del sess
                    row.update({"qpipe_int8_ms": round(q_best, 3), "ort_int8_ms": round(o_best, 3),
                                "qpipe_fp32_ms": round(f_best, 3), "ratio_qpipe_over_ort": round(q_best / o_best, 3),
                                "fp32_over_int8": round(f_best / q_best, 2), "macs": info.get("macs")})
                except Exception as e:
                    row["error"] = str(e)[-300:]
                rows.append(row)
                if "error" in row:
                    log("%s b%d t%d: %s" % (tag, batch, threads, row["error"]))
                else:
                    log("%s b%d t%d: qpipe int8 %.3f ms, ORT int8 %.3f ms (x%.2f), qpipe fp32 %.3f ms"
                        % (tag, batch, threads, row["qpipe_int8_ms"], row["ort_int8_ms"],
                           row["ratio_qpipe_over_ort"], row["qpipe_fp32_ms"]))

    print("medians of %d runs%s; qpipe/ORT < 1: qpipe int8 is faster; int8 speed-up = qpipe fp32 / qpipe int8"
          % (args.repeat, " (in-process, alternating)" if lib else " (best of %d subprocess rounds)" % args.rounds))
    print("%-18s %5s %7s %12s %12s %10s %12s %10s" % ("model", "batch", "threads", "qpipe int8", "ORT int8",
                                                    "qpipe/ORT", "qpipe fp32", "int8 x"))
    for r in rows:
        if "error" in r:
            print("%-18s %5d %7d   error: %s" % (r["model"], r["batch"], r["threads"], r["error"]))
            continue
        print("%-18s %5d %7d %9.3f ms %9.3f ms %10.2f %9.3f ms %10.2f" % (
            r["model"], r["batch"], r["threads"], r["qpipe_int8_ms"], r["ort_int8_ms"],
            r["ratio_qpipe_over_ort"], r["qpipe_fp32_ms"], r["fp32_over_int8"]))
    for tag, why in skipped:
        print("%-18s skipped: %s" % (tag, why))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "skipped": [{"model": t, "why": w} for t, w in skipped]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
