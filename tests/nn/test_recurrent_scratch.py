"""Recurrent scratch buffers: reuse never lets a later call change an earlier result."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.autodiff.recurrent_frame import Scratch

KINDS = ["RNN", "LSTM", "GRU"]


def test_scratch_take_give_reuses_only_what_it_handed_out() -> None:
    pool = Scratch(limit=1 << 20)
    a = pool.take(np, (3, 4), np.float32)
    assert a.shape == (3, 4) and a.dtype == np.float32
    pool.give(a, a[1:], np.empty(12, np.float32), None)  # a twice, a foreign array, None
    assert len(pool._kept) == 1
    b = pool.take(np, (2, 6), np.float32)
    assert b.base is a.base  # same 12 float32s, new shape
    assert pool.take(np, (2, 6), np.float32).base is not a.base  # handed out once only
    assert pool.take(np, (12,), np.float64).dtype == np.float64


def test_scratch_keeps_at_most_its_limit_oldest_dropped_first() -> None:
    pool = Scratch(limit=100)  # bytes
    first, second = pool.take(np, (10,), np.float64), pool.take(np, (5,), np.float64)
    pool.give(first)
    pool.give(second)  # 80 + 40 bytes > 100: the oldest goes
    assert [k.size for k in pool._kept] == [5]
    pool.give(pool.take(np, (20,), np.float64))  # 160 bytes alone: never kept
    assert [k.size for k in pool._kept] == [5]
    pool.clear()
    assert pool._kept == []


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("lengths", [False, True])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_results_survive_later_calls(kind: str, batch: int, lengths: bool,
                                     bidirectional: bool) -> None:  # fmt: skip
    """Outputs, states and gradients of one call stay as they were after further calls."""
    rng = np.random.default_rng(0)
    layer = getattr(nn, kind)(3, 4, bidirectional=bidirectional, rng=0).astype(np.float64)
    x = cr.tensor(rng.normal(size=(5, batch, 3)), requires_grad=True)
    out, fin = layer(x, lengths=np.arange(batch) % 5 + 1 if lengths else None)
    finals = list(fin) if kind == "LSTM" else [fin]
    (out.sum() + sum((f * f).sum() for f in finals)).backward()
    kept = [out.data.copy(), x.grad.copy(), *(f.data.copy() for f in finals)]
    for _ in range(2):  # same shapes, so the buffers just given back are taken again
        layer.zero_grad()
        x2 = cr.tensor(rng.normal(size=(5, batch, 3)), requires_grad=True)
        out2, _ = layer(x2)
        out2.sum().backward()
        with cr.no_grad():
            layer(x2)
    now = [out.data, x.grad, *(f.data for f in finals)]
    for before, after in zip(kept, now):
        np.testing.assert_array_equal(before, after)
