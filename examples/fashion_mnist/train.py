#!/usr/bin/python3
# Trains and exports qpipe's embedded example model: a small MobileNet-style CNN on Fashion-MNIST.
#
# Deterministic: fixed seed, deterministic algorithms, 2 threads, seeded shuffling, no augmentation.
# Reads the IDX files of Debian's dataset-fashion-mnist directly (no torchvision, no download).
# Writes, next to this file: model.onnx, expected.json and ref/{input,output}_<i>.npy.
#
# Run with Debian's interpreter (it has python3-torch, python3-onnx, python3-numpy):
#   /usr/bin/python3 examples/fashion_mnist/train.py
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = "/usr/share/datasets/fashion-mnist"

# Preprocessing, in float32 and in this order: x = (pixel * SCALE - MEAN) / STD.
# Written as three float32 operations so that any engine can reproduce the model input
# bit for bit from the uint8 pixels (a multiply by 1/255 is not the same float as a divide by 255).
SCALE = np.float32(1.0 / 255.0)
MEAN = np.float32(0.2860)
STD = np.float32(0.3530)

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path):
    """Parses a gzipped IDX file (big-endian header: 0, 0, dtype code, ndim, then ndim uint32 sizes)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic)")
    if raw[2] != 0x08:
        raise ValueError(f"{path}: IDX dtype 0x{raw[2]:02x} not supported (only 0x08 = uint8)")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(np.int64)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {data.size} bytes of data, header says {tuple(dims)}")
    return data.reshape(tuple(dims))


def load_split(prefix):
    images = read_idx(os.path.join(DATA_DIR, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(DATA_DIR, f"{prefix}-labels-idx1-ubyte.gz"))
    assert images.shape[0] == labels.shape[0] and images.shape[1:] == (28, 28)
    return images, labels.astype(np.int64)


def preprocess(images_u8):
    """uint8 [N,28,28] -> float32 [N,1,28,28], exactly as documented in README.md."""
    x = images_u8.astype(np.float32)[:, None, :, :]
    x = x * SCALE
    x = x - MEAN
    x = x / STD
    return x.astype(np.float32)


# ---------------------------------------------------------------- model

class ConvBN(nn.Sequential):
    """Conv (no bias) + BatchNorm, optionally followed by ReLU6 (exported as Clip(0, 6))."""

    def __init__(self, cin, cout, k, stride=1, groups=1, act=True):
        layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                  nn.BatchNorm2d(cout)]
        if act:
            layers.append(nn.ReLU6())
        super().__init__(*layers)


class DWSep(nn.Module):
    """Depthwise 3x3 + BN + ReLU6, then pointwise 1x1 + BN (+ ReLU6).

    With stride 1 and cin == cout it is a residual block: the pointwise conv stays linear
    (MobileNetV2's linear bottleneck) and the input is added to its output.
    """

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.residual = stride == 1 and cin == cout
        self.dw = ConvBN(cin, cin, 3, stride, groups=cin)
        self.pw = ConvBN(cin, cout, 1, act=not self.residual)

    def forward(self, x):
        y = self.pw(self.dw(x))
        return x + y if self.residual else y


class FashionNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = ConvBN(1, 24, 3)            # 28x28x24
        self.b1 = DWSep(24, 48, stride=2)       # 14x14x48
        self.b2 = DWSep(48, 48)                 # 14x14x48, residual
        self.b3 = DWSep(48, 96, stride=2)       # 7x7x96
        self.b4 = DWSep(96, 96)                 # 7x7x96, residual
        self.b5 = DWSep(96, 96)                 # 7x7x96, residual
        self.head = ConvBN(96, 128, 1)          # 7x7x128
        self.pool = nn.AdaptiveAvgPool2d(1)     # GlobalAveragePool
        self.fc = nn.Linear(128, 10)            # Gemm (after Flatten)

    def forward(self, x):
        x = self.head(self.b5(self.b4(self.b3(self.b2(self.b1(self.stem(x)))))))
        x = torch.flatten(self.pool(x), 1)
        return self.fc(x)


# ---------------------------------------------------------------- ONNX reference evaluation
# Debian's python3-onnx (1.12) has no onnx.reference and there is no onnxruntime, so this is a
# small numpy interpreter for exactly the ops the exported graph uses. It checks the export
# independently of torch (BN in eval mode, Clip bounds, Gemm transB, ...).

def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _conv(x, w, b, a):
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    group = a.get("group", 1)
    sh, sw = a.get("strides", [1, 1])
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    if a.get("dilations", [1, 1]) != [1, 1]:
        raise NotImplementedError("Conv dilations")
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh = (h + pt + pb - kh) // sh + 1
    ow = (wd + pl + pr - kw) // sw + 1
    if group == c and cg == 1 and m == c:  # depthwise: accumulate the taps
        y = np.zeros((n, c, oh, ow), np.float32)
        for i in range(kh):
            for j in range(kw):
                y += xp[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] * w[None, :, 0, i, j, None, None]
    else:
        if group != 1:
            raise NotImplementedError("grouped Conv other than depthwise")
        cols = np.empty((n, c, kh, kw, oh, ow), np.float32)
        for i in range(kh):
            for j in range(kw):
                cols[:, :, i, j] = xp[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw]
        y = np.einsum("nkhw,mk->nmhw", cols.reshape(n, c * kh * kw, oh, ow),
                      w.reshape(m, -1), optimize=True).astype(np.float32)
    if b is not None:
        y += b[None, :, None, None]
    return y


def onnx_reference_run(model, x):
    env = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    env[model.graph.input[0].name] = x
    for node in model.graph.node:
        a = _attrs(node)
        i = [env[name] if name else None for name in node.input]
        op = node.op_type
        if op == "Constant":
            out = onnx.numpy_helper.to_array(a["value"])
        elif op == "Conv":
            out = _conv(i[0], i[1], i[2] if len(i) > 2 else None, a)
        elif op == "BatchNormalization":
            xx, s, bb, mu, var = i
            eps = a.get("epsilon", 1e-5)
            k = (s / np.sqrt(var + np.float32(eps))).astype(np.float32)
            out = (xx - mu[None, :, None, None]) * k[None, :, None, None] + bb[None, :, None, None]
        elif op == "Clip":
            lo = i[1] if len(i) > 1 and i[1] is not None else -np.inf
            hi = i[2] if len(i) > 2 and i[2] is not None else np.inf
            out = np.clip(i[0], lo, hi)
        elif op == "Relu":
            out = np.maximum(i[0], 0)
        elif op == "Add":
            out = i[0] + i[1]
        elif op == "GlobalAveragePool":
            out = i[0].mean(axis=(2, 3), keepdims=True)
        elif op == "Flatten":
            ax = a.get("axis", 1)
            out = i[0].reshape(int(np.prod(i[0].shape[:ax])), -1)
        elif op == "Gemm":
            A, B = i[0], i[1]
            if a.get("transA", 0):
                A = A.T
            if a.get("transB", 0):
                B = B.T
            out = a.get("alpha", 1.0) * (A @ B)
            if len(i) > 2 and i[2] is not None:
                out = out + a.get("beta", 1.0) * i[2]
        else:
            raise NotImplementedError(f"op {op} in the numpy reference")
        env[node.output[0]] = np.asarray(out, dtype=np.float32)
    return env[model.graph.output[0].name]


# ---------------------------------------------------------------- main

def evaluate_torch(model, x, batch=1000):
    model.eval()
    outs = []
    with torch.no_grad():
        for s in range(0, x.shape[0], batch):
            outs.append(model(torch.from_numpy(x[s:s + batch])))
    return torch.cat(outs).numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--out", default=HERE, help="output folder (default: next to this script)")
    ap.add_argument("--onnx-eval-images", type=int, default=10000,
                    help="test images run through the numpy ONNX reference (0 = skip)")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(2)

    t0 = time.time()
    tr_img, tr_lab = load_split("train")
    te_img, te_lab = load_split("t10k")
    x_tr, x_te = preprocess(tr_img), preprocess(te_img)
    y_tr = torch.from_numpy(tr_lab)
    xt_tr = torch.from_numpy(x_tr)
    print(f"data: train {x_tr.shape}, test {x_te.shape}")

    model = FashionNet()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params} parameters")

    gen = torch.Generator().manual_seed(args.seed)
    steps_per_epoch = (x_tr.shape[0] + args.batch - 1) // args.batch
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs,
                                                steps_per_epoch=steps_per_epoch)
    t_train = time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(x_tr.shape[0], generator=gen)
        tot_loss, correct = 0.0, 0
        for s in range(0, x_tr.shape[0], args.batch):
            idx = perm[s:s + args.batch]
            xb, yb = xt_tr[idx], y_tr[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot_loss += loss.item() * idx.numel()
            correct += (logits.argmax(1) == yb).sum().item()
        te_logits = evaluate_torch(model, x_te)
        te_acc = float((te_logits.argmax(1) == te_lab).mean())
        print(f"epoch {epoch + 1}/{args.epochs}: loss {tot_loss / x_tr.shape[0]:.4f} "
              f"train {correct / x_tr.shape[0]:.4f} test {te_acc:.4f} "
              f"({time.time() - t_train:.0f} s)", flush=True)
    train_s = time.time() - t_train

    model.eval()
    te_logits = evaluate_torch(model, x_te)
    top1 = float((te_logits.argmax(1) == te_lab).mean())
    print(f"fp32 top-1 (torch, {x_te.shape[0]} test images): {top1:.4f}")

    # Export. TrainingMode.PRESERVE with the model in eval mode keeps BatchNormalization nodes
    # (in eval form): TrainingMode.EVAL runs the exporter's eval peephole, which folds BN into
    # Conv even with do_constant_folding=False. qpipe's own BN folding pass needs them unfolded.
    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, "model.onnx")
    torch.onnx.export(model, torch.from_numpy(x_te[:1]), onnx_path,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      opset_version=13, do_constant_folding=False,
                      training=torch.onnx.TrainingMode.PRESERVE)
    m = onnx.load(onnx_path)
    onnx.checker.check_model(m)
    m = onnx.shape_inference.infer_shapes(m)
    hist = {}
    for n in m.graph.node:
        hist[n.op_type] = hist.get(n.op_type, 0) + 1
    print("ops:", json.dumps(dict(sorted(hist.items()))))
    check_graph(m)
    print(f"model.onnx: {os.path.getsize(onnx_path)} bytes")

    onnx_top1, onnx_n, max_diff = None, 0, None
    if args.onnx_eval_images > 0:
        onnx_n = min(args.onnx_eval_images, x_te.shape[0])
        outs = [onnx_reference_run(m, x_te[s:min(s + 500, onnx_n)]) for s in range(0, onnx_n, 500)]
        o = np.concatenate(outs)
        onnx_top1 = float((o.argmax(1) == te_lab[:onnx_n]).mean())
        max_diff = float(np.abs(o - te_logits[:onnx_n]).max())
        agree = float((o.argmax(1) == te_logits[:onnx_n].argmax(1)).mean())
        print(f"fp32 top-1 (numpy ONNX reference, {onnx_n} test images): {onnx_top1:.4f}; "
              f"max |logit diff| vs torch {max_diff:.2e}; top-1 agreement {agree:.4f}")

    ref_dir = os.path.join(args.out, "ref")
    os.makedirs(ref_dir, exist_ok=True)
    for i in range(4):
        np.save(os.path.join(ref_dir, f"input_{i}.npy"), x_te[i:i + 1].copy())
        np.save(os.path.join(ref_dir, f"output_{i}.npy"), te_logits[i:i + 1].astype(np.float32))

    expected = {
        "model": "model.onnx",
        "fp32_top1": top1,
        "test_images": int(x_te.shape[0]),
        "onnx_reference_top1": onnx_top1,
        "onnx_reference_images": onnx_n,
        "onnx_reference_max_abs_logit_diff": max_diff,
        "preprocess": {
            "layout": "NCHW float32 [N,1,28,28], single grey channel",
            "formula": "x = (pixel * scale - mean) / std, each step in float32",
            "scale": float(SCALE), "mean": float(MEAN), "std": float(STD),
        },
        "input": {"name": "input", "shape": ["N", 1, 28, 28]},
        "output": {"name": "logits", "shape": ["N", 10]},
        "classes": CLASSES,
        "first8": {
            "labels": [int(v) for v in te_lab[:8]],
            "torch_top1": [int(v) for v in te_logits[:8].argmax(1)],
        },
        "ref": {"count": 4, "inputs": "ref/input_<i>.npy [1,1,28,28] float32 (test images 0..3)",
                "outputs": "ref/output_<i>.npy [1,10] float32 torch logits"},
        "params": n_params,
        "ops": dict(sorted(hist.items())),
        "train": {"epochs": args.epochs, "batch": args.batch, "optimizer": "AdamW",
                  "max_lr": args.lr, "weight_decay": 1e-4, "schedule": "OneCycleLR",
                  "threads": 2, "seconds": round(train_s, 1)},
        "torch_version": torch.__version__,
        "onnx_version": onnx.__version__,
        "opset": 13,
        "seed": args.seed,
    }
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2)
        f.write("\n")
    print(f"total {time.time() - t0:.0f} s (training {train_s:.0f} s)")


def check_graph(m):
    """Fails unless the graph has the op patterns the example exists to exercise."""
    inits = {t.name: t for t in m.graph.initializer}
    ops = [n.op_type for n in m.graph.node]
    for need in ["BatchNormalization", "Clip", "Add", "GlobalAveragePool", "Gemm"]:
        if need not in ops:
            sys.exit(f"exported graph lacks {need}")
    dw = pw = 0
    for n in m.graph.node:
        if n.op_type != "Conv":
            continue
        w = inits[n.input[1]].dims
        group = _attrs(n).get("group", 1)
        if group > 1 and group == w[0] and w[1] == 1:
            dw += 1
        if list(w[2:]) == [1, 1]:
            pw += 1
    if dw == 0 or pw == 0:
        sys.exit(f"exported graph lacks depthwise ({dw}) or 1x1 ({pw}) Conv")
    dim0 = m.graph.input[0].type.tensor_type.shape.dim[0]
    if dim0.dim_param != "N":
        sys.exit("input batch dim is not symbolic 'N'")
    print(f"graph check ok: {dw} depthwise Conv, {pw} 1x1 Conv")


if __name__ == "__main__":
    main()
