"""Write models/fashion-mnist/card.json from the exported files and the sidecar JSON files in tools/train/
(export-info.json, classifier-log.json, sample-check.json, onnx-check.json) and unet-loss.csv.

Usage: /usr/bin/python3 tools/train/make_card.py [--models models/fashion-mnist]
"""
import argparse
import csv
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from model import BETA_END, BETA_START, NULL_CLASS, NUM_TRAIN_TIMESTEPS  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--models", default=os.path.join(HERE, "../../models/fashion-mnist"))
args = p.parse_args()


def read_json(name):
    path = os.path.join(HERE, name)
    return json.load(open(path)) if os.path.exists(path) else None


def file_info(name):
    path = os.path.join(args.models, name)
    data = open(path, "rb").read()
    return {"path": f"models/fashion-mnist/{name}", "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


export = read_json("export-info.json")
clf = read_json("classifier-log.json")
sample = read_json("sample-check.json")
ort_check = read_json("onnx-check.json")
rows = list(csv.DictReader(open(os.path.join(HERE, "unet-loss.csv"))))
last = [r for r in rows if int(r["step"]) <= export["ckpt_step"]]
final_loss = float(last[-1]["loss_avg"])
ta = export["train_args"]

classes = [("T-shirt/top", "tshirt"), ("Trouser", "trouser"), ("Pullover", "pullover"), ("Dress", "dress"),
           ("Coat", "coat"), ("Sandal", "sandal"), ("Shirt", "shirt"), ("Sneaker", "sneaker"), ("Bag", "bag"),
           ("Ankle boot", "ankle-boot")]

card = {
    "name": "ays-fashion-mnist-unet",
    "description": "Small class-conditional UNet denoiser in pixel space (28x28 grayscale), trained by ays "
                   "(tools/train/) as an eps-prediction discrete model with exactly SD1.5's noise schedule, "
                   "with classifier-free guidance; plus a small CNN classifier used as evaluator.",
    "license": "MIT (weights trained by the ays project; data MIT licensed)",
    "data": {
        "name": "Fashion-MNIST",
        "author": "Zalando Research (Han Xiao, Kashif Rasul, Roland Vollgraf, 2017)",
        "license": "MIT",
        "source": "Debian package dataset-fashion-mnist, files /usr/share/datasets/fashion-mnist/"
                  "{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz",
        "train_split": "train (60000 images) for both the diffusion model and the classifier",
        "test_split": "t10k (10000 images) for classifier accuracy and feature statistics only",
        "pixel_scaling": "uint8 p -> p / 127.5 - 1 (float32 in [-1, 1]); generated x0 maps back with "
                         "round((x + 1) * 127.5) clamped to 0..255",
    },
    "classes": [n for n, _ in classes],
    "class_cli_names": [c for _, c in classes],
    "null_class": NULL_CLASS,
    "resolution": 28,
    "channels": 1,
    "schedule": {
        "type": "discrete",
        "prediction_type": "eps",
        "beta_schedule": "scaled_linear",
        "beta_start": BETA_START,
        "beta_end": BETA_END,
        "num_train_timesteps": NUM_TRAIN_TIMESTEPS,
        "formula": "betas = linspace(sqrt(0.00085), sqrt(0.012), 1000)^2 in float64; alphas_cumprod = cumprod(1 - betas); "
                   "sigma_t = sqrt((1 - alphas_cumprod[t]) / alphas_cumprod[t]) for t = 0..999 (same as SD1.5)",
    },
    "recommended_cfg": 3.0,
    "recommended_steps": 20,
    "io": {
        "inputs": {
            "sample": {"name": "sample", "dtype": "float32", "shape": ["batch", 1, 28, 28],
                       "meaning": "x_t = x_sigma / sqrt(1 + sigma^2), the VP-scaled noisy image (x_sigma = x0 + sigma * noise)"},
            "timestep": {"name": "timestep", "dtype": "float32", "shape": ["batch"],
                         "meaning": "discrete timestep t in [0, 999] whose sigma_t is the current sigma; trained on integers, "
                                    "fractional values are accepted (continuous sinusoidal embedding)"},
            "class_label": {"name": "class_label", "dtype": "int64", "shape": ["batch"],
                            "meaning": f"0..9 = class index (see classes), {NULL_CLASS} = unconditional (no class)"},
        },
        "outputs": {"eps": {"name": "eps", "dtype": "float32", "shape": ["batch", 1, 28, 28],
                            "meaning": "predicted noise; denoised x0 = x_sigma - sigma * eps"}},
    },
    "unet": {
        **file_info("unet.onnx"),
        "opset": 17,
        "producer": "torch 1.13.1 (Debian python3-torch) torch.onnx.export",
        "io": "see top-level io",
        "dynamic_axes": "batch (dimension 0 of every input and output)",
        "cfg": "eps = eps_uncond + cfg * (eps_cond - eps_uncond), eps_uncond from class_label 10",
        "conformance": "models/fashion-mnist/check.json: fixed batch-2 input and torch output",
        "architecture": {"type": "UNet 28/14/7", "channels": export["channels"], "params": export["params"],
                         "blocks": "ResBlock(GroupNorm(8), SiLU, conv3x3, + time/class embedding) x1 per level down, "
                                   "2 ResBlocks + single-head self-attention at 7x7 in the middle, "
                                   "1 ResBlock per level up with skip concat, nearest upsampling",
                         "conditioning": "sinusoidal timestep embedding -> MLP(128), plus Embedding(11, 128) for class"},
    },
    "training": {
        "script": "tools/train/train_unet.py (see tools/train/README.md)",
        "steps": export["ckpt_step"],
        "batch": ta["batch"],
        "optimizer": f"AdamW lr {ta['lr']}, weight_decay 0, grad clip 1.0",
        "lr_schedule": f"linear warmup {ta['warmup']} steps, then cosine to 1e-5 at step {ta['steps']} "
                       "(planned total; see tools/train/README.md)",
        "ema_decay": ta["ema"],
        "exported_weights": "EMA",
        "p_uncond": ta["p_uncond"],
        "timesteps": "uniform integers 0..999; x_t = sqrt(acp) x0 + sqrt(1-acp) eps; loss MSE on eps",
        "seed": ta["seed"],
        "threads": ta["threads"],
        "time_s": round(export["ckpt_elapsed_s"]),
        "final_loss_avg_last_100_steps": final_loss,
        "loss_log": "tools/train/unet-loss.csv",
        "machine": "2-core CPU shared with other builds (throughput varied with load)",
    },
    "timing": {
        "torch_ms": export.get("torch_timing"),
        "onnxruntime_node_ms": ort_check.get("timing") if ort_check else None,
        "note": "per call of unet on a shared 2-core CPU; numbers vary with machine load",
    },
    "classifier": {
        **file_info("classifier.onnx"),
        "opset": 17,
        "inputs": [{"name": "image", "dtype": "float32", "shape": ["batch", 1, 28, 28], "meaning": "image in [-1, 1]"}],
        "outputs": [{"name": "logits", "dtype": "float32", "shape": ["batch", 10]},
                    {"name": "features", "dtype": "float32", "shape": ["batch", 64],
                     "meaning": "penultimate layer: ReLU(BatchNorm(Linear(flatten(conv trunk)))); logits = Linear(features)"}],
        "test_accuracy": clf["test_accuracy"] if clf else None,
        "training": {"script": "tools/train/train_classifier.py", "epochs": clf["args"]["epochs"] if clf else None,
                     "time_s": round(clf["train_time_s"]) if clf else None, "seed": clf["args"]["seed"] if clf else None},
    },
    "fid_on_features": {
        **file_info("test-features.json"),
        "definition": "Frechet distance between Gaussian fits of classifier 'features' (64-d): "
                      "d = |mu1-mu2|^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^{1/2}); mean in float64, covariance unbiased (N-1). "
                      "Generated images are clamped to [-1, 1], quantized to 8 bits (p = round((x + 1) * 127.5)) and mapped back with p / 127.5 - 1 before the classifier. test-features.json holds mean/cov for "
                      "all 10000 test images and for the halves [0,5000) and [5000,10000), and their distance "
                      "(real-vs-real baseline at 5000 images).",
        "real_vs_real_halves": clf["frechet_first_vs_second_half"] if clf else None,
    },
    "sample_check": sample,
}
with open(os.path.join(args.models, "card.json"), "w") as f:
    json.dump(card, f, indent=1)
print(json.dumps({k: card[k] for k in ("training", "timing")}, indent=1))
