"""How a model's inputs are made from raw rows: image normalisation or per-feature standardisation.

Images (IDX files, the built-in image data sets, PNG folders) are scaled to [0, 1] by their
loader and normalised here with ONE mean and standard deviation of all training pixels, as
torchvision's ``Normalize((0.1307,), (0.3081,))`` does for MNIST: a border pixel that is lit
in a handful of training images is not multiplied by hundreds. Tabular rows (a CSV) are
standardised per feature, with a floor on each feature's standard deviation relative to the
data's scale. The statistics go into the model file (``preprocessing``), so ``predict`` and
``evaluate`` apply exactly the same; everything runs over chunks of rows in float64 and
returns float32, so memory stays bounded and nothing overflows silently.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.errors import FormatError, ShapeError

__all__ = ["image_normalizer", "feature_standardizer", "apply_preprocessing", "describe"]

#: Rows handled at once: bounds the float64 temporaries (4096 x 784 x 8 B = 25 MB).
CHUNK = 4096
#: A feature whose standard deviation is below this fraction of the data's typical one is
#: treated as constant (divided by the typical one instead), so it cannot be blown up.
RELATIVE_FLOOR = 1e-3
_F32_MAX = float(np.finfo(np.float32).max)
#: A standardised value this far out (a million standard deviations of the training data) is
#: a corrupt or mis-scaled value: the network would score it from overflowing activations.
MAX_STANDARD_SCORE = 1e6


def _chunks(n: int) -> range:
    return range(0, n, CHUNK)


def image_normalizer(
    x_train: np.ndarray, image_shape: tuple[int, ...], content: str | None
) -> dict[str, Any]:
    """One global mean and standard deviation of the training pixels (already in [0, 1]).

    ``content`` says what the images show ("handwritten", "objects" or "generic"), so that
    ``predict`` applies only the steps that fit; the background polarity is measured here.
    """
    n = int(x_train.size)
    if n == 0:
        raise ShapeError("image normalisation: the training set holds no images")
    total = 0.0
    for i in _chunks(len(x_train)):
        total += float(x_train[i : i + CHUNK].sum(dtype=np.float64))
    mean = total / n
    squares = 0.0
    for i in _chunks(len(x_train)):
        squares += float(np.square(x_train[i : i + CHUNK].astype(np.float64) - mean).sum())
    std = math.sqrt(squares / n)
    sample = x_train[:1000].reshape(-1, *image_shape) if len(image_shape) == 2 else None
    background = "dark"
    if sample is not None and sample.size:
        border = np.concatenate(
            [sample[:, 0], sample[:, -1], sample[:, :, 0], sample[:, :, -1]], axis=1
        )
        background = "dark" if float(np.median(border)) < 0.5 else "light"
    return {
        "kind": "image",
        "mean": mean,
        "std": std if std > 1e-6 else 1.0,
        "image_shape": list(image_shape),
        "content": content or "generic",
        "background": background,
        "value_range": [0.0, 1.0],
    }


def feature_standardizer(x_train: np.ndarray) -> dict[str, Any]:
    """Per-feature mean and standard deviation of tabular training rows.

    A feature whose standard deviation is below ``RELATIVE_FLOOR`` times the data's scale (the
    root mean square of all features' deviations) is divided by that scale instead: constant
    and near-constant columns stay small whatever units the data uses.
    """
    n = len(x_train)
    if n == 0:
        raise ShapeError("standardisation: the training set holds no rows")
    total = np.zeros(x_train.shape[1], dtype=np.float64)
    for i in _chunks(n):
        total += x_train[i : i + CHUNK].sum(axis=0, dtype=np.float64)
    mean = total / n
    squares = np.zeros_like(mean)
    for i in _chunks(n):
        squares += np.square(x_train[i : i + CHUNK].astype(np.float64) - mean).sum(axis=0)
    std = np.sqrt(squares / n)
    scale = float(np.sqrt(np.mean(np.square(std)))) if std.size else 0.0
    if not math.isfinite(scale) or scale == 0.0:
        scale = 1.0
    std = np.where(std < RELATIVE_FLOOR * scale, scale, std)
    return {"kind": "standardize", "mean": mean.tolist(), "std": std.tolist()}


def _statistics(pre: dict[str, Any], n_features: int) -> tuple[Any, Any] | None:
    """(mean, std) as float64 scalars or vectors, checked; None for a model without any."""
    if not pre or "mean" not in pre:
        return None
    try:
        mean = np.asarray(pre["mean"], dtype=np.float64)
        std = np.asarray(pre["std"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise FormatError(
            "the model file's preprocessing is malformed: expected numbers for mean and std"
        ) from None
    if mean.ndim > 1 or std.shape != mean.shape or not (np.isfinite(mean).all()):
        raise FormatError("the model file's preprocessing is malformed (mean/std shapes)")
    if not (np.isfinite(std).all() and (std > 0).all()):
        raise FormatError("the model file's preprocessing has a non-positive or infinite std")
    if mean.ndim == 1 and mean.shape[0] != n_features:
        shape = pre.get("image_shape")
        raise ShapeError(
            f"the model expects inputs of {mean.shape[0]} features"
            + (f" (images of {'x'.join(map(str, shape))})" if shape else "")
            + f", got {n_features}"
        )
    return mean, std


def apply_preprocessing(x: np.ndarray, pre: dict[str, Any] | None) -> np.ndarray:
    """The model's inputs from raw rows ``x`` (N, features): float32, every value finite.

    Raises FormatError naming the sample and feature when a value is not finite, or when it
    lands beyond float32's range once standardised (the arithmetic runs in float64).
    """
    if x.ndim != 2:
        raise ShapeError(f"expected rows of features (2-d), got shape {x.shape}")
    stats = _statistics(pre or {}, x.shape[1])
    out = np.empty(x.shape, dtype=np.float32)
    for i in _chunks(len(x)):
        block = x[i : i + CHUNK].astype(np.float64)
        if stats is not None:
            block -= stats[0]
            block /= stats[1]
        limit = MAX_STANDARD_SCORE if stats is not None else _F32_MAX
        bad = ~np.isfinite(block) | (np.abs(block) > limit)
        if bad.any():
            row, col = (int(v) for v in np.argwhere(bad)[0])
            raw = float(x[i + row, col])
            what = (
                "is NaN or infinite"
                if not math.isfinite(raw)
                else f"lies {abs(block[row, col]):.3g} standard deviations from the training "
                "data (more than 1e6: a corrupt or mis-scaled value)"
                if stats is not None
                else f"is beyond float32's range (about +-{_F32_MAX:.3g})"
            )
            raise FormatError(
                f"sample {i + row}, feature {col}: value {raw:.6g} {what}; fix or drop that value"
            )
        out[i : i + CHUNK] = block
    return out


def describe(pre: dict[str, Any] | None) -> str:
    """One line saying how inputs are made (for messages and ``inspect``)."""
    if pre and pre.get("kind") in ("text", "tagged"):
        from chainrule.cli.text import TextEncoder

        return TextEncoder.from_dict(pre).describe()
    if pre and pre.get("kind") == "audio" and isinstance(pre.get("features"), dict):
        f = pre["features"]
        crop = f"{f['duration']:g} s" if f.get("duration") else f"{pre.get('max_frames')} frames"
        return (
            f"WAV resampled to {f.get('sample_rate')} Hz, {f.get('n_mels')}-band "
            f"{f.get('kind', 'log_mel')} ({f.get('normalization')} normalisation), cropped/padded "
            f"to {crop}"
        )
    if not pre or "mean" not in pre:
        return "none stored: inputs are used as given (raw)"
    if pre.get("kind") == "image":
        return (
            f"images {'x'.join(map(str, pre.get('image_shape', [])))} scaled to [0, 1], then "
            f"(x - {float(pre['mean']):.4f}) / {float(pre['std']):.4f}; "
            f"{pre.get('content', 'generic')}, {pre.get('background', 'dark')} background"
        )
    return "each feature standardised with the training set's mean and standard deviation"
