"""What the losses share: checks of reductions, predictions and targets, class weights and the
weighted log-likelihood, so each loss in ``functional`` is its formula and little else."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.backend import namespace
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, DtypeError, ShapeError

REDUCTIONS = ("mean", "sum", "none")


# -- checks shared by the losses ------------------------------------------------------------
def _check_reduction(reduction: Any, who: str) -> None:
    if reduction not in REDUCTIONS:
        raise ConfigError(
            f"{who}: reduction must be one of 'mean', 'sum', 'none', got {reduction!r}"
        )


def _check_smoothing(value: Any, who: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"{who}: label_smoothing must be a number in [0, 1], got {value!r}")


def _prediction(x: Any, who: str, what: str = "input") -> Tensor:
    """The model output as a floating tensor."""
    t = x if isinstance(x, Tensor) else Tensor(x)
    if t.dtype.kind != "f":
        raise DtypeError(f"{who}: {what} must be floating point, got dtype {t.dtype}")
    return t


def _array(value: Any) -> Any:
    """The array behind a target or weight (a tensor's data, or the value as an array)."""
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def _same_shape_target(pred: Tensor, target: Any, who: str) -> Any:
    """A numeric target of exactly the prediction's shape, cast to its dtype."""
    t = _array(target)
    if t.shape != pred.shape:
        raise ShapeError(
            f"{who}: target of shape {t.shape} does not match input of shape {pred.shape}; "
            f"targets are never broadcast (reshape one of them, e.g. target.reshape{pred.shape})"
        )
    if t.dtype.kind not in "fiub":
        raise DtypeError(f"{who}: target must be numeric, got dtype {t.dtype}")
    return t.astype(pred.dtype, copy=False)


def _reduce(loss: Tensor, reduction: str, who: str) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if loss.size == 0:
        raise ShapeError(f"{who}: cannot take the mean over an empty batch")
    return loss.mean()


def _class_weight(weight: Any, classes: int, dtype: Any, who: str) -> Any:
    """Per-class weights of shape (C,) in the prediction's dtype, or None."""
    if weight is None:
        return None
    w = _array(weight)
    if w.shape != (classes,):
        raise ShapeError(
            f"{who}: weight must have one entry per class, shape ({classes},), got {w.shape}"
        )
    return w.astype(dtype)


def _integer_targets(t: Any, n: int, c: int, who: str) -> None:
    """Class-index targets must be integers."""
    if t.dtype.kind not in "iu":
        raise DtypeError(
            f"{who}: class-index targets must be integers, got dtype {t.dtype} with shape "
            f"{t.shape}; convert labels with .astype('int64'), or give class probabilities "
            f"of shape ({n}, {c})"
        )


def _class_indices(t: Any, n: int, c: int, who: str) -> Any:
    """Check integer class targets of shape (N,) with values in [0, C)."""
    _integer_targets(t, n, c, who)
    bad = (t < 0) | (t >= c)
    if bad.any():
        raise ShapeError(
            f"{who}: target class {t[bad][0]} is out of range for {c} classes (valid labels "
            f"are 0 to {c - 1})"
        )
    return t


def _one_hot_coefficients(t: Any, c: int, smoothing: float, dtype: Any) -> Any:
    """The target distribution ``(1 - smoothing) * one_hot + smoothing / C`` as an array."""
    xp = namespace(t)
    q = xp.zeros((t.shape[0], c), dtype=dtype)
    q[xp.arange(t.shape[0]), t] = 1.0 - smoothing
    return q + smoothing / c if smoothing else q


def _weighted_log_likelihood(
    log_probs: Tensor, coef: Any, denominator: float, reduction: str
) -> Tensor:
    """``-sum_c coef[i, c] * log_probs[i, c]`` per sample, summed or divided by the denominator.

    Picking the target log-probability by multiplying with a (smoothed, weighted) one-hot
    array costs one elementwise product and one sum, and its backward is a plain product;
    indexing with ``(arange(N), target)`` would need a scatter-add (``add.at``) in backward,
    which is several times slower in NumPy, and could not express smoothing or soft targets.
    """
    xp = namespace(coef)
    if reduction == "none":
        return (log_probs * -coef).sum(axis=1)
    if reduction == "mean":
        if log_probs.shape[0] == 0:
            raise ShapeError("cannot take the mean over an empty batch")
        # A batch whose targets all have weight 0 has no mean: NaN, as in PyTorch.
        coef = coef / denominator if denominator else xp.full_like(coef, xp.nan)
    return (log_probs * -coef).sum()


# -- classification -------------------------------------------------------------------------
