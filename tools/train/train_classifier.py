"""Train the evaluator CNN, export models/fashion-mnist/classifier.onnx and test-features.json.

Usage: /usr/bin/python3 tools/train/train_classifier.py --out /work/train-runs/classifier [--models models/fashion-mnist]
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from classifier import FEATURE_DIM, Classifier, feature_stats, frechet_distance  # noqa: E402
from data import load, to_model_range  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--models", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../models/fashion-mnist"))
p.add_argument("--epochs", type=int, default=10)
p.add_argument("--batch", type=int, default=128)
p.add_argument("--lr", type=float, default=2e-3)
p.add_argument("--seed", type=int, default=4321)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--subset", type=int, default=0, help="smoke test: use only this many training images")
args = p.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)
os.makedirs(args.out, exist_ok=True)
os.makedirs(args.models, exist_ok=True)

xtr, ytr = load("train")
xte, yte = load("t10k")
xtr = torch.from_numpy(to_model_range(xtr))
ytr = torch.from_numpy(ytr)
if args.subset:
    xtr, ytr = xtr[:args.subset], ytr[:args.subset]
xte = torch.from_numpy(to_model_range(xte))
yte = torch.from_numpy(yte)

model = Classifier()
opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
gen = torch.Generator().manual_seed(args.seed)
steps_per_epoch = xtr.shape[0] // args.batch
total = steps_per_epoch * args.epochs


def augment(x):
    # random shift by up to 2 pixels (pad with background value -1, random crop)
    b = x.shape[0]
    xp = F.pad(x, (2, 2, 2, 2), value=-1.0)
    dx = torch.randint(0, 5, (b,), generator=gen)
    dy = torch.randint(0, 5, (b,), generator=gen)
    out = torch.empty_like(x)
    for i in range(b):
        out[i] = xp[i, :, dy[i]:dy[i] + 28, dx[i]:dx[i] + 28]
    return out


@torch.no_grad()
def run_eval(x):
    model.eval()
    logits, feats = [], []
    for i in range(0, x.shape[0], 500):
        lo, fe = model(x[i:i + 500])
        logits.append(lo)
        feats.append(fe)
    return torch.cat(logits), torch.cat(feats)


log_rows = []
t0 = time.time()
step = 0
for epoch in range(args.epochs):
    model.train()
    perm = torch.randperm(xtr.shape[0], generator=gen)
    acc_loss = 0.0
    for k in range(steps_per_epoch):
        idx = perm[k * args.batch:(k + 1) * args.batch]
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * step / total))
        for g in opt.param_groups:
            g["lr"] = lr
        logits, _ = model(augment(xtr[idx]))
        loss = F.cross_entropy(logits, ytr[idx], label_smoothing=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        acc_loss += loss.item()
        step += 1
    logits, _ = run_eval(xte)
    acc = (logits.argmax(1) == yte).float().mean().item()
    row = {"epoch": epoch + 1, "train_loss": acc_loss / steps_per_epoch, "test_acc": acc, "elapsed_s": time.time() - t0}
    log_rows.append(row)
    print(row, flush=True)

train_time = time.time() - t0
torch.save({"model": model.state_dict(), "log": log_rows, "args": vars(args), "train_time_s": train_time},
           os.path.join(args.out, "classifier.pt"))

model.eval()
logits, feats = run_eval(xte)
test_acc = (logits.argmax(1) == yte).float().mean().item()
feats = feats.numpy().astype(np.float64)

onnx_path = os.path.join(args.models, "classifier.onnx")
dummy = torch.zeros(2, 1, 28, 28)
torch.onnx.export(model, (dummy,), onnx_path, input_names=["image"], output_names=["logits", "features"],
                  dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}, "features": {0: "batch"}},
                  opset_version=17, do_constant_folding=True)
onnx.checker.check_model(onnx.load(onnx_path))


def stats_entry(f):
    mu, cov = feature_stats(f)
    return {"count": int(f.shape[0]), "mean": mu.tolist(), "cov": cov.tolist()}


full = stats_entry(feats)
first = stats_entry(feats[:5000])
second = stats_entry(feats[5000:])
fd_halves = frechet_distance(first["mean"], first["cov"], second["mean"], second["cov"])
stats = {
    "description": "Fashion-MNIST test-set (t10k, 10000 images, file order) statistics of classifier.onnx 'features' output. "
                   "Image preprocessing: uint8 pixel p -> p/127.5 - 1 (float32, [-1,1]), shape [N,1,28,28]. "
                   "mean: float64 mean over images; cov: unbiased covariance (divide by N-1), float64, row-major F x F. "
                   "Frechet distance d = |mu1-mu2|^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^{1/2}), with tr((C1 C2)^{1/2}) "
                   "= sum of sqrt(max(0, eigenvalues of S C2 S)), S = symmetric square root of C1.",
    "feature_dim": FEATURE_DIM,
    "test_accuracy": test_acc,
    "all": full,
    "first_half": first,
    "second_half": second,
    "frechet_first_vs_second_half": fd_halves,
}
with open(os.path.join(args.models, "test-features.json"), "w") as f:
    json.dump(stats, f)
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "classifier-log.json"), "w") as f:
    json.dump({"epochs": log_rows, "train_time_s": train_time, "test_accuracy": test_acc,
               "frechet_first_vs_second_half": fd_halves, "args": vars(args)}, f, indent=1)
print(f"test acc {test_acc:.4f}  FD halves {fd_halves:.4f}  time {train_time:.0f}s", flush=True)
