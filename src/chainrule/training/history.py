"""History: what ``Trainer.fit`` recorded, one value per epoch per key, plus how training ended."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from chainrule.errors import ConfigError

__all__ = ["History", "resolve_mode"]

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


def _empty_diagnostics() -> dict[str, dict[str, list[float]]]:
    return {"grad_norm": {}, "update_ratio": {}, "dead_fraction": {}}


class History:
    """The per-epoch record of one ``fit``.

    Attributes
    ----------
    history : dict of str to list of float
        One list per key, one value per completed epoch: ``"loss"``, each metric, ``"val_loss"``
        and ``"val_"`` + metric (with validation data), ``"lr"``, ``"seconds"`` and
        ``"penalty"`` (with regularizers). ``history["loss"]`` also works.
    epochs : list of int
        The (0-based) epoch numbers recorded.
    diagnostics : dict
        Gradient-health figures per layer and epoch: ``diagnostics["grad_norm"]["0"]``,
        ``["update_ratio"][...]``, ``["dead_fraction"][<ReLU name>]`` (empty when off).
    warnings : list of str
        Gradient-health warnings raised during training, each prefixed by its epoch.
    interrupted : bool
        True when Ctrl-C (``KeyboardInterrupt``) ended training.
    stopped_early : bool
        True when a callback stopped training (early stopping, NaN loss, ...).
    stop_reason : str or None
        Why training ended before its last epoch, in words.
    params : dict
        ``epochs``, ``batch_size``, ``steps`` (batches per epoch) and ``samples``.

    Examples
    --------
    >>> h = History()
    >>> h.record(0, {"loss": 0.9, "val_loss": 1.0})
    >>> h.record(1, {"loss": 0.5, "val_loss": 0.7})
    >>> h["loss"], h.best("val_loss")
    ([0.9, 0.5], (1, 0.7))
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epochs: list[int] = []
        self.diagnostics: dict[str, dict[str, list[float]]] = _empty_diagnostics()
        self.warnings: list[str] = []
        self.interrupted = False
        self.stopped_early = False
        self.stop_reason: str | None = None
        self.params: dict[str, Any] = {}

    def record(self, epoch: int, logs: Mapping[str, Any]) -> None:
        """Append one epoch's numeric logs; keys missing this epoch (or new ones) get NaN."""
        done = len(self.epochs)
        self.epochs.append(int(epoch))
        for key, value in logs.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.history.setdefault(key, [math.nan] * done).append(float(value))
        for values in self.history.values():
            if len(values) == done:
                values.append(math.nan)

    def record_diagnostics(self, figures: Mapping[str, Mapping[str, float]]) -> None:
        """Append one epoch's gradient-health figures (layers seen before but not now get NaN)."""
        done = len(self.epochs) - 1  # record() for this epoch came first
        for kind, per_layer in figures.items():
            table = self.diagnostics.setdefault(kind, {})
            for layer, value in per_layer.items():
                table.setdefault(layer, [math.nan] * done).append(float(value))
            for values in table.values():
                if len(values) == done:
                    values.append(math.nan)

    # -- reading -------------------------------------------------------------------------------
    def __getitem__(self, key: str) -> list[float]:
        try:
            return self.history[key]
        except KeyError:
            raise KeyError(
                f"no {key!r} in the history; recorded keys are {sorted(self.history)}"
            ) from None

    def __contains__(self, key: object) -> bool:
        return key in self.history

    def __iter__(self) -> Iterator[str]:
        return iter(self.history)

    def __len__(self) -> int:
        """The number of completed epochs."""
        return len(self.epochs)

    def keys(self) -> list[str]:
        """The recorded keys."""
        return list(self.history)

    def best(self, monitor: str = "val_loss", mode: str = "auto") -> tuple[int, float]:
        """The epoch with the best value of ``monitor`` and that value (NaN never wins)."""
        values = self[monitor]
        sign = -1.0 if resolve_mode(monitor, mode) == "max" else 1.0
        finite = [(sign * v, i) for i, v in enumerate(values) if math.isfinite(v)]
        if not finite:
            raise ConfigError(f"{monitor!r} has no finite value in the history")
        index = min(finite)[1]
        return self.epochs[index], values[index]

    # -- saving --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe copy (NaN stays NaN; ``json.dumps`` writes it as ``NaN``)."""
        return {
            "history": {k: list(v) for k, v in self.history.items()},
            "epochs": list(self.epochs),
            "diagnostics": {
                k: {n: list(v) for n, v in t.items()} for k, t in self.diagnostics.items()
            },
            "warnings": list(self.warnings),
            "interrupted": self.interrupted,
            "stopped_early": self.stopped_early,
            "stop_reason": self.stop_reason,
            "params": dict(self.params),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> History:
        """Rebuild a History from ``to_dict()`` output."""
        h = cls()
        h.history = {k: [float(x) for x in v] for k, v in data.get("history", {}).items()}
        h.epochs = [int(e) for e in data.get("epochs", [])]
        diagnostics = data.get("diagnostics") or _empty_diagnostics()
        h.diagnostics = {
            k: {n: [float(x) for x in v] for n, v in t.items()} for k, t in diagnostics.items()
        }
        h.warnings = [str(w) for w in data.get("warnings", [])]
        h.interrupted = bool(data.get("interrupted", False))
        h.stopped_early = bool(data.get("stopped_early", False))
        reason = data.get("stop_reason")
        h.stop_reason = None if reason is None else str(reason)
        h.params = dict(data.get("params", {}))
        return h

    def __repr__(self) -> str:
        end = ""
        if self.interrupted:
            end = ", interrupted"
        elif self.stopped_early:
            end = ", stopped early"
        return f"History({len(self)} epochs, keys={sorted(self.history)}{end})"
