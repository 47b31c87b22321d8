"""Primitive-table samples of the convolution family: conv2d, max_pool2d, avg_pool2d and the
fused conv2d_max_pool2d.

Each reference is written straight from the definition, one output position at a time with
plain loops over an explicitly padded input, so stride, padding, dilation and groups are
checked against the formula rather than against the stride tricks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.ops.conv import Conv2d
from chainrule.autodiff.ops.conv_pool import Conv2dMaxPool2d
from chainrule.autodiff.ops.pool import AvgPool2d, MaxPool2d

rng = np.random.default_rng(2468)


def _pad(x: np.ndarray, padding: Any, fill: float = 0.0) -> np.ndarray:
    (pt, pb), (pl, pr) = padding
    return np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=fill)


def conv_reference(x: np.ndarray, w: np.ndarray, b: Any = None, stride: Any = (1, 1),
                   padding: Any = ((0, 0), (0, 0)), dilation: Any = (1, 1),
                   groups: int = 1) -> np.ndarray:  # fmt: skip
    """``y[n, o, p, q] = b[o] + sum w[o, c, i, j] x[n, c_o + c, p*s + i*d, q*s + j*d]``."""
    xp = _pad(x, padding)
    n, _, hp, wp = xp.shape
    o, cg, kh, kw = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    ho, wo = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o, ho, wo))
    per_group = o // groups
    for oc in range(o):
        first = (oc // per_group) * cg
        for p in range(ho):
            for q in range(wo):
                total = np.zeros(n)
                for c in range(cg):
                    for i in range(kh):
                        for j in range(kw):
                            total += (
                                w[oc, c, i, j] * xp[:, first + c, p * sh + i * dh, q * sw + j * dw]
                            )
                out[:, oc, p, q] = total + (0.0 if b is None else b[oc])
    return out


def pool_reference(x: np.ndarray, kernel: Any, stride: Any, padding: Any = (0, 0),
                   dilation: Any = (1, 1), kind: str = "max",
                   count_include_pad: bool = True) -> np.ndarray:  # fmt: skip
    """Max or mean over each window (padding -inf for max, 0 for mean), position by position."""
    pads = ((padding[0], padding[0]), (padding[1], padding[1]))
    xp = _pad(x, pads, -np.inf if kind == "max" else 0.0)
    real = _pad(np.ones_like(x), pads)
    n, c, hp, wp = xp.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    ho, wo = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, c, ho, wo))
    for p in range(ho):
        for q in range(wo):
            rows = slice(p * sh, p * sh + dh * (kh - 1) + 1, dh)
            cols = slice(q * sw, q * sw + dw * (kw - 1) + 1, dw)
            window = xp[:, :, rows, cols]
            if kind == "max":
                out[:, :, p, q] = window.max(axis=(2, 3))
            else:
                count = kh * kw if count_include_pad else real[:, :, rows, cols].sum(axis=(2, 3))
                out[:, :, p, q] = window.sum(axis=(2, 3)) / count
    return out


def _r(*shape: int) -> np.ndarray:
    values = rng.uniform(-1.0, 1.0, shape)
    return np.where(np.abs(values) < 0.05, 0.3, values)


def _distinct(*shape: int) -> np.ndarray:
    """Values at least 0.02 apart, so no window has a near-tie (central differences stay clean)."""
    values = rng.permutation(np.prod(shape)).reshape(shape) * 0.02 - 0.5
    return values.astype(np.float64)


def _conv(Case: Any, inputs: list[np.ndarray], case_id: str, **params: Any) -> Any:
    return Case(
        lambda *a: Conv2d.apply(*a, **params),
        lambda *a: conv_reference(*a, **params),
        inputs,
        id=case_id,
    )


def _pool(Case: Any, op: Any, kind: str, x: np.ndarray, case_id: str, grad: bool = True,
          **params: Any) -> Any:  # fmt: skip
    ref = dict(params)
    ref.setdefault("padding", (0, 0))
    if "count_include_pad" not in ref and kind == "mean":
        ref["count_include_pad"] = True
    ref_params = {
        "kernel": ref["kernel"], "stride": ref["stride"], "padding": ref["padding"],
        "dilation": ref.get("dilation", (1, 1)), "kind": kind,
        "count_include_pad": ref.get("count_include_pad", True),
    }  # fmt: skip
    clip = 0.0 if params.get("relu") else -np.inf  # relu=True: the pooled map clipped at zero
    return Case(
        lambda a: op.apply(a, **params),
        lambda a: np.maximum(pool_reference(a, **ref_params), clip),
        [x],
        grad=grad,
        id=case_id,
    )


NO_PAD = ((0, 0), (0, 0))


def _conv_pool(Case: Any, inputs: list[np.ndarray], case_id: str, **params: Any) -> Any:
    """The fused op against the two references composed: conv, optional ReLU, 2x2 max pool."""
    conv_params = {k: v for k, v in params.items() if k != "relu"}
    clip = 0.0 if params.get("relu") else -np.inf

    def reference(*a: np.ndarray) -> np.ndarray:
        y = np.maximum(conv_reference(*a, **conv_params), clip)
        return pool_reference(y, kernel=(2, 2), stride=(2, 2))

    return Case(lambda *a: Conv2dMaxPool2d.apply(*a, **params), reference, inputs, id=case_id)


def make(Case: Any) -> dict[str, list[Any]]:
    """The samples, built with the table's ``Case`` class."""
    return {
        "conv2d": [
            _conv(Case, [_r(2, 3, 5, 5), _r(4, 3, 3, 3), _r(4)], "plain"),
            _conv(Case, [_r(2, 2, 6, 5), _r(3, 2, 2, 3)], "no-bias-rectangular"),
            _conv(
                Case,
                [_r(2, 3, 7, 6), _r(2, 3, 3, 2), _r(2)],
                "stride-padding",
                stride=(2, 1),
                padding=((1, 1), (2, 0)),
            ),  # fmt: skip
            _conv(
                Case,
                [_r(1, 2, 7, 7), _r(3, 2, 3, 3), _r(3)],
                "dilation",
                dilation=(2, 3),
                padding=((2, 2), (1, 1)),
            ),  # fmt: skip
            _conv(
                Case,
                [_r(2, 4, 5, 5), _r(6, 2, 3, 3), _r(6)],
                "groups-2",
                groups=2,
                padding=((1, 1), (1, 1)),
            ),  # fmt: skip
            _conv(
                Case,
                [_r(2, 3, 4, 6), _r(3, 1, 2, 2)],
                "depthwise-same-even-kernel",
                groups=3,
                padding=((0, 1), (0, 1)),
            ),  # fmt: skip
            _conv(
                Case,
                [_r(3, 2, 1, 9), _r(2, 2, 1, 3), _r(2)],
                "one-row-stride-dilation",
                stride=(1, 2),
                dilation=(1, 2),
            ),  # fmt: skip
        ],
        "max_pool2d": [
            _pool(
                Case, MaxPool2d, "max", _distinct(2, 3, 6, 6), "2x2", kernel=(2, 2), stride=(2, 2)
            ),  # fmt: skip
            _pool(
                Case,
                MaxPool2d,
                "max",
                _distinct(2, 2, 7, 6),
                "overlap-padding",
                kernel=(3, 3),
                stride=(2, 1),
                padding=(1, 1),
            ),  # fmt: skip
            _pool(
                Case,
                MaxPool2d,
                "max",
                _distinct(1, 2, 7, 7),
                "dilation-odd-size",
                kernel=(2, 3),
                stride=(2, 2),
                dilation=(2, 2),
            ),  # fmt: skip
            _pool(
                Case,
                MaxPool2d,
                "max",
                np.ones((1, 1, 4, 4)),
                "ties",
                grad=False,
                kernel=(2, 2),
                stride=(2, 2),
            ),  # fmt: skip
            # relu=True: half the windows' maxima negative; 0.01 keeps every value off zero
            _pool(
                Case,
                MaxPool2d,
                "max",
                _distinct(2, 3, 6, 6) + 0.01,
                "2x2-relu",
                kernel=(2, 2),
                stride=(2, 2),
                relu=True,
            ),  # fmt: skip
            _pool(
                Case,
                MaxPool2d,
                "max",
                _distinct(2, 2, 7, 6) - 0.19,
                "overlap-padding-relu",
                kernel=(3, 3),
                stride=(2, 1),
                padding=(1, 1),
                relu=True,
            ),  # fmt: skip
        ],
        "conv2d_max_pool2d": [
            # odd conv outputs (7 columns, 5 rows): the last column or row is in no window
            _conv_pool(
                Case,
                [_r(2, 2, 6, 7), _r(3, 2, 3, 3), _r(3)],
                "relu-padding",
                padding=((1, 1), (1, 1)),
                relu=True,
            ),  # fmt: skip
            _conv_pool(
                Case, [_r(1, 2, 7, 8), _r(2, 2, 2, 2)], "no-bias-dilation", dilation=(2, 1)
            ),  # fmt: skip
        ],
        "avg_pool2d": [
            _pool(Case, AvgPool2d, "mean", _r(2, 3, 6, 6), "2x2", kernel=(2, 2), stride=(2, 2)),
            _pool(
                Case,
                AvgPool2d,
                "mean",
                _r(2, 2, 7, 5),
                "overlap-padding",
                kernel=(3, 2),
                stride=(2, 1),
                padding=(1, 1),
            ),  # fmt: skip
            _pool(
                Case,
                AvgPool2d,
                "mean",
                _r(1, 2, 5, 5),
                "exclude-padding",
                kernel=(3, 3),
                stride=(2, 2),
                padding=(1, 1),
                count_include_pad=False,
            ),  # fmt: skip
        ],
    }
