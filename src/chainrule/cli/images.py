"""Turning a user's image into model input the way the training digits were made.

MNIST-style (28x28): ink cropped, scaled so its longer side is 20 px, placed in a 28x28 frame
by its centre of mass. UCI-style (8x8): ink cropped, scaled into a 32x32 box, then averaged over
4x4 blocks (the UCI digits count ink pixels per block). Dark ink on a light background is
inverted first, because both data sets store bright ink on black.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, FormatError, ShapeError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def _pil() -> Any:
    try:
        from PIL import Image
    except ModuleNotFoundError:
        raise ConfigError(
            'reading images needs Pillow: pip install "chainrule[plots]" (or pip install pillow)'
        ) from None
    return Image


def read_grayscale(path: Path) -> np.ndarray:
    """An image file as a float array in [0, 1], bright ink on a dark background."""
    image_module = _pil()
    try:
        with image_module.open(path) as image:
            gray = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    except (OSError, ValueError, SyntaxError) as err:
        raise FormatError(f"{path}: not a readable image ({err})") from None
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if border.mean() > 0.5:  # dark ink on light paper: flip to the data sets' convention
        gray = 1.0 - gray
    return gray


def _crop_to_ink(gray: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(gray.max(axis=1) > 0.2)
    cols = np.flatnonzero(gray.max(axis=0) > 0.2)
    if rows.size == 0:
        return gray
    return gray[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _resize(gray: np.ndarray, box: int) -> np.ndarray:
    """Scale so the longer side is ``box`` pixels, keeping the aspect ratio."""
    image_module = _pil()
    h, w = gray.shape
    scale = box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    image = image_module.fromarray((gray * 255).astype(np.uint8))
    return np.asarray(image.resize(size, image_module.LANCZOS), dtype=np.float32) / 255.0


def to_model_image(gray: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """Crop, scale and centre a bright-on-dark grayscale image to the training images' shape."""
    ink = _crop_to_ink(gray)
    if tuple(image_shape) == (8, 8):
        digit = _resize(ink, 32)
        frame = np.zeros((32, 32), dtype=np.float32)
        top, left = (32 - digit.shape[0]) // 2, (32 - digit.shape[1]) // 2
        frame[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
        return frame.reshape(8, 4, 8, 4).mean(axis=(1, 3)).clip(0, 1)
    height, width = image_shape
    digit = _resize(ink, max(1, round(min(height, width) * 20 / 28)))
    frame = np.zeros((height, width), dtype=np.float32)
    top, left = (height - digit.shape[0]) // 2, (width - digit.shape[1]) // 2
    frame[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    total = frame.sum()
    if total > 0:  # shift the centre of mass to the centre, as MNIST was made
        ys, xs = np.indices(frame.shape)
        dy = round(height / 2 - 0.5 - (ys * frame).sum() / total)
        dx = round(width / 2 - 0.5 - (xs * frame).sum() / total)
        frame = np.roll(frame, (dy, dx), axis=(0, 1))
    return frame.clip(0, 1)


def load_input(path: Path, image_shape: tuple[int, ...] | None, n_features: int) -> np.ndarray:
    """One file given to ``chainrule predict`` as rows of raw features (before standardizing)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as err:
            raise FormatError(f"{path}: not a valid .npy array ({err})") from None
        if array.dtype.kind not in "fiub":
            raise FormatError(f"{path}: expected a numeric array, got dtype {array.dtype}")
        array = array.astype(np.float32)
        if array.size % n_features or array.size == 0:
            raise ShapeError(
                f"{path}: an array of shape {array.shape} cannot be split into inputs of "
                f"{n_features} features"
                + (f" (images {tuple(image_shape)})" if image_shape else "")
            )
        rows = array.reshape(-1, n_features)
        if not np.isfinite(rows).all():
            raise FormatError(f"{path}: the array contains NaN or infinite values")
        return rows
    if path.suffix.lower() in IMAGE_SUFFIXES:
        if image_shape is None or len(image_shape) != 2:
            raise ConfigError(f"{path}: this model was not trained on images; give a .npy array")
        image = to_model_image(read_grayscale(path), (int(image_shape[0]), int(image_shape[1])))
        return image.reshape(1, -1)
    raise FormatError(
        f"{path}: unsupported input type {path.suffix!r}; give PNG/JPEG images or .npy arrays"
    )
