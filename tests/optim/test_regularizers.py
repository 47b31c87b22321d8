"""Penalties (values, gradients, weight selection), the max-norm constraint, gradient clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ConfigError, GradientError, ShapeError
from chainrule.nn import Module, Parameter
from chainrule.regularizers import (
    L1,
    L2,
    ElasticNet,
    MaxNorm,
    clip_grad_norm_,
    clip_grad_value_,
    elastic_net_penalty,
    is_weight,
    l1_penalty,
    l2_penalty,
    max_norm_,
)


def _tensors(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    # Entries kept away from 0, where |w| has a kink that central differences would straddle.
    a = rng.uniform(0.2, 1.0, size=(3, 4)) * rng.choice([-1, 1], size=(3, 4))
    b = rng.uniform(0.2, 1.0, size=(5,)) * rng.choice([-1, 1], size=(5,))
    return [cr.tensor(x, requires_grad=True, dtype=dtype) for x in (a, b)]


def test_penalty_values_against_the_formulas():
    ws = _tensors()
    arrays = [w.data for w in ws]
    l1 = 0.3 * sum(np.abs(a).sum() for a in arrays)
    l2 = 0.7 / 2 * sum((a**2).sum() for a in arrays)
    assert l1_penalty(ws, 0.3).item() == pytest.approx(l1, rel=1e-14)
    assert l2_penalty(ws, 0.7).item() == pytest.approx(l2, rel=1e-14)
    assert elastic_net_penalty(ws, 0.3, 0.7).item() == pytest.approx(l1 + l2, rel=1e-14)
    assert l2_penalty(ws, 0.7).shape == ()


def test_penalty_gradients_are_strength_times_sign_and_w():
    ws = _tensors()
    (l1_penalty(ws, 0.3) + l2_penalty(ws, 0.7)).backward()
    for w in ws:
        np.testing.assert_allclose(w.grad, 0.3 * np.sign(w.data) + 0.7 * w.data, rtol=1e-14)


@pytest.mark.parametrize(
    "penalty",
    [
        lambda a, b: l1_penalty([a, b], 0.3),
        lambda a, b: l2_penalty([a, b], 0.7),
        lambda a, b: elastic_net_penalty([a, b], 0.3, 0.7),
    ],
)
def test_penalty_gradcheck(penalty):
    assert cr.gradcheck(penalty, _tensors())


def test_penalties_keep_float32():
    ws = _tensors(np.float32)
    for value in [l1_penalty(ws, 0.1), l2_penalty(ws, 0.1), elastic_net_penalty(ws, 0.1, 0.2)]:
        assert value.dtype == np.float32


def test_zero_strength_and_no_tensors_give_a_constant_zero():
    ws = _tensors(np.float32)
    for value in [l2_penalty(ws, 0.0), l1_penalty([], 0.5)]:
        assert value.item() == 0.0 and not value.requires_grad


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda ws: l1_penalty(ws, -0.1), "l1_penalty: strength must be a finite number >= 0"),
        (lambda ws: l2_penalty(ws, math.inf), "l2_penalty: strength must be a finite number"),
        (lambda ws: l2_penalty(ws, "0.1"), r"strength must be a finite number >= 0, got '0.1'"),
        (lambda ws: elastic_net_penalty(ws, 0.1, -1), "elastic_net_penalty: l2 must be"),
        (lambda ws: l2_penalty([ws[0].data], 0.1), "expected tensors or .name, tensor. pairs"),
        (lambda ws: l2_penalty(5, 0.1), "expected tensors .e.g. model.parameters..., got int"),
        (lambda ws: L2(-1.0), "L2: strength must be a finite number >= 0, got -1.0"),
        (lambda ws: L1(0.1, select="weight"), "select must be a callable"),
        (lambda ws: ElasticNet(0.1, math.nan), "ElasticNet: l2 must be a finite number"),
        (lambda ws: L2(0.1)(ws), r"expected \(name, tensor\) pairs .* got tensor"),
        (lambda ws: L2(0.1)(ws[0]), "expected a Module or .name, tensor. pairs"),
    ],
)
def test_penalty_validation(make, match):
    with pytest.raises(ConfigError, match=match):
        make(_tensors())


class _Norm(Module):
    """A batch-norm-like module: 1-D weight and bias."""

    def __init__(self):
        super().__init__()
        self.weight = Parameter(np.full(3, 2.0))
        self.bias = Parameter(np.full(3, 3.0))


class _Net(Module):
    """Weights named like layers' (2-D and 4-D), biases, a norm layer and a frozen weight."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(1)
        self.weight = Parameter(rng.normal(size=(3, 2)))
        self.bias = Parameter(rng.normal(size=3))
        self.norm = _Norm()
        self.conv_weight = Parameter(rng.normal(size=(2, 3, 2, 2)))
        self.frozen_weight = Parameter(rng.normal(size=(2, 2)), requires_grad=False)
        self.scale = Parameter(rng.normal(size=(2, 2)))  # 2-D but not named "...weight"


def test_default_selection_is_trainable_weights_with_ndim_at_least_2():
    net = _Net()
    names = [name for name, _ in L2(0.1).selected(net)]
    assert names == ["weight", "conv_weight"]
    assert not is_weight("norm.weight", net.norm.weight)
    assert not is_weight("bias", net.bias) and not is_weight("frozen_weight", net.frozen_weight)


def test_model_penalties_use_only_the_selected_weights():
    net = _Net()
    w, k = net.weight.data, net.conv_weight.data
    l2 = 0.4 / 2 * ((w**2).sum() + (k**2).sum())
    l1 = 0.2 * (np.abs(w).sum() + np.abs(k).sum())
    assert L2(0.4)(net).item() == pytest.approx(l2, rel=1e-14)
    assert L1(0.2)(net).item() == pytest.approx(l1, rel=1e-14)
    assert ElasticNet(0.2, 0.4)(net.named_parameters()).item() == pytest.approx(l1 + l2)
    L2(0.4)(net).backward()
    np.testing.assert_allclose(net.weight.grad, 0.4 * w)
    assert net.bias.grad is None and net.norm.weight.grad is None and net.scale.grad is None


def test_custom_selection():
    net = _Net()
    penalty = L2(1.0, select=lambda name, p: name.endswith("bias"))
    assert [n for n, _ in penalty.selected(net)] == ["bias", "norm.bias"]
    expected = 0.5 * ((net.bias.data**2).sum() + 9.0 * 3)
    assert penalty(net).item() == pytest.approx(expected)
    assert repr(penalty) == "L2(strength=1.0)"


def test_max_norm_renormalizes_rows_over_the_limit_only():
    rng = np.random.default_rng(2)
    w = rng.normal(size=(5, 4)).astype(np.float32)
    w[1] *= 0.01  # a short row stays as it is
    p = Parameter(w.copy())
    max_norm_([p], max_norm=1.0)
    norms = np.linalg.norm(w, axis=1)
    after = np.linalg.norm(p.data, axis=1)
    assert p.data.dtype == np.float32
    for row in range(5):
        if norms[row] > 1.0:
            np.testing.assert_allclose(after[row], 1.0, rtol=1e-6)
            np.testing.assert_allclose(p.data[row], w[row] / norms[row], rtol=1e-6)
        else:
            np.testing.assert_array_equal(p.data[row], w[row])
    assert norms[1] < 1.0


def test_max_norm_over_several_axes_and_the_model_form():
    net = _Net()
    kernel = net.conv_weight.data.copy() * 10
    net.conv_weight.data = kernel.copy()
    bias = net.bias.data.copy()
    MaxNorm(0.5)(net)
    unit_norms = np.sqrt((net.conv_weight.data**2).sum(axis=(1, 2, 3)))
    np.testing.assert_allclose(unit_norms, 0.5)
    np.testing.assert_allclose(net.weight.data.shape, (3, 2))
    assert np.all(np.linalg.norm(net.weight.data, axis=1) <= 0.5 + 1e-12)
    np.testing.assert_array_equal(net.bias.data, bias)
    q = Parameter(kernel.copy())
    max_norm_([q], 0.5, axis=(1, 2, 3))
    np.testing.assert_allclose(q.data, net.conv_weight.data)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda p: max_norm_([p], 0.0), ConfigError, "max_norm must be a finite number > 0"),
        (lambda p: max_norm_([p], 1.0, axis=2), ShapeError, r"axis 2 is out of range .* \(3,\)"),
        (lambda p: max_norm_([p], 1.0, axis="rows"), ConfigError, "axis must be an int"),
        (lambda p: MaxNorm(-1), ConfigError, "MaxNorm: max_norm must be a finite number > 0"),
    ],
)
def test_max_norm_validation(call, error, match):
    with pytest.raises(error, match=match):
        call(Parameter(np.ones(3)))


def _with_grads(grads):
    params = []
    for g in grads:
        p = Parameter(np.zeros(np.shape(g)))
        p.grad = None if g is None else np.array(g, dtype=np.float64)
        params.append(p)
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3, math.inf])
def test_clip_grad_norm_against_the_formula(norm_type):
    rng = np.random.default_rng(3)
    grads = [rng.normal(size=(3, 4)), rng.normal(size=5), None]
    params = _with_grads(grads)
    flat = np.concatenate([g.ravel() for g in grads[:2]])
    if norm_type == math.inf:
        total = np.abs(flat).max()
    else:
        total = (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
    limit = total / 3
    returned = clip_grad_norm_(params, limit, norm_type=norm_type)
    assert returned == pytest.approx(total, rel=1e-12)
    scale = limit / (total + 1e-6)
    for p, g in zip(params[:2], grads[:2]):
        np.testing.assert_allclose(p.grad, g * scale, rtol=1e-12)
    assert params[2].grad is None


def test_clip_grad_norm_below_the_limit_changes_nothing():
    params = _with_grads([[3.0, 4.0]])
    grad = params[0].grad
    assert clip_grad_norm_(params, 5.5) == pytest.approx(5.0)
    assert params[0].grad is grad


def test_clipping_replaces_shared_gradient_arrays():
    shared = np.array([3.0, 4.0])
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    a.grad = b.grad = shared
    clip_grad_norm_([a], 1.0)
    np.testing.assert_array_equal(shared, [3.0, 4.0])
    np.testing.assert_allclose(a.grad, [0.6, 0.8], rtol=1e-5)
    clip_grad_value_([b], 3.5)
    np.testing.assert_array_equal(shared, [3.0, 4.0])
    np.testing.assert_array_equal(b.grad, [3.0, 3.5])


def test_clipping_keeps_float32():
    p = Parameter(np.zeros(3, dtype=np.float32))
    p.grad = np.array([10.0, -20.0, 5.0], dtype=np.float32)
    clip_grad_norm_([p], 1.0)
    assert p.grad.dtype == np.float32
    clip_grad_value_([p], 0.1)
    assert p.grad.dtype == np.float32


def test_clip_grad_value():
    params = _with_grads([[-5.0, 0.5, 2.0], None])
    clip_grad_value_(params, 1.0)
    np.testing.assert_array_equal(params[0].grad, [-1.0, 0.5, 1.0])
    assert params[1].grad is None


def test_non_finite_norms():
    params = _with_grads([[np.nan, 1.0]])
    assert math.isnan(clip_grad_norm_(params, 1.0))
    with pytest.raises(GradientError, match="total gradient norm is nan"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    assert clip_grad_norm_(_with_grads([None]), 1.0) == 0.0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda ps: clip_grad_norm_(ps, 0.0), "clip_grad_norm_: max_norm must be a finite number"),
        (lambda ps: clip_grad_norm_(ps, 1.0, norm_type=0), "norm_type must be a number > 0 or inf"),
        (lambda ps: clip_grad_norm_(ps, 1.0, norm_type="two"), "norm_type must be a number"),
        (lambda ps: clip_grad_value_(ps, -1.0), "clip_value must be a finite number > 0"),
        (lambda ps: clip_grad_value_(ps, math.inf), "clip_value must be a finite number > 0"),
    ],
)
def test_clipping_validation(call, match):
    with pytest.raises(ConfigError, match=match):
        call(_with_grads([[1.0, 2.0]]))
