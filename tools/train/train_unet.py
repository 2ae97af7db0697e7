"""Train the class-conditional eps-prediction UNet on Fashion-MNIST with SD1.5's discrete schedule.

Usage: /usr/bin/python3 tools/train/train_unet.py --out /work/train-runs/unet [--steps 24000] [--resume]
Writes <out>/ckpt.pt (latest, atomically replaced every --ckpt-every steps) and <out>/loss.csv.
"""
import argparse
import csv
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import load, to_model_range  # noqa: E402
from model import NULL_CLASS, UNet, param_count, sd15_alphas_cumprod  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--steps", type=int, default=24000)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--lr", type=float, default=1e-3)
p.add_argument("--warmup", type=int, default=500)
p.add_argument("--ema", type=float, default=0.999)
p.add_argument("--p-uncond", type=float, default=0.1)
p.add_argument("--channels", default="24,48,64")
p.add_argument("--seed", type=int, default=1234)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--ckpt-every", type=int, default=500)
p.add_argument("--log-every", type=int, default=100)
p.add_argument("--resume", action="store_true")
p.add_argument("--stop-at", type=int, default=0, help="stop (with a checkpoint) after this step; the lr schedule still follows --steps")
args = p.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)
os.makedirs(args.out, exist_ok=True)
channels = tuple(int(c) for c in args.channels.split(","))

images, labels = load("train")
x_all = torch.from_numpy(to_model_range(images))
y_all = torch.from_numpy(labels)
acp = torch.from_numpy(sd15_alphas_cumprod())  # float64
sqrt_acp = acp.sqrt().float()
sqrt_1m_acp = (1 - acp).sqrt().float()

model = UNet(channels)
ema = UNet(channels)
ema.load_state_dict(model.state_dict())
ema.requires_grad_(False)
opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
gen = torch.Generator().manual_seed(args.seed)


def lr_at(step: int) -> float:
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    frac = (step - args.warmup) / max(1, args.steps - args.warmup)
    return 1e-5 + 0.5 * (args.lr - 1e-5) * (1 + math.cos(math.pi * min(1.0, frac)))


step = 0
elapsed_before = 0.0
resumed_perm = None
ckpt_path = os.path.join(args.out, "ckpt.pt")
log_path = os.path.join(args.out, "loss.csv")
if args.resume and os.path.exists(ckpt_path):
    ck = torch.load(ckpt_path)
    model.load_state_dict(ck["model"])
    ema.load_state_dict(ck["ema"])
    opt.load_state_dict(ck["opt"])
    gen.set_state(ck["gen"])
    torch.set_rng_state(ck["torch_rng"])
    step = ck["step"]
    elapsed_before = ck["elapsed_s"]
    resumed_perm = (ck["perm"], ck["pos"])
    print(f"resumed at step {step}", flush=True)
else:
    with open(log_path, "w", newline="") as f:
        csv.writer(f).writerow(["step", "elapsed_s", "loss_avg", "lr"])

print(f"params {param_count(model)} channels {channels} batch {args.batch} steps {args.steps}", flush=True)


def save(step: int, elapsed: float):
    tmp = ckpt_path + ".tmp"
    torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                "gen": gen.get_state(), "torch_rng": torch.get_rng_state(), "step": step,
                "elapsed_s": elapsed, "perm": perm, "pos": pos, "args": vars(args), "channels": channels}, tmp)
    os.replace(tmp, ckpt_path)


n = x_all.shape[0]
if resumed_perm is None:
    perm = torch.randperm(n, generator=gen)
    pos = 0
else:
    perm, pos = resumed_perm
t_start = time.time()
loss_acc, loss_n = 0.0, 0
model.train()
last = min(args.steps, args.stop_at) if args.stop_at else args.steps
while step < last:
    if pos + args.batch > n:
        perm = torch.randperm(n, generator=gen)
        pos = 0
    idx = perm[pos:pos + args.batch]
    pos += args.batch
    x0 = x_all[idx]
    y = y_all[idx].clone()
    drop = torch.rand(args.batch, generator=gen) < args.p_uncond
    y[drop] = NULL_CLASS
    t = torch.randint(0, 1000, (args.batch,), generator=gen)
    eps = torch.randn(x0.shape, generator=gen)
    xt = sqrt_acp[t][:, None, None, None] * x0 + sqrt_1m_acp[t][:, None, None, None] * eps

    for g in opt.param_groups:
        g["lr"] = lr_at(step)
    loss = torch.nn.functional.mse_loss(model(xt, t.float(), y), eps)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    step += 1
    decay = min(args.ema, (1 + step) / (10 + step))
    with torch.no_grad():
        for pe, pm in zip(ema.parameters(), model.parameters()):
            pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)
        for be, bm in zip(ema.buffers(), model.buffers()):
            be.copy_(bm)

    loss_acc += loss.item()
    loss_n += 1
    if step % args.log_every == 0:
        elapsed = elapsed_before + time.time() - t_start
        with open(log_path, "a", newline="") as f:
            csv.writer(f).writerow([step, f"{elapsed:.1f}", f"{loss_acc / loss_n:.5f}", f"{lr_at(step - 1):.6g}"])
        print(f"step {step} {elapsed:.0f}s loss {loss_acc / loss_n:.4f} lr {lr_at(step - 1):.3g}", flush=True)
        loss_acc, loss_n = 0.0, 0
    if step % args.ckpt_every == 0 or step == last:
        save(step, elapsed_before + time.time() - t_start)

print("done", flush=True)
