#!/usr/bin/env python3
"""ort_layer_diff.py — where qpipe's int8 engine and ONNX Runtime part ways on a QDQ model, layer by layer (run it with .venv/bin/python).

  ort_layer_diff.py MODEL.qdq.onnx INPUT.npy [--qpipe PATH] [--all] [--threads N]

Every QuantizeLinear of MODEL marks a tensor both runtimes hold as integer codes. The script
writes two temporary copies of MODEL: one where every QuantizeLinear OUTPUT is also a graph
output (ONNX Runtime, default optimizations, so its fused integer kernels run: QLinearConv,
QLinearAdd, ...), and one where the DequantizeLinear after each QuantizeLinear is (qpipe `infer
--mode int8`, which writes the int8 engine's tensors dequantized). The DequantizeLinear and not
the QuantizeLinear's input: a float tensor that is itself a graph output keeps no encoding in
qpipe's QDQ import, so its producer would run in fp32 and the comparison would be of another
computation. It runs both on INPUT.npy, re-quantizes qpipe's
values with each QuantizeLinear's scale and zero point, and prints in graph order, per quantized
tensor: the op that produced it, how many codes differ and by how much at most. The first line
with differences is where to look; later ones usually inherit the difference.

It also runs ONNX Runtime with graph optimizations off (reference float ops between Q/DQ pairs)
and prints how often that differs from its own integer kernels, as a yardstick.

Exit codes: 0 every quantized tensor identical, 1 some differ, 2 usage error, 77 no onnxruntime.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper
except ImportError as exc:
    print(f"SKIP: onnx/onnxruntime are not importable ({exc}); run scripts/ensure-venv.sh and use .venv/bin/python")
    sys.exit(77)


def safe_name(name):
    """The file name qpipe infer gives an output (characters other than [A-Za-z0-9._-] -> '_')."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def with_outputs(model, names, elem_types):
    """A copy of model with names added as graph outputs; elem_types: one ONNX dtype per name."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for name, elem_type in zip(names, elem_types):
        if name not in have:
            m.graph.output.append(onnx.helper.make_tensor_value_info(name, elem_type, None))
            have.add(name)
    return m


def session(path, threads, optimize=True):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def constant(inits, name):
    return numpy_helper.to_array(inits[name]) if name in inits else None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("input", help=".npy array for the model's first input (its shape fixes the input shape)")
    here = os.path.dirname(os.path.abspath(__file__))
    default_qpipe = os.path.join(os.path.dirname(here), "build", "qpipe")
    parser.add_argument("--qpipe", default=os.environ.get("QPIPE", default_qpipe), help="qpipe executable")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--all", action="store_true", help="also print the tensors that are identical")
    args = parser.parse_args()
    if not os.path.exists(args.qpipe):
        print(f"error: qpipe executable {args.qpipe} not found (use --qpipe or QPIPE=)", file=sys.stderr)
        return 2

    model = onnx.load(args.model)
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    quants = [n for n in g.node if n.op_type == "QuantizeLinear"]
    if not quants:
        print(f"error: {args.model} has no QuantizeLinear: not a QDQ model", file=sys.stderr)
        return 2
    x = np.load(args.input)
    tmp = tempfile.mkdtemp(prefix="ort_layer_diff-")
    try:
        ort_path = os.path.join(tmp, "ort.onnx")
        # A QuantizeLinear's output has its zero point's dtype (int8 for symmetric or TensorRT-style
        # exports); uint8 when the zero point is omitted, as ONNX defines it.
        def q_type(q):
            zp = inits.get(q.input[2]) if len(q.input) > 2 and q.input[2] else None
            return zp.data_type if zp is not None else onnx.TensorProto.UINT8
        onnx.save(with_outputs(model, [q.output[0] for q in quants], [q_type(q) for q in quants]), ort_path)
        dq_of = {}
        for n in g.node:
            if n.op_type == "DequantizeLinear" and n.input[0] not in dq_of:
                dq_of[n.input[0]] = n.output[0]
        qp_path = os.path.join(tmp, "qpipe.onnx")
        dq_names = [dq_of[q.output[0]] for q in quants if q.output[0] in dq_of]
        onnx.save(with_outputs(model, dq_names, [onnx.TensorProto.FLOAT] * len(dq_names)), qp_path)

        s = session(ort_path, args.threads)
        feed = {s.get_inputs()[0].name: x}
        names = [o.name for o in s.get_outputs()]
        got = dict(zip(names, s.run(None, feed)))
        ref = dict(zip(names, session(ort_path, args.threads, optimize=False).run(None, feed)))
        # Exposing tensors must not change what ONNX Runtime fuses: the model output stays the same.
        plain = session(args.model, args.threads).run(None, feed)[0]
        same_output = np.array_equal(plain, got[names[0]])

        out_dir = os.path.join(tmp, "qpipe")
        input_name = g.input[0].name
        cmd = [args.qpipe, "infer", qp_path, "--input", f"{input_name}={args.input}", "--out", out_dir,
               "--mode", "int8", "--threads", str(args.threads)]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            print(f"error: {' '.join(cmd)} failed:\n{run.stderr}", file=sys.stderr)
            return 2

        print(f"{os.path.basename(args.model)} on {os.path.basename(args.input)}: ONNX Runtime {ort.__version__}, "
              f"qpipe int8 ({args.qpipe})" + ("" if same_output else
                                              "  [warning: exposing tensors changed ONNX Runtime's output]"))
        print(f"{'producer':24} {'tensor':44} {'codes':>8} {'qpipe!=ORT':>10} {'max':>4}  {'ORT ref!=ORT':>12}")
        n_bad = 0
        for q in quants:
            t = q.input[0]
            scale, zp = constant(inits, q.input[1]), constant(inits, q.input[2]) if len(q.input) > 2 else None
            f = os.path.join(out_dir, safe_name(dq_of.get(q.output[0], "")) + ".npy")
            p = producer.get(t)
            op = p.op_type if p is not None else "(graph input)"
            if scale is None or not os.path.exists(f):
                print(f"{op:24} {t[:44]:44} {'':>8} {'n/a':>10}")
                continue
            zp = np.zeros_like(scale, dtype=np.int64) if zp is None else zp.astype(np.int64)
            axis = next((a.i for a in q.attribute if a.name == "axis"), 1)
            v = np.load(f).astype(np.float64)
            if scale.size > 1:  # per-axis: broadcast along the Q's axis
                shape = [1] * v.ndim
                shape[axis] = scale.size
                scale, zp = scale.reshape(shape), zp.reshape(shape)
            codes = np.round(v / scale.astype(np.float64)).astype(np.int64) + zp
            theirs = got[q.output[0]].astype(np.int64)
            reference = ref[q.output[0]].astype(np.int64)
            if codes.shape != theirs.shape:
                codes = codes.reshape(theirs.shape)
            diff = np.abs(codes - theirs)
            n_diff = int((diff != 0).sum())
            n_bad += n_diff > 0
            if n_diff or args.all:
                print(f"{op:24} {t[:44]:44} {theirs.size:8} {n_diff:10} {int(diff.max()):4}  "
                      f"{int((reference != theirs).sum()):12}")
        print(f"{n_bad} of {len(quants)} quantized tensors differ" if n_bad else
              f"all {len(quants)} quantized tensors identical")
        return 1 if n_bad else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
