"""Gradient clipping: rescale all gradients to a joint norm, or clamp each entry.

Both replace each ``.grad`` by a new array (never changed in place, since gradient arrays may
be shared). ``training.step.TrainingStep`` clips between the gradient reduction and the
optimizer step; ``Trainer(clip_grad_norm=...)`` and the scikit-learn estimators' parameter of
the same name use it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, GradientError

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _positive(owner: str, name: str, value: Any) -> float:
    """A finite Python float > 0."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or float(value) <= 0:
        raise ConfigError(f"{owner}: {name} must be a finite number > 0, got {value!r}")
    return float(value)


def _tensors(owner: str, params: Any) -> list[Tensor]:
    """Tensors from tensors, (name, tensor) pairs or a Module."""
    if isinstance(params, Tensor):
        return [params]
    if hasattr(params, "named_parameters") and callable(params.named_parameters):
        params = params.parameters()
    if not isinstance(params, Iterable):
        raise ConfigError(
            f"{owner}: expected tensors (e.g. model.parameters()), got {type(params).__name__}"
        )
    out = []
    for item in params:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Tensor):
            item = item[1]
        if not isinstance(item, Tensor):
            raise ConfigError(
                f"{owner}: expected tensors or (name, tensor) pairs, got a {type(item).__name__}"
            )
        out.append(item)
    return out


def _norm_type(value: Any) -> float:
    if value in ("inf", "Inf"):
        return math.inf
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or math.isnan(float(value)) or float(value) <= 0:
        raise ConfigError(f"clip_grad_norm_: norm_type must be a number > 0 or inf, got {value!r}")
    return float(value)


def clip_grad_norm_(
    params: Any, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False
) -> float:
    """Scale all gradients together so their joint norm is at most ``max_norm``.

    The total norm is the ``norm_type``-norm of all gradients seen as one vector
    (``inf``: the largest absolute entry). When it exceeds ``max_norm`` every gradient is
    multiplied by ``max_norm / (total + 1e-6)``, as in PyTorch. Tensors without a gradient
    are skipped. A NaN or infinite total leaves the gradients unchanged (and raises
    ``GradientError`` with ``error_if_nonfinite=True``). Each ``.grad`` is *replaced* by a new
    array (never changed in place, since gradient arrays may be shared).

    Returns
    -------
    float
        The total norm before clipping.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.clipping import clip_grad_norm_
    >>> w = cr.tensor(np.zeros(2), requires_grad=True)
    >>> w.grad = np.array([3.0, 4.0])
    >>> clip_grad_norm_([w], max_norm=1.0)
    5.0
    >>> np.round(w.grad, 6)
    array([0.6, 0.8])
    """
    owner = "clip_grad_norm_"
    limit = _positive(owner, "max_norm", max_norm)
    q = _norm_type(norm_type)
    with_grad = [p for p in _tensors(owner, params) if p.grad is not None]
    if not with_grad:
        return 0.0
    if q == math.inf:
        total = max(float(np.max(np.abs(p.grad))) if p.grad.size else 0.0 for p in with_grad)
    else:
        norms = [float(np.linalg.norm(np.ravel(p.grad), ord=q)) for p in with_grad]
        total = float(np.linalg.norm(np.array(norms), ord=q))
    if not math.isfinite(total):
        if error_if_nonfinite:
            raise GradientError(
                f"{owner}: the total gradient norm is {total}; a gradient holds NaN or inf "
                "(hint: lower the learning rate, or look for log(0) / division by zero)"
            )
        return total  # leave the gradients as they are; scaling by 0 or NaN helps no one
    if total > limit:
        coefficient = limit / (total + 1e-6)
        for p in with_grad:
            p.grad = p.grad * coefficient  # a new array: .grad arrays may be shared
    return total


def clip_grad_value_(params: Any, clip_value: float) -> None:
    """Clamp every gradient entry into ``[-clip_value, clip_value]`` (``.grad`` is replaced).

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.clipping import clip_grad_value_
    >>> w = cr.tensor(np.zeros(3), requires_grad=True)
    >>> w.grad = np.array([-5.0, 0.5, 2.0])
    >>> clip_grad_value_([w], 1.0)
    >>> w.grad
    array([-1. ,  0.5,  1. ])
    """
    limit = _positive("clip_grad_value_", "clip_value", clip_value)
    for p in _tensors("clip_grad_value_", params):
        if p.grad is not None:
            p.grad = np.clip(p.grad, -limit, limit)
