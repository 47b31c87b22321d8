"""Layer pairs a Sequential may run as one: ReLU followed by max pooling.

``relu(max(window)) == max(relu(window))`` exactly, for every window (ReLU is non-decreasing
and elementwise; a window padded with -inf still holds a real value), and so is the gradient:
where the window's maximum is positive both orders send it to the same first maximum, and
where it is not, both send nothing (``relu'(x) = 0`` for ``x <= 0``). So the pair runs as the
pool's ``rectified`` form, one primitive that clips the pooled map (``max_pool2d(...,
relu=True)``): no ReLU pass over the map ``kernel`` times larger, no ReLU node at all. On the
issue-14 benchmark CNN (two 2x2 pools after ReLUs) running the pool first measured 35-37
against 38-41 ms per training step (AMD EPYC, 2 threads, medians of 20 steps); fusing the clip
into the pool then saved another ~2 ms (see benchmarks/README.md). PyTorch's eager mode runs
the layers as written.

The fusion is invisible from outside: the output, every gradient and the model file are the
same. It is skipped when either layer has a hook (a hook must see the maps it was written for:
``GradientHealth``'s dead-channel count, the run report's feature maps, ``inspect``), and for
subclasses, which may change what the layer does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.nn.layers.activation import ReLU
from chainrule.nn.layers.pooling import MaxPool1d, MaxPool2d
from chainrule.nn.module import Module

__all__ = ["commutes", "fused"]

_PAIRS = ((ReLU, (MaxPool1d, MaxPool2d)),)


def _hooked(module: Module) -> bool:
    return bool(module._pre_hooks or module._post_hooks)


def commutes(first: Any, second: Any) -> bool:
    """Whether ``second(first(x))`` is a pair that may run fused: same result, less work."""
    return any(
        type(first) is a and type(second) in b and not (_hooked(first) or _hooked(second))
        for a, b in _PAIRS
    )


def fused(first: Any, second: Any) -> Callable[[Any], Any] | None:
    """``x -> second(first(x))`` as one primitive where the pair allows it, else None."""
    return second.rectified if commutes(first, second) else None
