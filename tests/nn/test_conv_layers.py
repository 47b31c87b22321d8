"""Convolution, pooling, BatchNorm2d and Dropout2d layers: formulas, gradients, configs, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ConfigError, FormatError, ShapeError
from chainrule.nn import functional as F
from chainrule.nn.registry import layer_from_spec

RNG = np.random.default_rng(7)


def t64(a, grad: bool = False) -> cr.Tensor:
    return cr.tensor(np.array(a, dtype=np.float64), requires_grad=grad)


def check_layer_gradients(layer: nn.Module, x: np.ndarray) -> None:
    layer.astype(np.float64)
    assert cr.gradcheck(lambda inp, *ps: layer(inp), [t64(x, grad=True), *layer.parameters()])


def windows_conv(x, w, b, stride, pad, dilation, groups):
    """Reference through numpy's sliding_window_view and einsum (not the library's im2col)."""
    (pt, pb), (pl, pr) = pad
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    o, cg, kh, kw = w.shape
    span = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
    win = np.lib.stride_tricks.sliding_window_view(xp, span, axis=(2, 3))
    win = win[:, :, :: stride[0], :: stride[1], :: dilation[0], :: dilation[1]]
    outs = []
    for g in range(groups):
        part = win[:, g * cg : (g + 1) * cg]
        wg = w[g * (o // groups) : (g + 1) * (o // groups)]
        outs.append(np.einsum("ncpqij,ocij->nopq", part, wg))
    out = np.concatenate(outs, axis=1)
    return out if b is None else out + b[None, :, None, None]


# -- Conv2d / Conv1d ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"stride": 2, "padding": 1},
        {"padding": "same", "dilation": 2},
        {"groups": 2, "stride": (2, 1), "padding": (0, 2), "bias": False},
    ],
    ids=["plain", "stride-padding", "same-dilation", "groups"],
)
def test_conv2d_matches_the_window_formula_and_gradchecks(kwargs):
    layer = nn.Conv2d(4, 6, 3, rng=0, **kwargs).astype(np.float64)
    x = RNG.normal(size=(2, 4, 7, 8))
    bias = None if layer.bias is None else layer.bias.data
    expected = windows_conv(x, layer.weight.data, bias, layer.stride, layer._pads,
                            layer.dilation, layer.groups)  # fmt: skip
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-10, atol=1e-12)
    if kwargs.get("padding") == "same":
        assert layer(x).shape == x.shape[:1] + (6,) + x.shape[2:]
    check_layer_gradients(layer, x[:, :, :5, :6])


def test_same_padding_with_an_even_kernel_pads_one_more_after():
    layer = nn.Conv2d(1, 1, 4, padding="same", bias=False, rng=0).astype(np.float64)
    assert layer._pads == ((1, 2), (1, 2))
    x = RNG.normal(size=(1, 1, 6, 5))
    expected = windows_conv(x, layer.weight.data, None, (1, 1), ((1, 2), (1, 2)), (1, 1), 1)
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-10)


def test_conv1d_is_a_one_row_conv2d_and_gradchecks():
    layer = nn.Conv1d(3, 4, 3, stride=2, padding=1, dilation=2, rng=1).astype(np.float64)
    x = RNG.normal(size=(2, 3, 11))
    w4 = layer.weight.data[:, :, None, :]
    expected = windows_conv(x[:, :, None, :], w4, layer.bias.data, (1, 2), ((0, 0), (1, 1)),
                            (1, 2), 1)[:, :, 0]  # fmt: skip
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-10)
    np.testing.assert_allclose(
        F.conv1d(x, layer.weight.data, layer.bias.data, 2, 1, 2).data, expected, rtol=1e-10
    )
    check_layer_gradients(layer, x)
    check_layer_gradients(
        nn.Conv1d(4, 4, 2, groups=4, padding="same", rng=2), RNG.normal(size=(2, 4, 5))
    )


def test_conv_weights_names_shapes_and_pytorch_default_init():
    layer = nn.Conv2d(16, 32, (3, 5), groups=4, rng=0)
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert layer.weight.shape == (32, 4, 3, 5) and layer.bias.shape == (32,)
    bound = 1 / math.sqrt(4 * 3 * 5)  # kaiming_uniform(a=sqrt(5)): 1 / sqrt(fan_in)
    for p in (layer.weight.data, layer.bias.data):
        assert p.dtype == np.float32 and np.abs(p).max() <= bound
    assert layer.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    a, b = nn.Conv1d(2, 3, 4, rng=5), nn.Conv1d(2, 3, 4, rng=5)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert nn.Conv1d(2, 3, 4).weight.shape == (3, 2, 4)


def test_conv_accepts_an_unbatched_image():
    layer = nn.Conv2d(2, 3, 3, padding=1, rng=0)
    x = RNG.normal(size=(2, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(layer(x).data, layer(x[None]).data[0], rtol=1e-6)


def test_conv_input_errors_name_the_layer_and_both_shapes():
    conv = nn.Conv2d(1, 32, 3)
    with pytest.raises(ShapeError, match=r"^Conv2d\(1, 32, 3\): expected input \(N, 1, H, W\), "
                       r"got \(128, 784\)"):  # fmt: skip
        conv(np.zeros((128, 784), np.float32))
    with pytest.raises(ShapeError, match=r"Conv2d\(1, 32, 3\): expected input \(N, 1, H, W\), "
                       r"got \(8, 3, 28, 28\)"):  # fmt: skip
        conv(np.zeros((8, 3, 28, 28), np.float32))
    with pytest.raises(ShapeError, match=r"Conv1d\(2, 4, 3\): expected input \(N, 2, L\)"):
        nn.Conv1d(2, 4, 3)(np.zeros((4, 2, 5, 5), np.float32))
    too_small = r"Conv2d\(1, 32, 3\) got input of shape \(2, 1, 2, 9\).*kernel \(3, 3\)"
    with pytest.raises(ShapeError, match=too_small + r".*larger than the padded input \(2 = 2 \+"):
        conv(np.zeros((2, 1, 2, 9), np.float32))
    nn.Conv2d(1, 2, 3, padding=1)(np.zeros((1, 1, 1, 1), np.float32))  # padding makes it fit


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"in_channels": -1, "out_channels": 2, "kernel_size": 3}, r"in_channels must be a pos"),
        ({"in_channels": 3, "out_channels": 4, "kernel_size": 3, "groups": 2},
         r"in_channels \(3\) and out_channels \(4\) must both be divisible by groups \(2\)"),
        ({"in_channels": 1, "out_channels": 2, "kernel_size": 0}, r"kernel_size must be a pos"),
        ({"in_channels": 1, "out_channels": 2, "kernel_size": (3, 3, 3)}, r"tuple of 2 such"),
        ({"in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": -1},
         r"padding must be a non-negative int"),
        ({"in_channels": 1, "out_channels": 2, "kernel_size": 3, "stride": 2, "padding": "same"},
         r"padding='same' needs stride 1"),
        ({"in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": "full"},
         r"padding must be 'same', 'valid' or ints"),
        ({"in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding_mode": "reflect"},
         r"padding_mode must be 'zeros'"),
        ({"in_channels": 1, "out_channels": 2, "kernel_size": 3, "bias": 1}, r"bias must be True"),
    ],
)  # fmt: skip
def test_conv_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        nn.Conv2d(**kwargs)


def test_hostile_conv_specs_are_refused_or_sized_before_building():
    huge = {"in_channels": 1, "out_channels": 32, "kernel_size": 10**9}
    assert nn.Conv2d.spec_size(huge) == 32 * 10**18 + 32  # the loader compares this first
    with pytest.raises(FormatError, match=r"bad config for a Conv2d layer: .*out_channels must"):
        layer_from_spec({"type": "Conv2d", "config": {"in_channels": 1, "out_channels": -4,
                                                     "kernel_size": 3}})  # fmt: skip
    assert nn.Conv2d.spec_size({"in_channels": 1, "out_channels": -4, "kernel_size": 3}) == 0


def test_the_same_layer_twice_in_one_graph_gets_both_gradients():
    # the im2col buffers are pooled: two live forwards must keep their own columns
    conv = nn.Conv2d(2, 2, 3, padding=1, rng=0).astype(np.float64)
    a, b = RNG.normal(size=(2, 2, 5, 5)), RNG.normal(size=(2, 2, 5, 5))
    assert cr.gradcheck(lambda w: (conv(a) * conv(b)).sum() + 0 * w.sum(), [conv.weight])
    conv.weight.grad = None
    (conv(a) * conv(b)).sum().backward()
    grad = conv.weight.grad.copy()
    conv.weight.grad = None
    ya, yb = conv(a).data, conv(b).data
    ya_t, yb_t = cr.tensor(ya), cr.tensor(yb)
    (conv(a) * yb_t).sum().backward()
    (conv(b) * ya_t).sum().backward()
    np.testing.assert_allclose(grad, conv.weight.grad, rtol=1e-10)


# -- pooling --------------------------------------------------------------------------------
def test_max_pool_ties_send_the_gradient_to_the_first_element_like_pytorch():
    x = t64(np.ones((1, 1, 4, 4)), grad=True)
    nn.MaxPool2d(2)(x).sum().backward()
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 1.0  # the top-left of each window
    np.testing.assert_array_equal(x.grad[0, 0], expected)
    x = t64([[[3.0, 1.0, 3.0, 3.0]]], grad=True)
    nn.MaxPool1d(2, stride=1)(x).sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], [1.0, 0.0, 2.0, 0.0])  # [3, 3]: the first


def test_max_pool_padding_is_minus_infinity_and_nan_propagates():
    x = -np.ones((1, 1, 2, 2))
    np.testing.assert_array_equal(
        nn.MaxPool2d(2, stride=1, padding=1)(x).data[0, 0], -np.ones((3, 3))
    )
    x[0, 0, 1, 1] = np.nan
    assert np.isnan(nn.MaxPool2d(2)(x).data).all()


def test_pool_layers_shapes_values_and_gradients():
    x = RNG.normal(size=(2, 3, 6, 7))
    np.testing.assert_allclose(
        nn.AvgPool2d(2)(x).data, x[:, :, :6, :6].reshape(2, 3, 3, 2, 3, 2).mean(axis=(3, 5))
    )
    np.testing.assert_allclose(
        nn.MaxPool2d(2)(x).data, x[:, :, :6, :6].reshape(2, 3, 3, 2, 3, 2).max(axis=(3, 5))
    )
    seq = RNG.normal(size=(2, 3, 9))
    np.testing.assert_allclose(nn.MaxPool1d(3)(seq).data, seq.reshape(2, 3, 3, 3).max(axis=3))
    np.testing.assert_allclose(nn.AvgPool1d(3)(seq).data, seq.reshape(2, 3, 3, 3).mean(axis=3))
    layers = (nn.MaxPool2d(3, stride=2, padding=1), nn.AvgPool2d(3, 2, 1, count_include_pad=False),
              nn.MaxPool1d(2), nn.AvgPool1d(2, padding=1))  # fmt: skip
    for layer in layers:
        check_layer_gradients(layer, x if "2d" in type(layer).__name__ else seq)


def test_adaptive_avg_pool_matches_pytorch_windows():
    x = RNG.normal(size=(2, 3, 7, 5))
    out = nn.AdaptiveAvgPool2d((3, 2))(x).data
    rows, cols = [(0, 3), (2, 5), (4, 7)], [(0, 3), (2, 5)]  # [floor(i*s/o), ceil((i+1)*s/o))
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            np.testing.assert_allclose(out[:, :, i, j], x[:, :, r0:r1, c0:c1].mean(axis=(2, 3)))
    np.testing.assert_allclose(nn.AdaptiveAvgPool2d(1)(x).data, x.mean(axis=(2, 3), keepdims=True))
    np.testing.assert_allclose(nn.AdaptiveAvgPool1d(1)(x[:, :, 0]).data[..., 0], x[:, :, 0].mean(2))
    check_layer_gradients(nn.AdaptiveAvgPool2d((3, 2)), x)
    check_layer_gradients(nn.AdaptiveAvgPool2d(1), x)


def test_pool_errors():
    with pytest.raises(ShapeError, match=r"MaxPool2d\(kernel_size=2, stride=2\): expected input "
                       r"\(N, C, H, W\), got \(128, 784\)"):  # fmt: skip
        nn.MaxPool2d(2)(np.zeros((128, 784), np.float32))
    with pytest.raises(ShapeError, match=r"MaxPool2d\(kernel_size=5, stride=5\) got input of "
                       r"shape \(1, 1, 3, 3\).*larger than the padded input"):  # fmt: skip
        nn.MaxPool2d(5)(np.zeros((1, 1, 3, 3), np.float32))
    with pytest.raises(ConfigError, match=r"padding \(2, 2\) must be at most half the kernel"):
        nn.MaxPool2d(3, padding=2)
    with pytest.raises(ConfigError, match=r"ceil_mode=True is not supported"):
        nn.AvgPool2d(2, ceil_mode=True)
    with pytest.raises(ConfigError, match=r"kernel_size must be a positive int"):
        nn.MaxPool1d(0)
    with pytest.raises(ShapeError, match=r"output \(4, 4\) larger than input \(3, 3\)"):
        nn.AdaptiveAvgPool2d(4)(np.zeros((1, 1, 3, 3)))


def test_functional_forms_match_the_layers():
    x = RNG.normal(size=(2, 2, 6, 6)).astype(np.float32)
    conv = nn.Conv2d(2, 3, 3, stride=2, padding=1, rng=0)
    np.testing.assert_array_equal(F.conv2d(x, conv.weight, conv.bias, 2, 1).data, conv(x).data)
    np.testing.assert_array_equal(F.max_pool2d(x, 2).data, nn.MaxPool2d(2)(x).data)
    np.testing.assert_array_equal(F.avg_pool2d(x, 3, 1, 1).data, nn.AvgPool2d(3, 1, 1)(x).data)
    seq = x[:, :, 0]
    np.testing.assert_array_equal(F.max_pool1d(seq, 2).data, nn.MaxPool1d(2)(seq).data)
    np.testing.assert_array_equal(F.avg_pool1d(seq, 2).data, nn.AvgPool1d(2)(seq).data)


# -- BatchNorm2d, Dropout2d, Flatten on conv outputs ----------------------------------------
def test_batchnorm2d_normalizes_each_channel_over_batch_and_pixels():
    bn = nn.BatchNorm2d(3, momentum=0.1).astype(np.float64)
    bn.weight.data = np.array([1.0, 2.0, 0.5])
    bn.bias.data = np.array([0.0, -1.0, 3.0])
    x = RNG.normal(loc=2.0, scale=3.0, size=(4, 3, 5, 6))
    mean, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    w, b = bn.weight.data[None, :, None, None], bn.bias.data[None, :, None, None]
    np.testing.assert_allclose(bn(x).data, (x - mean) / np.sqrt(var + 1e-5) * w + b, rtol=1e-10)
    np.testing.assert_allclose(bn.running_mean.data, 0.1 * mean.ravel(), rtol=1e-12)
    unbiased = x.transpose(1, 0, 2, 3).reshape(3, -1).var(axis=1, ddof=1)
    np.testing.assert_allclose(bn.running_var.data, 0.9 + 0.1 * unbiased, rtol=1e-12)
    bn.eval()
    expected = (x - bn.running_mean.data[None, :, None, None]) / np.sqrt(
        bn.running_var.data[None, :, None, None] + 1e-5) * w + b  # fmt: skip
    np.testing.assert_allclose(bn(x).data, expected, rtol=1e-10)
    for training in (True, False):
        check_layer_gradients(nn.BatchNorm2d(2).train(training), RNG.normal(size=(2, 2, 3, 3)))
    with pytest.raises(ShapeError, match=r"BatchNorm2d\(3\) got input of shape \(4, 3\); "
                       r"expected \(N, 3, H, W\)"):  # fmt: skip
        bn(np.zeros((4, 3)))


def test_batchnorm2d_on_a_conv_output_matches_the_same_values_laid_out_nchw():
    """Conv outputs are batch-last in memory (the fused batch norm's quick path); a plain
    NCHW copy of the same values takes the general path: same outputs, gradients, statistics."""
    conv = nn.Conv2d(2, 4, 3, padding=1, rng=0)
    x = RNG.normal(size=(6, 2, 7, 7)).astype(np.float32)
    g = RNG.normal(size=(6, 4, 7, 7)).astype(np.float32)
    results = []
    for layout in ("batch-last", "nchw"):
        bn = nn.BatchNorm2d(4)
        bn.weight.data = np.array([1.0, 2.0, 0.5, -1.0], np.float32)
        feature_maps = conv(x).data
        if layout == "nchw":
            feature_maps = np.ascontiguousarray(feature_maps)
        else:
            assert feature_maps.transpose(1, 2, 3, 0).flags.c_contiguous
        xt = cr.tensor(feature_maps, requires_grad=True)
        out = bn(xt)
        out.backward(g)
        assert out.dtype == xt.grad.dtype == np.float32
        results.append([out.data, xt.grad, bn.weight.grad, bn.bias.grad, bn.running_var.data])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)


def test_functional_batch_norm_updates_arrays_in_place():
    x = RNG.normal(size=(8, 2, 3))
    mean, var = np.zeros(2), np.ones(2)
    out = F.batch_norm(x, mean, var, training=True, momentum=0.5).data
    np.testing.assert_allclose(out.mean(axis=(0, 2)), 0.0, atol=1e-12)
    np.testing.assert_allclose(mean, 0.5 * x.mean(axis=(0, 2)))
    with pytest.raises(ConfigError, match=r"running_mean and running_var are needed"):
        F.batch_norm(x, None, None)


def test_dropout2d_drops_whole_channels():
    layer = nn.Dropout2d(0.5, rng=3)
    x = np.ones((16, 8, 4, 4), np.float32)
    out = layer(x).data
    per_map = out.reshape(16, 8, 16)
    assert set(np.unique(per_map).tolist()) == {0.0, 2.0}
    assert (per_map.min(axis=2) == per_map.max(axis=2)).all()  # each map all kept or all dropped
    assert 0.35 < (per_map[:, :, 0] == 0).mean() < 0.65
    assert layer.eval()(x) is not None and (layer(x).data == x).all()
    with pytest.raises(ShapeError, match=r"Dropout2d\(p=0.5\): expected input \(N, C, H, W\)"):
        layer.train()(np.ones((4, 8), np.float32))


def test_a_small_cnn_gradchecks_end_to_end():
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1, rng=0), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 2, rng=1), nn.Tanh(), nn.AvgPool2d(1), nn.Flatten(),
        nn.Linear(16, 2, rng=2),
    )  # fmt: skip
    check_layer_gradients(model, RNG.normal(size=(3, 1, 6, 6)))
    assert model(RNG.normal(size=(3, 1, 6, 6))).shape == (3, 2)
