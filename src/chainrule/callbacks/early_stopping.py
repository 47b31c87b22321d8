"""EarlyStopping: stop when a monitored figure stops improving, and keep the best weights."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.callbacks.base import Callback
from chainrule.errors import ConfigError
from chainrule.training.history import resolve_mode

if TYPE_CHECKING:
    from chainrule.training.trainer import Trainer

__all__ = ["EarlyStopping", "Monitor"]


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


class EarlyStopping(MonitoredCallback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    With ``restore_best_weights`` (the default) the model gets the weights of its best epoch
    back **at the end of training, whether or not early stopping triggered** (and after Ctrl-C):
    the callback keeps a copy of the ``state_dict`` of the best epoch so far.

    Parameters
    ----------
    monitor : str
        A key of the epoch logs: ``"val_loss"``, ``"val_accuracy"``, ``"loss"``, ...
    mode : {"auto", "min", "max"}
        Whether lower or higher is better; ``"auto"`` picks ``"max"`` for accuracy-like keys.
    patience : int
        Epochs without improvement tolerated before stopping, >= 0.
    min_delta : float
        Smallest change that counts as an improvement, >= 0.
    restore_best_weights : bool
        Load the best epoch's weights when training ends.

    Raises
    ------
    ConfigError
        At the first epoch end when ``monitor`` is not logged (the message lists the keys).

    Examples
    --------
    >>> from chainrule.callbacks import EarlyStopping
    >>> stop = EarlyStopping(monitor="val_loss", patience=3)
    >>> # trainer = cr.Trainer(model, loss, opt, callbacks=[stop]); trainer.fit(...)
    >>> stop.mode
    'min'
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        patience: int = 5,
        min_delta: float = 0.0,
        restore_best_weights: bool = True,
    ) -> None:
        if (
            isinstance(patience, bool)
            or not isinstance(patience, (int, np.integer))
            or patience < 0
        ):
            raise ConfigError(f"EarlyStopping: patience must be an integer >= 0, got {patience!r}")
        self._monitor = Monitor("EarlyStopping", monitor, mode, min_delta)
        self.patience = int(patience)
        self.restore_best_weights = bool(restore_best_weights)
        self.wait = 0
        self.best_weights: dict[str, np.ndarray] | None = None
        self.stopped_epoch: int | None = None
        self.restored = False

    def on_train_begin(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        self._monitor.reset()
        self.wait = 0
        self.best_weights = None
        self.stopped_epoch = None
        self.restored = False

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        value = self._monitor.value(logs)
        if self._monitor.improved(value, epoch):
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = trainer.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience and not trainer.stop_training:
            self.stopped_epoch = epoch
            trainer.request_stop(
                f"early stopping: {self.monitor} has not improved for {self.wait} epoch(s) "
                f"(patience {self.patience}); best {self.best:.6g} at epoch {self._best_text()}"
            )

    def on_train_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            trainer.model.load_state_dict(self.best_weights)
            self.restored = True

    def _best_text(self) -> str:
        return "?" if self.best_epoch is None else str(self.best_epoch + 1)

    def __repr__(self) -> str:
        return (
            f"EarlyStopping(monitor={self.monitor!r}, mode={self.mode!r}, "
            f"patience={self.patience}, min_delta={self._monitor.min_delta}, "
            f"restore_best_weights={self.restore_best_weights})"
        )
