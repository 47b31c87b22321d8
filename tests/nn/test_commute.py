"""Sequential runs ReLU -> max pooling as one clipped pool: the same output and gradients."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn.layers.commute import commutes


def _layer_by_layer(model: nn.Sequential, x: cr.Tensor) -> cr.Tensor:
    for layer in model:
        x = layer(x)
    return x


def _grads(model: nn.Sequential, run: object, x: np.ndarray, g: np.ndarray) -> list[np.ndarray]:
    model.zero_grad()
    xt = cr.tensor(x, requires_grad=True)
    out = run(xt)  # type: ignore[operator]
    out.backward(g)
    return [out.data, xt.grad] + [p.grad for p in model.parameters()]


@pytest.mark.parametrize("dim", [1, 2])
def test_swapped_order_is_bitwise_the_written_one(dim: int) -> None:
    """Ties, all-negative windows, exact zeros and -inf padding: nothing differs."""
    rng = np.random.default_rng(0)
    conv, pool = (nn.Conv1d, nn.MaxPool1d) if dim == 1 else (nn.Conv2d, nn.MaxPool2d)
    model = nn.Sequential(
        conv(2, 3, 3, padding=1, rng=0), nn.ReLU(), pool(2),
        conv(3, 4, 3, padding=1, rng=1), nn.ReLU(), pool(3, stride=2, padding=1),
    )  # fmt: skip
    shape = (5, 2) + (12,) * dim
    x = np.round(rng.standard_normal(shape), 1).astype(np.float32)  # many equal values
    x[0] = -1.0  # a sample whose first pre-activations are all the same
    x[1] = 0.0
    out_shape = model(cr.Tensor(x)).shape
    g = rng.standard_normal(out_shape).astype(np.float32)
    fast = _grads(model, model, x, g)
    written = _grads(model, lambda t: _layer_by_layer(model, t), x, g)
    assert len(fast) == len(written) == 6
    for a, b in zip(fast, written):
        np.testing.assert_array_equal(a, b)


def test_a_hook_sees_the_full_map_and_keeps_the_written_order() -> None:
    relu, pool = nn.ReLU(), nn.MaxPool2d(2)
    model = nn.Sequential(relu, pool)
    assert commutes(relu, pool)
    seen: list[tuple[int, ...]] = []
    remove = relu.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    assert not commutes(relu, pool)
    model(np.zeros((1, 2, 8, 8), np.float32))
    assert seen == [(1, 2, 8, 8)]
    remove()
    assert commutes(relu, pool)


def test_only_relu_before_max_pooling_is_swapped() -> None:
    class MyReLU(nn.ReLU):
        pass

    assert not commutes(nn.MaxPool2d(2), nn.ReLU())
    assert not commutes(nn.ReLU(), nn.AvgPool2d(2))  # relu(mean) is not mean(relu)
    assert not commutes(nn.LeakyReLU(), nn.MaxPool2d(2))
    assert not commutes(MyReLU(), nn.MaxPool2d(2))
    assert commutes(nn.ReLU(), nn.MaxPool1d(2))


def test_the_pair_runs_as_one_clipped_pool_without_a_relu() -> None:
    """What makes it quicker: no ReLU pass, over the full map or the pooled one; one node."""
    relu = nn.ReLU()
    calls: list[tuple[int, ...]] = []
    original = cr.nn.functional.activations.relu

    def spy(x: object) -> object:
        calls.append(x.shape)  # type: ignore[attr-defined]
        return original(x)

    model = nn.Sequential(relu, nn.MaxPool2d(2))
    x = cr.tensor(np.arange(-32, 32, dtype=np.float32).reshape(1, 1, 8, 8), requires_grad=True)
    try:
        cr.nn.functional.activations.relu = spy  # type: ignore[assignment]
        out = model(x)
    finally:
        cr.nn.functional.activations.relu = original  # type: ignore[assignment]
    assert calls == []
    expected = np.maximum(np.arange(-32, 32).reshape(4, 2, 4, 2).max(axis=(1, 3)), 0)
    np.testing.assert_array_equal(out.data[0, 0], expected)
    out.sum().backward()
    # the gradient reaches each positive window's maximum only (bottom-right of each 2x2)
    want = np.zeros((8, 8), np.float32)
    want[1::2, 1::2] = expected > 0
    np.testing.assert_array_equal(x.grad[0, 0], want)
