"""Metric specifications for the Trainer: names looked up in ``chainrule.metrics``, or functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.errors import ConfigError

__all__ = ["Metric", "MetricSpec", "resolve_metrics"]

#: ``metric(y_true, scores) -> float`` on NumPy arrays.
Metric = Callable[[np.ndarray, np.ndarray], float]
#: (name in the logs, function, whether it was looked up by name: a classification metric).
MetricSpec = tuple[str, Metric, bool]


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
