"""Benchmark data: Fashion-MNIST, or synthetic data of its shape, saved as .npy for the workers."""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import numpy as np

FASHION_DIRS = (
    Path("/usr/share/datasets/fashion-mnist"),
    Path("/usr/local/share/datasets/fashion-mnist"),
)


def _read_idx_gz(path: Path) -> np.ndarray:
    """Minimal IDX reader (big-endian uint8 payload), used only if chainrule.data is missing."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _load_fashion() -> tuple[tuple[np.ndarray, ...], str] | None:
    """(x, y, x_test, y_test) float32 in [0, 1] flattened, or None when the files are absent."""
    try:
        from chainrule.data import load_fashion_mnist
        from chainrule.errors import DataNotFoundError
    except ImportError:
        for folder in FASHION_DIRS:
            names = (
                "train-images-idx3-ubyte",
                "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte",
                "t10k-labels-idx1-ubyte",
            )
            if all((folder / f"{n}.gz").exists() for n in names):
                xi, yi, xti, yti = (_read_idx_gz(folder / f"{n}.gz") for n in names)
                x, xt = (
                    a.reshape(len(a), -1).astype(np.float32) / np.float32(255) for a in (xi, xti)
                )
                arrays = (x, yi.astype(np.int64), xt, yti.astype(np.int64))
                return arrays, f"Fashion-MNIST from {folder} (own IDX reader)"
        return None
    try:
        (x, y), (xt, yt) = load_fashion_mnist(download=False, progress=False)
    except DataNotFoundError:
        return None
    flat = (x.reshape(len(x), -1), y.astype(np.int64), xt.reshape(len(xt), -1), yt.astype(np.int64))
    return flat, "Fashion-MNIST (chainrule.data.load_fashion_mnist)"


def synthetic(n_train: int, n_test: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Random images in [0, 1] with labels from a fixed random linear teacher."""
    rng = np.random.default_rng(seed)
    teacher = rng.standard_normal((784, 10)).astype(np.float32)
    x = rng.random((n_train + n_test, 784), dtype=np.float32)
    y = (x @ teacher).argmax(axis=1).astype(np.int64)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def prepare_data(args: argparse.Namespace, folder: Path) -> tuple[str, bool]:
    """Write x_train/y_train/x_test/y_test .npy into ``folder``; return (description, is_real)."""
    loaded = None if args.synthetic else _load_fashion()
    if loaded is None:
        n = args.synthetic or 60_000
        arrays = synthetic(n, max(n // 6, 100))
        why = "requested" if args.synthetic else "Fashion-MNIST NOT FOUND, so"
        desc, real = f"synthetic ({why}): {n} train / {len(arrays[2])} test, 784 features", False
    else:
        arrays, desc = loaded
        real = True
        desc += f": {len(arrays[0])} train / {len(arrays[2])} test, float32 in [0, 1]"
    for name, arr in zip(("x_train", "y_train", "x_test", "y_test"), arrays):
        np.save(folder / f"{name}.npy", np.ascontiguousarray(arr))
    return desc, real
