"""Loss functions (predictions first, numerically stable); their Module forms are in ``modules``.

Every loss takes the model output first and the target second, refuses a target whose shape
differs from what it expects (nothing is broadcast silently) and reduces with ``reduction``:
``"mean"`` (default), ``"sum"`` or ``"none"`` (one loss per sample or element). Targets and
class weights are constants: they receive no gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff import functions as F
from chainrule.autodiff.backend import namespace
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, DtypeError, ShapeError
from chainrule.losses.targets import (  # noqa: F401  (REDUCTIONS re-exported)
    REDUCTIONS,
    _array,
    _check_reduction,
    _check_smoothing,
    _class_indices,
    _class_weight,
    _integer_targets,
    _one_hot_coefficients,
    _prediction,
    _reduce,
    _same_shape_target,
    _weighted_log_likelihood,
)

__all__ = [
    "cross_entropy", "nll_loss", "binary_cross_entropy_with_logits", "binary_cross_entropy",
    "mse_loss", "l1_loss", "huber_loss", "REDUCTIONS",
]  # fmt: skip


def cross_entropy(
    logits: Any,
    target: Any,
    weight: Any = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    ignore_index: int = -100,
    class_axis: int = 1,
) -> Tensor:
    """Cross-entropy between softmax(logits) and the targets, computed with log-softmax.

    With class indices ``y`` (integers of shape ``(N,)``), class weights ``w`` (default 1)
    and smoothing ``e``, the target distribution is ``q = (1 - e) * one_hot(y) + e / C`` and

        loss_i = -sum_c w_c * q_ic * log_softmax(logits)_ic

    ``"mean"`` divides the sum by ``sum_i w[y_i]`` (by ``N`` without weights), as PyTorch
    does. With class probabilities (floats of the logits' shape) ``q`` is the smoothed target
    and ``"mean"`` divides by ``N``. Stable for logits as large as 1000.

    Class indices without weights run as the fused ``softmax_cross_entropy`` primitive; weights
    and probability targets use ``log_softmax`` times the coefficient array ``w * q``.

    Sequences: logits ``(N, C, T)`` (PyTorch's layout; ``class_axis=-1`` for ``(N, T, C)``,
    what a batch-first tagger produces) with class indices ``(N, T)``; more trailing axes work
    the same way. Targets equal to ``ignore_index`` (padding) add nothing to the loss or its
    gradient and are left out of the mean, which is the masked mean over the real tokens (a
    zero loss in their place with ``"none"``), as in PyTorch.

    Parameters
    ----------
    logits : Tensor of shape (N, C), or (N, C, T, ...) / (N, T, ..., C) with class_axis
    target : int array of shape (N,) or (N, T, ...), or float array of the logits' shape
    weight : array of shape (C,), optional
    label_smoothing : float in [0, 1]
    reduction : "mean", "sum" or "none"
    ignore_index : int
        Class-index targets with this value are ignored (default -100, as in PyTorch).
    class_axis : int
        The logits' class axis for more than two dimensions: 1 (default) or -1.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.nn.functional import cross_entropy
    >>> logits = cr.tensor(np.zeros((2, 4)))
    >>> round(cross_entropy(logits, np.array([0, 3])).item(), 4)  # log(4)
    1.3863
    >>> seq = cr.tensor(np.zeros((2, 4, 3)))  # (N, C, T)
    >>> round(cross_entropy(seq, np.array([[1, 2, 0], [3, 0, -100]])).item(), 4)
    1.3863
    """
    who = "cross_entropy"
    x = _prediction(logits, who, "logits")
    _check_reduction(reduction, who)
    _check_smoothing(label_smoothing, who)
    if x.ndim > 2:
        return _sequence_cross_entropy(
            x, target, weight, label_smoothing, reduction, ignore_index, class_axis
        )
    if x.ndim != 2:
        raise ShapeError(f"{who}: logits must have shape (N, C), got {x.shape}")
    n, c = x.shape
    if n == 0 and reduction == "mean":
        raise ShapeError(f"{who}: cannot take the mean over an empty batch")
    w = _class_weight(weight, c, x.dtype, who)
    t = _array(target)
    if t.shape == (n,) and t.dtype.kind in "iu" and (t == ignore_index).any():
        return _ignoring(x, t, w, label_smoothing, reduction, ignore_index)
    if t.shape == (n,) and w is None and label_smoothing < 1:
        # The common case runs as one fused primitive (its gradient is softmax - q directly);
        # the primitive checks the class range itself, so it is not checked twice per batch.
        _integer_targets(t, n, c, who)
        return F.softmax_cross_entropy(x, t, reduction, float(label_smoothing))
    if t.shape == (n, c) and t.dtype.kind == "f":  # class probabilities
        coef = t.astype(x.dtype) * (1.0 - label_smoothing) + label_smoothing / c
        denominator = float(n)
    elif t.shape == (n,):
        t = _class_indices(t, n, c, who)
        coef = _one_hot_coefficients(t, c, label_smoothing, x.dtype)
        denominator = float(n) if w is None else float(w[t].sum())
    elif t.shape == (n, c):
        raise DtypeError(
            f"{who}: class-probability targets must be floating point, got dtype {t.dtype}; "
            "for one-hot labels pass target.argmax(axis=1) (class indices) instead"
        )
    else:
        raise ShapeError(
            f"{who}: target of shape {t.shape} does not match logits of shape {x.shape}; "
            f"expected class indices of shape ({n},) or class probabilities of shape ({n}, {c})"
        )
    if w is not None:
        coef = coef * w
    return _weighted_log_likelihood(F.log_softmax(x, axis=1), coef, denominator, reduction)


def _ignoring(
    x: Tensor, t: Any, w: Any, smoothing: float, reduction: str, ignore_index: int
) -> Tensor:
    """Cross-entropy of (N, C) logits whose targets include ``ignore_index``: a masked mean."""
    keep = t != ignore_index
    losses = cross_entropy(x, namespace(t).where(keep, t, 0), w, smoothing, "none")
    weights = keep.astype(x.dtype)
    if w is not None:
        weights = weights * w[namespace(t).where(keep, t, 0)]
    masked = losses * keep.astype(x.dtype)  # an ignored row gets exactly zero gradient
    if reduction == "none":
        return masked
    total = masked.sum()
    if reduction == "sum":
        return total
    denominator = float(weights.sum())
    return total / denominator if denominator else total * float("nan")  # NaN, as PyTorch


def _sequence_cross_entropy(
    x: Tensor,
    target: Any,
    weight: Any,
    smoothing: float,
    reduction: str,
    ignore_index: int,
    class_axis: int,
) -> Tensor:
    """Cross-entropy of (N, C, T...) or (N, T..., C) logits: flattened to (N*T..., C) rows."""
    who = "cross_entropy"
    if class_axis not in (1, -1, x.ndim - 1):
        raise ConfigError(f"{who}: class_axis must be 1 or -1, got {class_axis!r}")
    if class_axis == 1:
        x = F.transpose(x, (0, *range(2, x.ndim), 1))
    outer, c = x.shape[:-1], x.shape[-1]
    t = _array(target)
    if t.shape == x.shape and t.dtype.kind == "f":
        t = t.reshape(-1, c)
    elif t.shape == outer:
        t = t.reshape(-1)
    else:
        expected = (outer[0], c, *outer[1:]) if class_axis == 1 else x.shape
        raise ShapeError(
            f"{who}: target of shape {t.shape} does not match logits of shape {expected}; "
            f"expected class indices of shape {outer}"
        )
    flat = cross_entropy(F.reshape(x, (-1, c)), t, weight, smoothing, reduction, ignore_index)
    return F.reshape(flat, outer) if reduction == "none" else flat


def nll_loss(log_probs: Any, target: Any, weight: Any = None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices given log-probabilities.

    ``loss_i = -w[y_i] * log_probs[i, y_i]``; ``"mean"`` divides by ``sum_i w[y_i]``.
    ``nll_loss(log_softmax(z), y)`` equals ``cross_entropy(z, y)``.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.nn.functional import nll_loss
    >>> log_probs = cr.tensor(np.log(np.array([[0.5, 0.5], [0.25, 0.75]])))
    >>> round(nll_loss(log_probs, np.array([0, 1]), reduction="sum").item(), 4)
    0.9808
    """
    who = "nll_loss"
    x = _prediction(log_probs, who, "log_probs")
    _check_reduction(reduction, who)
    if x.ndim != 2:
        raise ShapeError(f"{who}: log_probs must have shape (N, C), got {x.shape}")
    n, c = x.shape
    w = _class_weight(weight, c, x.dtype, who)
    t = _array(target)
    if t.shape != (n,):
        raise ShapeError(
            f"{who}: target of shape {t.shape} does not match log_probs of shape {x.shape}; "
            f"expected class indices of shape ({n},)"
        )
    t = _class_indices(t, n, c, who)
    coef = _one_hot_coefficients(t, c, 0.0, x.dtype)
    denominator = float(n)
    if w is not None:
        coef, denominator = coef * w, float(w[t].sum())
    return _weighted_log_likelihood(x, coef, denominator, reduction)


def binary_cross_entropy_with_logits(
    logits: Any, target: Any, pos_weight: Any = None, reduction: str = "mean"
) -> Tensor:
    """Binary cross-entropy of ``sigmoid(logits)``, without overflow for any logit.

    ``loss = max(x, 0) - x * y + log(1 + exp(-|x|))``; with ``pos_weight`` ``p`` (a scalar or
    one value per class on the last axis) the positive term is weighted:
    ``loss = (1 - y) * x + (1 + (p - 1) * y) * log(1 + exp(-x))``.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.nn.functional import binary_cross_entropy_with_logits as bce
    >>> round(bce(cr.tensor(np.zeros(2)), np.array([0.0, 1.0])).item(), 4)  # log(2)
    0.6931
    """
    who = "binary_cross_entropy_with_logits"
    x = _prediction(logits, who, "logits")
    _check_reduction(reduction, who)
    y = _same_shape_target(x, target, who)
    r = F.relu(x)
    # log(1 + exp(-|x|)) with -|x| written as x - 2 relu(x): at x = 0 its gradient then
    # matches relu's choice there, so the total gradient is exactly sigmoid(0) - y.
    tail = F.log(1.0 + F.exp(x - 2.0 * r))
    if pos_weight is None:
        loss = r - x * y + tail
    else:
        p = _array(pos_weight).astype(x.dtype)
        if p.ndim > 1 or (p.ndim == 1 and (x.ndim == 0 or p.shape[0] != x.shape[-1])):
            last = x.shape[-1] if x.ndim else "()"
            raise ShapeError(
                f"{who}: pos_weight must be a scalar or have shape ({last},) (one per class on "
                f"the last axis of logits {x.shape}), got {p.shape}"
            )
        loss = x * (1.0 - y) + (tail + r - x) * (1.0 + (p - 1.0) * y)
    return _reduce(loss, reduction, who)


def binary_cross_entropy(probs: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities: ``-(y log p + (1 - y) log(1 - p))``.

    Each log is clamped at -100 (as PyTorch does) so ``p = 0`` or ``1`` gives a finite loss.
    Prefer ``binary_cross_entropy_with_logits``, which is stable and exact for any logit.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.nn.functional import binary_cross_entropy
    >>> round(binary_cross_entropy(cr.tensor(np.array([0.5])), np.array([1.0])).item(), 4)
    0.6931
    """
    who = "binary_cross_entropy"
    p = _prediction(probs, who, "probs")
    _check_reduction(reduction, who)
    y = _same_shape_target(p, target, who)
    if p.size and not (p.data.min() >= 0 and p.data.max() <= 1):
        raise ConfigError(
            f"{who}: probs must lie in [0, 1], got values from {p.data.min():.4g} to "
            f"{p.data.max():.4g}; for raw scores use binary_cross_entropy_with_logits"
        )
    floor = float(np.exp(-100.0))
    log_p = F.log(F.clip(p, floor, None))
    log_not_p = F.log(F.clip(1.0 - p, floor, None))
    return _reduce(-(log_p * y + log_not_p * (1.0 - y)), reduction, who)


# -- regression -----------------------------------------------------------------------------
def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Squared error ``(input - target) ** 2``.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.nn.functional import mse_loss
    >>> mse_loss(cr.tensor(np.array([1.0, 3.0])), np.array([0.0, 1.0])).item()
    2.5
    """
    x = _prediction(input, "mse_loss")
    _check_reduction(reduction, "mse_loss")
    d = x - _same_shape_target(x, target, "mse_loss")
    return _reduce(d * d, reduction, "mse_loss")


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Absolute error ``|input - target|`` (gradient 0 where they are equal).

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.nn.functional import l1_loss
    >>> l1_loss(cr.tensor(np.array([1.0, 3.0])), np.array([0.0, 1.0])).item()
    1.5
    """
    x = _prediction(input, "l1_loss")
    _check_reduction(reduction, "l1_loss")
    d = x - _same_shape_target(x, target, "l1_loss")
    return _reduce(F.abs(d), reduction, "l1_loss")


def huber_loss(
    input: Any,  # noqa: A002
    target: Any,
    reduction: str = "mean",
    delta: float = 1.0,
) -> Tensor:
    """Huber loss: ``0.5 d**2`` where ``|d| <= delta``, ``delta * (|d| - 0.5 delta)`` beyond.

    Composed as ``0.5 q**2 + delta * (|d| - q)`` with ``q = min(|d|, delta)``. The argument
    order (``reduction`` before ``delta``) is PyTorch's.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.nn.functional import huber_loss
    >>> huber_loss(cr.tensor(np.array([0.5, 3.0])), np.zeros(2), reduction="none").data
    array([0.125, 2.5  ])
    """
    who = "huber_loss"
    x = _prediction(input, who)
    _check_reduction(reduction, who)
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not delta > 0:
        raise ConfigError(f"{who}: delta must be a positive number, got {delta!r}")
    a = F.abs(x - _same_shape_target(x, target, who))
    q = F.clip(a, None, float(delta))
    return _reduce(0.5 * (q * q) + float(delta) * (a - q), reduction, who)


# -- Module forms ---------------------------------------------------------------------------
