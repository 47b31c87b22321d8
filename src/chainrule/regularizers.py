"""Regularizers: L1 / L2 / elastic-net loss penalties, the max-norm constraint, gradient clipping.

Penalties are *added to the loss* (they are differentiable Tensors composed of primitives),
which is different from an optimizer's decoupled ``weight_decay``. Conventions::

    L1(w)          = l1 * sum |w|
    L2(w)          = (l2 / 2) * sum w**2          (gradient l2 * w: the classic weight decay form)
    ElasticNet(w)  = l1 * sum |w| + (l2 / 2) * sum w**2

The classes ``L1``, ``L2``, ``ElasticNet`` and ``MaxNorm`` apply to a model's weights only by
default (see ``is_weight``); the functions apply to exactly the tensors they are given.
Gradient clipping lives in ``chainrule.clipping`` (re-exported here).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from chainrule.autodiff.tensor import Tensor
from chainrule.clipping import _positive, _tensors, clip_grad_norm_, clip_grad_value_
from chainrule.errors import ConfigError, ShapeError

__all__ = [
    "l1_penalty",
    "l2_penalty",
    "elastic_net_penalty",
    "is_weight",
    "L1",
    "L2",
    "ElasticNet",
    "max_norm_",
    "MaxNorm",
    "clip_grad_norm_",
    "clip_grad_value_",
]

Select = Callable[[str, Tensor], bool]


def _strength(owner: str, name: str, value: Any) -> float:
    """A finite, non-negative Python float."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or float(value) < 0:
        raise ConfigError(f"{owner}: {name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _zero_like(tensors: list[Tensor]) -> Tensor:
    """A constant zero penalty (no tensors were selected)."""
    dtype = tensors[0].dtype if tensors else np.float32
    return Tensor(np.zeros((), dtype=dtype))


def _scaled_sum(terms: list[Tensor], factor: float) -> Tensor:
    """``factor * sum(terms)``, the factor in the terms' dtype."""
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    # A 0-d array of the tensor's dtype: a Python float would be rounded through float32.
    return total * np.asarray(factor, dtype=total.dtype)


def l1_penalty(params: Any, strength: float) -> Tensor:
    """``strength * sum |w|`` over every given tensor: a scalar Tensor to add to the loss.

    Its gradient is ``strength * sign(w)`` (0 at exactly 0).

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.regularizers import l1_penalty
    >>> w = cr.tensor(np.array([1.0, -3.0]), requires_grad=True)
    >>> l1_penalty([w], 0.5).item()
    2.0
    """
    strength = _strength("l1_penalty", "strength", strength)
    tensors = _tensors("l1_penalty", params)
    if not tensors or strength == 0.0:
        return _zero_like(tensors)
    return _scaled_sum([t.abs().sum() for t in tensors], strength)


def l2_penalty(params: Any, strength: float) -> Tensor:
    """``(strength / 2) * sum w**2`` over every given tensor: a scalar Tensor to add to the loss.

    The factor 1/2 makes the gradient ``strength * w``, so with plain SGD this penalty equals
    classic weight decay; with adaptive optimizers it differs from their decoupled
    ``weight_decay`` (Loshchilov & Hutter).

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.regularizers import l2_penalty
    >>> w = cr.tensor(np.array([1.0, -3.0]), requires_grad=True)
    >>> l2_penalty([w], 0.5).item()
    2.5
    """
    strength = _strength("l2_penalty", "strength", strength)
    tensors = _tensors("l2_penalty", params)
    if not tensors or strength == 0.0:
        return _zero_like(tensors)
    return _scaled_sum([(t * t).sum() for t in tensors], strength / 2.0)


def elastic_net_penalty(params: Any, l1: float, l2: float) -> Tensor:
    """``l1 * sum |w| + (l2 / 2) * sum w**2``: a scalar Tensor to add to the loss.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.regularizers import elastic_net_penalty
    >>> w = cr.tensor(np.array([1.0, -3.0]), requires_grad=True)
    >>> elastic_net_penalty([w], l1=0.5, l2=0.5).item()
    4.5
    """
    l1 = _strength("elastic_net_penalty", "l1", l1)
    l2 = _strength("elastic_net_penalty", "l2", l2)
    tensors = _tensors("elastic_net_penalty", params)
    return l1_penalty(tensors, l1) + l2_penalty(tensors, l2)


def is_weight(name: str, param: Tensor) -> bool:
    """The default selection: trainable tensors named ``...weight`` with at least 2 dimensions.

    This keeps the weight matrices and kernels of linear and convolutional layers and leaves
    out biases and batch-norm scales and shifts (which are 1-D).
    """
    return bool(param.requires_grad) and name.endswith("weight") and param.ndim >= 2


def _named(owner: str, source: Any) -> list[tuple[str, Tensor]]:
    """(name, tensor) pairs from a Module or an iterable of pairs."""
    if hasattr(source, "named_parameters") and callable(source.named_parameters):
        return list(source.named_parameters())
    if isinstance(source, Tensor) or not isinstance(source, Iterable):
        raise ConfigError(
            f"{owner}: expected a Module or (name, tensor) pairs such as "
            f"model.named_parameters(), got {type(source).__name__}; hint: for plain tensors "
            "use the functions l1_penalty / l2_penalty / max_norm_"
        )
    pairs = list(source)
    for item in pairs:
        if not (
            isinstance(item, tuple)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], Tensor)
        ):
            raise ConfigError(
                f"{owner}: expected (name, tensor) pairs such as model.named_parameters(), got "
                f"{item!r}; hint: for plain tensors use the functions l1_penalty / l2_penalty"
            )
    return pairs


class _Selecting:
    """Shared part of the model-level regularizers: which named parameters they act on."""

    def __init__(self, select: Select | None) -> None:
        if select is not None and not callable(select):
            raise ConfigError(
                f"{type(self).__name__}: select must be a callable (name, param) -> bool, "
                f"got {select!r}"
            )
        self.select: Select = select if select is not None else is_weight

    def selected(self, model: Any) -> list[tuple[str, Tensor]]:
        """The (name, tensor) pairs this regularizer acts on."""
        pairs = _named(type(self).__name__, model)
        return [(name, p) for name, p in pairs if self.select(name, p)]


class L1(_Selecting):
    """``strength * sum |w|`` over a model's weights (see ``is_weight``), to add to the loss.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import Module, Parameter
    >>> from chainrule.regularizers import L1
    >>> class Tiny(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.weight = Parameter(np.full((2, 2), -1.0))
    ...         self.bias = Parameter(np.ones(2))
    >>> L1(0.1)(Tiny()).item()  # the bias is not penalized
    0.4
    """

    def __init__(self, strength: float, select: Select | None = None) -> None:
        super().__init__(select)
        self.strength = _strength("L1", "strength", strength)

    def __call__(self, model: Any) -> Tensor:
        return l1_penalty([p for _, p in self.selected(model)], self.strength)

    def __repr__(self) -> str:
        return f"L1(strength={self.strength})"


class L2(_Selecting):
    """``(strength / 2) * sum w**2`` over a model's weights (see ``is_weight``), for the loss.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import Module, Parameter
    >>> from chainrule.regularizers import L2
    >>> class Tiny(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.weight = Parameter(np.full((2, 2), 2.0))
    ...         self.bias = Parameter(np.ones(2))
    >>> L2(0.5)(Tiny()).item()  # 0.25 * 4 * 2**2
    4.0
    """

    def __init__(self, strength: float, select: Select | None = None) -> None:
        super().__init__(select)
        self.strength = _strength("L2", "strength", strength)

    def __call__(self, model: Any) -> Tensor:
        return l2_penalty([p for _, p in self.selected(model)], self.strength)

    def __repr__(self) -> str:
        return f"L2(strength={self.strength})"


class ElasticNet(_Selecting):
    """``l1 * sum |w| + (l2 / 2) * sum w**2`` over a model's weights (see ``is_weight``).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import Module, Parameter
    >>> from chainrule.regularizers import ElasticNet
    >>> class Tiny(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.weight = Parameter(np.full((1, 2), 2.0))
    >>> ElasticNet(l1=0.5, l2=0.5)(Tiny()).item()  # 0.5 * 4 + 0.25 * 8
    4.0
    """

    def __init__(self, l1: float, l2: float, select: Select | None = None) -> None:
        super().__init__(select)
        self.l1 = _strength("ElasticNet", "l1", l1)
        self.l2 = _strength("ElasticNet", "l2", l2)

    def __call__(self, model: Any) -> Tensor:
        return elastic_net_penalty([p for _, p in self.selected(model)], self.l1, self.l2)

    def __repr__(self) -> str:
        return f"ElasticNet(l1={self.l1}, l2={self.l2})"


def _axes(owner: str, axis: Any, ndim: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Normalize ``axis`` (an int or a tuple of ints) for an array of ``ndim`` dimensions."""
    raw = (axis,) if isinstance(axis, (int, np.integer)) else axis
    if (
        not isinstance(raw, tuple)
        or not raw
        or not all(isinstance(a, (int, np.integer)) for a in raw)
    ):
        raise ConfigError(f"{owner}: axis must be an int or a tuple of ints, got {axis!r}")
    if any(not -ndim <= a < ndim for a in raw):
        raise ShapeError(
            f"{owner}: axis {axis!r} is out of range for a tensor of shape {shape}; hint: "
            "biases and other 1-D tensors have no incoming-weight rows (select weights only)"
        )
    return tuple(int(a) % ndim for a in raw)


def max_norm_(params: Any, max_norm: float, axis: int | tuple[int, ...] = 1) -> None:
    """Rescale, in place, each unit's incoming weights to norm at most ``max_norm``.

    For every tensor, the Euclidean norm is taken over ``axis`` (for a Linear weight of shape
    ``(out, in)`` and ``axis=1``: each row, the weights into one unit); every slice whose norm
    exceeds ``c = max_norm`` is multiplied by ``c / norm``, others are left as they are (the
    max-norm constraint of Srivastava et al., applied after each optimizer step). For a
    convolution kernel ``(out, in, kh, kw)`` pass ``axis=(1, 2, 3)``.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.regularizers import max_norm_
    >>> w = cr.tensor(np.array([[3.0, 4.0], [0.3, 0.4]]), requires_grad=True)
    >>> max_norm_([w], max_norm=1.0)
    >>> w.data
    array([[0.6, 0.8],
           [0.3, 0.4]])
    """
    owner = "max_norm_"
    c = _positive(owner, "max_norm", max_norm)
    for p in _tensors(owner, params):
        w = p.data
        axes = _axes(owner, axis, w.ndim, p.shape)
        norms = np.sqrt(np.sum(w * w, axis=axes, keepdims=True))
        factor = np.ones_like(norms)
        np.divide(c, norms, out=factor, where=norms > c)  # only rows over the limit change
        np.multiply(w, factor, out=w)


class MaxNorm(_Selecting):
    """Apply ``max_norm_`` to a model's weights, over all axes but the first (the unit axis).

    Call it after each ``optimizer.step()``.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import Module, Parameter
    >>> from chainrule.regularizers import MaxNorm
    >>> class Tiny(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.weight = Parameter(np.array([[3.0, 4.0]]))
    >>> model = Tiny()
    >>> MaxNorm(2.5)(model)
    >>> model.weight.data
    array([[1.5, 2. ]])
    """

    def __init__(self, max_norm: float, select: Select | None = None) -> None:
        super().__init__(select)
        self.max_norm = _positive("MaxNorm", "max_norm", max_norm)

    def __call__(self, model: Any) -> None:
        for _, p in self.selected(model):
            max_norm_([p], self.max_norm, axis=tuple(range(1, p.ndim)) or 0)

    def __repr__(self) -> str:
        return f"MaxNorm(max_norm={self.max_norm})"
