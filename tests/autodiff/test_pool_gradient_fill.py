"""The pooling gradient skips its zero fill only where the windows write every element.

``np.empty`` is poisoned with NaN for the backward pass, so an element the windows missed
would show instead of passing as the zero a fresh page happens to hold.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import functional as F

_empty = np.empty


def _poisoned(shape: object, dtype: object = float, *args: object, **kwargs: object) -> np.ndarray:
    out = _empty(shape, dtype, *args, **kwargs)  # type: ignore[call-overload]
    if np.dtype(dtype).kind == "f":
        out.fill(np.nan)
    return out


CASES = [  # (input H, W, kernel, stride, padding): tiled exactly, or not
    ((8, 8), 2, 2, 0),
    ((9, 8), 2, 2, 0),  # the last row lies in no window
    ((6, 6), 3, 3, 0),
    ((7, 7), 2, 2, 1),  # padded to 9 x 9: not tiled
    ((6, 6), 2, 2, 1),  # padded to 8 x 8: tiled, padding cropped
    ((8, 8), 3, 2, 1),  # overlapping windows
]


@pytest.mark.parametrize(("hw", "kernel", "stride", "padding"), CASES)
@pytest.mark.parametrize("pool", ["max", "avg"])
def test_every_input_gets_its_gradient_or_an_exact_zero(
    hw: tuple[int, int], kernel: int, stride: int, padding: int, pool: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, *hw))
    fn = F.max_pool2d if pool == "max" else F.avg_pool2d
    xt = cr.tensor(x, requires_grad=True)
    out = fn(xt, kernel, stride, padding)
    g = rng.standard_normal(out.shape)
    monkeypatch.setattr(np, "empty", _poisoned)
    out.backward(g)
    monkeypatch.undo()
    assert np.isfinite(xt.grad).all()
    # the reference: each window's share added by a loop over the windows
    expected = np.zeros((2, 3, hw[0] + 2 * padding, hw[1] + 2 * padding))
    xp = np.pad(x, ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2), constant_values=-np.inf)
    for n, c, i, j in np.ndindex(*out.shape):
        rows, cols = slice(i * stride, i * stride + kernel), slice(j * stride, j * stride + kernel)
        if pool == "max":
            window = xp[n, c, rows, cols]
            a, b = np.unravel_index(np.argmax(window), window.shape)
            expected[n, c, i * stride + a, j * stride + b] += g[n, c, i, j]
        else:
            expected[n, c, rows, cols] += g[n, c, i, j] / kernel**2
    crop = expected[:, :, padding : padding + hw[0], padding : padding + hw[1]]
    np.testing.assert_allclose(xt.grad, crop, rtol=1e-12, atol=1e-12)
