"""Monitoring one logged figure: which direction is better, and the best value so far."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from chainrule.callbacks.base import Callback
from chainrule.errors import ConfigError

__all__ = ["Monitor", "MonitoredCallback", "resolve_mode"]

# Metrics where larger is better; everything else (losses, errors) is minimised.
_MAXIMISED = ("acc", "accuracy", "f1", "precision", "recall", "auc", "r2")


def resolve_mode(monitor: str, mode: str) -> str:
    """Turn ``"auto"`` into ``"max"`` for accuracy-like keys and ``"min"`` otherwise.

    Examples
    --------
    >>> resolve_mode("val_accuracy", "auto"), resolve_mode("val_loss", "auto")
    ('max', 'min')
    """
    if mode not in ("auto", "min", "max"):
        raise ConfigError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    base = monitor[4:] if monitor.startswith("val_") else monitor
    return "max" if any(base == m or base.endswith("_" + m) for m in _MAXIMISED) else "min"


class Monitor:
    """Tracks the best value of one logged figure (shared by EarlyStopping and ModelCheckpoint)."""

    def __init__(self, owner: str, monitor: str, mode: str, min_delta: float = 0.0) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise ConfigError(
                f"{owner}: monitor must be a log key such as 'val_loss', got {monitor!r}"
            )
        try:
            self.mode = resolve_mode(monitor, mode)
        except ConfigError as error:
            raise ConfigError(f"{owner}: {error}") from None
        if (
            isinstance(min_delta, bool)
            or not isinstance(min_delta, (int, float))
            or not (math.isfinite(min_delta) and min_delta >= 0)
        ):
            raise ConfigError(f"{owner}: min_delta must be a number >= 0, got {min_delta!r}")
        self.owner = owner
        self.monitor = monitor
        self.min_delta = float(min_delta)
        self.reset()

    def reset(self) -> None:
        """Forget the best value (a new fit starts)."""
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch: int | None = None

    def value(self, logs: Mapping[str, Any]) -> float:
        """The monitored value in ``logs``, or a ConfigError naming the keys there are."""
        if self.monitor not in logs:
            available = sorted(k for k, v in logs.items() if isinstance(v, (int, float)))
            hint = ""
            if self.monitor.startswith("val_"):
                hint = "; hint: pass validation_data or validation_split to fit()"
            raise ConfigError(
                f"{self.owner}: monitor={self.monitor!r} is not among the logged figures "
                f"{available}{hint}"
            )
        return float(logs[self.monitor])

    def improved(self, value: float, epoch: int) -> bool:
        """Whether ``value`` beats the best by more than ``min_delta`` (NaN never does); if so,
        it becomes the best."""
        if math.isnan(value):
            return False
        better = (
            value < self.best - self.min_delta
            if self.mode == "min"
            else value > self.best + self.min_delta
        )
        if better:
            self.best, self.best_epoch = value, epoch
        return better


class MonitoredCallback(Callback):
    """A callback that watches one log key through a ``Monitor`` (set as ``self._monitor``)."""

    _monitor: Monitor

    @property
    def monitor(self) -> str:
        """The monitored log key."""
        return self._monitor.monitor

    @property
    def mode(self) -> str:
        """``"min"`` or ``"max"``."""
        return self._monitor.mode

    @property
    def best(self) -> float:
        """The best value seen in this fit."""
        return self._monitor.best

    @property
    def best_epoch(self) -> int | None:
        """The (0-based) epoch of the best value."""
        return self._monitor.best_epoch
