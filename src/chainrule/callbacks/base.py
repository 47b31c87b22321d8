"""Callback, the base of every hook into the training loop, and CallbackList, which calls them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from chainrule.errors import ConfigError

if TYPE_CHECKING:
    from chainrule.training.trainer import Trainer

__all__ = ["Callback", "CallbackList"]

Logs = dict[str, Any]


class Callback:
    """Base class of callbacks: override the hooks you need; each does nothing by default.

    Every hook receives the ``Trainer`` (``trainer.model``, ``trainer.optimizer``,
    ``trainer.history``, ``trainer.params``) and a ``logs`` dict. To end training after the
    current batch or epoch, set ``trainer.stop_training = True`` (and, to say why,
    ``trainer.stop_reason``); ``trainer.request_stop(reason)`` does both.

    Hooks and their logs:

    - ``on_train_begin(trainer, logs)``: empty logs.
    - ``on_epoch_begin(trainer, epoch, logs)``: empty logs; ``epoch`` counts from 0.
    - ``on_batch_end(trainer, batch, logs)``: ``{"loss", "size"}``, the batch's loss and
      number of samples (the dict is reused between batches: copy it to keep it).
    - ``on_epoch_end(trainer, epoch, logs)``: the epoch's figures (``"loss"``, metrics,
      ``"val_"`` keys, ``"lr"``, ``"seconds"``) and ``"warnings"``, a list of gradient-health
      messages first seen this epoch. Not called for an epoch that ended the run on a NaN,
      infinite or diverging loss (it is not a complete epoch; ``on_train_end`` gets its logs).
    - ``on_train_end(trainer, logs)``: the last epoch's logs. Runs also after Ctrl-C.

    A callback that sets ``shows_warnings = True`` displays gradient-health warnings itself,
    so the trainer does not also raise them through ``warnings.warn``. One whose
    ``restores_weights`` is True loads other weights in ``on_train_end`` (``EarlyStopping``):
    it runs before the others there, and tells ``trainer.weights_restored(epoch, where)``.

    Examples
    --------
    >>> from chainrule.callbacks import Callback
    >>> class StopBelow(Callback):
    ...     def __init__(self, threshold):
    ...         self.threshold = threshold
    ...     def on_epoch_end(self, trainer, epoch, logs):
    ...         if logs["loss"] < self.threshold:
    ...             trainer.request_stop(f"loss fell below {self.threshold}")
    """

    shows_warnings: bool = False
    restores_weights: bool = False

    def on_train_begin(self, trainer: Trainer, logs: Logs) -> None:
        """Called once before the first epoch."""

    def on_train_end(self, trainer: Trainer, logs: Logs) -> None:
        """Called once after the last epoch, after an early stop, and after Ctrl-C."""

    def on_epoch_begin(self, trainer: Trainer, epoch: int, logs: Logs) -> None:
        """Called at the start of every epoch."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Logs) -> None:
        """Called after every epoch, once its figures (validation included) are known."""

    def on_batch_end(self, trainer: Trainer, batch: int, logs: Logs) -> None:
        """Called after every optimizer step."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class CallbackList:
    """Calls a hook on every callback, in order; batch hooks only on those that define one."""

    def __init__(self, callbacks: Iterable[Callback] = ()) -> None:
        if isinstance(callbacks, Callback):
            callbacks = [callbacks]
        self.callbacks = list(callbacks)
        for position, cb in enumerate(self.callbacks):
            if not isinstance(cb, Callback):
                raise ConfigError(
                    f"callbacks[{position}] is a {type(cb).__name__}, expected a "
                    "chainrule.callbacks.Callback (subclass Callback and override its hooks)"
                )
        # Most callbacks act per epoch; skipping them per batch keeps the loop's overhead small.
        self.batch_callbacks = [
            cb for cb in self.callbacks if type(cb).on_batch_end is not Callback.on_batch_end
        ]
        self.shows_warnings = any(cb.shows_warnings for cb in self.callbacks)

    def __iter__(self) -> Any:
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def on_train_begin(self, trainer: Trainer, logs: Logs) -> None:
        for cb in self.callbacks:
            cb.on_train_begin(trainer, logs)

    def on_train_end(
        self, trainer: Trainer, logs: Logs, then: Callable[[], None] | None = None
    ) -> None:
        """Callbacks that restore weights first (``restores_weights``), then ``then()``, then
        the others: every later hook sees the weights the model ends with."""
        restoring = [cb for cb in self.callbacks if getattr(cb, "restores_weights", False)]
        for cb in restoring:
            cb.on_train_end(trainer, logs)
        if then is not None:
            then()
        for cb in self.callbacks:
            if cb not in restoring:
                cb.on_train_end(trainer, logs)

    def on_epoch_begin(self, trainer: Trainer, epoch: int, logs: Logs) -> None:
        for cb in self.callbacks:
            cb.on_epoch_begin(trainer, epoch, logs)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Logs) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(trainer, epoch, logs)

    def on_batch_end(self, trainer: Trainer, batch: int, logs: Logs) -> None:
        for cb in self.batch_callbacks:
            cb.on_batch_end(trainer, batch, logs)
