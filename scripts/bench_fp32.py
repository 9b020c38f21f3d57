#!/usr/bin/env python3
"""bench_fp32.py — qpipe fp32 vs ONNX Runtime fp32 on every model in ../shared/models, same input, same run.

Prints median latency at batch 1 and 8 with 1 and 2 threads, peak resident memory of each runtime
(each measured in its own child process), the ratio qpipe/ORT, and the memory bound of the issue:
model size + 2 x (two largest activations). Figures, not a test: nothing fails on time.

Peak RSS: a child forked from this (numpy-laden) Python inherits its RSS into getrusage's
ru_maxrss (Linux folds the forked copy's high-water mark in at exec), which made every qpipe run
read ~65 MiB. So qpipe runs under GNU time (a small parent; %M is the child's own peak) when
/usr/bin/time exists, and ORT's child reads VmHWM, which is per address space.
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ort_child(model, npy, batches, threads, repeat, warmup):
    """Runs in a child process so its peak RSS is ONNX Runtime's alone."""
    import numpy as np
    import onnxruntime as ort
    x = np.load(npy)
    rows = []
    for b in batches:
        for t in threads:
            so = ort.SessionOptions()
            so.intra_op_num_threads = t
            so.inter_op_num_threads = 1
            sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
            name = sess.get_inputs()[0].name
            feed = {name: np.ascontiguousarray(np.repeat(x[:1], b, axis=0))}
            try:
                sess.run(None, feed)
            except Exception:  # a model whose input declares a fixed batch of 1 (ORT enforces it)
                rows.append({"batch": b, "threads": t, "median_ms": None})
                continue
            for _ in range(warmup):
                sess.run(None, feed)
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                sess.run(None, feed)
                times.append((time.perf_counter() - t0) * 1e3)
            times.sort()
            rows.append({"batch": b, "threads": t, "median_ms": times[len(times) // 2]})
    print(json.dumps({"rows": rows, "peak_rss_bytes": vm_hwm_bytes()}))


def vm_hwm_bytes():
    """This process's own peak RSS (VmHWM), not inflated by the parent it was forked from."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--qpipe", default=os.path.join(ROOT, "build", "qpipe"))
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared", "models"))
    ap.add_argument("--models", default="", help="comma-separated subset of model folders")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--ort-child", nargs=6, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.ort_child:
        m, npy, bs, ts, r, w = a.ort_child
        return ort_child(m, npy, [int(v) for v in bs.split(",")], [int(v) for v in ts.split(",")], int(r), int(w))
    if not os.path.isdir(a.shared):
        print(f"SKIP: {a.shared} not found"); return 0
    folders = sorted(d for d in os.listdir(a.shared) if os.path.isfile(os.path.join(a.shared, d, "model.onnx")))
    if a.models:
        folders = [f for f in folders if f in a.models.split(",")]
    import numpy as np, onnx
    if os.environ.get("OPENBLAS_CORETYPE"):
        print(f"note: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} is set and forces OpenBLAS's kernels for "
              "qpipe's fp32 Gemm/MatMul/ConvTranspose (Conv runs on qpipe's own kernels); unset it to let OpenBLAS "
              "pick the CPU's own (ONNX Runtime is not affected)")
    print(f"{'model':20} {'batch':>5} {'thr':>3} {'qpipe_ms':>9} {'ort_ms':>8} {'ratio':>6}   "
          f"{'qpipe_rss_MiB':>13} {'ort_rss_MiB':>11} {'bound_MiB':>9}")
    summary = []
    for f in folders:
        model = os.path.join(a.shared, f, "model.onnx")
        npy = os.path.join(a.shared, f, "ref", "input_0.npy")
        x = np.load(npy)
        g = onnx.load(model, load_external_data=False).graph
        inits = {i.name for i in g.initializer}
        in_name = [i.name for i in g.input if i.name not in inits][0]
        shape = "x".join(str(d) for d in x.shape)
        q = []
        with tempfile.TemporaryDirectory() as tmp:
            for b in (1, 8):  # separately: some models hard-code batch 1 in a Reshape
                for t in (1, 2):  # separately: each thread count's own peak memory
                    qj = os.path.join(tmp, f"q{b}_{t}.json")
                    rss = os.path.join(tmp, f"q{b}_{t}.rss")
                    cmd = [a.qpipe, "bench", model, "--batch", str(b), "--threads", str(t), "--repeat",
                           str(a.repeat), "--warmup", str(a.warmup), "--shape", f"{in_name}={shape}",
                           "--input", npy, "--json", qj]
                    if os.access("/usr/bin/time", os.X_OK):
                        cmd = ["/usr/bin/time", "-f", "%M", "-o", rss] + cmd
                    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                    if r.returncode == 0:
                        rows = json.load(open(qj))
                        if os.path.exists(rss):
                            kib = open(rss).read().split()
                            if kib and kib[-1].isdigit():
                                for row in rows:
                                    row["peak_rss_bytes"] = int(kib[-1]) * 1024
                        q += rows
                    else:
                        print(f"{f:20} {b:5} {t:3}   qpipe cannot run this: {r.stderr.strip().splitlines()[-1]}")
                        break
        o = json.loads(subprocess.run([sys.executable, __file__, "--ort-child", model, npy, "1,8", "1,2", str(a.repeat),
                                       str(a.warmup)], check=True, capture_output=True, text=True).stdout)
        size = os.path.getsize(model)
        ort_rows = {(r["batch"], r["threads"]): r for r in o["rows"]}
        for qr in q:
            orow = ort_rows[(qr["batch"], qr["threads"])]
            bound = size + 2 * sum(qr["largest_activations_bytes"])
            if orow["median_ms"] is None:
                ort_txt, ratio_txt = "n/a", "n/a"
            else:
                ratio = qr["median_ms"] / orow["median_ms"]
                summary.append((f, qr["batch"], qr["threads"], ratio))
                ort_txt, ratio_txt = f"{orow['median_ms']:.2f}", f"{ratio:.2f}"
            print(f"{f:20} {qr['batch']:5} {qr['threads']:3} {qr['median_ms']:9.2f} {ort_txt:>8} "
                  f"{ratio_txt:>6}   {qr['peak_rss_bytes'] / 2**20:13.1f} {o['peak_rss_bytes'] / 2**20:11.1f} "
                  f"{bound / 2**20:9.1f}")
    two = [r for (_, _, t, r) in summary if t == 2]
    if two:
        two.sort()
        print(f"\nmedian qpipe/ORT latency ratio at 2 threads: {two[len(two) // 2]:.2f} (< 1 means qpipe is faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
