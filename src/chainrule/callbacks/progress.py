"""ProgressBar: a tqdm bar per epoch (batches, ETA, running loss) and a summary line per epoch."""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING, Any

from chainrule.callbacks.base import Callback
from chainrule.errors import ConfigError

if TYPE_CHECKING:
    from chainrule.training.trainer import Trainer

__all__ = ["ProgressBar", "format_logs"]


def format_logs(logs: dict[str, Any]) -> str:
    """``"loss 0.1234 - accuracy 0.9700 - ..."`` for the numeric entries of an epoch's logs."""
    parts = []
    for key, value in logs.items():
        if key == "seconds" or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        parts.append(f"{key} {value:.3g}" if key == "lr" else f"{key} {value:.4f}")
    return " - ".join(parts)


class ProgressBar(Callback):
    """Show training progress on a terminal (standard error by default), through tqdm.

    ``verbose=1``: a bar per epoch (batches done, rate, ETA, running loss in the postfix) and,
    when the epoch ends, a summary line (``Epoch 3/10 - 1.2s - loss 0.3102 - val_loss ...``)
    written with ``tqdm.write`` so it does not break the bar. ``verbose=2``: the summary lines
    only (good for log files). ``verbose=0``: nothing.

    It also prints the gradient-health warnings of each epoch (so the trainer does not raise
    them as Python warnings when a ProgressBar is attached), why training stopped early, and
    that training was interrupted when Ctrl-C ended it.

    Parameters
    ----------
    verbose : {0, 1, 2}
    file : file object, optional
        Where to write; default ``sys.stderr`` (looked up when training starts).
    mininterval : float
        Minimum seconds between redraws of the bar.

    Examples
    --------
    >>> from chainrule.callbacks import ProgressBar
    >>> bar = ProgressBar(verbose=2)  # cr.Trainer(..., callbacks=[bar])
    """

    def __init__(
        self, verbose: int = 1, file: IO[str] | None = None, mininterval: float = 0.1
    ) -> None:
        if verbose not in (0, 1, 2) or isinstance(verbose, bool):
            raise ConfigError(f"ProgressBar: verbose must be 0, 1 or 2, got {verbose!r}")
        self.verbose = int(verbose)
        self.file = file
        self.mininterval = float(mininterval)
        self.shows_warnings = self.verbose > 0
        self._bar: Any = None
        self._stream: IO[str] = sys.stderr
        self._epochs = 0
        self._loss_sum = 0.0
        self._seen = 0

    def _write(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text, file=self._stream)

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def on_train_begin(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        self._stream = self.file if self.file is not None else sys.stderr
        self._epochs = int(trainer.params.get("epochs", 0))

    def on_epoch_begin(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        self._loss_sum, self._seen = 0.0, 0
        if self.verbose != 1:
            return
        from tqdm import tqdm

        self._bar = tqdm(
            total=trainer.params.get("steps"),
            desc=f"Epoch {epoch + 1}/{self._epochs}",
            unit="batch",
            file=self._stream,
            leave=False,
            dynamic_ncols=True,
            mininterval=self.mininterval,
        )

    def on_batch_end(self, trainer: Trainer, batch: int, logs: dict[str, Any]) -> None:
        if self._bar is None:
            return
        size = logs.get("size", 1)
        self._loss_sum += logs["loss"] * size
        self._seen += size
        self._bar.set_postfix_str(f"loss={self._loss_sum / max(self._seen, 1):.4f}", refresh=False)
        self._bar.update(1)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        self._close_bar()
        if self.verbose == 0:
            return
        self._summary(epoch, logs)

    def _summary(self, epoch: int, logs: dict[str, Any]) -> None:
        seconds = logs.get("seconds", 0.0)
        self._write(f"Epoch {epoch + 1}/{self._epochs} - {seconds:.2f}s - {format_logs(logs)}")
        for message in logs.get("warnings", ()):
            self._write(f"warning: {message}")

    def on_train_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        self._close_bar()
        if self.verbose == 0:
            return
        history = trainer.history
        if history.ended_by in ("non-finite", "diverged") and logs and "loss" in logs:
            # The failed epoch never reached on_epoch_end: show its figures and warnings here.
            self._summary(trainer.epoch, logs)
        if history.interrupted:
            self._write(f"Training interrupted by Ctrl-C: {history.stop_reason}")
        elif history.stop_reason:
            self._write(f"Training stopped: {history.stop_reason}")

    def __repr__(self) -> str:
        return f"ProgressBar(verbose={self.verbose})"
