#!/usr/bin/env python3
"""ort_check_qdq.py — checks QDQ models against ONNX Runtime (run it with .venv/bin/python; scripts/ensure-venv.sh makes .venv).

  compare MODEL.onnx DUMP_DIR   runs MODEL in ONNX Runtime on the inputs `qpipe eval --dump DUMP_DIR`
                                wrote and compares with qpipe's outputs: top-1 agreement, accuracy
                                against DUMP_DIR/labels.txt, and the output difference in quantization
                                steps of the model's last DequantizeLinear.
  quantize FP32.onnx DUMP_DIR OUT.onnx
                                makes a QDQ model with ONNX Runtime's own quantize_static (per-channel
                                int8 weights, uint8 activations, min/max calibration) from the inputs
                                in DUMP_DIR.

Exit codes: 0 pass, 1 a check failed, 2 usage error, 77 skipped (onnxruntime is not importable).
"""
import argparse
import glob
import json
import os
import sys

try:
    import numpy as np
    import onnxruntime as ort
except ImportError as exc:  # the tests skip rather than fail on a machine without ONNX Runtime
    print(f"SKIP: onnxruntime is not importable ({exc}); run scripts/ensure-venv.sh and use .venv/bin/python")
    sys.exit(77)


def batch_files(dump_dir):
    inputs = sorted(glob.glob(os.path.join(dump_dir, "batch_*_input.npy")))
    if not inputs:
        sys.exit(f"error: no batch_*_input.npy in {dump_dir} (write them with qpipe eval --dump)")
    return inputs


def session(model, threads, optimize=True):
    options = ort.SessionOptions()
    if not optimize:  # float reference ops: DequantizeLinear -> float op -> QuantizeLinear
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def run_rows(sess, x):
    """Runs x (batch first) through sess, row by row when the model fixes its batch dimension."""
    inp = sess.get_inputs()[0]
    fixed = inp.shape[0] if inp.shape and isinstance(inp.shape[0], int) else None
    if fixed is None or fixed == x.shape[0]:
        return sess.run(None, {inp.name: x})[0]
    outs = [sess.run(None, {inp.name: x[i:i + fixed]})[0] for i in range(0, x.shape[0], fixed)]
    return np.concatenate(outs, axis=0)


def output_step(model):
    """Scale of the DequantizeLinear that produces the first graph output, or None."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        return None
    m = onnx.load(model)
    out = m.graph.output[0].name
    inits = {t.name: t for t in m.graph.initializer}
    producer = {o: n for n in m.graph.node for o in n.output}
    node = producer.get(out)
    # Identity/Reshape-like ops between the DQ and the output keep the grid.
    while node is not None and node.op_type in ("Identity", "Reshape", "Flatten", "Squeeze"):
        node = producer.get(node.input[0])
    if node is None or node.op_type != "DequantizeLinear" or node.input[1] not in inits:
        return None
    scale = numpy_helper.to_array(inits[node.input[1]])
    return float(scale.max())


def compare(args):
    sess = session(args.model, args.threads)
    ref = session(args.model, args.threads, optimize=False) if args.self_check else None
    ort_out, q_out, ref_out = [], [], []
    for f in batch_files(args.dump):
        x = np.load(f)
        q = np.load(f.replace("_input.npy", "_output.npy"))
        y = run_rows(sess, x)
        ort_out.append(y.reshape(y.shape[0], -1))
        q_out.append(q.reshape(q.shape[0], -1))
        if ref is not None:
            r = run_rows(ref, x)
            ref_out.append(r.reshape(r.shape[0], -1))
    y = np.concatenate(ort_out).astype(np.float64)
    q = np.concatenate(q_out).astype(np.float64)
    if y.shape != q.shape:
        print(f"FAIL: ONNX Runtime output {y.shape} vs qpipe output {q.shape}")
        return 1
    n = y.shape[0]
    top_ort, top_q = y.argmax(axis=1), q.argmax(axis=1)
    agree = float((top_ort == top_q).mean())
    labels = []
    labels_path = os.path.join(args.dump, "labels.txt")
    if os.path.exists(labels_path):
        with open(labels_path) as fh:
            labels = [int(line.split()[-1]) for line in fh if line.strip()]
    result = {"model": args.model, "images": n, "agreement": agree}
    if len(labels) == n and any(l >= 0 for l in labels):
        lab = np.array(labels)
        mask = lab >= 0
        result["ort_top1"] = float((top_ort[mask] == lab[mask]).mean())
        result["qpipe_top1"] = float((top_q[mask] == lab[mask]).mean())
    if ref is not None:
        # How well ONNX Runtime agrees with itself: integer kernels (the default, optimized graph)
        # against float reference ops. Quantized networks amplify rounding differences; qpipe's
        # int8 engine computes what the integer kernels compute, so this is information only.
        r = np.concatenate(ref_out).astype(np.float64)
        result["ort_self_agreement"] = float((r.argmax(axis=1) == top_ort).mean())
        result["qpipe_vs_ort_reference_agreement"] = float((r.argmax(axis=1) == top_q).mean())
    diff = np.abs(y - q)
    step = output_step(args.model)
    result["max_abs_diff"] = float(diff.max())
    if step:
        steps = diff / step
        result.update(step=step, max_steps=float(steps.max()), p999_steps=float(np.quantile(steps, 0.999)),
                      mean_steps=float(steps.mean()), equal=float((steps < 0.5).mean()))
    print(f"{os.path.basename(args.model)}: {n} images, top-1 agreement {100 * agree:.2f}% "
          f"({int(round(agree * n))}/{n})", end="")
    if "ort_top1" in result:
        print(f", top-1 ONNX Runtime {100 * result['ort_top1']:.2f}% / qpipe {100 * result['qpipe_top1']:.2f}%", end="")
    if step:
        print(f"; outputs: {100 * result['equal']:.2f}% identical, mean {result['mean_steps']:.3f}, "
              f"p99.9 {result['p999_steps']:.1f}, max {result['max_steps']:.1f} steps of {step:.4g}", end="")
    else:
        print(f"; max |diff| {result['max_abs_diff']:.4g}", end="")
    if ref is not None:
        print(f"; ONNX Runtime optimized vs reference ops: {100 * result['ort_self_agreement']:.2f}%, "
              f"qpipe vs reference ops {100 * result['qpipe_vs_ort_reference_agreement']:.2f}%", end="")
    print()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    failed = []
    if agree < args.min_agreement:
        failed.append(f"agreement {agree:.4f} < {args.min_agreement}")
    if args.max_steps is not None:
        if not step:
            failed.append("the output is not produced by a DequantizeLinear: no quantization step to compare in")
        elif result["p999_steps"] > args.max_steps:
            failed.append(f"99.9% of outputs within {result['p999_steps']:.1f} steps > {args.max_steps}")
    if args.min_identical is not None:
        if not step:
            failed.append("the output is not produced by a DequantizeLinear: no quantization step to compare in")
        elif result["equal"] < args.min_identical:
            failed.append(f"{100 * result['equal']:.2f}% of outputs identical < {100 * args.min_identical:.2f}%")
    for f in failed:
        print("FAIL:", f)
    return 1 if failed else 0


def quantize(args):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    sess = session(args.fp32, args.threads)
    inp = sess.get_inputs()[0]
    fixed = inp.shape[0] if inp.shape and isinstance(inp.shape[0], int) else None

    class Reader(CalibrationDataReader):
        def __init__(self, files):
            self.batches = []
            for f in files:
                x = np.load(f)
                step = fixed or x.shape[0]
                self.batches += [x[i:i + step] for i in range(0, x.shape[0], step)]
            self.it = iter(self.batches)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {inp.name: x}

    # Per-channel DequantizeLinear needs opset 13; quantize_static would only lift the model to 11
    # and write a file ONNX Runtime itself refuses, so lift it first.
    import onnx
    from onnx import version_converter

    model = onnx.load(args.fp32)
    opset = max([o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] or [0])
    source = args.fp32
    if opset < 13:
        source = args.out + ".opset13.onnx"
        onnx.save(version_converter.convert_version(model, 13), source)
    try:
        quantize_static(source, args.out, Reader(batch_files(args.dump)), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    finally:
        if source != args.fp32 and os.path.exists(source):
            os.remove(source)
    print(f"wrote {args.out} with onnxruntime {ort.__version__} quantize_static (QDQ, per-channel int8 weights, "
          f"uint8 activations)")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compare")
    c.add_argument("model")
    c.add_argument("dump")
    c.add_argument("--min-agreement", type=float, default=0.99)
    c.add_argument("--max-steps", type=float, default=None, help="fail when the 99.9th percentile exceeds this")
    c.add_argument("--min-identical", type=float, default=None,
                   help="fail when fewer outputs than this fraction are bit-identical with ONNX Runtime's")
    c.add_argument("--json")
    c.add_argument("--self-check", action="store_true",
                   help="also run ONNX Runtime with graph optimizations off and print how well its float "
                        "reference ops agree with its own integer kernels (information only: qpipe computes "
                        "what the integer kernels compute)")
    q = sub.add_parser("quantize")
    q.add_argument("fp32")
    q.add_argument("dump")
    q.add_argument("out")
    args = parser.parse_args()
    return compare(args) if args.cmd == "compare" else quantize(args)


if __name__ == "__main__":
    sys.exit(main())
