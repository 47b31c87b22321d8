"""A convolution whose only reader is a 2x2 max pool, as one primitive (an optional ReLU between).

Run as two primitives, the convolution writes its output as batch-last maps ``(O, Ho, Wo, N)``
and the pool reads every window's four values as four strided views of them (every other row,
every other column), then writes its gradient back through the same four strided views. Here
the columns of the product are ordered by position within the window first, ``(C*kh*kw, 2, 2,
Ho//2, Wo//2, N)``, so the product comes out as ``(O, 4, P)``: each window offset is one
contiguous ``(O, P)`` slab. The maximum, its argmax and the gradient's routing then run over
contiguous memory; the conv output is never laid out as an image; and the rows and columns an
odd-sized output leaves outside every window are not computed at all (no one reads them).

The bias is added after the maximum, to a quarter of the values: ``max(y + b) = max(y) + b``
holds bitwise, since rounding ``y + b`` is monotonic in ``y``. Only where two different conv
outputs of one window round to the same sum does it show: the layers send that tie's gradient
to the first, this op to the larger output (in-process A/B of the benchmark step: 0.970 and
0.977 x adding it to the conv output first).

The gradients are the two layers' own: the weight and bias gradients are the products with the
same columns (in the same order as the routed gradient), and the input gradient goes through
the convolution's shifted products (``shifted_input_gradient``) after the routed gradient is
spread back onto the image grid. ``Sequential`` runs a ``Conv2d`` (stride 1, no groups)
followed by a ``MaxPool2d(2)``, with or without a ``ReLU`` between, as this primitive (see
``nn/layers/fusion.py``); measured on the issue-14 benchmark CNN, see benchmarks/README.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.backend import namespace
from chainrule.autodiff.ops.conv import _check_conv, shifted_input_gradient
from chainrule.autodiff.ops.pool import route_gradient, window_maximum
from chainrule.autodiff.primitive import Primitive
from chainrule.autodiff.threads import copy_parts, parallel_for
from chainrule.autodiff.windows import (
    Pair,
    batch_last,
    check_window,
    give_back,
    padded_batch_last,
    scratch,
)
from chainrule.errors import DtypeError, ShapeError

__all__ = ["Conv2dMaxPool2d"]


class Conv2dMaxPool2d(Primitive):
    """``max_pool2d(relu(conv2d(x, weight, bias, padding, dilation)), 2)`` (``relu`` optional).

    Inputs ``x (N, C, H, W)``, ``weight (O, C, kh, kw)`` and optionally ``bias (O,)``; params
    ``padding`` (a pair of ``(before, after)`` pairs), ``dilation`` (a pair) and ``relu``. The
    convolution has stride 1 and no groups; the pool is 2x2 with stride 2 and no padding, and
    its ties go to the first maximum, as ``MaxPool2d``'s. The output ``(N, O, Ho//2, Wo//2)``
    is batch-last in memory, as a convolution's is.
    """

    name = "conv2d_max_pool2d"

    argmax: Any
    cols: Any

    def forward(self, x: Any, weight: Any, bias: Any = None,
                padding: tuple[Pair, Pair] = ((0, 0), (0, 0)), dilation: Pair = (1, 1),
                relu: bool = False) -> Any:  # fmt: skip
        xp = namespace(x)
        _check_conv(x, weight, bias, 1)
        if x.dtype.kind != "f":
            raise DtypeError(f"conv2d_max_pool2d: expected a floating input, got {x.dtype}")
        o, c, kh, kw = weight.shape
        n = x.shape[0]
        ho, wo = check_window("conv2d", x.shape[2:], (kh, kw), (1, 1), padding, dilation)
        hq, wq = ho // 2, wo // 2
        if hq < 1 or wq < 1:
            raise ShapeError(
                f"conv2d_max_pool2d: the convolution's output ({ho}, {wo}) is smaller than the "
                "2x2 pooling window"
            )
        xc = padded_batch_last(x, padding, 0.0, xp)
        sc, sh, sw, sn = xc.strides
        dh, dw = dilation
        # (channel, kernel row, kernel column, row and column within the window, window row,
        # window column, image) -> the input value that product column multiplies
        shape = (c, kh, kw, 2, 2, hq, wq, n)
        strides = (sc, sh * dh, sw * dw, sh, sw, 2 * sh, 2 * sw, sn)
        cols = scratch(shape, x.dtype, xp)
        copy_parts(cols, np.lib.stride_tricks.as_strided(xc, shape, strides, writeable=False))
        if xc.base is None:
            give_back(xc)
        k, p = c * kh * kw, hq * wq * n
        y = xp.matmul(weight.reshape(o, k), cols.reshape(k, 4 * p)).reshape(o, 4, p)
        out = xp.empty((o, p), dtype=y.dtype)
        self.argmax = None if self.needs_grad is None else xp.empty((o, p), dtype=np.uint8)
        b = None if bias is None else bias.reshape(o, 1).astype(y.dtype, copy=False)

        def pool(part: slice) -> None:
            argmax = None if self.argmax is None else self.argmax[part]
            views = [y[part, q] for q in range(4)]
            window_maximum(views, out[part], argmax, relu, xp, None if b is None else b[part])

        parallel_for(pool, o, y.size if xp is np else 0)
        needs = self.needs_grad or (False, False, False)
        self.weight, self.x_shape, self.padding, self.dilation = weight, x.shape, padding, dilation
        self.cols = cols if needs[1] else None  # only the weight gradient reads the columns
        if self.cols is None:
            give_back(cols)
        return out.reshape(o, hq, wq, n).transpose(3, 0, 1, 2)

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = namespace(g)
        needs = tuple(self.needs_grad or ()) + (False,) * 3
        weight, argmax, cols = self.weight, self.argmax, self.cols
        o, c, kh, kw = weight.shape
        n, hq, wq = g.shape[0], g.shape[2], g.shape[3]
        p = hq * wq * n
        gc = batch_last(g).reshape(o, p)  # a view when g's rows are contiguous
        dy = scratch((o, 4, p), g.dtype, xp)  # the conv output's gradient, in window order

        def route(part: slice) -> None:
            route_gradient(argmax[part], gc[part], [dy[part, q] for q in range(4)], True, xp)

        parallel_for(route, o, dy.size if xp is np else 0)
        flat = dy.reshape(o, 4 * p)
        gx = gw = gb = None
        if needs[0]:
            gx = self._input_gradient(dy.reshape(o, 2, 2, hq, wq, n))
        if needs[1]:
            gw = (flat @ cols.reshape(c * kh * kw, 4 * p).T).reshape(weight.shape)
        if needs[2]:
            gb = flat @ xp.ones(4 * p, dtype=flat.dtype)
        give_back(dy)
        return gx, gw, gb

    def _input_gradient(self, dy: Any) -> Any:
        """Spread the window-ordered gradient onto the padded grid's rows, then the shifted
        products of the convolution, over the windows' rows and columns only (an odd output's
        last row and column have no gradient: 10% less product work for the benchmark's second
        convolution)."""
        o, _, _, hq, wq, n = dy.shape
        wp = self.x_shape[3] + sum(self.padding[1])
        spread = scratch((o, 2 * hq, wp, n), dy.dtype)
        spread[:, :, 2 * wq :] = 0  # the columns past the windows, and the padding
        for a in range(2):
            for b in range(2):
                copy_parts(spread[:, a::2, b : 2 * wq : 2], dy[:, a, b])
        return shifted_input_gradient(spread, self.weight, 1, self.x_shape, self.padding,
                                      self.dilation, (2 * hq, 2 * wq))  # fmt: skip

    def release(self) -> None:
        give_back(getattr(self, "cols", None))
        super().release()
