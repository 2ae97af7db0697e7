"""Export the EMA weights of a UNet checkpoint to models/fashion-mnist/unet.onnx, write check.json
(fixed input + torch output for a conformance test), measure torch per-call time, and (re)write card.json.

Works on any checkpoint, also while training still runs (it reads the atomically replaced ckpt.pt).
Usage: /usr/bin/python3 tools/train/export.py --ckpt /work/train-runs/unet/ckpt.pt [--models models/fashion-mnist]
"""
import argparse
import json
import os
import shutil
import sys
import time

import numpy as np
import onnx
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from model import BETA_END, BETA_START, NULL_CLASS, NUM_TRAIN_TIMESTEPS, UNet, param_count  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--ckpt", required=True)
p.add_argument("--models", default=os.path.join(HERE, "../../models/fashion-mnist"))
p.add_argument("--threads", type=int, default=1)
p.add_argument("--skip-timing", action="store_true")
p.add_argument("--classifier", default="", help="classifier.pt: also store its torch output on the check input")
args = p.parse_args()
torch.set_num_threads(args.threads)
os.makedirs(args.models, exist_ok=True)

ck = torch.load(args.ckpt)
channels = tuple(ck["channels"])
model = UNet(channels)
model.load_state_dict(ck["ema"])
model.eval()

# Copy the training loss log next to the scripts (small, committed).
loss_csv = os.path.join(os.path.dirname(os.path.abspath(args.ckpt)), "loss.csv")
if os.path.exists(loss_csv):
    shutil.copyfile(loss_csv, os.path.join(HERE, "unet-loss.csv"))

onnx_path = os.path.join(args.models, "unet.onnx")
dummy = (torch.zeros(3, 1, 28, 28), torch.tensor([1.0, 500.0, 999.0]), torch.tensor([0, 5, NULL_CLASS]))
torch.onnx.export(model, dummy, onnx_path, input_names=["sample", "timestep", "class_label"], output_names=["eps"],
                  dynamic_axes={"sample": {0: "batch"}, "timestep": {0: "batch"}, "class_label": {0: "batch"},
                                "eps": {0: "batch"}},
                  opset_version=17, do_constant_folding=True)
onnx.checker.check_model(onnx.load(onnx_path))

# Conformance case: batch 2, deterministic values anyone can regenerate:
# sample[b,0,i,j] = sin(0.1 * (b*784 + i*28 + j) + 0.3) (float32), timesteps fractional and integer.
k = np.arange(2 * 784, dtype=np.float64)
sample = np.sin(0.1 * k + 0.3).astype(np.float32).reshape(2, 1, 28, 28)
timestep = np.array([999.0, 250.5], dtype=np.float32)
label = np.array([7, NULL_CLASS], dtype=np.int64)
with torch.no_grad():
    eps = model(torch.from_numpy(sample), torch.from_numpy(timestep), torch.from_numpy(label)).numpy()
check = {
    "description": "unet.onnx conformance case: run the model on this input and compare 'eps' elementwise "
                   "(float32 torch 1.13 CPU reference; expect max abs diff ~1e-4 or below from onnxruntime).",
    "sample_formula": "sample[b,0,i,j] = float32(sin(0.1 * (b*784 + i*28 + j) + 0.3))",
    "sample_shape": [2, 1, 28, 28],
    "sample": [float(v) for v in sample.reshape(-1)],
    "timestep": timestep.tolist(),
    "class_label": label.tolist(),
    "eps_shape": [2, 1, 28, 28],
    "eps": [float(v) for v in eps.reshape(-1)],
}
if args.classifier:
    from classifier import Classifier  # noqa: E402
    clf = Classifier()
    clf.load_state_dict(torch.load(args.classifier)["model"])
    clf.eval()
    with torch.no_grad():
        logits, feats = clf(torch.from_numpy(sample))
    check["classifier"] = {"description": "classifier.onnx on the same 'sample' as 'image' (batch 2), torch output",
                           "logits_shape": list(logits.shape), "logits": [float(v) for v in logits.reshape(-1)],
                           "features_shape": list(feats.shape), "features": [float(v) for v in feats.reshape(-1)]}
with open(os.path.join(args.models, "check.json"), "w") as f:
    json.dump(check, f)

timing = None
if not args.skip_timing:
    timing = {"threads": args.threads}
    with torch.no_grad():
        for bs in (1, 64):
            x = torch.randn(bs, 1, 28, 28)
            t = torch.full((bs,), 500.0)
            y = torch.zeros(bs, dtype=torch.long)
            for _ in range(3):
                model(x, t, y)
            ts = []
            for _ in range(15):
                t0 = time.perf_counter()
                model(x, t, y)
                ts.append(time.perf_counter() - t0)
            timing[f"batch{bs}_ms_median"] = round(1000 * float(np.median(ts)), 2)
            timing[f"batch{bs}_ms_min"] = round(1000 * float(np.min(ts)), 2)
    print("torch timing", timing, flush=True)

with open(os.path.join(HERE, "export-info.json"), "w") as f:
    json.dump({"ckpt_step": ck["step"], "ckpt_elapsed_s": ck["elapsed_s"], "train_args": ck["args"],
               "channels": list(channels), "params": param_count(model), "torch_timing": timing}, f, indent=1)
print(f"exported step {ck['step']} params {param_count(model)} -> {onnx_path}", flush=True)
