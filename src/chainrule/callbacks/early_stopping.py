"""EarlyStopping: stop when a monitored figure stops improving, and keep the best weights."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.callbacks.monitor import Monitor, MonitoredCallback
from chainrule.errors import ConfigError

if TYPE_CHECKING:
    from chainrule.training.trainer import Trainer

__all__ = ["EarlyStopping", "Monitor"]


class EarlyStopping(MonitoredCallback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    With ``restore_best_weights`` (the default) the model gets the weights of its best epoch
    back **at the end of training, whether or not early stopping triggered** (and after Ctrl-C):
    the callback keeps a copy of the ``state_dict`` of the best epoch so far. Its
    ``on_train_end`` runs before the other callbacks', so they (and ``history.kept_epoch``,
    ``trainer.final_logs``) see the restored best epoch.

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

    restores_weights = True  # on_train_end runs before the other callbacks'

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
            note = getattr(trainer, "weights_restored", None)
            if callable(note) and self.best_epoch is not None:
                note(
                    self.best_epoch,
                    f"the best epoch ({self.best_epoch + 1}, {self.monitor} {self.best:.6g})",
                )

    def _best_text(self) -> str:
        return "?" if self.best_epoch is None else str(self.best_epoch + 1)

    def __repr__(self) -> str:
        return (
            f"EarlyStopping(monitor={self.monitor!r}, mode={self.mode!r}, "
            f"patience={self.patience}, min_delta={self._monitor.min_delta}, "
            f"restore_best_weights={self.restore_best_weights})"
        )
