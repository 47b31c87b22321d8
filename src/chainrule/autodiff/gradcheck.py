"""Numerical gradient checking: analytic gradients against central differences in float64."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.autodiff.mode import no_grad
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import GradientError

__all__ = ["gradcheck", "GradcheckPrecisionWarning"]


class GradcheckPrecisionWarning(UserWarning):
    """gradcheck was given inputs that are not float64, so central differences are imprecise."""


def _objective(fn: Callable[..., Any], inputs: Sequence[Tensor], cotangent: np.ndarray) -> float:
    """The scalar ``sum(cotangent * fn(*inputs))``, computed without a graph."""
    with no_grad():
        out = fn(*inputs)
    return float(np.sum(cotangent * np.asarray(out.data, dtype=np.float64)))


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    fast_mode: bool = False,
    seed: int = 0,
) -> bool:
    """Check the backward pass of ``fn`` against central differences.

    A scalar output's gradient is checked as it is. For an output of any other shape, ``fn``'s
    vector-Jacobian product is checked in a fixed random output direction ``v``: the analytic
    gradient of ``sum(v * fn(*inputs))`` against ``(f(x + eps) - f(x - eps)) / (2 eps)`` for
    every element of every input that requires a gradient. ``fast_mode`` checks one random
    input direction per input instead of every element (one pair of evaluations per input),
    for large inputs.

    Parameters
    ----------
    fn : callable
        Maps the input tensors to one output tensor.
    inputs : sequence of Tensor
        Inputs; those with ``requires_grad=True`` are checked. Use float64 (a warning says so
        otherwise). They are perturbed in place and restored.
    eps, atol, rtol : float
        Step and tolerances: passes when ``|analytic - numeric| <= atol + rtol * |numeric|``.
    fast_mode : bool
        Check a random directional derivative instead of every element.
    seed : int
        Seed of the random directions.

    Returns
    -------
    bool
        True; a mismatch raises ``GradientError`` with the worst element's values.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> x = cr.tensor(np.array([0.5, -1.0]), requires_grad=True)
    >>> cr.gradcheck(lambda t: (t * t).tanh(), [x])
    True
    """
    inputs = list(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise GradientError("gradcheck: no input has requires_grad=True; nothing to check")
    if any(inputs[i].dtype != np.float64 for i in checked):
        warnings.warn(
            "gradcheck: inputs are not float64; central differences in lower precision give "
            "large errors (make inputs with dtype='float64')",
            GradcheckPrecisionWarning,
            stacklevel=2,
        )
    rng = np.random.default_rng(seed)
    for i in checked:
        inputs[i].grad = None
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise GradientError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    # A scalar output is checked as it is (so a mismatch reports its true derivatives); any
    # other output along a fixed random direction.
    cotangent = np.ones(out.shape) if out.size == 1 else rng.standard_normal(out.shape)
    if not out.requires_grad:
        raise GradientError("gradcheck: the output does not depend on any input that requires grad")
    out.backward(cotangent.astype(out.dtype))
    for i in checked:
        t = inputs[i]
        analytic = np.zeros(t.shape) if t.grad is None else np.asarray(t.grad, dtype=np.float64)
        if fast_mode:
            direction = rng.standard_normal(t.shape)
            numeric = _directional(fn, inputs, t, direction, cotangent, eps)
            _compare(np.array([np.sum(analytic * direction)]), np.array([numeric]), i, atol, rtol,
                     "directional derivative")  # fmt: skip
        else:
            _compare(analytic, _numeric_gradient(fn, inputs, t, cotangent, eps), i, atol, rtol, "")
    return True


def _numeric_gradient(
    fn: Callable[..., Any], inputs: list[Tensor], t: Tensor, cotangent: np.ndarray, eps: float
) -> np.ndarray:
    """Central differences of the objective for every element of ``t``."""
    flat = t.data.reshape(-1)
    if not np.shares_memory(flat, t.data):
        raise GradientError("gradcheck: inputs must be contiguous arrays")
    numeric = np.zeros(flat.size)
    for k in range(flat.size):
        original = flat[k]
        flat[k] = original + eps
        plus = _objective(fn, inputs, cotangent)
        flat[k] = original - eps
        minus = _objective(fn, inputs, cotangent)
        flat[k] = original
        numeric[k] = (plus - minus) / (2 * eps)
    return numeric.reshape(t.shape)


def _directional(
    fn: Callable[..., Any],
    inputs: list[Tensor],
    t: Tensor,
    direction: np.ndarray,
    cotangent: np.ndarray,
    eps: float,
) -> float:
    """Central difference of the objective along ``direction`` in the space of ``t``."""
    original = t.data.copy()
    t.data[...] = original + eps * direction
    plus = _objective(fn, inputs, cotangent)
    t.data[...] = original - eps * direction
    minus = _objective(fn, inputs, cotangent)
    t.data[...] = original
    return (plus - minus) / (2 * eps)


def _compare(
    analytic: np.ndarray, numeric: np.ndarray, index: int, atol: float, rtol: float, what: str
) -> None:
    """Raise GradientError at the worst element when the two gradients disagree."""
    error = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    if error.size == 0 or np.all(error <= 0):
        return
    worst = np.unravel_index(int(np.argmax(error)), error.shape)
    label = what or f"element {tuple(int(w) for w in worst)}"
    raise GradientError(
        f"gradcheck: wrong gradient for input {index} at {label}: analytic "
        f"{analytic[worst]:.8g}, numeric {numeric[worst]:.8g} (difference "
        f"{abs(analytic[worst] - numeric[worst]):.3g} exceeds atol={atol} + rtol={rtol} * "
        "|numeric|)"
    )
