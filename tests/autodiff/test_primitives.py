"""Every primitive: forward against a NumPy reference and gradcheck in float64, from one table."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.autodiff import REGISTRY

rng = np.random.default_rng(1234)


def r(*shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    """Random float64 values away from zero (so kinks and ties are avoided)."""
    values = rng.uniform(low, high, shape)
    return np.where(np.abs(values) < 0.1, 0.3, values)


def pos(*shape: int) -> np.ndarray:
    return rng.uniform(0.5, 3.0, shape)


@dataclass
class Case:
    fn: Callable[..., Any]
    ref: Callable[..., Any]
    inputs: list[Any]
    grad: bool = True  # False for edge values where the derivative is undefined
    diff: tuple[int, ...] | None = None  # which inputs are differentiable (default: float ones)
    id: str = field(default="")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(x / 2))  # the same function, written without overflow


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _lse(x: np.ndarray, axis: Any, keepdims: bool = False) -> np.ndarray:
    m = x.max(axis=axis, keepdims=True)
    out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _add_at(shape: tuple[int, ...], index: Any) -> Callable[[np.ndarray], np.ndarray]:
    return lambda a: a[index]


def _ce(logits: np.ndarray, target: np.ndarray, reduction: str = "mean", s: float = 0.0) -> Any:
    logp = np.log(_softmax(logits, -1))
    n, c = logits.shape
    losses = -(1 - s) * logp[np.arange(n), target] - s / c * logp.sum(axis=1)
    return {"mean": losses.mean(), "sum": losses.sum(), "none": losses}[reduction]


LABELS = np.array([2, 0, 1, 2])

SAMPLES: dict[str, list[Case]] = {
    "add": [
        Case(cr.add, np.add, [r(3, 4), r(3, 4)]),
        Case(cr.add, np.add, [r(3, 4), r(4)], id="broadcast-row"),
        Case(cr.add, np.add, [r(3, 1), r(1, 4)], id="broadcast-both"),
        Case(lambda a: a + 2.5, lambda a: a + 2.5, [r(2, 3)], id="scalar"),
        Case(lambda a: 1.0 + a, lambda a: 1.0 + a, [r(5)], id="scalar-left"),
    ],
    "sub": [
        Case(cr.sub, np.subtract, [r(3, 4), r(4)]),
        Case(lambda a: 3.0 - a, lambda a: 3.0 - a, [r(2, 2)], id="rsub"),
    ],
    "mul": [
        Case(cr.mul, np.multiply, [r(3, 4), r(3, 1)]),
        Case(cr.mul, np.multiply, [r(2, 3, 4), r(4)], id="broadcast-3d"),
        Case(lambda a: a * np.zeros(3), lambda a: a * 0.0, [r(2, 3)], id="times-zero"),
    ],
    "div": [
        Case(cr.div, np.divide, [r(3, 4), pos(4)]),
        Case(cr.div, np.divide, [r(3, 4), -pos(3, 1)], id="negative-divisor"),
        Case(lambda a: 1.0 / a, lambda a: 1.0 / a, [pos(3)], id="rdiv"),
    ],
    "neg": [Case(cr.neg, np.negative, [r(3, 2)])],
    "pow": [
        Case(lambda a: a**2, lambda a: a**2, [r(3, 4)], id="square"),
        Case(lambda a: a**3.0, lambda a: a**3.0, [r(4)], id="cube-negative-base"),
        Case(lambda a: a**0.5, np.sqrt, [pos(4)], id="sqrt"),
        Case(cr.pow, np.power, [pos(3, 2), r(3, 2)], id="tensor-exponent"),
        Case(cr.pow, np.power, [pos(3, 2), r(2)], id="tensor-exponent-broadcast"),
        Case(lambda a: 2.0**a, lambda a: 2.0**a, [r(3)], id="rpow"),
    ],
    "exp": [
        Case(cr.exp, np.exp, [r(3, 4)]),
        Case(cr.exp, np.exp, [np.array([-50.0, 0.0, 5.0])], id="wide-range"),
    ],
    "log": [
        Case(cr.log, np.log, [pos(3, 4)]),
        Case(cr.log, np.log, [np.array([1e-8, 1.0, 1e8])], id="wide-range", grad=False),
    ],
    "sqrt": [Case(cr.sqrt, np.sqrt, [pos(3, 4)])],
    "abs": [
        Case(cr.abs, np.abs, [r(3, 4)]),
        Case(cr.abs, np.abs, [np.array([0.0, -1.0, 2.0])], id="zero", grad=False),
    ],
    "tanh": [
        Case(cr.tanh, np.tanh, [r(3, 4)]),
        Case(cr.tanh, np.tanh, [np.array([-30.0, 0.0, 30.0])], id="saturated"),
    ],
    "sigmoid": [
        Case(cr.sigmoid, _sigmoid, [r(3, 4)]),
        Case(cr.sigmoid, _sigmoid, [np.array([-800.0, -30.0, 0.0, 30.0, 800.0])], id="large"),
    ],
    "relu": [
        Case(cr.relu, lambda a: np.maximum(a, 0), [r(3, 4)]),
        Case(cr.relu, lambda a: np.maximum(a, 0), [np.array([0.0, -1.0, 1.0])], grad=False),
    ],
    "leaky_relu": [
        Case(lambda a: cr.leaky_relu(a, 0.1), lambda a: np.where(a > 0, a, 0.1 * a), [r(3, 4)]),
    ],
    "maximum": [
        Case(cr.maximum, np.maximum, [r(3, 4), r(4)]),
        Case(lambda a: cr.maximum(a, 0.0), lambda a: np.maximum(a, 0.0), [r(5)], id="scalar"),
    ],
    "minimum": [Case(cr.minimum, np.minimum, [r(3, 4), r(3, 1)])],
    "where": [
        Case(
            lambda c, a, b: cr.where(c, a, b),
            np.where,
            [rng.uniform(size=(3, 4)) > 0.5, r(3, 4), r(4)],
            diff=(1, 2),
        ),
    ],
    "clip": [
        Case(
            lambda a: cr.clip(a, -1.0, 1.0),
            lambda a: np.clip(a, -1.0, 1.0),
            [np.array([-1.7, -0.5, 0.2, 0.9, 1.6])],
        ),  # fmt: skip
        Case(lambda a: a.clip(min=0.0), lambda a: np.clip(a, 0.0, None), [r(4)], id="lower"),
    ],
    "matmul": [
        Case(cr.matmul, np.matmul, [r(3, 4), r(4, 2)], id="2d"),
        Case(cr.matmul, np.matmul, [r(2, 3, 4), r(2, 4, 5)], id="batched"),
        Case(cr.matmul, np.matmul, [r(2, 3, 4), r(4, 5)], id="batched-broadcast"),
        Case(cr.matmul, np.matmul, [r(4), r(4, 3)], id="vector-matrix"),
        Case(cr.matmul, np.matmul, [r(3, 4), r(4)], id="matrix-vector"),
        Case(cr.matmul, np.matmul, [r(4), r(4)], id="vector-vector"),
        Case(cr.matmul, np.matmul, [r(4), r(2, 4, 3)], id="vector-batched"),
        Case(cr.matmul, np.matmul, [r(2, 3, 4), r(4)], id="batched-vector"),
    ],
    "linear": [
        Case(cr.linear, lambda x, w, b: x @ w.T + b, [r(5, 4), r(3, 4), r(3)], id="bias"),
        Case(cr.linear, lambda x, w: x @ w.T, [r(5, 4), r(3, 4)], id="no-bias"),
        Case(cr.linear, lambda x, w, b: x @ w.T + b, [r(2, 5, 4), r(3, 4), r(3)], id="3d-input"),
    ],
    "softmax_cross_entropy": [
        Case(lambda z: cr.softmax_cross_entropy(z, LABELS), lambda z: _ce(z, LABELS), [r(4, 3)]),
        Case(
            lambda z: cr.softmax_cross_entropy(z, LABELS, "sum"),
            lambda z: _ce(z, LABELS, "sum"),
            [r(4, 3)],
            id="sum",
        ),  # fmt: skip
        Case(
            lambda z: cr.softmax_cross_entropy(z, LABELS, "none"),
            lambda z: _ce(z, LABELS, "none"),
            [r(4, 3)],
            id="none",
        ),  # fmt: skip
        Case(
            lambda z: cr.softmax_cross_entropy(z, LABELS, label_smoothing=0.1),
            lambda z: _ce(z, LABELS, s=0.1),
            [r(4, 3)],
            id="smoothing",
        ),  # fmt: skip
        Case(
            lambda z: cr.softmax_cross_entropy(z, LABELS[:1]),
            lambda z: 0.0 * z.sum(),
            [np.array([[0.0, 0.0, 1000.0]])],
            id="logit-1000",
        ),
    ],
    "sum": [
        Case(lambda a: a.sum(), np.sum, [r(3, 4)], id="all"),
        Case(lambda a: a.sum(axis=1), lambda a: a.sum(axis=1), [r(3, 4)], id="axis"),
        Case(
            lambda a: a.sum(axis=(0, 2), keepdims=True),
            lambda a: a.sum(axis=(0, 2), keepdims=True),
            [r(2, 3, 4)],
            id="keepdims",
        ),  # fmt: skip
        Case(lambda a: a.sum(axis=-1), lambda a: a.sum(axis=-1), [r(2, 3)], id="negative-axis"),
    ],
    "mean": [
        Case(lambda a: a.mean(), np.mean, [r(3, 4)]),
        Case(
            lambda a: a.mean(axis=0, keepdims=True),
            lambda a: a.mean(axis=0, keepdims=True),
            [r(3, 4)],
            id="keepdims",
        ),  # fmt: skip
    ],
    "max": [
        Case(lambda a: a.max(), np.max, [r(3, 4)]),
        Case(lambda a: a.max(axis=1), lambda a: a.max(axis=1), [r(3, 4)], id="axis"),
        Case(
            lambda a: a.max(axis=0),
            lambda a: a.max(axis=0),
            [np.array([[1.0, 2.0], [1.0, 0.5]])],
            id="tie-split",
        ),  # fmt: skip
    ],
    "min": [
        Case(
            lambda a: a.min(axis=0, keepdims=True),
            lambda a: a.min(axis=0, keepdims=True),
            [r(3, 4)],
        )
    ],  # fmt: skip
    "logsumexp": [
        Case(lambda a: a.logsumexp(axis=1), lambda a: _lse(a, 1), [r(3, 4)]),
        Case(lambda a: a.logsumexp(), lambda a: _lse(a, None), [r(3, 4)], id="all"),
        Case(
            lambda a: a.logsumexp(axis=0, keepdims=True),
            lambda a: _lse(a, 0, True),
            [np.array([[1000.0, -1000.0], [999.0, 0.0]])],
            id="huge",
        ),  # fmt: skip
    ],
    "softmax": [
        Case(lambda a: a.softmax(axis=-1), lambda a: _softmax(a, -1), [r(3, 4)]),
        Case(lambda a: cr.softmax(a, axis=0), lambda a: _softmax(a, 0), [r(3, 4)], id="axis0"),
        Case(
            lambda a: a.softmax(),
            lambda a: _softmax(a, -1),
            [np.array([[1000.0, 0.0, -1000.0]])],
            id="huge",
        ),  # fmt: skip
    ],
    "log_softmax": [
        Case(lambda a: a.log_softmax(), lambda a: np.log(_softmax(a, -1)), [r(3, 4)]),
        Case(
            lambda a: a.log_softmax(),
            lambda a: a - a.max() - np.log(np.exp(a - a.max()).sum()),
            [np.array([[1000.0, 0.0, 5.0]])],
            id="logit-1000",
        ),  # fmt: skip
    ],
    "reshape": [
        Case(lambda a: a.reshape(4, 3), lambda a: a.reshape(4, 3), [r(3, 4)]),
        Case(lambda a: a.reshape(-1), lambda a: a.reshape(-1), [r(2, 3, 2)], id="flatten"),
    ],
    "transpose": [
        Case(lambda a: a.T, lambda a: a.T, [r(3, 4)], id="T"),
        Case(lambda a: a.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1), [r(2, 3, 4)]),
        Case(lambda a: cr.transpose(a, (1, 0, 2)), lambda a: a.transpose(1, 0, 2), [r(2, 3, 4)]),
    ],
    "broadcast_to": [
        Case(
            lambda a: cr.broadcast_to(a, (2, 3, 4)),
            lambda a: np.broadcast_to(a, (2, 3, 4)),
            [r(3, 1)],
        ),  # fmt: skip
    ],
    "getitem": [
        Case(lambda a: a[1:, ::2], lambda a: a[1:, ::2], [r(3, 4)], id="slices"),
        Case(
            lambda a: a[np.array([0, 2, 2, 0])],
            lambda a: a[np.array([0, 2, 2, 0])],
            [r(3, 4)],
            id="repeated-rows",
        ),  # fmt: skip
        Case(
            lambda a: a[np.arange(3), np.array([1, 1, 3])],
            lambda a: a[np.arange(3), np.array([1, 1, 3])],
            [r(3, 4)],
            id="pairs",
        ),  # fmt: skip
        Case(lambda a: a[..., 0], lambda a: a[..., 0], [r(2, 3)], id="ellipsis"),
        Case(lambda a: a[a.data > 0], lambda a: a[a > 0], [r(3, 4)], id="boolean-mask"),
    ],
    "concatenate": [
        Case(
            lambda a, b: cr.concatenate([a, b], axis=1),
            lambda a, b: np.concatenate([a, b], axis=1),
            [r(2, 3), r(2, 2)],
        ),  # fmt: skip
        Case(
            lambda a, b, c: cr.concatenate([a, b, c]),
            lambda a, b, c: np.concatenate([a, b, c]),
            [r(1, 2), r(3, 2), r(2, 2)],
            id="three",
        ),  # fmt: skip
    ],
    "stack": [
        Case(
            lambda a, b: cr.stack([a, b], axis=1),
            lambda a, b: np.stack([a, b], axis=1),
            [r(2, 3), r(2, 3)],
        ),  # fmt: skip
    ],
    "pad": [
        Case(
            lambda a: cr.pad(a, ((1, 2), (0, 1))), lambda a: np.pad(a, ((1, 2), (0, 1))), [r(2, 3)]
        ),  # fmt: skip
        Case(
            lambda a: cr.pad(a, 1, value=-1.0),
            lambda a: np.pad(a, 1, constant_values=-1.0),
            [r(2, 2)],
            id="value",
        ),  # fmt: skip
    ],
}

sys.path.insert(0, str(Path(__file__).parent))  # the samples_<family>.py files live here
SAMPLES.update(importlib.import_module("samples_recurrent").make(Case))
SAMPLES.update(importlib.import_module("samples_conv").make(Case))
SAMPLES.update(importlib.import_module("samples_distributed").make(Case))
SAMPLES.update(importlib.import_module("samples_normalization").make(Case))

ALL_CASES = [
    pytest.param(name, case, id=f"{name}-{case.id or i}")
    for name, cases in SAMPLES.items()
    for i, case in enumerate(cases)
]


def test_every_primitive_has_samples() -> None:
    missing = sorted(set(REGISTRY) - set(SAMPLES))
    assert not missing, f"primitives without sample inputs: {missing}"
    unknown = sorted(set(SAMPLES) - set(REGISTRY))
    assert not unknown, f"samples for primitives that do not exist: {unknown}"


def _tensors(case: Case) -> list[cr.Tensor]:
    out = []
    for i, a in enumerate(case.inputs):
        differentiable = a.dtype.kind == "f" and (case.diff is None or i in case.diff)
        out.append(cr.tensor(a, requires_grad=differentiable))
    return out


@pytest.mark.parametrize(("name", "case"), ALL_CASES)
def test_forward_matches_numpy(name: str, case: Case) -> None:
    out = case.fn(*_tensors(case))
    expected = case.ref(*case.inputs)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)
    op = out._op
    if op is not None and not op.name and op.inputs:  # an output of a multi-output primitive
        op = op.inputs[0]._op
    assert op is not None and op.name == name  # the sample exercises this primitive


@pytest.mark.parametrize(("name", "case"), [c for c in ALL_CASES if c.values[1].grad])
def test_gradient_matches_central_differences(name: str, case: Case) -> None:
    assert cr.gradcheck(case.fn, _tensors(case))


@pytest.mark.parametrize(("name", "case"), [c for c in ALL_CASES if c.values[1].grad])
def test_float32_forward_and_gradients_stay_float32(name: str, case: Case) -> None:
    tensors = [
        cr.tensor(a.astype(np.float32), requires_grad=True) if a.dtype.kind == "f" else
        cr.tensor(a) for a in case.inputs
    ]  # fmt: skip
    if case.diff is not None:
        for i, t in enumerate(tensors):
            if i not in case.diff:
                t.requires_grad = False
    out = case.fn(*tensors)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, dtype=np.float32))
    for t in tensors:
        if t.requires_grad:
            assert t.grad is not None and t.grad.dtype == np.float32 and t.grad.shape == t.shape
