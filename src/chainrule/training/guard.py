"""RunGuard: the good weights of a run kept aside, and the watch for a diverging loss.

The Trainer keeps a copy of the weights (and optimizer state) at the end of every complete
epoch whose weights are finite, plus the copy of the epoch with the lowest training loss.
Those copies are what a run falls back to when it cannot go on: Ctrl-C mid-epoch (the last
complete epoch), a NaN or infinite epoch loss (the last good epoch), or a loss that diverges
(the best epoch, or the initial weights).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.errors import ConfigError
from chainrule.nn.module import Module

__all__ = ["RunGuard", "Snapshot", "check_divergence_factor"]

#: Smoothing of the running batch loss the divergence watch looks at (about 50 batches).
SMOOTHING = 0.98


def check_divergence_factor(owner: str, value: Any) -> float | None:
    """``divergence_factor`` must be None or a finite number > 1."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and value > 1)
    ):
        raise ConfigError(
            f"{owner}: divergence_factor must be a number > 1 or None (no divergence watch), "
            f"got {value!r}"
        )
    return float(value)


@dataclass
class Snapshot:
    """Copies of the weights and optimizer state at one point of the run."""

    epoch: int | None  # 0-based epoch at whose end they were taken; None: before training
    loss: float  # the loss they stand for (the epoch's mean, or the first batch's)
    weights: dict[str, np.ndarray]
    optimizer: Any

    @property
    def where(self) -> str:
        """The point in words: 'the end of epoch 3' or 'the start of training'."""
        return (
            "the start of training" if self.epoch is None else f"the end of epoch {self.epoch + 1}"
        )


def _finite(state: dict[str, np.ndarray]) -> bool:
    return all(np.isfinite(a).all() for a in state.values() if a.dtype.kind == "f")


class RunGuard:
    """Keeps the good weights of one ``fit`` and watches the loss for divergence.

    Divergence: a running mean of the batch objective (loss plus penalties, smoothed
    exponentially over about 50 batches) that rises above ``factor`` times the first batch's
    objective, once at least ``min_batches`` batches have run (so a short spike is not
    enough: the loss must stay orders of magnitude up over several epochs or hundreds of
    batches).

    Parameters
    ----------
    model : Module
    optimizer : Optimizer
        Its ``state_dict`` / ``load_state_dict`` are used when it has them.
    factor : float or None
        The divergence threshold; None switches the watch off.
    min_batches : int
        Batches that must have run before divergence is judged.
    """

    def __init__(
        self, model: Module, optimizer: Any, factor: float | None, min_batches: int
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.factor = factor
        self.min_batches = min_batches
        self._average = 0.0
        self._batches = 0
        self.reference: float | None = None
        self.running = math.nan
        state = self._optimizer_state()
        self.last = Snapshot(None, math.inf, model.state_dict(), state)
        self.best = self.last

    def _optimizer_state(self) -> Any:
        saver = getattr(self.optimizer, "state_dict", None)
        return saver() if callable(saver) else None

    # -- watching ------------------------------------------------------------------------------
    def diverged(self, objective: float) -> bool:
        """Add one batch's objective to the running mean; True when the loss has diverged."""
        if self.factor is None or not math.isfinite(objective):
            return False  # non-finite losses are judged per epoch (see Trainer)
        self._batches += 1
        self._average = SMOOTHING * self._average + (1 - SMOOTHING) * objective
        self.running = self._average / (1 - SMOOTHING**self._batches)
        if self.reference is None:
            if objective > 0:
                self.reference = objective
                if self.best.epoch is None:
                    self.best.loss = objective  # the initial weights gave this loss
            return False
        return self._batches >= self.min_batches and self.running > self.factor * self.reference

    # -- keeping -------------------------------------------------------------------------------
    def epoch_end(self, epoch: int, loss: float) -> bool:
        """Keep the weights of a finished epoch if they are finite; return whether they were."""
        weights = self.model.state_dict()
        if not (math.isfinite(loss) and _finite(weights)):
            return False
        self.last = Snapshot(epoch, loss, weights, self._optimizer_state())
        if loss <= self.best.loss or not math.isfinite(self.best.loss):
            self.best = self.last
        return True

    def restore(self, snapshot: Snapshot) -> Snapshot:
        """Load ``snapshot`` into the model (and optimizer); return it."""
        self.model.load_state_dict(snapshot.weights)
        loader = getattr(self.optimizer, "load_state_dict", None)
        if snapshot.optimizer is not None and callable(loader):
            loader(snapshot.optimizer)
        return snapshot
