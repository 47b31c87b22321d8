"""Learning-rate callbacks: a schedule applied per epoch or per batch, and ReduceLROnPlateau."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chainrule.callbacks.base import Callback
from chainrule.callbacks.monitor import Monitor
from chainrule.errors import ConfigError

if TYPE_CHECKING:
    from chainrule.optim.schedules import ReduceLROnPlateau as _Plateau
    from chainrule.training.trainer import Trainer

__all__ = ["LearningRateScheduler", "ReduceLROnPlateau"]


class LearningRateScheduler(Callback):
    """Set ``optimizer.lr = schedule(step)`` before every epoch or every batch.

    Parameters
    ----------
    schedule : callable
        ``schedule(step) -> lr`` with ``step = 0, 1, 2, ...`` (see ``chainrule.optim.schedules``).
        The count restarts at 0 with each ``fit``.
    per : {"epoch", "batch"}
        What a step is. With ``"batch"`` give the schedule's lengths in batches
        (``trainer.params["steps"]`` batches make an epoch).

    Examples
    --------
    >>> from chainrule.callbacks import LearningRateScheduler
    >>> from chainrule.optim.schedules import step_lr
    >>> callback = LearningRateScheduler(step_lr(0.1, step_size=10, gamma=0.5))
    """

    def __init__(self, schedule: Callable[[int], float], per: str = "epoch") -> None:
        if not callable(schedule):
            raise ConfigError(
                f"LearningRateScheduler: schedule must be callable as schedule(step) -> lr, got "
                f"{schedule!r}"
            )
        if per not in ("epoch", "batch"):
            raise ConfigError(f"LearningRateScheduler: per must be 'epoch' or 'batch', got {per!r}")
        self.schedule = schedule
        self.per = per
        self.step = 0

    def _apply(self, trainer: Trainer, step: int) -> None:
        lr = self.schedule(step)
        if (
            isinstance(lr, bool)
            or not isinstance(lr, (int, float))
            or not (math.isfinite(lr) and lr >= 0)
        ):
            raise ConfigError(
                f"LearningRateScheduler: schedule({step}) returned {lr!r}; expected a finite "
                "learning rate >= 0"
            )
        trainer.optimizer.lr = float(lr)

    def on_train_begin(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        self.step = 0
        if self.per == "batch":
            self._apply(trainer, 0)

    def on_epoch_begin(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        if self.per == "epoch":
            self.step = epoch
            self._apply(trainer, epoch)

    def on_batch_end(self, trainer: Trainer, batch: int, logs: dict[str, Any]) -> None:
        if self.per == "batch":
            self.step += 1
            self._apply(trainer, self.step)

    def __repr__(self) -> str:
        return f"LearningRateScheduler({self.schedule!r}, per={self.per!r})"


class ReduceLROnPlateau(Callback):
    """Divide the learning rate when ``monitor`` stops improving (wraps the optim version).

    Builds a ``chainrule.optim.ReduceLROnPlateau`` on the trainer's optimizer when training
    starts and feeds it the monitored value after every epoch; see that class for the exact
    rule. The new learning rate shows in the next epoch's ``"lr"``.

    Parameters
    ----------
    monitor : str
        The log key to watch, e.g. ``"val_loss"``.
    mode : {"auto", "min", "max"}
        ``"auto"`` picks ``"max"`` for accuracy-like keys.
    **options
        ``factor``, ``patience``, ``threshold``, ``min_lr``, ``cooldown``, passed on.

    Attributes
    ----------
    reductions : list of (int, float)
        The (0-based) epochs after which the lr was reduced, and the new lr.

    Examples
    --------
    >>> from chainrule.callbacks import ReduceLROnPlateau
    >>> callback = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2)
    """

    _OPTIONS = ("factor", "patience", "threshold", "min_lr", "cooldown")

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", **options: Any) -> None:
        unknown = sorted(set(options) - set(self._OPTIONS))
        if unknown:
            raise ConfigError(
                f"ReduceLROnPlateau: unknown option(s) {unknown}; expected some of "
                f"{list(self._OPTIONS)}"
            )
        self._monitor = Monitor("ReduceLROnPlateau", monitor, mode)
        self.options = options
        self.scheduler: _Plateau | None = None
        self.reductions: list[tuple[int, float]] = []

    @property
    def monitor(self) -> str:
        """The monitored log key."""
        return self._monitor.monitor

    def on_train_begin(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        from chainrule.optim.schedules import ReduceLROnPlateau as Plateau

        self.scheduler = Plateau(trainer.optimizer, mode=self._monitor.mode, **self.options)
        self.reductions = []

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        if self.scheduler is None:  # pragma: no cover - on_train_begin always runs first
            return
        if self.scheduler.step(self._monitor.value(logs)):
            self.reductions.append((epoch, float(trainer.optimizer.lr)))

    def __repr__(self) -> str:
        options = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"ReduceLROnPlateau(monitor={self.monitor!r}{options})"
