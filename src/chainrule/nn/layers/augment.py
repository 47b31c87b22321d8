"""Data augmentation as layers: random flips and shifts of images while training, the identity in
eval mode (Keras's ``RandomFlip`` / ``RandomTranslation`` preprocessing layers; torchvision's
``RandomHorizontalFlip`` / ``RandomCrop(size, padding)``).

Being layers, they are part of the model: saved in its file, skipped by ``evaluate`` and
``predict`` (eval mode) and by ONNX export, and every batch of every epoch sees a new draw. Each
sample gets its own flip or shift; both are one gather ``x[n, c, rows[n], cols[n]]``, so the
gradient with respect to the input (rarely needed: the input is usually data) is the matching
scatter-add.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, ShapeError
from chainrule.nn import init as nn_init
from chainrule.nn.module import Module
from chainrule.nn.registry import register_layer
from chainrule.validation import check_int, check_number

__all__ = ["RandomFlip", "RandomShift"]

_FLIP_MODES = {"horizontal": (False, True), "vertical": (True, False),
               "horizontal_and_vertical": (True, True)}  # fmt: skip
_FILL_MODES = ("nearest", "constant")


def _images(layer: Module, x: Any) -> Tensor:
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim != 4:
        raise ShapeError(
            f"{layer!r}: expected images (N, C, H, W), got an input of shape {x.shape}; "
            "augmentation layers go first in a convolutional network, before any Flatten()"
        )
    return x


def _gather(x: Tensor, rows: np.ndarray, cols: np.ndarray) -> Tensor:
    """``out[n, c, i, j] = x[n, c, rows[n, i], cols[n, j]]``: one advanced index."""
    n, c = x.shape[:2]
    index = (
        np.arange(n)[:, None, None, None],
        np.arange(c)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    )
    return x[index]


@register_layer
class RandomFlip(Module):
    """Mirror each image with probability 1/2 while training; the identity in eval mode.

    Parameters
    ----------
    mode : {"horizontal", "vertical", "horizontal_and_vertical"}
        The axes that may be flipped (each independently, with probability 1/2), as Keras's
        ``RandomFlip``. Horizontal flips suit photographs and clothes (Fashion-MNIST), not
        digits or letters, whose mirror images are other shapes.
    rng : numpy.random.Generator or int, optional
        The layer's own source of draws; a seed makes them reproducible.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import RandomFlip
    >>> x = np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)
    >>> flip = RandomFlip(rng=1)
    >>> sorted(tuple(flip(x).data[0, 0, 0].tolist()) for _ in range(20))[::19]
    [(0.0, 1.0, 2.0), (2.0, 1.0, 0.0)]
    >>> flip.eval()(x).data[0, 0, 0]
    array([0., 1., 2.], dtype=float32)
    """

    def __init__(self, mode: str = "horizontal", rng: nn_init.RNG = None) -> None:
        super().__init__()
        if mode not in _FLIP_MODES:
            raise ConfigError(
                f"RandomFlip: mode must be one of {sorted(_FLIP_MODES)}, got {mode!r}"
            )
        self.mode = mode
        self.rng = nn_init.as_generator(rng)

    def forward(self, x: Any) -> Tensor:
        x = _images(self, x)
        if not self.training:
            return x
        n, _, h, w = x.shape
        flip_rows, flip_cols = _FLIP_MODES[self.mode]
        rows = np.broadcast_to(np.arange(h), (n, h))
        cols = np.broadcast_to(np.arange(w), (n, w))
        if flip_rows:
            rows = np.where(self.rng.random((n, 1)) < 0.5, rows[:, ::-1], rows)
        if flip_cols:
            cols = np.where(self.rng.random((n, 1)) < 0.5, cols[:, ::-1], cols)
        return _gather(x, rows, cols)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this layer (the generator is not kept)."""
        return {"mode": self.mode}

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


@register_layer
class RandomShift(Module):
    """Move each image by a random whole number of pixels while training; identity in eval mode.

    Each sample draws its own vertical and horizontal shift, uniformly from
    ``-pixels .. pixels``. What shifts in from outside the image is the nearest edge pixel
    (``fill_mode="nearest"``, Keras's ``fill_mode="nearest"``) or ``fill_value``
    (``"constant"``). ``RandomShift(2, fill_mode="constant")`` on unnormalised images is
    torchvision's ``RandomCrop(size, padding=2)``. "nearest" needs no knowledge of how the
    images were normalised: a dark background stays the background colour.

    Parameters
    ----------
    pixels : int
        The largest shift along each axis, ``>= 0`` (0: the identity).
    fill_mode : {"nearest", "constant"}
    fill_value : float
        The value shifted in with ``fill_mode="constant"``.
    rng : numpy.random.Generator or int, optional

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import RandomShift
    >>> x = np.arange(4, dtype=np.float32).reshape(1, 1, 1, 4)
    >>> shift = RandomShift(1, rng=0)  # one row: only the horizontal shift shows
    >>> sorted({tuple(shift(x).data.ravel().tolist()) for _ in range(30)})
    [(0.0, 0.0, 1.0, 2.0), (0.0, 1.0, 2.0, 3.0), (1.0, 2.0, 3.0, 3.0)]
    """

    def __init__(
        self,
        pixels: int = 2,
        fill_mode: str = "nearest",
        fill_value: float = 0.0,
        rng: nn_init.RNG = None,
    ) -> None:
        super().__init__()
        pixels = check_int("RandomShift", "pixels", pixels, low=0)
        if fill_mode not in _FILL_MODES:
            raise ConfigError(
                f"RandomShift: fill_mode must be one of {list(_FILL_MODES)}, got {fill_mode!r}"
            )
        fill_value = check_number("RandomShift", "fill_value", fill_value, -math.inf)
        self.pixels, self.fill_mode, self.fill_value = int(pixels), fill_mode, float(fill_value)
        self.rng = nn_init.as_generator(rng)

    def forward(self, x: Any) -> Tensor:
        x = _images(self, x)
        if not self.training or self.pixels == 0:
            return x
        n, _, h, w = x.shape
        dy, dx = self.rng.integers(-self.pixels, self.pixels + 1, size=(2, n, 1))
        rows, cols = np.arange(h) - dy, np.arange(w) - dx  # (n, h), (n, w): source positions
        out = _gather(x, np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1))
        if self.fill_mode == "nearest":
            return out
        inside = ((rows >= 0) & (rows < h))[:, None, :, None] & ((cols >= 0) & (cols < w))[
            :, None, None, :
        ]
        keep = inside.astype(x.dtype)
        return out * keep + (1.0 - keep) * np.asarray(self.fill_value, x.dtype)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this layer (the generator is not kept)."""
        return {"pixels": self.pixels, "fill_mode": self.fill_mode, "fill_value": self.fill_value}

    def extra_repr(self) -> str:
        fill = f", fill_value={self.fill_value}" if self.fill_mode == "constant" else ""
        return f"pixels={self.pixels}, fill_mode={self.fill_mode!r}{fill}"
