"""History: what ``Trainer.fit`` recorded, one value per epoch per key, plus how training ended."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

from chainrule.callbacks.monitor import resolve_mode
from chainrule.errors import ConfigError

__all__ = ["History", "resolve_mode", "WALL_CLOCK_KEYS"]

#: Keys measured with the wall clock: the only figures that differ between two runs with the
#: same seed, data and settings on the same machine (``to_dict(deterministic=True)`` drops them).
WALL_CLOCK_KEYS = ("seconds",)

#: How a run can end (``History.ended_by``); None: it ran all its epochs.
ENDINGS = ("callback", "non-finite", "diverged", "interrupted")


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
        Why training ended before its last epoch, in words (after Ctrl-C: also which weights
        were kept).
    ended_by : str or None
        How training ended: None (all epochs ran), ``"callback"`` (early stopping or another
        callback's request), ``"non-finite"`` (a NaN or infinite loss), ``"diverged"`` (a
        loss growing by orders of magnitude) or ``"interrupted"`` (Ctrl-C).
    kept_epoch : int or None
        The (0-based) epoch whose end-of-epoch weights the model holds after ``fit``: the
        last one, the best one (early stopping that restores weights), the last good one
        (after NaN, divergence or Ctrl-C), or None for the initial weights (or a mid-epoch
        copy, as ``TerminateOnNaN(per="batch")`` takes). See ``final_logs``.
    params : dict
        ``epochs``, ``batch_size``, ``steps`` (batches per epoch) and ``samples``, plus
        ``last_batch_merged: True`` when a last batch of one sample was folded into the
        batch before it (so ``steps`` counts one batch fewer).

    Notes
    -----
    Determinism: two ``fit`` calls with the same seed, data, model initialisation and
    settings, on the same machine and library versions, give bit-identical weights and
    bit-identical History values for every key except ``"seconds"`` (wall-clock time), which
    ``to_dict(deterministic=True)`` / ``to_json(deterministic=True)`` / ``to_csv(...)`` leave
    out.

    Non-finite values: ``to_dict`` writes NaN and infinity as ``null`` (strict JSON) and
    lists where they were under ``"nonfinite"`` (key -> {epoch index: "nan" | "inf" |
    "-inf"}); ``from_dict`` puts them back.

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
        self.ended_by: str | None = None
        self.kept_epoch: int | None = None
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

    def final_logs(self) -> dict[str, float]:
        """The figures of ``kept_epoch``, the epoch whose weights the model holds.

        These (not the last epoch's) are the model's figures after early stopping, NaN,
        divergence or Ctrl-C; ``{}`` when the model holds its initial weights.

        Examples
        --------
        >>> h = History()
        >>> h.record(0, {"loss": 0.9}); h.record(1, {"loss": 1.2})
        >>> h.kept_epoch = 0
        >>> h.final_logs()
        {'loss': 0.9}
        """
        if self.kept_epoch is None or self.kept_epoch not in self.epochs:
            return {}
        index = len(self.epochs) - 1 - self.epochs[::-1].index(self.kept_epoch)
        return {k: v[index] for k, v in self.history.items()}

    # -- saving --------------------------------------------------------------------------------
    def to_dict(self, deterministic: bool = False) -> dict[str, Any]:
        """A strict-JSON-safe copy: non-finite values become None, listed under "nonfinite".

        With ``deterministic=True`` the wall-clock keys (``WALL_CLOCK_KEYS``) are left out,
        so identical runs give identical dicts.
        """
        nonfinite: dict[str, dict[str, str]] = {}
        history = {
            k: _safe(v, k, nonfinite)
            for k, v in self.history.items()
            if not (deterministic and k in WALL_CLOCK_KEYS)
        }
        diagnostics = {
            kind: {n: _safe(v, f"{kind}/{n}", nonfinite) for n, v in table.items()}
            for kind, table in self.diagnostics.items()
        }
        return {
            "history": history,
            "epochs": list(self.epochs),
            "diagnostics": diagnostics,
            "nonfinite": nonfinite,
            "warnings": list(self.warnings),
            "interrupted": self.interrupted,
            "stopped_early": self.stopped_early,
            "stop_reason": self.stop_reason,
            "ended_by": self.ended_by,
            "kept_epoch": self.kept_epoch,
            "params": dict(self.params),
        }

    def to_json(self, deterministic: bool = False) -> str:
        """``to_dict(deterministic)`` as strict, indented JSON text (no NaN, no Infinity)."""
        return json.dumps(self.to_dict(deterministic), indent=2, allow_nan=False) + "\n"

    def to_csv(self, deterministic: bool = False) -> str:
        """One row per epoch (``epoch`` 1-based, then each key); non-finite values as nan/inf.

        Examples
        --------
        >>> h = History()
        >>> h.record(0, {"loss": 0.5, "seconds": 1.25}); h.record(1, {"loss": float("inf")})
        >>> print(h.to_csv(deterministic=True), end="")
        epoch,loss
        1,0.5
        2,inf
        """
        keys = [k for k in self.history if not (deterministic and k in WALL_CLOCK_KEYS)]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["epoch", *keys])
        for i, epoch in enumerate(self.epochs):
            writer.writerow([epoch + 1, *(repr(self.history[k][i]) for k in keys)])
        return buffer.getvalue()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> History:
        """Rebuild a History from ``to_dict()`` output (None read back as NaN or as recorded)."""
        marks = data.get("nonfinite") or {}
        h = cls()
        h.history = {k: _unsafe(v, marks.get(k)) for k, v in data.get("history", {}).items()}
        h.epochs = [int(e) for e in data.get("epochs", [])]
        diagnostics = data.get("diagnostics") or _empty_diagnostics()
        h.diagnostics = {
            k: {n: _unsafe(v, marks.get(f"{k}/{n}")) for n, v in t.items()}
            for k, t in diagnostics.items()
        }
        h.warnings = [str(w) for w in data.get("warnings", [])]
        h.interrupted = bool(data.get("interrupted", False))
        h.stopped_early = bool(data.get("stopped_early", False))
        reason = data.get("stop_reason")
        h.stop_reason = None if reason is None else str(reason)
        ended = data.get("ended_by")
        h.ended_by = str(ended) if ended in ENDINGS else None
        kept = data.get("kept_epoch")
        h.kept_epoch = int(kept) if isinstance(kept, int) and not isinstance(kept, bool) else None
        h.params = dict(data.get("params", {}))
        return h

    def __repr__(self) -> str:
        end = ""
        if self.interrupted:
            end = ", interrupted"
        elif self.stopped_early:
            end = ", stopped early"
        return f"History({len(self)} epochs, keys={sorted(self.history)}{end})"


def _safe(values: list[float], key: str, nonfinite: dict[str, dict[str, str]]) -> list[Any]:
    """``values`` with NaN and infinity as None, noting each in ``nonfinite[key]``."""
    out: list[Any] = []
    for i, v in enumerate(values):
        if math.isfinite(v):
            out.append(v)
        else:
            out.append(None)
            text = "nan" if math.isnan(v) else "inf" if v > 0 else "-inf"
            nonfinite.setdefault(key, {})[str(i)] = text
    return out


def _unsafe(values: list[Any], marks: Mapping[str, str] | None) -> list[float]:
    """Undo ``_safe``: None becomes the recorded non-finite value, NaN when none was."""
    marks = marks or {}
    return [
        float(marks.get(str(i), "nan")) if v is None else float(v) for i, v in enumerate(values)
    ]
