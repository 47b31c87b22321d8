"""ModelCheckpoint: save the model after an epoch (the best one, by default), atomically."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.callbacks.monitor import Monitor, MonitoredCallback
from chainrule.errors import ConfigError
from chainrule.io.atomic import atomic_write_bytes
from chainrule.nn.module import Module

if TYPE_CHECKING:
    from chainrule.training.trainer import Trainer

__all__ = ["ModelCheckpoint", "save_weights", "atomic_save"]


def save_weights(model: Module, path: str | os.PathLike[str]) -> None:
    """Write the model's ``state_dict`` to a safetensors file at ``path``, atomically.

    The bytes go through ``io.atomic.atomic_write_bytes`` (temp file, fsync, rename), so a
    crash never leaves a truncated file. Read it back with ``safetensors.numpy.load_file(path)``
    and ``model.load_state_dict``.
    """
    from chainrule.io.safetensors_file import encode_safetensors

    state = {name: np.ascontiguousarray(array) for name, array in model.state_dict().items()}
    # Our encoder: the same weights give the same bytes in every process.
    atomic_write_bytes(path, encode_safetensors(state, {"format": "chainrule-state-dict"}))


def atomic_save(
    save_fn: Callable[[Module, str], Any], model: Module, path: str | os.PathLike[str]
) -> Path:
    """Run ``save_fn(model, staged)`` on a scratch file; write its bytes atomically to ``path``.

    ``save_fn`` writes a scratch file next to ``path``; its bytes reach ``path`` through
    ``io.atomic.atomic_write_bytes`` (temp file in the same folder, fsync, ``os.replace``), so
    readers never see a half-written file, and the scratch file is removed either way.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if save_fn is save_weights:  # atomic by itself: no scratch copy
        save_weights(model, target)
        return target
    # The suffix stays, so save functions that look at it (".safetensors") still work.
    staged = target.with_name(f".{target.stem}.{secrets.token_hex(6)}.tmp{target.suffix}")
    try:
        save_fn(model, str(staged))
        atomic_write_bytes(target, staged.read_bytes())
    finally:
        with contextlib.suppress(OSError):
            os.unlink(staged)
    return target


class ModelCheckpoint(MonitoredCallback):
    """Save the model at the end of an epoch: the best one so far, or every one.

    Files are written atomically, so a crash mid-write never leaves a truncated checkpoint:
    ``chainrule.save`` stages its pair of files and renames them into place, and what a custom
    ``save_fn`` writes reaches the destination through ``io.atomic`` (fsynced temp file, then
    ``os.replace``). An epoch that ended on a NaN, infinite or diverging loss is not passed to
    ``on_epoch_end``, so it is never saved.

    Parameters
    ----------
    path : str or PathLike
        Where to write. May contain ``{epoch}`` (1-based) and log keys, formatted with
        ``str.format``: ``"ckpt/epoch{epoch:03d}-{val_loss:.3f}.safetensors"``.
    monitor : str
        The log key deciding which epoch is best (with ``save_best_only``).
    save_best_only : bool
        Save only when ``monitor`` improves; otherwise save after every epoch.
    mode : {"auto", "min", "max"}
        Whether lower or higher is better; ``"auto"`` picks ``"max"`` for accuracy-like keys.
    save_fn : callable, optional
        ``save_fn(model, path)`` writing one file. Default: ``chainrule.save``, the model pair
        ``NAME.safetensors`` + ``NAME.json`` (architecture, the epoch in ``metadata`` and its
        logged figures in ``metrics``), which ``chainrule.load`` reads back. A model with layers
        the registry does not know needs ``save_fn=save_weights``: its ``state_dict`` alone,
        as one safetensors file (read it with ``safetensors.numpy.load_file``).

    Attributes
    ----------
    best, best_epoch : float, int or None
        The best monitored value and its (0-based) epoch.
    saved : list of (int, Path)
        Every save of this fit: epoch and file (for ``chainrule.save``, its JSON file).

    Examples
    --------
    >>> from chainrule.callbacks import ModelCheckpoint
    >>> checkpoint = ModelCheckpoint("runs/best.safetensors", monitor="val_accuracy")
    >>> checkpoint.mode
    'max'
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        monitor: str = "val_loss",
        save_best_only: bool = True,
        mode: str = "auto",
        save_fn: Callable[[Module, str], Any] | None = None,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise ConfigError(f"ModelCheckpoint: path must be a file path, got {path!r}")
        if save_fn is not None and not callable(save_fn):
            raise ConfigError(
                "ModelCheckpoint: save_fn must be callable as save_fn(model, path), got "
                f"{save_fn!r}"
            )
        self.path = str(path)
        self._monitor = Monitor("ModelCheckpoint", monitor, mode)
        self.save_best_only = bool(save_best_only)
        self.save_fn = save_fn
        self.saved: list[tuple[int, Path]] = []

    def on_train_begin(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        self._monitor.reset()
        self.saved = []

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        if self.save_best_only:
            value = self._monitor.value(logs)
            if not self._monitor.improved(value, epoch):
                return
        path = self._format(epoch, logs)
        if self.save_fn is None:
            from chainrule.io import save

            figures = {k: v for k, v in logs.items() if isinstance(v, (int, float))}
            target = save(trainer.model, path, metadata={"epoch": epoch + 1}, metrics=figures)
        else:
            target = atomic_save(self.save_fn, trainer.model, path)
        self.saved.append((epoch, target))

    def _format(self, epoch: int, logs: dict[str, Any]) -> str:
        """The path with ``{epoch}`` and log keys filled in."""
        if "{" not in self.path:
            return self.path
        fields = {k: v for k, v in logs.items() if isinstance(v, (int, float))}
        try:
            return self.path.format(epoch=epoch + 1, **fields)
        except (KeyError, IndexError, ValueError) as error:
            raise ConfigError(
                f"ModelCheckpoint: cannot fill in the path {self.path!r} ({error!r}); it may use "
                f"{{epoch}} and the logged keys {sorted(fields)}"
            ) from None

    def __repr__(self) -> str:
        return (
            f"ModelCheckpoint({self.path!r}, monitor={self.monitor!r}, "
            f"save_best_only={self.save_best_only}, mode={self.mode!r})"
        )
