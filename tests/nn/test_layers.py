"""Layers against their formulas, gradient checks in float64, configs, specs and every error."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ConfigError, DtypeError, FormatError, ShapeError
from chainrule.nn import functional as F
from chainrule.nn.registry import LAYERS, layer_from_spec, layer_to_spec, register_layer

RNG = np.random.default_rng(42)


def t64(a, grad: bool = False) -> cr.Tensor:
    return cr.tensor(np.array(a, dtype=np.float64), requires_grad=grad)


def check_layer_gradients(layer: nn.Module, x: np.ndarray) -> None:
    """gradcheck a float64 copy of ``layer`` with respect to its input and every parameter."""
    layer.astype(np.float64)
    params = layer.parameters()
    xt = t64(x, grad=True)
    assert cr.gradcheck(lambda inp, *ps: layer(inp), [xt, *params])


# -- Linear ----------------------------------------------------------------------------------
def test_linear_computes_x_times_weight_transposed_plus_bias():
    layer = nn.Linear(3, 2, rng=0)
    assert layer.weight.shape == (2, 3) and layer.bias.shape == (2,)
    layer.bias.data = np.array([0.5, -1.0], np.float32)
    x = RNG.normal(size=(4, 3)).astype(np.float32)
    expected = x @ layer.weight.data.T + layer.bias.data
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-6)
    batch = RNG.normal(size=(2, 5, 3)).astype(np.float32)  # leading axes are kept
    np.testing.assert_allclose(
        layer(batch).data, batch @ layer.weight.data.T + layer.bias.data, rtol=1e-6
    )


def test_linear_default_init_is_glorot_uniform_with_zero_bias():
    layer = nn.Linear(400, 200, rng=0)
    bound = math.sqrt(6 / 600)
    assert np.abs(layer.weight.data).max() <= bound
    assert layer.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.03)
    assert (layer.bias.data == 0).all()
    assert layer.weight.dtype == np.float32


def test_linear_named_inits_and_reproducible_rng():
    he = nn.Linear(400, 200, init="he", rng=0)
    assert he.weight.data.std() == pytest.approx(math.sqrt(2 / 400), rel=0.03)
    assert (nn.Linear(3, 2, init="zeros").weight.data == 0).all()
    a, b = nn.Linear(5, 4, rng=3), nn.Linear(5, 4, rng=3)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    gen = np.random.default_rng(3)
    c, d = nn.Linear(5, 4, rng=gen), nn.Linear(5, 4, rng=gen)
    np.testing.assert_array_equal(c.weight.data, a.weight.data)
    assert not np.array_equal(c.weight.data, d.weight.data)


def test_linear_reset_parameters_redraws_and_zeroes_the_bias():
    layer = nn.Linear(5, 4, rng=0)
    before = layer.weight.data.copy()
    layer.bias.data += 1
    layer.reset_parameters(rng=1)
    assert not np.array_equal(before, layer.weight.data)
    assert (layer.bias.data == 0).all()


def test_linear_without_bias():
    layer = nn.Linear(3, 2, bias=False, rng=0)
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    x = np.ones((1, 3), np.float32)
    np.testing.assert_allclose(layer(x).data, x @ layer.weight.data.T)
    assert repr(layer) == "Linear(3 -> 2, bias=False)"


@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck(bias):
    check_layer_gradients(nn.Linear(4, 3, bias=bias, rng=0), RNG.normal(size=(5, 4)))


def test_linear_shape_error_names_the_layer():
    with pytest.raises(ShapeError, match=r"Linear\(784 -> 256\) got input of shape \(128, 100\)"):
        nn.Linear(784, 256, rng=0)(np.zeros((128, 100), np.float32))


def test_linear_casts_data_but_refuses_graph_inputs_of_another_dtype():
    layer = nn.Linear(3, 2, rng=0)
    out = layer(np.ones((2, 3)))  # float64 data -> the layer's float32
    assert out.dtype == np.float32
    assert layer(cr.tensor(np.ones((2, 3), np.uint8))).dtype == np.float32
    with pytest.raises(DtypeError, match=r"Linear\(3 -> 2\) has float32 parameters but got a "):
        layer(t64(np.ones((2, 3)), grad=True))
    layer.astype(np.float64)
    assert layer(t64(np.ones((2, 3)), grad=True)).dtype == np.float64
    with pytest.raises(DtypeError, match=r"float64 parameters but got a float32 input"):
        layer(cr.tensor(np.ones((2, 3), np.float32), requires_grad=True))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"in_features": 0, "out_features": 2}, r"in_features must be a positive integer, got 0"),
        ({"in_features": 2, "out_features": 2.5}, r"out_features must be a positive integer"),
        ({"in_features": 2, "out_features": 2, "bias": "yes"}, r"bias must be True or False"),
        ({"in_features": 2, "out_features": 2, "init": "lecun"}, r"unknown init 'lecun'"),
        ({"in_features": 2, "out_features": 2, "rng": 1.5}, r"rng must be a numpy"),
    ],
)
def test_linear_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        nn.Linear(**kwargs)


# -- Sequential, Flatten, Identity -----------------------------------------------------------
def make_mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 8, rng=0), nn.Tanh(), nn.Linear(8, 3, rng=1))


def test_sequential_applies_layers_in_order():
    model = make_mlp()
    x = RNG.normal(size=(2, 4)).astype(np.float32)
    expected = model[2](model[1](model[0](x)))
    np.testing.assert_array_equal(model(x).data, expected.data)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert nn.Sequential()(x) is x


def test_sequential_indexing_len_iteration_and_append():
    model = make_mlp()
    assert len(model) == 3
    assert [type(m).__name__ for m in model] == ["Linear", "Tanh", "Linear"]
    assert model[-1] is model[2] and model[0] is getattr(model, "0")
    assert model[np.int64(1)] is model[1]
    head = model[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is model[0]
    relu = nn.ReLU()
    assert model.append(relu) is model and model[3] is relu and len(model) == 4
    with pytest.raises(IndexError, match=r"index 4 is out of range for 4 layers"):
        model[4]
    with pytest.raises(TypeError, match=r"indices must be ints or slices, got '0'"):
        model["0"]


def test_sequential_refuses_non_modules():
    with pytest.raises(ConfigError, match=r"got type at position 1; did you forget the paren"):
        nn.Sequential(nn.ReLU(), nn.ReLU)
    with pytest.raises(ConfigError, match=r"either modules or layers=specs, not both"):
        nn.Sequential(nn.ReLU(), layers=[])


def test_sequential_gradcheck():
    check_layer_gradients(make_mlp(), RNG.normal(size=(3, 4)))


def test_flatten_shapes_and_gradient():
    x = RNG.normal(size=(2, 3, 4, 5))
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0)(x).shape == (120,)
    assert nn.Flatten(1, 2)(x).shape == (2, 12, 5)
    assert nn.Flatten(-2)(x).shape == (2, 3, 20)
    np.testing.assert_array_equal(nn.Flatten()(x).data, x.reshape(2, 60))
    check_layer_gradients(nn.Flatten(), x)


def test_flatten_errors():
    with pytest.raises(ShapeError, match=r"Flatten\(start_dim=3, end_dim=-1\) got input of shape"):
        nn.Flatten(3)(np.zeros((2, 3)))
    with pytest.raises(ShapeError, match=r"wrong order"):
        nn.Flatten(2, 1)(np.zeros((2, 3, 4)))
    with pytest.raises(ConfigError, match=r"Flatten: start_dim must be an int, got 1.0"):
        nn.Flatten(1.0)


def test_identity_returns_its_input():
    x = cr.tensor([1.0, 2.0])
    assert nn.Identity()(x) is x
    assert repr(nn.Identity()) == "Identity()"


# -- Dropout ---------------------------------------------------------------------------------
def test_dropout_in_eval_mode_is_the_identity():
    layer = nn.Dropout(0.5, rng=0).eval()
    x = cr.tensor(RNG.normal(size=(10, 10)))
    assert layer(x) is x


def test_dropout_drops_a_fraction_p_and_scales_the_rest():
    p = 0.3
    x = RNG.random((1000, 1000)).astype(np.float32) + 0.5  # no zeros in the input
    out = nn.Dropout(p, rng=1)(x).data
    dropped = out == 0
    assert abs(dropped.mean() - p) < 0.003  # 1e6 draws: the standard error is 0.0005
    np.testing.assert_allclose(out[~dropped], x[~dropped] / (1 - p), rtol=1e-6)
    assert out.dtype == np.float32


def test_dropout_masks_follow_the_seed_and_gradient_is_the_mask():
    x = t64(np.ones((4, 50)), grad=True)
    a, b = nn.Dropout(0.5, rng=9)(x), nn.Dropout(0.5, rng=9)(x)
    np.testing.assert_array_equal(a.data, b.data)
    a.sum().backward()
    np.testing.assert_array_equal(x.grad, a.data)  # input of ones: output == mask == gradient
    layer = nn.Dropout(0.5, rng=9)
    assert not np.array_equal(layer(x).data, layer(x).data)  # the layer's generator advances


def test_dropout_gradcheck_with_a_fixed_mask():
    layer = nn.Dropout(0.4)

    def fixed_mask(x):
        layer.rng = np.random.default_rng(5)  # the same mask at every evaluation
        return layer(x)

    assert cr.gradcheck(fixed_mask, [t64(RNG.normal(size=(6, 5)), grad=True)])


def test_dropout_p_zero_is_the_identity():
    x = cr.tensor([1.0, 2.0])
    assert nn.Dropout(0.0)(x) is x


@pytest.mark.parametrize("p", [1.0, -0.1, "0.5", True, float("nan")])
def test_dropout_p_must_be_a_probability_below_one(p):
    with pytest.raises(ConfigError, match=r"Dropout: p must be a number in \[0, 1\)"):
        nn.Dropout(p)


# -- BatchNorm1d -----------------------------------------------------------------------------
def test_batchnorm_training_uses_batch_statistics_and_updates_running_ones():
    bn = nn.BatchNorm1d(3, eps=1e-5, momentum=0.1).astype(np.float64)
    bn.weight.data = np.array([1.0, 2.0, 0.5])
    bn.bias.data = np.array([0.0, -1.0, 3.0])
    running_mean, running_var = np.zeros(3), np.ones(3)
    for step in range(2):
        x = RNG.normal(loc=step + 1, scale=2.0, size=(8, 3))
        mean, var = x.mean(axis=0), x.var(axis=0)  # biased variance normalizes
        expected = (x - mean) / np.sqrt(var + 1e-5) * bn.weight.data + bn.bias.data
        np.testing.assert_allclose(bn(x).data, expected, rtol=1e-10)
        running_mean = 0.9 * running_mean + 0.1 * mean
        running_var = 0.9 * running_var + 0.1 * x.var(axis=0, ddof=1)  # unbiased is tracked
        np.testing.assert_allclose(bn.running_mean.data, running_mean, rtol=1e-12)
        np.testing.assert_allclose(bn.running_var.data, running_var, rtol=1e-12)
    assert int(bn.num_batches_tracked.data) == 2


def test_batchnorm_eval_uses_running_statistics():
    bn = nn.BatchNorm1d(2).astype(np.float64)
    bn.running_mean.data = np.array([1.0, -2.0])
    bn.running_var.data = np.array([4.0, 0.25])
    bn.weight.data = np.array([3.0, 1.0])
    bn.bias.data = np.array([0.5, 0.0])
    bn.eval()
    x = RNG.normal(size=(1, 2))  # a batch of one is fine in eval mode
    expected = (x - [1.0, -2.0]) / np.sqrt(np.array([4.0, 0.25]) + 1e-5) * [3.0, 1.0] + [0.5, 0]
    np.testing.assert_allclose(bn(x).data, expected, rtol=1e-12)
    np.testing.assert_array_equal(bn.running_mean.data, [1.0, -2.0])  # not updated in eval


def test_batchnorm_with_length_axis_and_cumulative_average():
    bn = nn.BatchNorm1d(2, momentum=None, affine=False).astype(np.float64)
    assert bn.parameters() == []
    xs = [RNG.normal(size=(3, 2, 4)) for _ in range(3)]
    for x in xs:
        out = bn(x).data
        mean = x.mean(axis=(0, 2), keepdims=True)
        np.testing.assert_allclose(out, (x - mean) / np.sqrt(x.var(axis=(0, 2), keepdims=True)
                                                            + 1e-5), rtol=1e-10)  # fmt: skip
    per_batch = [x.transpose(1, 0, 2).reshape(2, -1) for x in xs]
    np.testing.assert_allclose(bn.running_mean.data, np.mean([b.mean(1) for b in per_batch], 0))
    np.testing.assert_allclose(
        bn.running_var.data, np.mean([b.var(1, ddof=1) for b in per_batch], 0)
    )


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradcheck(training):
    bn = nn.BatchNorm1d(3)
    bn.weight.data = np.array([1.5, -0.5, 2.0], np.float32)
    bn.bias.data = np.array([0.1, 0.2, -0.3], np.float32)
    bn.running_var.data = np.array([0.5, 2.0, 1.0], np.float32)
    bn.train(training)
    check_layer_gradients(bn, RNG.normal(size=(5, 3)) * 2 + 1)


def test_batchnorm_gradcheck_with_length_axis():
    check_layer_gradients(nn.BatchNorm1d(2), RNG.normal(size=(2, 2, 3)))


def test_batchnorm_errors():
    bn = nn.BatchNorm1d(64)
    with pytest.raises(ShapeError, match=r"BatchNorm1d\(64\) got input of shape \(32, 10\)"):
        bn(np.zeros((32, 10), np.float32))
    with pytest.raises(ShapeError, match=r"more than one value per feature.*\(1, 64\).*eval"):
        bn(np.zeros((1, 64), np.float32))
    with pytest.raises(ShapeError, match=r"expected \(N, 64\) or \(N, 64, L\)"):
        bn(np.zeros(64, np.float32))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_features": 0}, r"num_features must be a positive integer"),
        ({"num_features": 3, "eps": 0}, r"eps must be a positive number"),
        ({"num_features": 3, "momentum": 1.5}, r"momentum must be a number in \[0, 1\] or None"),
        ({"num_features": 3, "affine": 1}, r"affine must be True or False"),
    ],
)
def test_batchnorm_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        nn.BatchNorm1d(**kwargs)


def test_batchnorm_state_and_repr():
    bn = nn.BatchNorm1d(4)
    assert list(bn.state_dict()) == [
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"
    ]  # fmt: skip
    assert repr(bn) == "BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True)"


# -- activations -----------------------------------------------------------------------------
X_ACT = np.array([[-3.0, -1.2, -0.3], [0.4, 1.1, 2.5]])  # no kinks at exactly 0


def erf_np(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf)(x)


@pytest.mark.parametrize(
    "layer, formula",
    [
        (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
        (nn.Tanh(), np.tanh),
        (nn.ReLU(), lambda x: np.maximum(x, 0)),
        (nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
        (nn.ELU(1.5), lambda x: np.where(x > 0, x, 1.5 * (np.exp(x) - 1))),
        (nn.GELU(), lambda x: 0.5 * x * (1 + erf_np(x / math.sqrt(2)))),
        (nn.GELU("tanh"),
         lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))),
        (nn.Softmax(), lambda x: np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True)),
        (nn.Softmax(axis=0), lambda x: np.exp(x) / np.exp(x).sum(axis=0, keepdims=True)),
        (nn.LogSoftmax(), lambda x: x - np.log(np.exp(x).sum(axis=-1, keepdims=True))),
    ],
)  # fmt: skip
def test_activation_layers_match_formulas_and_gradcheck(layer, formula):
    # the erf inside GELU is within 1.5e-7 of the true one: GELU within 0.5 * |x| * 1.5e-7
    np.testing.assert_allclose(layer(t64(X_ACT)).data, formula(X_ACT), rtol=1e-6, atol=2.5e-7)
    check_layer_gradients(layer, X_ACT)


def test_functional_activations_are_exported():
    for name in ["relu", "sigmoid", "tanh", "leaky_relu", "elu", "gelu", "softmax", "log_softmax"]:
        assert callable(getattr(F, name))
    np.testing.assert_allclose(F.elu(t64([-1.0]), alpha=2.0).data, [2 * (math.exp(-1) - 1)])
    np.testing.assert_allclose(F.erf(t64([0.5, -2.0])).data, erf_np([0.5, -2.0]), atol=2e-7)


def test_elu_and_gelu_survive_huge_inputs():
    x = t64([1000.0, -1000.0], grad=True)
    y = F.elu(x) + F.gelu(x)
    y.sum().backward()
    np.testing.assert_allclose(y.data, [2000.0, -1.0])
    np.testing.assert_allclose(x.grad, [2.0, 0.0])


def test_erf_gradient_at_zero_is_two_over_root_pi():
    x = t64([0.0], grad=True)
    F.erf(x).backward(np.ones(1))
    assert x.grad[0] == pytest.approx(2 / math.sqrt(math.pi), rel=1e-5)


def test_activation_config_errors():
    with pytest.raises(ConfigError, match=r"LeakyReLU: negative_slope must be a number"):
        nn.LeakyReLU("0.1")
    with pytest.raises(ConfigError, match=r"ELU: alpha must be a number, got None"):
        nn.ELU(None)
    with pytest.raises(ConfigError, match=r"GELU: approximate must be 'none' or 'tanh'"):
        nn.GELU("erf")
    with pytest.raises(ConfigError, match=r"gelu: approximate must be 'none' or 'tanh'"):
        F.gelu(t64([1.0]), approximate="fast")
    with pytest.raises(ConfigError, match=r"Softmax: axis must be an int, got 1.0"):
        nn.Softmax(1.0)
    with pytest.raises(ConfigError, match=r"LogSoftmax: axis must be an int"):
        nn.LogSoftmax(axis=None)


# -- configs, specs and the registry ---------------------------------------------------------
def every_layer() -> list[nn.Module]:
    return [
        nn.Linear(3, 2, bias=False, init="he", rng=0), make_mlp(), nn.Flatten(2, 3),
        nn.Identity(), nn.Dropout(0.25), nn.BatchNorm1d(5, eps=1e-3, momentum=None, affine=False),
        nn.Sigmoid(), nn.Tanh(), nn.ReLU(), nn.LeakyReLU(0.3), nn.ELU(0.5), nn.GELU("tanh"),
        nn.Softmax(0), nn.LogSoftmax(1),
        nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(4, 4, rng=0), nn.ReLU())),
        nn.ModuleList([nn.Linear(2, 3, rng=0), nn.ReLU()]),
        nn.ModuleDict({"enc": nn.Linear(3, 2, rng=1), "act": nn.Tanh()}),
        # the recurrent family (branch rnn)
        nn.Embedding(10, 3, padding_idx=0), nn.RNN(3, 4, 2, "relu", bidirectional=True),
        nn.LSTM(3, 4, 2, batch_first=True, dropout=0.5), nn.GRU(3, 4, bias=False),
        nn.RNNCell(3, 4, nonlinearity="relu"), nn.LSTMCell(3, 4), nn.GRUCell(3, 4, bias=False),
        nn.text_classifier(20, 4, 5, arch="gru", pooling="max"), nn.tagger(20, 3, 4, 5),
        # the convolutional family (branch conv)
        nn.Conv2d(4, 6, (3, 2), stride=2, padding=1, dilation=(1, 2), groups=2, bias=False),
        nn.Conv2d(1, 8, 4, padding="same"), nn.Conv1d(3, 6, 5, stride=2, padding="valid"),
        nn.MaxPool2d(3, stride=2, padding=1, dilation=2), nn.MaxPool1d(2),
        nn.AvgPool2d((2, 3), count_include_pad=False), nn.AvgPool1d(3, stride=1, padding=1),
        nn.AdaptiveAvgPool2d(1), nn.AdaptiveAvgPool1d(4),
        nn.BatchNorm2d(6, momentum=0.2), nn.Dropout2d(0.3),
        nn.RandomFlip("vertical"), nn.RandomShift(3, fill_mode="constant", fill_value=-1.0),
        # audio (branch audio)
        nn.AudioClassifier(6, 3, hidden=5, arch="lstm", bidirectional=True, pooling="last"),
        nn.AudioClassifier(6, 3, hidden=4, arch="conv1d", layers=3, dropout=0.2),
    ]  # fmt: skip


def test_every_registered_layer_is_covered():
    assert {type(layer).__name__ for layer in every_layer()} == set(LAYERS)


@pytest.mark.parametrize("layer", every_layer(), ids=lambda m: type(m).__name__)
def test_config_rebuilds_an_equivalent_layer(layer):
    config = layer.get_config()
    assert json.loads(json.dumps(config)) == config  # JSON-safe
    rebuilt = type(layer)(**config)
    assert type(rebuilt) is type(layer) and repr(rebuilt) == repr(layer)
    assert rebuilt.get_config() == config
    spec = json.loads(json.dumps(layer_to_spec(layer)))
    assert spec == {"type": type(layer).__name__, "config": config}
    from_spec = layer_from_spec(spec)
    assert repr(from_spec) == repr(layer)
    assert {n: a.shape for n, a in from_spec.state_dict().items()} == {
        n: a.shape for n, a in layer.state_dict().items()
    }


def test_sequential_config_format():
    config = nn.Sequential(nn.Linear(2, 3, rng=0), nn.ReLU()).get_config()
    assert config == {
        "layers": [
            {"type": "Linear",
             "config": {"in_features": 2, "out_features": 3, "bias": True, "init": "auto"}},
            {"type": "ReLU", "config": {}},
        ]
    }  # fmt: skip


def test_layer_from_spec_refuses_unknown_types_and_bad_arguments():
    with pytest.raises(FormatError, match=r"unknown layer type 'os.system'; known types are"):
        layer_from_spec({"type": "os.system", "config": {}})
    with pytest.raises(FormatError, match=r"bad config for a Linear layer: .*'out_features'"):
        layer_from_spec({"type": "Linear", "config": {"in_features": 3}})
    with pytest.raises(FormatError, match=r"bad config for a Dropout layer: .*'q'"):
        layer_from_spec({"type": "Dropout", "config": {"q": 0.1}})
    with pytest.raises(FormatError, match=r"bad config for a Linear layer: Linear: in_features"):
        layer_from_spec({"type": "Linear", "config": {"in_features": -3, "out_features": 2}})
    with pytest.raises(FormatError, match=r"exactly the keys 'type' and 'config', got \['type'\]"):
        layer_from_spec({"type": "ReLU"})
    with pytest.raises(FormatError, match=r"got list"):
        layer_from_spec(["ReLU"])
    with pytest.raises(FormatError, match=r"config of a ReLU layer must be a dict"):
        layer_from_spec({"type": "ReLU", "config": [1]})


def test_nested_spec_errors_name_the_position():
    spec = {"type": "Sequential", "config": {"layers": [
        {"type": "ReLU", "config": {}},
        {"type": "Sequential", "config": {"layers": [{"type": "Conv9d", "config": {}}]}},
    ]}}  # fmt: skip
    with pytest.raises(FormatError, match=r"Sequential layer 1: Sequential layer 0: unknown lay"):
        layer_from_spec(spec)
    with pytest.raises(FormatError, match=r"layers must be a list of specs"):
        layer_from_spec({"type": "Sequential", "config": {"layers": "ReLU"}})


def test_deeply_nested_specs_are_refused():
    spec: dict = {"type": "ReLU", "config": {}}
    for _ in range(100):
        spec = {"type": "Sequential", "config": {"layers": [spec]}}
    with pytest.raises(FormatError, match=r"nested more than 64 levels deep"):
        layer_from_spec(spec)


def test_unregistered_layers_cannot_be_described_until_registered():
    class Double(nn.Module):
        def forward(self, x):
            return x * 2

        def get_config(self):
            return {}

    with pytest.raises(ConfigError, match=r"cannot describe a Double layer: only registered"):
        layer_to_spec(Double())
    with pytest.raises(ConfigError, match=r"cannot describe a Double layer"):
        nn.Sequential(Double()).get_config()
    try:
        register_layer(Double)
        assert isinstance(layer_from_spec(layer_to_spec(Double())), Double)
    finally:
        LAYERS.pop("Double")
    try:
        register_layer(Double, name="my.Double")
        spec = layer_to_spec(Double())
        assert spec["type"] == "my.Double" and isinstance(layer_from_spec(spec), Double)
    finally:
        LAYERS.pop("my.Double")


def test_register_layer_and_layer_to_spec_errors():
    class NoConfig(nn.Module):
        pass

    class BadConfig(nn.Module):
        def get_config(self):
            return {"rng": np.random.default_rng()}

    with pytest.raises(ConfigError, match=r"takes a Module subclass"):
        register_layer(int)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"NoConfig must define get_config"):
        register_layer(NoConfig)
    with pytest.raises(ConfigError, match=r"the name 'Linear' is already taken"):
        register_layer(BadConfig, name="Linear")
    LAYERS["NoConfig"] = NoConfig  # bypassing register_layer's check
    try:
        with pytest.raises(ConfigError, match=r"NoConfig layer: it has no get_config\(\) method"):
            layer_to_spec(NoConfig())
    finally:
        LAYERS.pop("NoConfig")
    try:
        register_layer(BadConfig)
        with pytest.raises(ConfigError, match=r"BadConfig.get_config\(\) is not JSON-safe"):
            layer_to_spec(BadConfig())
    finally:
        LAYERS.pop("BadConfig")


def test_repr_of_a_model_reads_like_pytorch():
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(784, 256, rng=0), nn.ReLU(), nn.Dropout(0.2),
        nn.Sequential(nn.Linear(256, 10, rng=0), nn.LogSoftmax()),
    )  # fmt: skip
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Flatten(start_dim=1, end_dim=-1)\n"
        "  (1): Linear(784 -> 256, bias=True)\n"
        "  (2): ReLU()\n"
        "  (3): Dropout(p=0.2)\n"
        "  (4): Sequential(\n"
        "    (0): Linear(256 -> 10, bias=True)\n"
        "    (1): LogSoftmax(axis=-1)\n"
        "  )\n"
        ")"
    )
