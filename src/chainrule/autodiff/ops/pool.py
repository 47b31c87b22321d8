"""Pooling primitives: max pooling that keeps its argmax, and average pooling.

Both work on the batch-last view of the input, (C, H, W, N) (see ``ops/conv.py``), one kernel
offset at a time: each offset is a strided view of the (padded) input of the output's shape,
made of whole contiguous runs of N values, so the forward is ``kh*kw - 1`` elementwise maxima
or sums and the backward one masked copy or add per offset, with no window array and no mask
the size of the input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.backend import namespace
from chainrule.autodiff.primitive import Primitive
from chainrule.autodiff.threads import parallel_for
from chainrule.autodiff.windows import (
    Pair,
    batch_last,
    check_window,
    give_back,
    offset_slices,
    padded_batch_last,
)
from chainrule.errors import DtypeError, ShapeError

__all__ = ["MaxPool2d", "AvgPool2d", "window_maximum", "route_gradient"]


def _check_pool(op: str, x: Any, kernel: Pair, padding: Pair) -> None:
    if x.ndim != 4:
        raise ShapeError(f"{op}: expected input (N, C, H, W), got shape {x.shape}")
    for k, p in zip(kernel, padding):
        if p > k // 2:
            raise ShapeError(
                f"{op}: padding {padding} must be at most half the kernel {kernel} (as in "
                "PyTorch: a window may not lie wholly in the padding)"
            )


def _pads(padding: Pair) -> tuple[Pair, Pair]:
    return ((padding[0], padding[0]), (padding[1], padding[1]))


class _Pool2d(Primitive):
    """Shared frame: checks, the padded batch-last input and the per-offset views."""

    fill = 0.0

    def _setup(self, x: Any, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair) -> Any:
        _check_pool(self.name, x, kernel, padding)
        pads = _pads(padding)
        out_hw = check_window(self.name, x.shape[2:], kernel, stride, pads, dilation)
        self.x_shape, self.kernel, self.stride, self.dilation = x.shape, kernel, stride, dilation
        self.pads, self.out_hw = pads, out_hw
        # Windows overlap unless the stride covers the dilated kernel: then the backward can
        # copy instead of add.
        self.disjoint = all(s >= d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation))
        return padded_batch_last(x, pads, self.fill, namespace(x))

    def _views(self, xc: Any) -> list[Any]:
        kh, kw = self.kernel
        return [
            xc[offset_slices(i, j, self.stride, self.dilation, self.out_hw)]
            for i in range(kh)
            for j in range(kw)
        ]

    def _gradient_frame(self, g: Any) -> tuple[Any, list[Any], Any]:
        """A zero padded batch-last gradient, its per-offset views, and ``g`` batch-last.

        ``g`` is copied batch-last first when it is not so in memory (the gradient of a
        Flatten): each offset reads it once, and strided reads are several times slower.
        """
        xp = namespace(g)
        gc = batch_last(g)
        if xp is np and not gc.flags.c_contiguous:
            gc = np.ascontiguousarray(gc)
        n, c, h, w = self.x_shape
        (pt, pb), (pl, pr) = self.pads
        padded = (h + pt + pb, w + pl + pr)
        # Windows that tile the padded input exactly (a 2x2 pool of an even map) write every
        # element of dx: no zero fill needed, one pass less over the largest array.
        sizes = zip(self.dilation, self.stride, self.kernel, self.out_hw, padded)
        tiled = self.disjoint and all(d == 1 and s == k and o * s == m for d, s, k, o, m in sizes)
        dx = (xp.empty if tiled else xp.zeros)((c, *padded, n), dtype=g.dtype)
        return dx, self._views(dx), gc

    def _crop(self, dx: Any) -> Any:
        n, c, h, w = self.x_shape
        (pt, _), (pl, _) = self.pads
        return dx[:, pt : pt + h, pl : pl + w].transpose(3, 0, 1, 2)


def window_maximum(
    views: list[Any], out: Any, argmax: Any, relu: bool, xp: Any, bias: Any = None
) -> None:
    """``out`` = the elementwise maximum of ``views`` (plus ``bias``, broadcast against it,
    before any clipping); ``argmax`` (None: not kept) its offset.

    Offset k takes the argmax only where it is strictly greater than the maximum so far, so a
    tie keeps the first; k only grows, so a maximum of the indices records the last such
    offset (no "found" mask, no ``where=``). With ``relu`` the maximum is clipped at zero and a
    clipped output gets the argmax ``len(views)``, which no offset matches. A window holding a
    NaN outputs NaN; its gradient goes to the maximum before the first NaN, or to the NaN when it
    comes first (PyTorch sends it to the NaN).
    """
    xp.copyto(out, views[0])
    if argmax is not None:
        argmax[...] = 0
        hit, step = xp.empty(out.shape, dtype=bool), xp.empty(out.shape, dtype=argmax.dtype)
    for k, v in enumerate(views[1:], 1):
        if argmax is not None:
            xp.greater(v, out, out=hit)
            xp.multiply(hit, argmax.dtype.type(k), out=step)
            xp.maximum(argmax, step, out=argmax)
        xp.maximum(out, v, out=out)  # NaN-propagating, like PyTorch
    if bias is not None:
        out += bias
    if relu:
        if argmax is not None:  # clipped outputs (max <= 0, or NaN): no offset gets a gradient
            xp.greater(out, 0, out=hit)  # (copyto with where: ~20x slower here)
            xp.logical_not(hit, out=hit)
            xp.multiply(hit, argmax.dtype.type(len(views)), out=step)
            xp.maximum(argmax, step, out=argmax)  # every offset is below len(views)
        xp.maximum(out, 0, out=out)


def route_gradient(argmax: Any, g: Any, targets: list[Any], disjoint: bool, xp: Any) -> None:
    """Send ``g`` to each offset's target where it held the maximum: written when the targets
    do not overlap (``disjoint``), else added."""
    for k, t in enumerate(targets):
        if disjoint:  # the mask as 0/1 floats straight into the target, then scaled in place:
            xp.equal(argmax, k, out=t, casting="unsafe")  # 0.94 vs 1.35 ms on pool 1's slabs
            xp.multiply(t, g, out=t)
        else:
            t += xp.multiply(argmax == k, g)


class MaxPool2d(_Pool2d):
    """Maximum over each window (padding counts as -inf); the gradient goes to the argmax.

    Inputs ``x (N, C, H, W)``; params ``kernel``, ``stride``, ``padding``, ``dilation``
    (pairs) and ``relu``. Ties send the whole gradient to the first maximum in the window (row
    by row, as PyTorch's CPU kernel does). The argmax is kept, as the offset within the window
    (one byte per output for windows of fewer than 255 values), only when a graph is recorded.

    ``relu=True`` computes ``relu(max(window))``, which is ``max(relu(window))`` exactly (see
    ``nn/layers/fusion.py``): one clip of the pooled map instead of a ReLU over the full one.
    An output clipped to zero (a maximum <= 0, or NaN) gets the argmax ``kh*kw``, which no
    offset matches, so its gradient is zero as ``relu``'s is.
    """

    name = "max_pool2d"
    fill = -np.inf

    def forward(self, x: Any, kernel: Pair = (2, 2), stride: Pair = (2, 2),
                padding: Pair = (0, 0), dilation: Pair = (1, 1),
                relu: bool = False) -> Any:  # fmt: skip
        xp = namespace(x)
        if x.dtype.kind != "f":
            raise DtypeError(f"max_pool2d: expected a floating input, got {x.dtype}")
        xc = self._setup(x, kernel, stride, padding, dilation)
        views = self._views(xc)
        out = xp.empty(views[0].shape, dtype=x.dtype)
        self.argmax = None
        if self.needs_grad is not None:
            dtype = np.uint8 if len(views) < 255 else np.int32  # kh*kw itself must fit
            self.argmax = xp.empty(out.shape, dtype=dtype)

        def part(s: slice) -> None:  # channels s; on several threads when large
            argmax = None if self.argmax is None else self.argmax[s]
            window_maximum([v[s] for v in views], out[s], argmax, relu, xp)

        parallel_for(part, out.shape[0], xc.size if xp is np else 0)
        if xc.base is None:
            give_back(xc)
        return out.transpose(3, 0, 1, 2)

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = namespace(g)
        dx, views, gc = self._gradient_frame(g)
        argmax: Any = self.argmax

        def part(s: slice) -> None:
            route_gradient(argmax[s], gc[s], [v[s] for v in views], self.disjoint, xp)

        parallel_for(part, gc.shape[0], dx.size if xp is np else 0)
        return (self._crop(dx),)


class AvgPool2d(_Pool2d):
    """Mean over each window.

    Inputs ``x (N, C, H, W)``; params ``kernel``, ``stride``, ``padding`` (pairs) and
    ``count_include_pad`` (PyTorch's default True divides by the kernel size everywhere;
    False divides by the number of real input values in each window).
    """

    name = "avg_pool2d"

    def forward(self, x: Any, kernel: Pair = (2, 2), stride: Pair = (2, 2),
                padding: Pair = (0, 0), count_include_pad: bool = True) -> Any:  # fmt: skip
        xp = namespace(x)
        xc = self._setup(x, kernel, stride, padding, (1, 1))
        views = self._views(xc)
        out = views[0].copy()
        for v in views[1:]:
            out += v
        if xc.base is None:
            give_back(xc)
        self.divisor: Any = float(kernel[0] * kernel[1])
        if not count_include_pad and any(padding):
            ones = xp.ones((1, 1) + x.shape[2:], dtype=x.dtype)
            counts = padded_batch_last(ones, self.pads, 0.0, xp)
            count = sum(v for v in self._views(counts))
            give_back(counts)
            self.divisor = count  # (1, Ho, Wo, 1): broadcasts over channels and batch
        out /= self.divisor
        return out.transpose(3, 0, 1, 2)

    def backward(self, g: Any) -> tuple[Any, ...]:
        dx, views, gc = self._gradient_frame(g)
        share = gc / self.divisor
        for v in views:
            if self.disjoint:
                v[...] = share
            else:
                v += share
        return (self._crop(dx),)
