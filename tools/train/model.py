"""Small class-conditional UNet (eps prediction) and the SD1.5 discrete noise schedule.

Everything here is shared by train_unet.py, export.py and sample_check.py.
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

NUM_CLASSES = 10
NULL_CLASS = 10  # "no class" label used for classifier-free guidance

# SD1.5 schedule: scaled_linear betas 0.00085..0.012 over 1000 steps, computed in float64.
NUM_TRAIN_TIMESTEPS = 1000
BETA_START = 0.00085
BETA_END = 0.012


def sd15_alphas_cumprod() -> np.ndarray:
    betas = np.linspace(math.sqrt(BETA_START), math.sqrt(BETA_END), NUM_TRAIN_TIMESTEPS, dtype=np.float64) ** 2
    return np.cumprod(1.0 - betas)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of a continuous (float) timestep, as in DDPM/SD."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


def norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(8, ch)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb_dim: int):
        super().__init__()
        self.norm1 = norm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, cout)
        self.norm2 = norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Attention(nn.Module):
    """Single-head self-attention over spatial positions (used only at 7x7)."""

    def __init__(self, ch: int):
        super().__init__()
        self.norm = norm(ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.out = nn.Conv2d(ch, ch, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).unbind(1)
        a = torch.softmax(torch.bmm(q.transpose(1, 2), k) / math.sqrt(c), dim=-1)  # [b, hw, hw]
        o = torch.bmm(v, a.transpose(1, 2)).reshape(b, c, h, w)
        return x + self.out(o)


class UNet(nn.Module):
    """UNet at 28/14/7 with channels ch = (c0, c1, c2), one ResBlock per level on the way down,
    two on the way up (the first taking the skip connection), attention in the middle."""

    def __init__(self, ch=(32, 64, 64), emb_dim=128, attn=True):
        super().__init__()
        c0, c1, c2 = ch
        self.tdim = c0
        self.time_mlp = nn.Sequential(nn.Linear(c0, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.class_emb = nn.Embedding(NUM_CLASSES + 1, emb_dim)
        self.conv_in = nn.Conv2d(1, c0, 3, padding=1)
        self.down0 = ResBlock(c0, c0, emb_dim)  # 28
        self.ds0 = nn.Conv2d(c0, c1, 3, stride=2, padding=1)  # -> 14
        self.down1 = ResBlock(c1, c1, emb_dim)  # 14
        self.ds1 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)  # -> 7
        self.down2 = ResBlock(c2, c2, emb_dim)  # 7
        self.mid1 = ResBlock(c2, c2, emb_dim)
        self.mid_attn = Attention(c2) if attn else nn.Identity()
        self.mid2 = ResBlock(c2, c2, emb_dim)
        self.up2 = ResBlock(2 * c2, c2, emb_dim)  # 7, skip from down2
        self.us1 = nn.Conv2d(c2, c1, 3, padding=1)  # after nearest upsample -> 14
        self.up1 = ResBlock(2 * c1, c1, emb_dim)  # 14, skip from down1
        self.us0 = nn.Conv2d(c1, c0, 3, padding=1)  # -> 28
        self.up0 = ResBlock(2 * c0, c0, emb_dim)  # 28, skip from down0
        self.norm_out = norm(c0)
        self.conv_out = nn.Conv2d(c0, 1, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x, t, y):
        emb = self.time_mlp(timestep_embedding(t, self.tdim)) + self.class_emb(y)
        emb = F.silu(emb)
        h0 = self.down0(self.conv_in(x), emb)
        h1 = self.down1(self.ds0(h0), emb)
        h2 = self.down2(self.ds1(h1), emb)
        h = self.mid2(self.mid_attn(self.mid1(h2, emb)), emb)
        h = self.up2(torch.cat([h, h2], 1), emb)
        h = self.us1(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.up1(torch.cat([h, h1], 1), emb)
        h = self.us0(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.up0(torch.cat([h, h0], 1), emb)
        return self.conv_out(F.silu(self.norm_out(h)))


def param_count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
