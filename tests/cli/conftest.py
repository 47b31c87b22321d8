"""Run the real ``chainrule`` executable, as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chainrule.data import write_idx

_SCRIPT = Path(sys.executable).with_name("chainrule")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [shutil.which("chainrule") or "chainrule"]


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``chainrule ARGS...`` with captured output; plots use the non-interactive backend."""
    env = {**os.environ, "MPLBACKEND": "Agg", "CHAINRULE_DATA": str(cwd or Path.cwd())}
    return subprocess.run(
        [*COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
        check=False,
    )


@pytest.fixture(scope="session")
def cli():  # type: ignore[no-untyped-def]
    """The function that runs ``chainrule ARGS...``."""
    return run_cli


@pytest.fixture(scope="session")
def digits_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One default ``chainrule train`` on the bundled digits, shared by the tests that read it."""
    run_dir = tmp_path_factory.mktemp("digits") / "run"
    result = run_cli("train", "--out", str(run_dir))
    assert result.returncode == 0, result.stderr
    return run_dir, result


# An MNIST-like data set, drawn here (no download): ten digit-like stroke shapes under random
# affine maps, framed as MNIST is (20 px box, centre of mass), with MNIST's rare lit border
# pixels that per-pixel standardisation blew up.


def _arc(
    cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 10
) -> list[tuple[float, float]]:
    t = np.linspace(np.radians(a0), np.radians(a1), n)
    return [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in t]


# Strokes of ten digit-like shapes in a unit box (x right, y down), as polylines.
STROKES = [
    [_arc(0.5, 0.5, 0.3, 0.42, 0, 360, 16)],
    [[(0.35, 0.25), (0.55, 0.08), (0.55, 0.92)]],
    [_arc(0.5, 0.3, 0.28, 0.22, 180, 360 + 30, 10) + [(0.2, 0.92), (0.82, 0.92)]],
    [_arc(0.48, 0.3, 0.27, 0.2, 200, 450, 10), _arc(0.48, 0.7, 0.3, 0.22, 270, 520, 10)],
    [[(0.62, 0.08), (0.18, 0.62), (0.85, 0.62)], [(0.62, 0.08), (0.62, 0.92)]],
    [[(0.8, 0.08), (0.28, 0.08), (0.25, 0.45)], _arc(0.48, 0.66, 0.3, 0.26, 240, 500, 12)],
    [[(0.7, 0.08), (0.3, 0.5)], _arc(0.5, 0.7, 0.25, 0.22, 0, 360, 14)],
    [[(0.18, 0.08), (0.82, 0.08), (0.4, 0.92)]],
    [_arc(0.5, 0.28, 0.22, 0.2, 0, 360, 12), _arc(0.5, 0.7, 0.28, 0.22, 0, 360, 14)],
    [_arc(0.5, 0.3, 0.25, 0.22, 0, 360, 14), [(0.75, 0.3), (0.65, 0.92)]],
]


def _segments(label: int, rng: np.random.Generator, count: int = 28) -> np.ndarray:
    """The strokes of one sample of ``label`` under a random affine map, as (count, 2, 2)."""
    angle = np.radians(rng.uniform(-15, 15))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    mat = (
        rot @ np.array([[1, rng.uniform(-0.25, 0.25)], [0, 1]]) @ np.diag(rng.uniform(0.85, 1.1, 2))
    )
    segments = []
    for line in STROKES[label]:
        pts = (np.array(line) - 0.5 + rng.normal(0, 0.025, (len(line), 2))) @ mat.T * 20
        segments += [(pts[i], pts[i + 1]) for i in range(len(pts) - 1)]
    segments += [segments[-1]] * (count - len(segments))
    return np.array(segments, dtype=np.float32)


def draw_digits(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """28x28 uint8 images of ``labels``: strokes drawn with a soft pen, MNIST framing."""
    ys, xs = np.mgrid[0:28, 0:28]
    p = np.stack([xs.ravel() - 13.5, ys.ravel() - 13.5], axis=1).astype(np.float32)[
        None, :, None, :
    ]
    out = np.zeros((len(labels), 28, 28), dtype=np.uint8)
    for start in range(0, len(labels), 64):
        chunk = labels[start : start + 64]
        seg = np.stack([_segments(int(k), rng) for k in chunk])[:, None]  # (B, 1, S, 2, 2)
        a, ab = seg[..., 0, :], seg[..., 1, :] - seg[..., 0, :]
        pa = p - a
        t = np.clip(
            np.einsum("bpsk,bpsk->bps", pa, np.broadcast_to(ab, pa.shape))
            / np.maximum((ab * ab).sum(-1), 1e-9),
            0,
            1,
        )
        r = pa - t[..., None] * ab
        d = np.sqrt(np.einsum("bpsk,bpsk->bps", r, r).min(axis=2))  # (B, 784)
        width = rng.uniform(0.6, 1.3, (len(chunk), 1))
        ink = np.clip(1.0 - (d - width), 0, 1).reshape(-1, 28, 28)
        ink[ink < 0.1] = 0
        for i, img in enumerate(ink):
            total = img.sum()
            cy, cx = (ys * img).sum() / total, (xs * img).sum() / total
            img = np.roll(img, (round(13.5 - cy), round(13.5 - cx)), axis=(0, 1))
            img[:2] = img[-2:] = 0
            img[:, :2] = img[:, -2:] = 0
            out[start + i] = np.round(img * 255)
    return out


def make_mnist_like(
    n_train: int, n_test: int, seed: int = 0, lit_positions: int = 40
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Train and test splits of digit-like images; rare border pixels are lit faintly in one
    training image each and brightly in 60 % of the test images, as in real MNIST."""
    rng = np.random.default_rng(seed)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    border = [(r, c) for r in (0, 1, 26, 27) for c in range(28)] + [
        (r, c) for r in range(2, 26) for c in (0, 1, 26, 27)
    ]
    picks = [border[i] for i in rng.choice(len(border), lit_positions, replace=False)]
    for split, n in (("train", n_train), ("t10k", n_test)):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = draw_digits(y, rng)
        if split == "train":  # each rare pixel faintly lit in one training image
            for (r, c), i in zip(picks, rng.choice(n, lit_positions, replace=False)):
                x[i, r, c] = 26
        else:  # and brightly lit in many test images
            for i in rng.choice(n, n * 6 // 10, replace=False):
                for j in rng.choice(lit_positions, 3, replace=False):
                    x[i, picks[j][0], picks[j][1]] = 255
        out[split] = (x, y)
    return out


def write_mnist_like(folder: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """The four MNIST-named IDX files of :func:`make_mnist_like` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, (x, y) in make_mnist_like(n_train, n_test, seed).items():
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", x)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", y)
    return folder


@pytest.fixture(scope="session")
def mnist_like_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 training and 500 test MNIST-like images in IDX files."""
    return write_mnist_like(tmp_path_factory.mktemp("mnist_like") / "idx", 2000, 500)
