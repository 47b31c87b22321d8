"""Convolution as one fused primitive: im2col through stride tricks, one BLAS product per group,
col2im as one slice-add per kernel offset (never a Python loop over the batch).

Layout. Tensors are NCHW to the user. Inside, the columns are channel-major,
``(C*kh*kw, N*Ho*Wo)``, so the forward product ``W (O, C*kh*kw) @ cols`` comes out of one
contiguous GEMM as ``(O, N, Ho, Wo)`` and is handed back as its transposed view: logically NCHW,
physically CNHW. The next conv, ReLU or pooling layer reads it channel-major again for free,
so a stack of them never transposes memory (only a Flatten before the dense head copies once).
The weight gradient ``g (O, N*Ho*Wo) @ cols.T`` and the column gradient ``W.T @ g`` are
contiguous products too. Large scratch arrays (padded inputs, columns) come from a small pool
and go back to it when the backward pass releases the node, so they are not faulted in from
the operating system on every batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.backend import namespace
from chainrule.autodiff.primitive import Primitive
from chainrule.errors import ShapeError

__all__ = ["Conv2d", "conv_output_size", "window_view", "scratch", "give_back", "Pair"]

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


def padded_channels_first(x: Any, padding: tuple[Pair, Pair], fill: float, xp: Any) -> Any:
    """``x`` (N, C, H, W) as a channel-first (C, N, Hp, Wp) array padded with ``fill``.

    Without padding this is a view (free when ``x`` is already physically channel-first).
    Otherwise the result is a pooled scratch array the caller gives back.
    """
    xc = x.transpose(1, 0, 2, 3)
    (pt, pb), (pl, pr) = padding
    if not (pt or pb or pl or pr):
        return xc
    c, n, h, w = xc.shape
    out = scratch((c, n, h + pt + pb, w + pl + pr), x.dtype, xp)
    if pt:
        out[:, :, :pt] = fill
    if pb:
        out[:, :, h + pt :] = fill
    if pl:
        out[:, :, :, :pl] = fill
    if pr:
        out[:, :, :, w + pl :] = fill
    out[:, :, pt : pt + h, pl : pl + w] = xc
    return out


def window_view(xc: Any, kernel: Pair, stride: Pair, dilation: Pair, out_hw: Pair) -> Any:
    """A read-only (C, kh, kw, N, Ho, Wo) view of a channel-first (C, N, Hp, Wp) array."""
    sc, sn, sh, sw = xc.strides
    shape = (xc.shape[0], kernel[0], kernel[1], xc.shape[1], out_hw[0], out_hw[1])
    strides = (sc, sh * dilation[0], sw * dilation[1], sn, sh * stride[0], sw * stride[1])
    return np.lib.stride_tricks.as_strided(xc, shape, strides, writeable=False)


def offset_slices(i: int, j: int, stride: Pair, dilation: Pair, out_hw: Pair) -> tuple[Any, ...]:
    """The index of kernel offset (i, j) into a channel-first padded array: (:, :, rows, cols)."""
    top, left = i * dilation[0], j * dilation[1]
    rows = slice(top, top + stride[0] * (out_hw[0] - 1) + 1, stride[0])
    cols = slice(left, left + stride[1] * (out_hw[1] - 1) + 1, stride[1])
    return (slice(None), slice(None), rows, cols)


class Conv2d(Primitive):
    """2-D cross-correlation ``y[n, o] = b[o] + sum_c w[o, c] * x[n, g(o)*C/g + c]`` (PyTorch's).

    Inputs ``x (N, C, H, W)``, ``weight (O, C // groups, kh, kw)`` and optionally
    ``bias (O,)``; params ``stride``, ``dilation`` (pairs), ``padding`` (a pair of
    ``(before, after)`` pairs, so "same" with an even kernel pads one more after) and
    ``groups``. The output ``(N, O, Ho, Wo)`` is a channel-first array seen as NCHW.
    """

    name = "conv2d"

    cols: Any

    def forward(self, x: Any, weight: Any, bias: Any = None, stride: Pair = (1, 1),
                padding: tuple[Pair, Pair] = ((0, 0), (0, 0)), dilation: Pair = (1, 1),
                groups: int = 1) -> Any:  # fmt: skip
        xp = namespace(x)
        _check_conv(x, weight, bias, groups)
        o, cg, kh, kw = weight.shape
        n, c = x.shape[:2]
        ho, wo = check_window("conv2d", x.shape[2:], (kh, kw), stride, padding, dilation)
        xc = padded_channels_first(x, padding, 0.0, xp)
        cols = scratch((c, kh, kw, n, ho, wo), x.dtype, xp)
        cols[...] = window_view(xc, (kh, kw), stride, dilation, (ho, wo))
        if xc.base is None:
            give_back(xc)
        m = n * ho * wo
        w2 = weight.reshape(groups, o // groups, cg * kh * kw)
        out = xp.matmul(w2, cols.reshape(groups, cg * kh * kw, m)).reshape(o, m)
        if bias is not None:
            out += bias[:, None]
        needs = self.needs_grad or (False, False, False)
        self.weight, self.groups, self.x_shape = weight, groups, x.shape
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.cols = cols if needs[1] else None  # only the weight gradient reads the columns
        if self.cols is None:
            give_back(cols)
        return out.reshape(o, n, ho, wo).transpose(1, 0, 2, 3)

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = namespace(g)
        needs = self.needs_grad or ()
        weight, groups = self.weight, self.groups
        o, cg, kh, kw = weight.shape
        n, c, h, w = self.x_shape
        ho, wo = g.shape[2:]
        m = n * ho * wo
        g2 = g.transpose(1, 0, 2, 3).reshape(o, m)  # free when g is channel-first, as ours are
        gg = g2.reshape(groups, o // groups, m)
        gx = gw = gb = None
        if needs[0]:
            dcols = scratch((groups, cg * kh * kw, m), g.dtype, xp)
            w2 = weight.reshape(groups, o // groups, cg * kh * kw)
            xp.matmul(w2.transpose(0, 2, 1), gg, out=dcols)
            gx = self._col2im(dcols.reshape(c, kh, kw, n, ho, wo), xp)
            give_back(dcols)
        if len(needs) > 1 and needs[1]:
            cols = self.cols.reshape(groups, cg * kh * kw, m)
            gw = xp.matmul(gg, cols.transpose(0, 2, 1)).reshape(weight.shape)
        if len(needs) > 2 and needs[2]:
            gb = g2 @ xp.ones(m, dtype=g2.dtype)
        return gx, gw, gb

    def _col2im(self, dcols: Any, xp: Any) -> Any:
        """Sum column gradients back into the (padded) input: one slice-add per kernel offset."""
        n, c, h, w = self.x_shape
        (pt, pb), (pl, pr) = self.padding
        _, kh, kw, _, ho, wo = dcols.shape
        dx = xp.zeros((c, n, h + pt + pb, w + pl + pr), dtype=dcols.dtype)
        for i in range(kh):
            for j in range(kw):
                dx[offset_slices(i, j, self.stride, self.dilation, (ho, wo))] += dcols[:, i, j]
        return dx[:, :, pt : pt + h, pl : pl + w].transpose(1, 0, 2, 3)

    def release(self) -> None:
        give_back(getattr(self, "cols", None))
        super().release()


def _check_conv(x: Any, weight: Any, bias: Any, groups: int) -> None:
    """ShapeErrors for inputs and weights that do not fit together."""
    if x.ndim != 4 or weight.ndim != 4:
        raise ShapeError(
            f"conv2d: expected input (N, C, H, W) and weight (O, C // groups, kh, kw), got "
            f"{x.shape} and {weight.shape}"
        )
    o, cg = weight.shape[:2]
    if groups < 1 or o % groups or x.shape[1] != cg * groups:
        raise ShapeError(
            f"conv2d: input of shape {x.shape} (C = {x.shape[1]}) does not fit a weight of "
            f"shape {weight.shape} with groups={groups}; expected C = {cg * groups} and "
            f"out_channels divisible by groups"
        )
    if bias is not None and bias.shape != (o,):
        raise ShapeError(f"conv2d: bias of shape {bias.shape}; expected ({o},)")
