"""CSVLogger: one row per epoch with the logged figures, the header taken from the first epoch."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from chainrule.callbacks.base import Callback
from chainrule.errors import ConfigError

if TYPE_CHECKING:
    from chainrule.training.trainer import Trainer

__all__ = ["CSVLogger"]


class CSVLogger(Callback):
    """Write the epoch logs to a CSV file: ``epoch`` (1-based), then every numeric key.

    The columns are those of the first epoch; a later epoch missing one leaves the cell empty.
    Each row is flushed as soon as it is written, so the file can be watched during training.

    Parameters
    ----------
    path : str or PathLike
    separator : str
        One character between fields.
    append : bool
        Add rows to an existing file (its header is kept) instead of starting afresh.

    Examples
    --------
    >>> from chainrule.callbacks import CSVLogger
    >>> logger = CSVLogger("runs/log.csv")  # cr.Trainer(..., callbacks=[logger])
    """

    def __init__(
        self, path: str | os.PathLike[str], separator: str = ",", append: bool = False
    ) -> None:
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise ConfigError(f"CSVLogger: path must be a file path, got {path!r}")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ConfigError(f"CSVLogger: separator must be one character, got {separator!r}")
        self.path = Path(path)
        self.separator = separator
        self.append = bool(append)
        self.keys: list[str] | None = None
        self._file: IO[str] | None = None
        self._writer: Any = None

    def on_train_begin(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.keys = None
        if self.append and self.path.exists() and self.path.stat().st_size > 0:
            with open(self.path, newline="", encoding="utf-8") as existing:
                header = next(csv.reader(existing, delimiter=self.separator), None)
            self.keys = [k for k in header or [] if k != "epoch"] or None
        mode = "a" if self.append else "w"
        self._file = open(self.path, mode, newline="", encoding="utf-8")  # noqa: SIM115
        self._writer = csv.writer(self._file, delimiter=self.separator)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        if self._file is None:  # pragma: no cover - on_train_begin always runs first
            return
        if self.keys is None:
            self.keys = [
                k
                for k, v in logs.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)
            ]
            self._writer.writerow(["epoch", *self.keys])
        row = [str(epoch + 1)] + [repr(float(logs[k])) if k in logs else "" for k in self.keys]
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __repr__(self) -> str:
        return f"CSVLogger({str(self.path)!r})"
