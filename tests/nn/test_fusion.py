"""Sequential's fused runs of layers (ReLU -> max pool as one clipped pool; conv [-> ReLU] ->
2x2 max pool as one primitive in window order): the same output and gradients as layer by layer."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.autodiff.ops.conv_pool import Conv2dMaxPool2d
from chainrule.errors import ShapeError
from chainrule.nn.layers.fusion import commutes, fusion


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
    """Ties, all-negative windows, exact zeros and -inf padding: nothing differs. (Grouped
    convolutions, so only the ReLU -> pool pairs fuse, not the conv -> pool runs.)"""
    rng = np.random.default_rng(0)
    conv, pool = (nn.Conv1d, nn.MaxPool1d) if dim == 1 else (nn.Conv2d, nn.MaxPool2d)
    model = nn.Sequential(
        conv(2, 4, 3, padding=1, groups=2, rng=0), nn.ReLU(), pool(2),
        conv(4, 4, 3, padding=1, groups=2, rng=1), nn.ReLU(), pool(3, stride=2, padding=1),
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


def _integer_model(relu_first: bool) -> nn.Sequential:
    """Small integer weights: with integer inputs every sum is exact, in any order, so the
    fused product (another column order) must give the same bits, ties included."""
    rng = np.random.default_rng(5)
    layers: list[nn.Module] = [nn.Conv2d(2, 3, 3, padding=1, rng=0), nn.ReLU(), nn.MaxPool2d(2)]
    layers += [nn.Conv2d(3, 4, (2, 3), padding=(1, 0), dilation=(1, 2), rng=1), nn.MaxPool2d(2)]
    if not relu_first:
        del layers[1]
    model = nn.Sequential(*layers)
    for p in model.parameters():
        p.data = rng.integers(-2, 3, p.data.shape).astype(np.float32)
    return model


@pytest.mark.parametrize("relu", [True, False])
def test_conv_pool_runs_are_bitwise_the_layers_one_by_one(relu: bool) -> None:
    """Odd maps (a row and a column outside every window), ties, zeros, negative windows."""
    rng = np.random.default_rng(1)
    model = _integer_model(relu)
    x = rng.integers(-3, 4, (4, 2, 11, 13)).astype(np.float32)
    x[0] = 0.0  # all ties
    calls = []
    original = Conv2dMaxPool2d.apply

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(kwargs["relu"])
        return original(*args, **kwargs)

    out_shape = model(cr.Tensor(x)).shape
    g = rng.integers(-3, 4, out_shape).astype(np.float32)
    Conv2dMaxPool2d.apply = spy  # type: ignore[method-assign]
    try:
        fast = _grads(model, model, x, g)
    finally:
        Conv2dMaxPool2d.apply = original  # type: ignore[method-assign]
    assert calls == [relu, False]  # both runs fused
    written = _grads(model, lambda t: _layer_by_layer(model, t), x, g)
    for a, b in zip(fast, written):
        np.testing.assert_array_equal(a, b)


def test_conv_pool_run_matches_in_float64_and_keeps_the_batch_last_layout() -> None:
    rng = np.random.default_rng(2)
    conv = nn.Conv2d(3, 5, 3, padding="same", rng=0).astype(np.float64)
    model = nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2))
    x = rng.standard_normal((3, 3, 9, 8))
    g = rng.standard_normal((3, 5, 4, 4))
    fast = _grads(model, model, x, g)
    written = _grads(model, lambda t: _layer_by_layer(model, t), x, g)
    for a, b in zip(fast, written):
        assert a.dtype == np.float64
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert model(cr.Tensor(x)).data.transpose(1, 2, 3, 0).flags.c_contiguous


def test_conv_pool_adds_the_bias_after_the_maximum_same_values_gradient_to_the_larger() -> None:
    """max(y + b) = max(y) + b bitwise (rounding is monotonic), so the fused op adds the bias to
    the pooled map, a quarter of the values. Only where two different outputs round to one
    sum do the two runs part: layer by layer the tie goes to the first, fused to the larger."""
    conv = nn.Conv2d(1, 1, 1, rng=0)
    conv.weight.data[...] = 1.0
    conv.bias.data[...] = 2.0**24  # the float32 spacing there is 2: y + 2**24 rounds to 2**24
    model = nn.Sequential(conv, nn.MaxPool2d(2))
    x = np.array([[[[0.25, 0.5], [0.125, 0.0625]]]], np.float32)
    g = np.ones((1, 1, 1, 1), np.float32)
    fast = _grads(model, model, x, g)
    written = _grads(model, lambda t: _layer_by_layer(model, t), x, g)
    np.testing.assert_array_equal(fast[0], written[0])  # the same output bits
    assert fast[0].item() == 2.0**24
    np.testing.assert_array_equal(fast[1][0, 0], [[0, 1], [0, 0]])  # to the larger output
    np.testing.assert_array_equal(written[1][0, 0], [[1, 0], [0, 0]])  # to the first of the tie
    np.testing.assert_array_equal(fast[3], written[3])  # the bias gradient is the same


def test_conv_pool_falls_back_to_the_layers_where_the_input_does_not_suit() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.ReLU(), nn.MaxPool2d(2))
    unbatched = np.ones((1, 6, 6), np.float32)  # (C, H, W): the layers' own handling
    with pytest.raises(ShapeError, match=r"MaxPool2d"):
        model(unbatched)
    with pytest.raises(ShapeError, match=r"MaxPool2d"):  # a 1x1 conv output, too small
        model(np.ones((2, 1, 3, 3), np.float32))
    with pytest.raises(ShapeError, match=r"Conv2d\(1, 2, 3\): expected input"):
        model(np.ones((2, 784), np.float32))


def test_hooks_and_other_settings_keep_the_layers_apart() -> None:
    conv, relu, pool = nn.Conv2d(1, 2, 3, rng=0), nn.ReLU(), nn.MaxPool2d(2)
    layers = [conv, relu, pool]
    assert fusion(layers, 0) is not None and fusion(layers, 0)[1] == 3  # type: ignore[index]
    remove = conv.register_forward_hook(lambda m, i, o: None)
    fused = fusion(layers, 0)
    assert fused is None
    assert fusion(layers, 1) is not None  # the ReLU -> pool pair still fuses
    remove()
    for other in (nn.Conv2d(1, 2, 3, stride=2, rng=0), nn.Conv2d(2, 2, 3, groups=2, rng=0)):
        assert fusion([other, relu, pool], 0) is None
    assert fusion([conv, relu, nn.MaxPool2d(3)], 0) is None
    assert fusion([conv, relu, nn.MaxPool2d(2, padding=1)], 0) is None


def test_the_fused_primitive_names_a_map_too_small_for_its_window() -> None:
    x = cr.Tensor(np.ones((2, 1, 3, 3), np.float32))
    w = cr.Tensor(np.ones((2, 1, 3, 3), np.float32))
    with pytest.raises(ShapeError, match=r"convolution's output \(1, 1\) is smaller than the 2x2"):
        Conv2dMaxPool2d.apply(x, w)
    with pytest.raises(ShapeError, match=r"expected input \(N, C, H, W\)"):
        Conv2dMaxPool2d.apply(cr.Tensor(np.ones((2, 9), np.float32)), w)
