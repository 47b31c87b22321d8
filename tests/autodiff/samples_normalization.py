"""Primitive-table samples of the fused training-mode batch norm (``ops/normalization.py``).

The reference is the definition in float64: each channel's mean and biased variance over every
axis but 1, then ``(x - mean) / sqrt(var + eps) * w + b``. Each of the three outputs is a sample
of its own, so the gradient check covers the statistics' gradients too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff import functions as F
from chainrule.autodiff.ops.normalization import BatchNorm

rng = np.random.default_rng(1357)
EPS = 1e-5


def bn_reference(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
    axes = (0, *range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=axes)
    var = ((x - mean.reshape(shape)) ** 2).mean(axis=axes)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + EPS) * w.reshape(shape)
    return y + b.reshape(shape), mean, var


def _case(Case: Any, x: np.ndarray, output: int, case_id: str, memory: str = "") -> Any:
    """A sample; ``memory`` "chwn" or "cnhw" gives ``x`` in that order, the op seeing its NCHW
    view (batch-last CHWN is how conv outputs lie; any channel-major order takes the BLAS path).
    """
    order = {"": None, "chwn": (x.ndim - 1, 0, *range(1, x.ndim - 1)), "cnhw": (1, 0, 2, 3)}
    view = order[memory]
    c = x.shape[0] if view else x.shape[1]
    w, b = rng.uniform(0.5, 1.5, c), rng.uniform(-0.5, 0.5, c)
    diff = None if output == 0 else (0,)  # the statistics do not depend on w and b
    if view:
        return Case(
            lambda t, wt, bt: BatchNorm.apply(F.transpose(t, view), wt, bt, eps=EPS)[output],
            lambda a, wa, ba: bn_reference(a.transpose(view), wa, ba)[output],
            [x, w, b],
            diff=diff,
            id=case_id,
        )
    return Case(
        lambda t, wt, bt: BatchNorm.apply(t, wt, bt, eps=EPS)[output],
        lambda a, wa, ba: bn_reference(a, wa, ba)[output],
        [x, w, b],
        diff=diff,
        id=case_id,
    )


def make(Case: Any) -> dict[str, list[Any]]:
    """The samples, built with the table's ``Case`` class."""
    feature_maps = rng.standard_normal((3, 2, 4, 5)) * 2 + 1
    batch_last = rng.standard_normal((2, 3, 4, 4)) - 0.5
    return {
        "batch_norm": [
            _case(Case, feature_maps, 0, "nchw"),
            _case(Case, batch_last, 0, "batch-last-memory", memory="chwn"),
            _case(Case, batch_last, 1, "batch-mean", memory="chwn"),
            _case(Case, batch_last, 2, "batch-var", memory="chwn"),
            _case(Case, feature_maps, 0, "channel-first-memory", memory="cnhw"),
            _case(Case, rng.standard_normal((6, 3)), 0, "rows"),
            _case(Case, rng.standard_normal((4, 3)), 2, "rows-var"),
            _case(Case, rng.standard_normal((3, 2, 7)), 0, "sequences"),
        ],
    }
