"""Convolution as one fused primitive: im2col through stride tricks, one BLAS product per group,
col2im as one slice-add per kernel offset (never a Python loop over the batch).

Layout. Tensors are NCHW to the user. Inside, the columns are channel-major and batch-last,
``(C*kh*kw, Ho*Wo*N)``, so the forward product ``W (O, C*kh*kw) @ cols`` comes out of one
contiguous GEMM as ``(O, Ho, Wo, N)`` and is handed back as its transposed view: logically
NCHW, physically CHWN. The next conv, ReLU or pooling layer reads it batch-last again for free,
so a stack of them never transposes memory (only a Flatten before the dense head copies once).
With the batch innermost, every window offset of every map is a run of whole contiguous rows
of N values: the im2col copy and the pooling maxima never step through memory two floats at a
time, which NumPy's loops do at a fraction of their contiguous speed (measured here on the
benchmark's first maps: a 2x2 max-pool forward 1.52 -> 0.64 ms, the second conv's im2col
2.31 -> 0.66 ms against the channel-first CNHW layout used before).
The weight gradient ``g (O, N*Ho*Wo) @ cols.T`` and the column gradient ``W.T @ g`` are
contiguous products too. Large scratch arrays (padded inputs, columns) come from a small pool
and go back to it when the backward pass releases the node, so they are not faulted in from
the operating system on every batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.backend import namespace
from chainrule.autodiff.blas import blas_available, gemm
from chainrule.autodiff.primitive import Primitive
from chainrule.autodiff.threads import copy_parts, parallel_for
from chainrule.autodiff.windows import (
    Pair,
    batch_last,
    check_window,
    give_back,
    offset_slices,
    padded_batch_last,
    scratch,
    window_view,
)
from chainrule.errors import ShapeError

__all__ = ["Conv2d", "add_channel_bias", "shifted_input_gradient"]


class Conv2d(Primitive):
    """2-D cross-correlation ``y[n, o] = b[o] + sum_c w[o, c] * x[n, g(o)*C/g + c]`` (PyTorch's).

    Inputs ``x (N, C, H, W)``, ``weight (O, C // groups, kh, kw)`` and optionally
    ``bias (O,)``; params ``stride``, ``dilation`` (pairs), ``padding`` (a pair of
    ``(before, after)`` pairs, so "same" with an even kernel pads one more after) and
    ``groups``. The output ``(N, O, Ho, Wo)`` is a batch-last (CHWN) array seen as NCHW.
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
        xc = padded_batch_last(x, padding, 0.0, xp)
        cols = scratch((c, kh, kw, ho, wo, n), x.dtype, xp)
        copy_parts(cols, window_view(xc, (kh, kw), stride, dilation, (ho, wo)))
        if xc.base is None:
            give_back(xc)
        m = n * ho * wo
        w2 = weight.reshape(groups, o // groups, cg * kh * kw)
        out = xp.matmul(w2, cols.reshape(groups, cg * kh * kw, m)).reshape(o, m)
        if bias is not None:
            add_channel_bias(out, bias, xp)
        needs = self.needs_grad or (False, False, False)
        self.weight, self.groups, self.x_shape = weight, groups, x.shape
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.cols = cols if needs[1] else None  # only the weight gradient reads the columns
        if self.cols is None:
            give_back(cols)
        return out.reshape(o, ho, wo, n).transpose(3, 0, 1, 2)

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = namespace(g)
        needs = self.needs_grad or ()
        weight, groups = self.weight, self.groups
        o, cg, kh, kw = weight.shape
        n, c, h, w = self.x_shape
        ho, wo = g.shape[2:]
        m = n * ho * wo
        g2 = batch_last(g).reshape(o, m)  # free when g is batch-last, as ours are
        gg = g2.reshape(groups, o // groups, m)
        gx = gw = gb = None
        if needs[0] and self.stride == (1, 1) and xp is np and blas_available():
            gx = self._input_gradient_by_offsets(g)
        elif needs[0]:
            dcols = scratch((groups, cg * kh * kw, m), g.dtype, xp)
            w2 = weight.reshape(groups, o // groups, cg * kh * kw)
            xp.matmul(w2.transpose(0, 2, 1), gg, out=dcols)
            gx = self._col2im(dcols.reshape(c, kh, kw, ho, wo, n), xp)
            give_back(dcols)
        if len(needs) > 1 and needs[1]:
            cols = self.cols.reshape(groups, cg * kh * kw, m)
            gw = xp.matmul(gg, cols.transpose(0, 2, 1)).reshape(weight.shape)
        if len(needs) > 2 and needs[2]:
            gb = g2 @ xp.ones(m, dtype=g2.dtype)
        return gx, gw, gb

    def _input_gradient_by_offsets(self, g: Any) -> Any:
        """The input gradient of a stride-1 convolution without a column matrix (NumPy + BLAS).

        ``g`` is laid out on the padded input's grid, ``(O, Hp, Wp, N)`` with zeros outside the
        output. Kernel offset ``(i, j)`` then moves every output position by the same flat
        distance ``(i*dh*Wp + j*dw) * N`` in the padded input, so its whole contribution is one
        product ``W[:, :, i, j].T @ g`` added (BLAS beta = 1) into a shifted window of the
        flat padded gradient. That replaces the ``(C*kh*kw, N*Ho*Wo)`` column gradient and the
        slice-adds of ``_col2im``: measured here 14.4 -> 9.0 ms for the benchmark's second
        convolution. The zeros make the window run past a row's end harmless. Only the flat
        range from the first output position to the last is multiplied, ``(Ho-1)*Wp + Wo``
        rows of N instead of ``Hp*Wp``: for that convolution 141 instead of 169, a sixth of
        the products' work.
        """
        o, ho, wo, n = self.weight.shape[0], g.shape[2], g.shape[3], g.shape[0]
        wp = self.x_shape[3] + sum(self.padding[1])
        spread = scratch((o, ho, wp, n), g.dtype)  # g on the padded grid's rows, zeros after
        spread[:, :, wo:] = 0
        copy_parts(spread[:, :, :wo], batch_last(g))
        return shifted_input_gradient(spread, self.weight, self.groups, self.x_shape,
                                      self.padding, self.dilation, (ho, wo))  # fmt: skip

    def _col2im(self, dcols: Any, xp: Any) -> Any:
        """Sum column gradients back into the (padded) input: one slice-add per kernel offset."""
        n, c, h, w = self.x_shape
        (pt, pb), (pl, pr) = self.padding
        _, kh, kw, ho, wo, _ = dcols.shape
        dx = xp.zeros((c, h + pt + pb, w + pl + pr, n), dtype=dcols.dtype)
        for i in range(kh):
            for j in range(kw):
                dx[offset_slices(i, j, self.stride, self.dilation, (ho, wo))] += dcols[:, i, j]
        return dx[:, pt : pt + h, pl : pl + w].transpose(3, 0, 1, 2)

    def release(self) -> None:
        give_back(getattr(self, "cols", None))
        super().release()


def add_channel_bias(out: Any, bias: Any, xp: Any) -> None:
    """``out[o, ...] += bias[o]`` in place for a channel-major product, split over threads."""
    b = bias.reshape(bias.shape[0], *(1,) * (out.ndim - 1))

    def part(s: slice) -> None:
        out[s] += b[s]

    parallel_for(part, out.shape[0], out.size if xp is np else 0)


def shifted_input_gradient(
    spread: Any, weight: Any, groups: int, x_shape: tuple[int, ...], padding: tuple[Pair, Pair],
    dilation: Pair, out_hw: Pair,
) -> Any:  # fmt: skip
    """The input gradient ``(N, C, H, W)`` of a stride-1 convolution from ``spread``, its output
    gradient on the padded grid's first ``Ho`` rows, ``(O, Ho, Wp, N)`` with zeros in the
    columns from ``Wo`` on (see ``Conv2d._input_gradient_by_offsets``); ``spread`` is given back.
    ``out_hw = (Ho, Wo)`` may be less than the output's size where the rest of its gradient is
    zero (the fused conv-pool's last row and column).
    """
    o, cg, kh, kw = weight.shape
    n, c, h, w = x_shape
    (pt, pb), (pl, pr) = padding
    dh, dw = dilation
    hp, wp = h + pt + pb, w + pl + pr
    ho, wo = out_hw
    size = hp * wp * n
    used = ((ho - 1) * wp + wo) * n  # first output position to last, in the flat grid
    flat = spread.reshape(o, ho * wp * n)[:, :used]
    reach = ((kh - 1) * dh * wp + (kw - 1) * dw) * n  # how far the last offset shifts
    dx = np.zeros((c, size + reach), dtype=spread.dtype)
    og = o // groups
    wt = np.ascontiguousarray(weight.transpose(2, 3, 1, 0))  # W[:, :, i, j].T per offset
    for k in range(groups):
        rows, outs = slice(k * cg, (k + 1) * cg), slice(k * og, (k + 1) * og)
        for i in range(kh):
            for j in range(kw):
                shift = (i * dh * wp + j * dw) * n
                gemm(wt[i, j, :, outs], flat[outs], dx[rows, shift : shift + used])
    give_back(spread)
    grid = dx[:, :size].reshape(c, hp, wp, n)
    return grid[:, pt : pt + h, pl : pl + w].transpose(3, 0, 1, 2)


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
