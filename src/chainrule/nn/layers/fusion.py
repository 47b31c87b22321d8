"""Runs of layers a Sequential may run as one primitive: the same output and gradients, less work.

Two patterns, both ending in max pooling:

- **ReLU -> MaxPool1d/2d.** ``relu(max(window)) == max(relu(window))`` exactly, for every window
  (ReLU is non-decreasing and elementwise; a window padded with -inf still holds a real value),
  and so is the gradient: where the window's maximum is positive both orders send it to the
  same first maximum, and where it is not, both send nothing (``relu'(x) = 0`` for ``x <= 0``).
  So the pair runs as the pool's ``rectified`` form, one primitive that clips the pooled map
  (``max_pool2d(..., relu=True)``): no ReLU pass over the map ``kernel`` times larger, no ReLU
  node at all. On the issue-14 benchmark CNN running the pool first measured 35-37 against
  38-41 ms per training step, and clipping inside the pool 0.97-0.99x of that.
- **Conv2d [-> ReLU] -> MaxPool2d(2).** A stride-1 convolution without groups whose output only
  a 2x2 max pool reads runs as ``Conv2dMaxPool2d`` (``autodiff/ops/conv_pool.py``): the
  product comes out in window order, so the pooling reads and its gradient writes contiguous
  slabs instead of every other row and column. When the input does not suit it (unbatched,
  not a NumPy array, an output smaller than the window) the layers run one by one.

The fusion is invisible from outside: the output, every gradient and the model file are the
same. It is skipped when any of the layers has a hook (a hook must see the maps it was written
for: ``GradientHealth``'s dead-channel count, the run report's feature maps, ``inspect``), and
for subclasses, which may change what a layer does. PyTorch's eager mode runs the layers as
written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.autodiff.ops.conv_pool import Conv2dMaxPool2d
from chainrule.autodiff.windows import conv_output_size
from chainrule.errors import ShapeError
from chainrule.nn.layers.activation import ReLU
from chainrule.nn.layers.conv import Conv2d
from chainrule.nn.layers.pooling import MaxPool1d, MaxPool2d
from chainrule.nn.module import Module

__all__ = ["commutes", "fusion"]

_PAIRS = ((ReLU, (MaxPool1d, MaxPool2d)),)


def _hooked(module: Module) -> bool:
    return bool(module._pre_hooks or module._post_hooks)


def commutes(first: Any, second: Any) -> bool:
    """Whether ``second(first(x))`` is a ReLU -> max-pool pair that may run as one clipped pool."""
    return any(
        type(first) is a and type(second) in b and not (_hooked(first) or _hooked(second))
        for a, b in _PAIRS
    )


def _pools_in_window_order(conv: Any, pool: Any) -> bool:
    """A plain stride-1 Conv2d without groups, then a plain MaxPool2d(2), neither hooked."""
    return (
        type(conv) is Conv2d
        and type(pool) is MaxPool2d
        and conv.groups == 1
        and conv.stride == (1, 1)
        and pool.kernel_size == pool.stride == (2, 2)
        and pool.padding == (0, 0)
        and pool.dilation == (1, 1)
        and not (_hooked(conv) or _hooked(pool))
    )


def _conv_pool(conv: Conv2d, pool: MaxPool2d, relu: ReLU | None) -> Callable[[Any], Any]:
    """``pool(relu(conv(x)))`` through ``Conv2dMaxPool2d`` where the input suits it."""

    def layer_by_layer(x: Any) -> Any:
        y = conv(x)
        return pool.rectified(y) if relu is not None else pool(y)

    def run(x: Any) -> Any:
        t, unbatched = conv._input(x)
        (pt, pb), (pl, pr) = conv._pads
        sizes = [
            conv_output_size(size, k, 1, pad, d)
            for size, k, pad, d in zip(
                t.shape[2:], conv.kernel_size, ((pt, pb), (pl, pr)), conv.dilation
            )  # fmt: skip
        ]
        if unbatched or type(t.data) is not np.ndarray or min(sizes) < 2:
            return layer_by_layer(x)  # the layers' own checks and messages
        inputs = (t, conv.weight) if conv.bias is None else (t, conv.weight, conv.bias)
        try:
            return Conv2dMaxPool2d.apply(*inputs, padding=conv._pads, dilation=conv.dilation,
                                         relu=relu is not None)  # fmt: skip
        except ShapeError as err:
            raise ShapeError(f"{conv._name()} got input of shape {t.shape}: {err}") from None

    return run


def fusion(layers: list[Any], i: int) -> tuple[Callable[[Any], Any], int] | None:
    """The layers from ``i`` on that run fused: ``(function, how many layers)``, or None."""
    first = layers[i]
    if type(first) is Conv2d and i + 1 < len(layers):
        if _pools_in_window_order(first, layers[i + 1]):
            return _conv_pool(first, layers[i + 1], None), 2
        if (
            i + 2 < len(layers)
            and commutes(layers[i + 1], layers[i + 2])
            and _pools_in_window_order(first, layers[i + 2])
        ):
            return _conv_pool(first, layers[i + 2], layers[i + 1]), 3
    if i + 1 < len(layers) and commutes(first, layers[i + 1]):
        return layers[i + 1].rectified, 2
    return None
