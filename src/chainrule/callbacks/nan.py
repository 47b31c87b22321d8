"""TerminateOnNaN: stop when the loss is NaN or infinite, and go back to the last good weights."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.callbacks.base import Callback
from chainrule.errors import ConfigError

if TYPE_CHECKING:
    from chainrule.training.trainer import Trainer

__all__ = ["TerminateOnNaN"]


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch loss is NaN or infinite, restoring the last good weights.

    The last good weights (and optimizer state, so momentum buffers are not left poisoned)
    are those at the end of the last epoch whose loss and weights were all finite, or before
    training when the first epoch fails. With ``per="batch"`` they are taken after every
    finite batch instead: closer to the failure, but a copy of the model every batch.
    ``trainer.stop_reason`` (and so ``history.stop_reason``) says where it happened.

    Parameters
    ----------
    per : {"epoch", "batch"}
        How often to keep a copy of the good weights.

    Attributes
    ----------
    terminated_at : (int, int) or None
        (epoch, batch), 0-based, where the loss went bad; batch is -1 when found at epoch end.

    Examples
    --------
    >>> from chainrule.callbacks import TerminateOnNaN
    >>> guard = TerminateOnNaN()  # cr.Trainer(..., callbacks=[guard])
    """

    def __init__(self, per: str = "epoch") -> None:
        if per not in ("epoch", "batch"):
            raise ConfigError(f"TerminateOnNaN: per must be 'epoch' or 'batch', got {per!r}")
        self.per = per
        self.terminated_at: tuple[int, int] | None = None
        self._weights: dict[str, np.ndarray] | None = None
        self._optimizer: Any = None
        self._good_at = "the start of training"
        self._good_epoch: int | None = None

    def _snapshot(self, trainer: Trainer, where: str, epoch: int | None = None) -> bool:
        """Keep the current weights if they are all finite; return whether they were."""
        state = trainer.model.state_dict()
        if not all(np.isfinite(a).all() for a in state.values() if a.dtype.kind == "f"):
            return False
        self._weights = state
        saver = getattr(trainer.optimizer, "state_dict", None)
        self._optimizer = saver() if callable(saver) else None
        self._good_at, self._good_epoch = where, epoch
        return True

    def _terminate(self, trainer: Trainer, epoch: int, batch: int, what: str) -> None:
        self.terminated_at = (epoch, batch)
        if self._weights is not None:
            trainer.model.load_state_dict(self._weights)
            if self._optimizer is not None:
                trainer.optimizer.load_state_dict(self._optimizer)
            note = getattr(trainer, "weights_restored", None)
            if callable(note):
                note(self._good_epoch, self._good_at)
        place = f"epoch {epoch + 1}" + (f", batch {batch + 1}" if batch >= 0 else "")
        trainer.request_stop(
            f"{what} at {place}; training stopped and the weights from {self._good_at} were "
            "restored (hint: lower the learning rate, clip gradients with clip_grad_norm, or "
            "check the data for extreme values)"
        )

    def on_train_begin(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        self.terminated_at = None
        self._weights = None
        self._snapshot(trainer, "the start of training")

    def on_batch_end(self, trainer: Trainer, batch: int, logs: dict[str, Any]) -> None:
        if self.terminated_at is not None:
            return
        for key in ("loss", "penalty"):
            value = logs.get(key)
            if value is not None and not math.isfinite(value):
                self._terminate(trainer, trainer.epoch, batch, f"the {key} became {value}")
                return
        if self.per == "batch":
            where = f"epoch {trainer.epoch + 1}, batch {batch + 1}"
            if not self._snapshot(trainer, where):
                self._terminate(trainer, trainer.epoch, batch, "the weights became non-finite")

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        if self.terminated_at is not None:
            return
        value = logs.get("loss")
        if value is not None and not math.isfinite(value):
            self._terminate(trainer, epoch, -1, f"the epoch's loss became {value}")
        elif self.per == "epoch" and not self._snapshot(
            trainer, f"the end of epoch {epoch + 1}", epoch
        ):
            self._terminate(trainer, epoch, -1, "the weights became non-finite")

    def __repr__(self) -> str:
        return f"TerminateOnNaN(per={self.per!r})"
