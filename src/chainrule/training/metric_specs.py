"""Metric specifications for the Trainer: names looked up in ``chainrule.metrics``, or functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.errors import ConfigError

__all__ = ["Metric", "MetricSpec", "resolve_metrics", "log_loss_of_scores"]

#: ``metric(y_true, scores) -> float`` on NumPy arrays.
Metric = Callable[[np.ndarray, np.ndarray], float]
#: (name in the logs, function, whether it was looked up by name: a classification metric).
MetricSpec = tuple[str, Metric, bool]


def log_loss_of_scores(y_true: Any, scores: Any, eps: float = 1e-7) -> float:
    """``metrics.log_loss`` of a model's raw outputs: softmax first, unless they are probabilities.

    What the Trainer's metric ``"log_loss"`` computes. Rows that already lie in [0, 1] and sum
    to 1 (a model ending in ``Softmax``) are taken as they are; anything else is read as
    logits, through a stable log-softmax, so the value is the cross-entropy of the logits
    (with probabilities floored at ``eps`` as in ``log_loss``).

    Examples
    --------
    >>> import numpy as np
    >>> logits = np.array([[2.0, 0.0], [0.0, 1.0]])
    >>> round(log_loss_of_scores([0, 1], logits), 6)
    0.220095
    >>> round(log_loss_of_scores([0, 1], [[0.5, 0.5], [0.2, 0.8]]), 6)
    0.458145
    """
    from chainrule.metrics import log_loss

    matrix = np.asarray(scores, dtype=np.float64)
    if matrix.ndim == 2 and matrix.size:
        sums = matrix.sum(axis=1)
        probabilities = matrix.min() >= 0 and matrix.max() <= 1 and np.allclose(sums, 1, atol=1e-3)
        if not probabilities:
            shifted = matrix - matrix.max(axis=1, keepdims=True)
            log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            true = np.asarray(y_true)
            if true.shape != (len(matrix),) or true.dtype.kind not in "iu":
                return log_loss(y_true, scores, eps)  # its checks word the error
            if len(true) and (true.min() < 0 or true.max() >= matrix.shape[1]):
                return log_loss(y_true, scores, eps)
            picked = log_probs[np.arange(len(true)), true]
            return float(-np.mean(np.maximum(picked, np.log(eps))))
    return log_loss(y_true, scores, eps)


def resolve_metrics(metrics: Any) -> list[MetricSpec]:
    """(name, function, looked up by name) for each metric; names must be unique."""
    if isinstance(metrics, str) or callable(metrics):
        metrics = [metrics]
    resolved: list[MetricSpec] = []
    for item in metrics:
        if isinstance(item, str):
            from chainrule import metrics as library

            key = {"acc": "accuracy"}.get(item, item)
            fn = getattr(library, key, None) if key in library.__all__ else None
            if fn is None or not callable(fn) or key in ("confusion_matrix", "ClassScores"):
                raise ConfigError(
                    f"Trainer: unknown metric {item!r}; known names are 'accuracy', "
                    "'top_k_accuracy' and 'log_loss', or pass a function (y_true, scores) -> float"
                )
            if key == "log_loss":
                fn = log_loss_of_scores  # the Trainer hands metrics raw outputs (logits)
            resolved.append((item, fn, True))
        elif (
            isinstance(item, tuple)
            and len(item) == 2
            and isinstance(item[0], str)
            and callable(item[1])
        ):
            resolved.append((item[0], item[1], False))
        elif callable(item):
            resolved.append((getattr(item, "__name__", type(item).__name__), item, False))
        else:
            raise ConfigError(
                f"Trainer: a metric must be a name, a function (y_true, scores) -> float or a "
                f"(name, function) pair, got {item!r}"
            )
    names = [name for name, _, _ in resolved]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"Trainer: metric names must be unique, {duplicates} appear twice")
    reserved = {"loss", "lr", "seconds", "penalty", "warnings"} & set(names)
    if reserved:
        raise ConfigError(f"Trainer: metric names {sorted(reserved)} are reserved for the loop")
    return resolved
