"""Turning a user's image into model input the way the model's training images were made.

The model file says what its images show (``content``: "handwritten", "objects", "generic"),
their background (dark or light) and size; only the steps that fit are applied:

1. read with the file's own depth (8-bit /255, 16-bit /65535), as grayscale in [0, 1];
2. match the polarity (``--invert auto|yes|no``; auto: a light border on a model trained on
   dark backgrounds is inverted), then subtract the paper's grey (the border's median);
3. handwritten, MNIST-style (28x28): ink cropped (threshold relative to the brightest pixel),
   scaled so its longer side is 20 px, placed by its centre of mass; UCI-style (8x8): cropped,
   scaled into 32x32, averaged over 4x4 blocks;
   objects (Fashion-MNIST): an image of the model's size is taken as it is; any other size is
   cropped to the object, scaled so its longer side fills the frame and centred;
   generic: resized to the model's size.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, FormatError, ShapeError
from chainrule.io.files import open_regular

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
#: Larger images are refused before their pixels are decoded (5000x5000; a decoded image
#: costs 4 bytes a pixel here, so this bounds one input to about 100 MB).
MAX_IMAGE_PIXELS = 25_000_000


def _pil() -> Any:
    try:
        from PIL import Image
    except ModuleNotFoundError:
        raise ConfigError(
            'reading images needs Pillow: pip install "chainrule[plots]" (or pip install pillow)'
        ) from None
    return Image


def _unit_gray(image: Any) -> np.ndarray:
    """A PIL image as float32 grayscale in [0, 1], keeping 16-bit depth."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.float64)
        return (np.clip(values, 0, 65535) / 65535.0).astype(np.float32)
    if image.mode == "F":
        return np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    return np.asarray(image.convert("L"), dtype=np.float32) / np.float32(255.0)


def read_grayscale(path: Path) -> np.ndarray:
    """An image file as a float32 array in [0, 1] (8- or 16-bit), as stored (not inverted).

    Images of more than ``MAX_IMAGE_PIXELS`` pixels are refused from their header, before
    their pixels are decoded (Pillow's own decompression-bomb limit is far higher).
    """
    image_module = _pil()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", image_module.DecompressionBombWarning)
            with open_regular(path, "an image file") as handle, image_module.open(handle) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise FormatError(
                        f"{path}: {width}x{height} pixels, more than the {MAX_IMAGE_PIXELS:,} "
                        "pixels predict reads; scale the image down first"
                    )
                gray = _unit_gray(image)
    except image_module.DecompressionBombError as err:
        raise FormatError(
            f"{path}: declares more pixels than predict reads ({MAX_IMAGE_PIXELS:,} at most): {err}"
        ) from None
    except (OSError, ValueError, SyntaxError, MemoryError) as err:
        raise FormatError(f"{path}: not a readable image ({err})") from None
    return gray


def _border(gray: np.ndarray) -> np.ndarray:
    return np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])


def match_polarity(gray: np.ndarray, background: str, invert: str) -> np.ndarray:
    """Invert when asked, or (auto) when the image's border is on the other side of grey
    than the model's training backgrounds; then subtract the remaining background level."""
    light = float(np.median(_border(gray))) > 0.5
    flip = invert == "yes" or (invert == "auto" and light != (background == "light"))
    if flip:
        gray = 1.0 - gray
    if background != "light":
        level = float(np.median(_border(gray)))
        if 0.02 < level < 0.5:  # grey paper, once inverted: only the ink stands above zero
            gray = np.clip((gray - level) / (1.0 - level), 0.0, 1.0)
    return gray.astype(np.float32)


def _crop_to_ink(gray: np.ndarray) -> np.ndarray:
    """Crop to the pixels above a fifth of the brightest one (relative, whatever the contrast)."""
    peak = float(gray.max())
    if peak <= 0:
        return gray
    rows = np.flatnonzero(gray.max(axis=1) > 0.2 * peak)
    cols = np.flatnonzero(gray.max(axis=0) > 0.2 * peak)
    return gray[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _resize(gray: np.ndarray, box: int) -> np.ndarray:
    """Scale so the longer side is ``box`` pixels, keeping the aspect ratio."""
    image_module = _pil()
    h, w = gray.shape
    scale = box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    image = image_module.fromarray(gray.astype(np.float32), mode="F")
    resized = np.asarray(image.resize(size, image_module.LANCZOS), dtype=np.float32)
    return np.clip(resized, 0.0, 1.0)


def _centred(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    frame = np.zeros(shape, dtype=np.float32)
    h, w = min(image.shape[0], shape[0]), min(image.shape[1], shape[1])
    top, left = (shape[0] - h) // 2, (shape[1] - w) // 2
    frame[top : top + h, left : left + w] = image[:h, :w]
    return frame


def _handwritten(gray: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """The MNIST recipe (or the UCI one for 8x8 models) on a bright-on-dark image."""
    ink = _crop_to_ink(gray)
    if tuple(image_shape) == (8, 8):
        frame = _centred(_resize(ink, 32), (32, 32))
        return frame.reshape(8, 4, 8, 4).mean(axis=(1, 3)).clip(0, 1)
    height, width = image_shape
    frame = _centred(_resize(ink, max(1, round(min(height, width) * 20 / 28))), image_shape)
    total = frame.sum()
    if total > 0:  # shift the centre of mass to the centre, as MNIST was made
        ys, xs = np.indices(frame.shape)
        dy = round(height / 2 - 0.5 - (ys * frame).sum() / total)
        dx = round(width / 2 - 0.5 - (xs * frame).sum() / total)
        frame = np.roll(frame, (dy, dx), axis=(0, 1))
    return frame.clip(0, 1)


def to_model_image(
    gray: np.ndarray, image_shape: tuple[int, int], content: str = "handwritten"
) -> np.ndarray:
    """The training images' shape from a bright-on-dark grayscale image, by ``content``."""
    shape = (int(image_shape[0]), int(image_shape[1]))
    if content == "handwritten":
        return _handwritten(gray, shape)
    if gray.shape == shape:
        return gray.astype(np.float32)
    if content == "objects":
        return _centred(_resize(_crop_to_ink(gray), max(shape)), shape).clip(0, 1)
    image_module = _pil()
    image = image_module.fromarray(gray.astype(np.float32), mode="F")
    resized = image.resize((shape[1], shape[0]), image_module.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _check_npy_size(handle: Any, path: Path) -> None:
    """Refuse a .npy file whose header promises more data than the file holds, unread."""
    from numpy.lib import format as npy

    version = npy.read_magic(handle)
    read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
    shape, _, dtype = read_header(handle)
    needed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    held = os.fstat(handle.fileno()).st_size - handle.tell()
    if dtype.hasobject or needed != held:
        raise FormatError(
            f"{path}: the .npy header describes {needed:,} bytes of {dtype} data "
            f"{tuple(shape)}, but the file holds {held:,}; it is truncated or corrupt"
        )
    handle.seek(0)


def _npy_rows(
    path: Path, n_features: int, image_shape: tuple[int, ...] | None, warn: list[str]
) -> np.ndarray:
    """A .npy file as rows; for an image model, integers scaled by their depth to [0, 1]."""
    try:
        with open_regular(path, "a .npy file") as handle:
            _check_npy_size(handle, path)
            array = np.load(handle, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise FormatError(f"{path}: not a valid .npy array ({err})") from None
    if array.dtype.kind not in "fiub":
        raise FormatError(f"{path}: expected a numeric array, got dtype {array.dtype}")
    if array.size % n_features or array.size == 0:
        raise ShapeError(
            f"{path}: an array of shape {array.shape} cannot be split into inputs of "
            f"{n_features} features" + (f" (images {tuple(image_shape)})" if image_shape else "")
        )
    values = array.astype(np.float64).reshape(-1, n_features)
    if not np.isfinite(values).all():
        raise FormatError(f"{path}: the array contains NaN or infinite values")
    if np.abs(values).max(initial=0) > float(np.finfo(np.float32).max):
        raise FormatError(
            f"{path}: values up to {np.abs(values).max():.3g}, beyond float32's range "
            "(about 3.4e38); the model computes in float32"
        )
    if image_shape is not None:
        if array.dtype.kind in "iu" and array.dtype.itemsize > 1 and values.max() > 255:
            values = values / 65535.0  # 16-bit pixels
        elif array.dtype.kind in "iu":
            values = values / 255.0  # 8-bit pixels (0-255), as the training images were scaled
        elif values.max(initial=0) > 1.5:
            warn.append(
                f"{path}: float values up to {values.max():.3g}; the model's images were "
                "scaled to [0, 1] (divide 0-255 pixels by 255, or save them as uint8)"
            )
    return values.astype(np.float32)


def load_input(
    path: Path,
    pre: dict[str, Any],
    n_features: int,
    invert: str = "auto",
    warn: list[str] | None = None,
) -> np.ndarray:
    """One file given to ``chainrule predict`` as rows of raw features (before normalising).

    Warnings (a blank or tiny image, odd value ranges) are appended to ``warn``.
    """
    warn = [] if warn is None else warn
    shape = pre.get("image_shape")
    image_shape = tuple(int(d) for d in shape) if shape else None
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() == ".npy":
        return _npy_rows(path, n_features, image_shape, warn)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        if image_shape is None or len(image_shape) != 2:
            raise ConfigError(f"{path}: this model was not trained on images; give a .npy array")
        gray = read_grayscale(path)
        if min(gray.shape) < 4:
            warn.append(
                f"{path}: only {gray.shape[1]}x{gray.shape[0]} pixels; too small to show "
                "anything, the prediction means little"
            )
        elif float(gray.max() - gray.min()) < 0.02:
            warn.append(
                f"{path}: the image is blank (one flat colour); the prediction means nothing"
            )
        gray = match_polarity(gray, str(pre.get("background", "dark")), invert)
        content = str(pre.get("content", "handwritten"))
        image = to_model_image(gray, (image_shape[0], image_shape[1]), content)
        return image.reshape(1, -1)
    raise FormatError(
        f"{path}: unsupported input type {path.suffix!r}; give PNG/JPEG images or .npy arrays"
    )
