"""Fashion-MNIST loader for the IDX files shipped by Debian's dataset-fashion-mnist package."""
import gzip
import os

import numpy as np

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"


def _read_idx(path: str) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split: str, data_dir: str = DEFAULT_DIR):
    """Returns (images uint8 [N,28,28], labels int64 [N]) for split 'train' or 't10k'."""
    images = _read_idx(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz"))
    labels = _read_idx(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz")).astype(np.int64)
    return images, labels


def to_model_range(images_u8) -> "np.ndarray":
    """uint8 0..255 -> float32 in [-1, 1] with shape [N,1,28,28]."""
    return (images_u8.astype(np.float32) / 127.5 - 1.0)[:, None, :, :]
