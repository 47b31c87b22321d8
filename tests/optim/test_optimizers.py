"""Optimizers: each step against its update rule written out in NumPy, dtypes, state, validation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

import chainrule as cr
from chainrule.errors import ConfigError, ShapeError
from chainrule.nn import Module, Parameter
from chainrule.optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop

SHAPES = [(3, 4), (4,)]
STEPS = 5


def _grads(seed: int, dtype=np.float64) -> list[list[np.ndarray]]:
    """STEPS gradients for each parameter; parameter 1 has no gradient at step 2."""
    rng = np.random.default_rng(seed)
    out = []
    for step in range(STEPS):
        gs = [rng.normal(size=s).astype(dtype) for s in SHAPES]
        if step == 2:
            gs[1] = None
        out.append(gs)
    return out


def _params(seed: int = 1, dtype=np.float64) -> list[Parameter]:
    rng = np.random.default_rng(seed)
    return [Parameter(rng.normal(size=s).astype(dtype)) for s in SHAPES]


# -- reference updates, written out from the formulas --------------------------------------------
def ref_sgd(w, grads, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    v = None
    for g in grads:
        if g is None:
            continue
        w = w - lr * weight_decay * w
        if momentum:
            v = g.copy() if v is None else momentum * v + (1 - dampening) * g
            d = g + momentum * v if nesterov else v
        else:
            d = g
        w = w - lr * d
    return w


def ref_adam(w, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
    b1, b2 = betas
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    v_max = np.zeros_like(w)
    t = 0
    for g in grads:
        if g is None:
            continue  # a skipped step does not advance this parameter's t
        t += 1
        w = w - lr * weight_decay * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        v_max = np.maximum(v_max, v)
        m_hat = m / (1 - b1**t)
        v_hat = (v_max if amsgrad else v) / (1 - b2**t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
    return w


def ref_rmsprop(
    w, grads, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0, centered=False
):
    s = np.zeros_like(w)
    a = np.zeros_like(w)
    b = np.zeros_like(w)
    for g in grads:
        if g is None:
            continue
        w = w - lr * weight_decay * w
        s = alpha * s + (1 - alpha) * g**2
        if centered:
            a = alpha * a + (1 - alpha) * g
            d = np.sqrt(s - a**2) + eps
        else:
            d = np.sqrt(s) + eps
        if momentum:
            b = momentum * b + g / d
            w = w - lr * b
        else:
            w = w - lr * g / d
    return w


def ref_adagrad(w, grads, lr=1e-2, eps=1e-10, weight_decay=0.0, initial_accumulator_value=0.0):
    G = np.full_like(w, initial_accumulator_value)
    for g in grads:
        if g is None:
            continue
        w = w - lr * weight_decay * w
        G = G + g**2
        w = w - lr * g / (np.sqrt(G) + eps)
    return w


CASES = [
    (SGD, ref_sgd, {"lr": 0.1}),
    (SGD, ref_sgd, {"lr": 0.1, "momentum": 0.9}),
    (SGD, ref_sgd, {"lr": 0.05, "momentum": 0.8, "dampening": 0.3}),
    (SGD, ref_sgd, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    (SGD, ref_sgd, {"lr": 0.1, "momentum": 0.5, "nesterov": True, "weight_decay": 0.2}),
    (SGD, ref_sgd, {"lr": 0.1, "weight_decay": 0.3}),
    (Adam, ref_adam, {"lr": 0.01}),
    (Adam, ref_adam, {"lr": 0.02, "betas": (0.8, 0.9), "eps": 1e-6, "weight_decay": 0.1}),
    (Adam, ref_adam, {"lr": 0.01, "betas": (0.5, 0.9), "amsgrad": True}),
    (AdamW, ref_adam, {"lr": 0.01, "weight_decay": 0.05}),
    (RMSprop, ref_rmsprop, {"lr": 0.01}),
    (RMSprop, ref_rmsprop, {"lr": 0.01, "alpha": 0.9, "centered": True}),
    (RMSprop, ref_rmsprop, {"lr": 0.01, "alpha": 0.9, "momentum": 0.7, "centered": True}),
    (RMSprop, ref_rmsprop, {"lr": 0.01, "momentum": 0.5, "weight_decay": 0.1}),
    (Adagrad, ref_adagrad, {"lr": 0.1}),
    (Adagrad, ref_adagrad, {"lr": 0.1, "initial_accumulator_value": 0.5, "weight_decay": 0.1}),
]
IDS = [f"{cls.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for cls, _, kw in CASES]


def _run(opt: Optimizer, params, grads) -> None:
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = g
        opt.step()


@pytest.mark.parametrize(("cls", "ref", "kwargs"), CASES, ids=IDS)
def test_steps_match_the_update_rule(cls, ref, kwargs):
    params = _params()
    start = [p.data.copy() for p in params]
    grads = _grads(7)
    opt = cls(params, **kwargs)
    _run(opt, params, grads)
    assert opt.step_count == STEPS
    for i, p in enumerate(params):
        expected = ref(start[i], [gs[i] for gs in grads], **kwargs)
        np.testing.assert_allclose(p.data, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("cls", "ref", "kwargs"), CASES, ids=IDS)
def test_large_parameters_take_the_blas_path_and_match_the_rule(cls, ref, kwargs, dtype):
    # 150 x 120 = 18,000 elements: above blas.MIN_SIZE, so the in-place updates go through
    # NumPy's bundled BLAS where it is found (the small SHAPES above take the ufunc fallback).
    from chainrule.autodiff import blas

    assert blas.MIN_SIZE <= 150 * 120
    rng = np.random.default_rng(3)
    start = rng.normal(size=(150, 120))
    grads = [rng.normal(size=(150, 120)) for _ in range(STEPS)]
    w = Parameter(start.astype(dtype))
    opt = cls([w], **kwargs)
    for g in grads:
        w.grad = g.astype(dtype)
        opt.step()
    assert w.data.dtype == dtype and all(
        np.asarray(v).dtype == dtype for k, v in opt.state[0].items() if k != "step"
    )
    expected = ref(start, grads, **kwargs)
    # float32: the update of a weight near zero can cancel, so compare against the scale of w.
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(w.data, expected, rtol=tol, atol=tol * np.abs(expected).max())


def test_adamw_defaults_to_decoupled_weight_decay():
    params = _params()
    start = [p.data.copy() for p in params]
    grads = _grads(3)
    opt = AdamW(params)
    assert opt.weight_decay == 1e-2 and Adam(params).weight_decay == 0.0
    _run(opt, params, grads)
    expected = ref_adam(start[0], [gs[0] for gs in grads], lr=1e-3, weight_decay=1e-2)
    np.testing.assert_allclose(params[0].data, expected, rtol=1e-12)


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW, RMSprop, Adagrad])
def test_weight_decay_is_decoupled_not_l2(cls):
    # With a zero gradient only the decay acts: w <- w - lr * wd * w, for every optimizer.
    # An L2 term would enter g (and, for adaptive methods, be normalized to a step of ~lr).
    w = Parameter(np.array([[2.0, -4.0, 0.5]]))
    opt = cls([w], lr=0.1, weight_decay=0.2)
    w.grad = np.zeros((1, 3))
    opt.step()
    np.testing.assert_allclose(w.data, [[2.0, -4.0, 0.5]] - 0.1 * 0.2 * np.array([[2, -4, 0.5]]))
    for name, value in opt.state[0].items():
        if name != "step":  # no trace of the decay in any gradient statistic
            assert not np.any(value), name


def test_sgd_weight_decay_differs_from_l2_with_momentum_history():
    # L2 folds lambda*w into the momentum buffer; decoupled decay does not.
    w = Parameter(np.array([1.0]))
    opt = SGD([w], lr=0.1, momentum=0.9, weight_decay=0.5)
    for _ in range(2):
        w.grad = np.array([0.0])
        opt.step()
    assert opt.state[0]["momentum_buffer"][0] == 0.0
    np.testing.assert_allclose(w.data, [(1 - 0.05) ** 2])


@pytest.mark.parametrize(("cls", "ref", "kwargs"), CASES, ids=IDS)
def test_float32_stays_float32(cls, ref, kwargs):
    params = _params(dtype=np.float32)
    start = [p.data.astype(np.float64) for p in params]
    grads = _grads(5, dtype=np.float32)
    opt = cls(params, **kwargs)
    _run(opt, params, grads)
    for i, p in enumerate(params):
        assert p.data.dtype == np.float32
        for name, value in opt.state[i].items():
            if name != "step":
                assert value.dtype == np.float32, name
        g64 = [None if gs[i] is None else gs[i].astype(np.float64) for gs in grads]
        np.testing.assert_allclose(p.data, ref(start[i], g64, **kwargs), rtol=1e-4, atol=1e-5)
    assert all(v.dtype in (np.float32, np.int64) for v in opt.state_dict()["state"].values())


@pytest.mark.parametrize(("cls", "ref", "kwargs"), CASES, ids=IDS)
def test_gradients_are_not_modified(cls, ref, kwargs):
    params = _params()
    opt = cls(params, **kwargs)
    shared = np.random.default_rng(0).normal(size=SHAPES[0])
    for _ in range(3):
        params[0].grad = shared
        opt.step()
    assert params[0].grad is shared
    np.testing.assert_array_equal(shared, np.random.default_rng(0).normal(size=SHAPES[0]))


def test_parameters_without_gradient_are_skipped():
    params = _params()
    before = params[1].data.copy()
    opt = Adam(params, lr=0.1)
    params[0].grad = np.ones(SHAPES[0])
    opt.step()
    np.testing.assert_array_equal(params[1].data, before)
    assert opt.state[1] == {} and opt.state[0]["step"] == 1
    np.testing.assert_array_equal(opt.state_dict()["state"]["0.step"], np.array([1]))
    assert set(opt.state_dict()["state"]) == {"0.step", "0.exp_avg", "0.exp_avg_sq"}


@pytest.mark.parametrize(("cls", "ref", "kwargs"), CASES, ids=IDS)
def test_state_dict_resume_is_bit_identical(cls, ref, kwargs, tmp_path):
    grads = _grads(11, dtype=np.float32)
    params = _params(dtype=np.float32)
    opt = cls(params, **kwargs)
    _run(opt, params, grads[:3])
    saved = opt.state_dict()
    # Through the file formats a checkpoint uses: JSON for the rest, safetensors for arrays.
    rest = json.loads(json.dumps({k: v for k, v in saved.items() if k != "state"}))
    arrays = st_load(st_save(saved["state"])) if saved["state"] else {}
    snapshot = [p.data.copy() for p in params]
    _run(opt, params, grads[3:])

    resumed = [Parameter(a.copy()) for a in snapshot]
    other = cls(resumed, lr=0.5)  # different hyperparameters: the state must restore them
    other.load_state_dict({**rest, "state": arrays})
    assert other.hyperparameters() == opt.hyperparameters()
    assert other.step_count == 3
    _run(other, resumed, grads[3:])
    for a, b in zip(params, resumed):
        assert a.data.dtype == b.data.dtype == np.float32
        np.testing.assert_array_equal(a.data, b.data)
    assert other.step_count == opt.step_count


def test_state_dict_format():
    params = _params()
    opt = SGD(params, lr=0.1, momentum=0.9)
    params[0].grad = np.ones(SHAPES[0])
    opt.step()
    d = opt.state_dict()
    assert d["type"] == "SGD" and d["step"] == 1
    assert d["hyperparameters"] == {
        "lr": 0.1,
        "momentum": 0.9,
        "nesterov": False,
        "weight_decay": 0.0,
        "dampening": 0.0,
    }
    assert list(d["state"]) == ["0.momentum_buffer"]
    d["state"]["0.momentum_buffer"][:] = 5.0  # a copy, not the live buffer
    assert opt.state[0]["momentum_buffer"][0, 0] == 1.0
    json.dumps({k: v for k, v in d.items() if k != "state"})


def _adam_state():
    params = _params()
    opt = Adam(params, lr=0.1)
    for p in params:
        p.grad = np.ones(p.shape)
    opt.step()
    return params, opt, opt.state_dict()


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda d: d.update(type="SGD"), ConfigError, "state is of a 'SGD' optimizer"),
        (lambda d: d.pop("step"), ConfigError, r"lacks the keys \['step'\]"),
        (lambda d: d["hyperparameters"].pop("eps"), ConfigError, "do not match the expected"),
        (lambda d: d["hyperparameters"].update(eps=-1.0), ConfigError, "eps must be in"),
        (lambda d: d["state"].update({"0.velocity": np.ones(1)}), ConfigError, "unexpected"),
        (lambda d: d["state"].update({"7.exp_avg": np.ones(1)}), ConfigError, "only 2 param"),
        (lambda d: d["state"].pop("1.exp_avg_sq"), ConfigError, r"expected all of"),
        (lambda d: d["state"].update({"0.exp_avg": np.ones(5)}), ShapeError, r"shape \(5,\)"),
        (lambda d: d.update(param_names=["a", "b", "c"]), ConfigError, "for 3 parameters"),
        (lambda d: d["state"].update({"0.step": np.ones(2, int)}), ShapeError, "one integer"),
        (lambda d: d["state"].update({"0.step": np.array([-1])}), ShapeError, "one integer >= 0"),
        (lambda d: d["state"].update({"0.step": np.array([1.0])}), ShapeError, "dtype float64"),
    ],
)
def test_load_state_dict_validates_and_changes_nothing_on_error(change, error, match):
    params, opt, saved = _adam_state()
    before = {k: v.copy() for k, v in opt.state_dict()["state"].items()}
    opt.lr = 0.3
    change(saved)
    with pytest.raises(error, match=match):
        opt.load_state_dict(saved)
    assert opt.lr == 0.3
    after = opt.state_dict()["state"]
    assert set(after) == set(before)
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])


def test_load_state_dict_checks_parameter_names():
    model = _Tiny()
    opt = SGD(model, lr=0.1)
    assert opt.param_names == ["weight", "bias"]
    saved = opt.state_dict()
    saved["param_names"] = ["bias", "weight"]
    with pytest.raises(ConfigError, match="named 'weight' here but 'bias' in the state"):
        opt.load_state_dict(saved)


class _Tiny(Module):
    """y = x @ weight.T + bias."""

    def __init__(self, n_in: int = 3, seed: int = 0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.weight = Parameter(rng.normal(scale=0.1, size=(1, n_in)))
        self.bias = Parameter(np.zeros(1))

    def forward(self, x):
        return x @ self.weight.T + self.bias


def _regression(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(64, 3))
    y = x @ np.array([[1.5], [-2.0], [0.5]]) + 0.3
    return cr.tensor(x), cr.tensor(y)


def _train(model, opt, steps):
    x, y = _regression()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_sgd_with_momentum_fits_a_linear_regression():
    model = _Tiny()
    losses = _train(model, SGD(model.parameters(), lr=0.05, momentum=0.9), 150)
    assert losses[-1] < 1e-3 * losses[0]
    np.testing.assert_allclose(model.weight.data, [[1.5, -2.0, 0.5]], atol=1e-2)
    np.testing.assert_allclose(model.bias.data, [0.3], atol=1e-2)


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [(Adam, {"lr": 0.05}), (AdamW, {"lr": 0.05}), (RMSprop, {"lr": 0.01}), (Adagrad, {"lr": 0.5})],
)
def test_adaptive_optimizers_reduce_the_loss(cls, kwargs):
    model = _Tiny()
    losses = _train(model, cls(model.named_parameters(), **kwargs), 200)
    assert losses[-1] < 0.05 * losses[0]


def test_params_api_lr_zero_grad_and_names():
    model = _Tiny()
    frozen = Parameter(np.ones(2), requires_grad=False)
    opt = SGD([*model.parameters(), frozen], lr=0.1)
    assert opt.params == [model.weight, model.bias]  # frozen tensors are left out
    assert opt.param_names == [None, None]
    assert SGD(model.named_parameters(), lr=0.1).param_names == ["weight", "bias"]
    opt.lr = 0.01
    assert opt.lr == 0.01 and opt.hyperparameters()["lr"] == 0.01
    opt.lr = 0  # a schedule may end at zero
    assert opt.lr == 0.0
    with pytest.raises(ConfigError, match=r"SGD: lr must be in \[0, infinity\), got -1"):
        opt.lr = -1
    model.weight.grad = np.ones((1, 3))
    opt.zero_grad()
    assert model.weight.grad is None and model.bias.grad is None
    assert repr(opt).startswith("SGD(2 parameters, lr=0.0")


def test_lr_change_takes_effect_on_the_next_step():
    w = Parameter(np.array([1.0]))
    opt = SGD([w], lr=0.1)
    w.grad = np.array([1.0])
    opt.step()
    opt.lr = 0.01
    opt.step()
    np.testing.assert_allclose(w.data, [1.0 - 0.1 - 0.01])


@pytest.mark.parametrize(
    ("params", "match"),
    [
        (lambda: Parameter(np.ones(2)), "got a single Tensor"),
        (lambda: 3, "must be an iterable of tensors or .name, tensor. pairs, got int"),
        (lambda: [np.ones(2)], r"params\[0\] is a ndarray; expected a Tensor"),
        (lambda: [("w", np.ones(2))], r"params\[0\] is a tuple"),
        (lambda: [Parameter(np.ones(2), requires_grad=False)], "no tensors with requires_grad"),
        (lambda: [], "no tensors with requires_grad"),
    ],
)
def test_bad_params(params, match):
    with pytest.raises(ConfigError, match=match):
        SGD(params(), lr=0.1)


def test_a_tied_parameter_is_trained_once():
    w = Parameter(np.ones(2))
    opt = SGD([("w", w), ("v", w)], lr=0.1)
    assert opt.params == [w] and opt.param_names == ["w"]
    w.grad = np.ones(2)
    opt.step()
    np.testing.assert_allclose(w.data, [0.9, 0.9])


def test_gradient_of_the_wrong_shape():
    w = Parameter(np.ones((2, 3)))
    opt = Adam([("layer.weight", w)])
    w.grad = np.ones((3, 2))
    with pytest.raises(ShapeError, match=r"parameter 0 \('layer.weight'\) has shape \(2, 3\)"):
        opt.step()


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (SGD, {"lr": 0.0}, r"SGD: lr must be in \(0, infinity\), got 0.0"),
        (SGD, {"lr": -0.1}, r"lr must be in \(0, infinity\), got -0.1"),
        (SGD, {"lr": math.inf}, "lr must be a finite number"),
        (SGD, {"lr": math.nan}, "lr must be a finite number"),
        (SGD, {"lr": "0.1"}, "lr must be a finite number .* got '0.1'"),
        (SGD, {"lr": True}, "lr must be a finite number"),
        (SGD, {"lr": 0.1, "momentum": 1.0}, r"momentum must be in \[0, 1\), got 1.0"),
        (SGD, {"lr": 0.1, "momentum": -0.5}, r"momentum must be in \[0, 1\)"),
        (SGD, {"lr": 0.1, "dampening": 1.5}, r"dampening must be in \[0, 1\]"),
        (SGD, {"lr": 0.1, "weight_decay": -1}, r"weight_decay must be in \[0, infinity\)"),
        (SGD, {"lr": 0.1, "nesterov": True}, "nesterov=True needs momentum > 0"),
        (
            SGD,
            {"lr": 0.1, "momentum": 0.9, "nesterov": True, "dampening": 0.1},
            "and dampening == 0, got momentum=0.9, dampening=0.1",
        ),
        (SGD, {"lr": 0.1, "nesterov": 1}, "nesterov must be True or False, got 1"),
        (Adam, {"betas": (0.9, 1.0)}, r"betas\[1\] must be in \[0, 1\), got 1.0"),
        (Adam, {"betas": (-0.1, 0.9)}, r"betas\[0\] must be in \[0, 1\)"),
        (Adam, {"betas": 0.9}, r"betas must be a pair"),
        (Adam, {"eps": 0.0}, r"eps must be in \(0, infinity\), got 0.0"),
        (AdamW, {"weight_decay": -0.01}, r"AdamW: weight_decay must be in"),
        (Adam, {"amsgrad": "yes"}, "amsgrad must be True or False"),
        (RMSprop, {"alpha": 1.0}, r"alpha must be in \[0, 1\), got 1.0"),
        (RMSprop, {"momentum": 1.2}, r"momentum must be in \[0, 1\)"),
        (RMSprop, {"eps": -1e-8}, r"eps must be in \(0, infinity\)"),
        (RMSprop, {"centered": None}, "centered must be True or False"),
        (Adagrad, {"initial_accumulator_value": -1.0}, r"initial_accumulator_value must be in"),
        (Adagrad, {"eps": 0}, r"Adagrad: eps must be in \(0, infinity\)"),
    ],
)
def test_hyperparameter_validation(cls, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        cls(_params(), **kwargs)


def test_state_of_a_different_dtype_is_cast_to_the_parameter():
    params64 = _params()
    opt64 = RMSprop(params64, momentum=0.5, centered=True)
    for p in params64:
        p.grad = np.ones(p.shape)
    opt64.step()
    params32 = _params(dtype=np.float32)
    opt32 = RMSprop(params32, momentum=0.5, centered=True)
    opt32.load_state_dict(opt64.state_dict())
    assert all(v.dtype == np.float32 for s in opt32.state for v in s.values())
