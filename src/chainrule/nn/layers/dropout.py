"""Dropout: zero random units while training (inverted scaling), identity in eval mode."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.backend import namespace
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, ShapeError
from chainrule.nn import init as nn_init
from chainrule.nn.module import Module
from chainrule.nn.registry import register_layer

__all__ = ["Dropout", "Dropout2d"]


@register_layer
class Dropout(Module):
    """Zero each unit with probability ``p`` while training; scale the kept ones by ``1/(1-p)``.

    The scaling keeps the expected value of every unit unchanged, so evaluation mode is the
    identity. The mask is a multiplication by a constant array, so the gradient is zero for
    dropped units and ``1/(1-p)`` for kept ones.

    Parameters
    ----------
    p : float
        Probability of zeroing a unit, ``0 <= p < 1``.
    rng : numpy.random.Generator or int, optional
        The layer's own source of masks (a seed makes the masks reproducible); ``None`` draws a
        fresh, unseeded generator.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import Dropout
    >>> layer = Dropout(0.5, rng=0)
    >>> sorted(set(layer(np.ones(100, np.float32)).data.tolist()))
    [0.0, 2.0]
    >>> layer.eval()(np.ones(3, np.float32)).data
    array([1., 1., 1.], dtype=float32)
    """

    def __init__(self, p: float = 0.5, rng: nn_init.RNG = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise ConfigError(
                f"Dropout: p must be a number in [0, 1), got {p!r}; p is the probability of "
                "zeroing a unit (p=1 would drop everything)"
            )
        self.p = float(p)
        self.rng = nn_init.as_generator(rng)

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        if not self.training or self.p == 0.0:
            return x
        xp = namespace(x.data)
        draw_dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float64
        keep = self.rng.random(x.shape, dtype=draw_dtype) >= self.p
        mask = xp.asarray(keep, dtype=x.dtype if x.dtype.kind == "f" else np.float32)
        mask *= 1.0 / (1.0 - self.p)
        return x * mask

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this layer (the generator is not kept)."""
        return {"p": self.p}

    def extra_repr(self) -> str:
        return f"p={self.p}"


@register_layer
class Dropout2d(Dropout):
    """Zero whole channels: each ``(n, c)`` feature map of an ``(N, C, H, W)`` input is dropped
    with probability ``p`` while training, the kept ones scaled by ``1/(1-p)``.

    Neighbouring pixels of a feature map are strongly correlated, so dropping single pixels
    hardly regularizes a convolutional layer; dropping the whole map does (Tompson et al.,
    2015). Identity in eval mode.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import Dropout2d
    >>> y = Dropout2d(0.5, rng=0)(np.ones((4, 8, 3, 3), np.float32)).data
    >>> sorted(set(np.unique(y.reshape(32, 9), axis=0)[:, 0].tolist()))
    [0.0, 2.0]
    """

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.ndim != 4:
            raise ShapeError(f"{self!r}: expected input (N, C, H, W), got {x.shape}")
        if not self.training or self.p == 0.0:
            return x
        xp = namespace(x.data)
        draw_dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float64
        keep = self.rng.random((*x.shape[:2], 1, 1), dtype=draw_dtype) >= self.p
        if xp is np and x.data.transpose(1, 2, 3, 0).flags.c_contiguous:
            # conv outputs lie batch-last (CHWN): a mask laid out so keeps the product so too,
            # and the next conv or pooling layer reads it without a copy (same draws)
            keep = np.ascontiguousarray(keep.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
        mask = xp.asarray(keep, dtype=x.dtype if x.dtype.kind == "f" else np.float32)
        mask *= 1.0 / (1.0 - self.p)
        return x * mask
