"""Sliding windows over batch-last images: padding, strided views, output sizes, and the pool
of scratch arrays that im2col and pooling reuse between batches.

Images are NCHW to the user; these helpers work on their batch-last view ``(C, H, W, N)``
(see ``ops/conv.py`` for why). Large scratch arrays come from a small pool and go back to it
when a primitive no longer needs them, so they are not faulted in from the operating system
on every batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.threads import copy_parts
from chainrule.errors import ShapeError

__all__ = [
    "Pair", "scratch", "give_back", "conv_output_size", "check_window", "batch_last",
    "padded_batch_last", "window_view", "offset_slices",
]  # fmt: skip

Pair = tuple[int, int]


class _Pool:
    """Scratch arrays by (shape, dtype), reused between batches; a few per key, few keys."""

    def __init__(self, per_key: int = 2, keys: int = 24) -> None:
        self.free: dict[tuple[Any, ...], list[np.ndarray]] = {}
        self.per_key, self.keys = per_key, keys

    def take(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        stack = self.free.get((shape, np.dtype(dtype).str))
        return stack.pop() if stack else np.empty(shape, dtype)

    def give(self, array: Any) -> None:
        if type(array) is not np.ndarray or array.base is not None:
            return  # only whole NumPy arrays this module allocated
        key = (array.shape, array.dtype.str)
        if key not in self.free and len(self.free) >= self.keys:
            self.free.clear()  # shapes changed (a new model or batch size): start again
        stack = self.free.setdefault(key, [])
        if len(stack) < self.per_key and not any(a is array for a in stack):
            stack.append(array)


_POOL = _Pool()


def scratch(shape: tuple[int, ...], dtype: Any, xp: Any = np) -> Any:
    """An uninitialised array from the pool (NumPy) or freshly allocated (other backends)."""
    return _POOL.take(shape, dtype) if xp is np else xp.empty(shape, dtype)


def give_back(*arrays: Any) -> None:
    """Return scratch arrays to the pool; nobody may use them afterwards."""
    for a in arrays:
        if a is not None:
            _POOL.give(a)


def conv_output_size(size: int, kernel: int, stride: int, pad: Pair, dilation: int) -> int:
    """Output length of a window sliding over ``size`` values padded by ``pad``."""
    return (size + pad[0] + pad[1] - dilation * (kernel - 1) - 1) // stride + 1


def check_window(
    op: str, spatial: tuple[int, int], kernel: Pair, stride: Pair, padding: tuple[Pair, Pair],
    dilation: Pair,
) -> tuple[int, int]:  # fmt: skip
    """The output size (Ho, Wo), or a ShapeError when the window does not fit the input."""
    out = []
    for axis in range(2):
        size, k, d = spatial[axis], kernel[axis], dilation[axis]
        padded = size + padding[axis][0] + padding[axis][1]
        span = d * (k - 1) + 1
        if span > padded:
            raise ShapeError(
                f"{op}: the kernel ({kernel[0]}, {kernel[1]}) with dilation {dilation} spans "
                f"{span} values on axis {axis + 2}, larger than the padded input ({padded} = "
                f"{size} + padding {padding[axis][0]} + {padding[axis][1]}); use a smaller "
                "kernel, more padding, or a larger input"
            )
        out.append(conv_output_size(size, k, stride[axis], padding[axis], d))
    return out[0], out[1]


def batch_last(x: Any) -> Any:
    """The (C, H, W, N) view of an (N, C, H, W) array: free, and contiguous for conv outputs."""
    return x.transpose(1, 2, 3, 0)


def padded_batch_last(x: Any, padding: tuple[Pair, Pair], fill: float, xp: Any) -> Any:
    """``x`` (N, C, H, W) as a batch-last (C, Hp, Wp, N) array padded with ``fill``.

    A view when there is no padding and ``x`` is already batch-last in memory (as conv and
    pooling outputs are). Otherwise a pooled scratch copy (base None) the caller gives back:
    windows read from a plain NCHW array's batch-last view would stride across whole images.
    """
    xc = batch_last(x)
    (pt, pb), (pl, pr) = padding
    if not (pt or pb or pl or pr) and (xp is not np or xc.flags.c_contiguous):
        return xc
    c, h, w, n = xc.shape
    out = scratch((c, h + pt + pb, w + pl + pr, n), x.dtype, xp)
    if pt:
        out[:, :pt] = fill
    if pb:
        out[:, h + pt :] = fill
    if pl:
        out[:, :, :pl] = fill
    if pr:
        out[:, :, w + pl :] = fill
    copy_parts(out[:, pt : pt + h, pl : pl + w], xc)
    return out


def window_view(xc: Any, kernel: Pair, stride: Pair, dilation: Pair, out_hw: Pair) -> Any:
    """A read-only (C, kh, kw, Ho, Wo, N) view of a batch-last (C, Hp, Wp, N) array."""
    sc, sh, sw, sn = xc.strides
    shape = (xc.shape[0], kernel[0], kernel[1], out_hw[0], out_hw[1], xc.shape[3])
    strides = (sc, sh * dilation[0], sw * dilation[1], sh * stride[0], sw * stride[1], sn)
    return np.lib.stride_tricks.as_strided(xc, shape, strides, writeable=False)


def offset_slices(i: int, j: int, stride: Pair, dilation: Pair, out_hw: Pair) -> tuple[Any, ...]:
    """The index of kernel offset (i, j) into a batch-last padded array: (:, rows, cols, :)."""
    top, left = i * dilation[0], j * dilation[1]
    rows = slice(top, top + stride[0] * (out_hw[0] - 1) + 1, stride[0])
    cols = slice(left, left + stride[1] * (out_hw[1] - 1) + 1, stride[1])
    return (slice(None), rows, cols, slice(None))
