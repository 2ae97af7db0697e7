"""Sanity check of a UNet checkpoint: sample with Euler in sigma space (= DDIM for eps models) on
SD1.5's discrete sigmas, classifier-free guidance, and measure how often the evaluator recognises
the intended class. Writes a grid PNG and tools/train/sample-check.json.

Usage: /usr/bin/python3 tools/train/sample_check.py --ckpt /work/train-runs/unet/ckpt.pt \
         --classifier /work/train-runs/classifier/classifier.pt [--per-class 30 --steps 20 --cfg 3]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from classifier import Classifier, feature_stats, frechet_distance  # noqa: E402
from model import NULL_CLASS, UNet, sd15_alphas_cumprod  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--ckpt", required=True)
p.add_argument("--classifier", required=True)
p.add_argument("--per-class", type=int, default=30)
p.add_argument("--steps", type=int, default=20)
p.add_argument("--cfg", type=float, default=3.0)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--grid", default=os.path.join(HERE, "samples.png"))
p.add_argument("--json", default=os.path.join(HERE, "sample-check.json"))
p.add_argument("--features", default=os.path.join(HERE, "../../models/fashion-mnist/test-features.json"))
args = p.parse_args()
torch.set_num_threads(args.threads)

ck = torch.load(args.ckpt)
unet = UNet(tuple(ck["channels"]))
unet.load_state_dict(ck["ema"])
unet.eval()
clf = Classifier()
clf.load_state_dict(torch.load(args.classifier)["model"])
clf.eval()

acp = sd15_alphas_cumprod()
sigmas_all = np.sqrt((1 - acp) / acp)  # float64, index = timestep
# "simple"-style schedule: evenly spaced indices from 999 down, then 0.
idx = np.array([999 - int(i * 1000 / args.steps) for i in range(args.steps)], dtype=np.int64)
sigmas = np.append(sigmas_all[idx], 0.0)

labels = torch.arange(10).repeat_interleave(args.per_class)
n = labels.shape[0]
g = torch.Generator().manual_seed(args.seed)
x = torch.randn(n, 1, 28, 28, generator=g, dtype=torch.float32).double() * sigmas[0]


@torch.no_grad()
def denoise(x, i):
    s = sigmas[i]
    x_in = (x / np.sqrt(1 + s * s)).float()
    t = torch.full((n,), float(idx[i]))
    eps_c = unet(x_in, t, labels).double()
    eps_u = unet(x_in, t, torch.full((n,), NULL_CLASS, dtype=torch.long)).double()
    eps = eps_u + args.cfg * (eps_c - eps_u)
    return x - s * eps


for i in range(args.steps):
    d = denoise(x, i)
    x = x + (x - d) / sigmas[i] * (sigmas[i + 1] - sigmas[i])
# Same as the evaluator in ays: clamp, quantize to 8 bits, back to [-1, 1].
imgs = (((x.float().clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1).float()

with torch.no_grad():
    logits, feats = clf(imgs)
pred = logits.argmax(1)
acc = (pred == labels).float().mean().item()
per_class = [(pred[labels == c] == c).float().mean().item() for c in range(10)]

result = {"ckpt_step": ck["step"], "sampler": "euler (DDIM) in sigma space", "schedule": "simple (every 1000/steps-th discrete sigma)",
          "steps": args.steps, "cfg": args.cfg, "seed": args.seed, "images": n, "class_accuracy": acc,
          "per_class_accuracy": per_class}
if os.path.exists(args.features):
    st = json.load(open(args.features))
    mu, cov = feature_stats(feats.numpy())
    result["frechet_vs_test_all"] = frechet_distance(mu, cov, st["all"]["mean"], st["all"]["cov"])
    result["note"] = f"Frechet distance from only {n} generated images (biased upward vs 5000/10000-image stats)"
print(json.dumps(result, indent=1), flush=True)
with open(args.json, "w") as f:
    json.dump(result, f, indent=1)

# Grid: one row per class, first 10 samples of each.
cols = min(10, args.per_class)
grid = np.zeros((10 * 28, cols * 28), dtype=np.uint8)
u8 = ((imgs.numpy()[:, 0] + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
for c in range(10):
    for j in range(cols):
        grid[c * 28:(c + 1) * 28, j * 28:(j + 1) * 28] = u8[c * args.per_class + j]
Image.fromarray(grid).resize((cols * 56, 10 * 56), Image.NEAREST).save(args.grid)
