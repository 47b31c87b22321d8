"""The stride-1 input gradient by shifted BLAS products equals the column (col2im) path."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.autodiff import blas
from chainrule.autodiff.ops import conv as conv_op


def _input_gradient(x, weight, g, padding, dilation, groups, fast: bool, monkeypatch):
    monkeypatch.setattr(conv_op, "blas_available", lambda: fast)
    prim = conv_op.Conv2d()
    prim.needs_grad = (True, True, False)
    prim.forward(x, weight, None, (1, 1), padding, dilation, groups)
    gx, gw, _ = prim.backward(g)
    prim.release()
    return gx, gw


@pytest.mark.skipif(not blas.blas_available(), reason="NumPy's bundled BLAS is not there")
@pytest.mark.parametrize(
    "channels, out, kernel, padding, dilation, groups",
    [
        (3, 4, (3, 3), ((0, 0), (0, 0)), (1, 1), 1),
        (3, 4, (3, 2), ((1, 1), (2, 0)), (1, 1), 1),  # asymmetric padding, even kernel
        (4, 6, (2, 3), ((1, 0), (1, 1)), (2, 1), 2),  # dilation and groups
        (4, 4, (3, 3), ((1, 1), (1, 1)), (1, 1), 4),  # depthwise
        (2, 3, (1, 1), ((0, 0), (0, 0)), (1, 1), 1),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_shifted_products_equal_col2im(
    monkeypatch, channels, out, kernel, padding, dilation, groups, dtype
):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, channels, 7, 8)).astype(dtype)
    weight = rng.normal(size=(out, channels // groups, *kernel)).astype(dtype)
    ho = 7 + sum(padding[0]) - dilation[0] * (kernel[0] - 1)
    wo = 8 + sum(padding[1]) - dilation[1] * (kernel[1] - 1)
    g = rng.normal(size=(out, ho, wo, 5)).astype(dtype).transpose(3, 0, 1, 2)  # batch-last
    fast = _input_gradient(x, weight, g, padding, dilation, groups, True, monkeypatch)
    slow = _input_gradient(x, weight, g, padding, dilation, groups, False, monkeypatch)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    assert fast[0].shape == x.shape
    np.testing.assert_allclose(fast[0], slow[0], rtol=tol, atol=tol)
    np.testing.assert_array_equal(fast[1], slow[1])
