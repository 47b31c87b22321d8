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
    batches), or at once when it rises above ``factor**2`` times it. An epoch whose mean loss
    is above ``factor`` times the first batch's is not kept as a fallback.

    Parameters
    ----------
    model : Module
    optimizer : Optimizer
        Its ``state_dict`` / ``load_state_dict`` are used when it has them.
    factor : float or None
        The divergence threshold; None switches the watch off.
    min_batches : int
        Batches that must have run before divergence is judged.
    start_epoch : int, optional
        The epoch the starting weights come from (a resumed run: ``initial_epoch - 1``);
        None for freshly initialised weights.
    """

    def __init__(
        self,
        model: Module,
        optimizer: Any,
        factor: float | None,
        min_batches: int,
        start_epoch: int | None = None,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.factor = factor
        self.min_batches = min_batches
        self._average = 0.0
        self._decay = 1.0  # SMOOTHING ** batches, for the bias correction
        self._batches = 0
        self._limit: float | None = None  # factor * reference, once known
        self._limit_factor = math.inf
        self.reference: float | None = None
        self.running = math.nan
        state = self._optimizer_state()
        self.last = Snapshot(start_epoch, math.inf, model.state_dict(), state)
        self.best = self.last

    def _optimizer_state(self) -> Any:
        saver = getattr(self.optimizer, "state_dict", None)
        return saver() if callable(saver) else None

    # -- watching ------------------------------------------------------------------------------
    def diverged(self, objective: float) -> bool:
        """Add one batch's objective to the running mean; True when the loss has diverged."""
        if not math.isfinite(objective):
            return False  # non-finite losses are judged per epoch (see Trainer)
        if self._limit is None:
            self._first(objective)
            return False
        # Called every batch: kept to a few float operations (no pow, no attribute chains).
        self._batches += 1
        self._decay *= SMOOTHING
        self._average = SMOOTHING * self._average + (1 - SMOOTHING) * objective
        running = self._average / (1 - self._decay)
        if running <= self._limit:
            return False
        self.running = running
        # A mean a factor**2 above the start is no spike: no need to wait for min_batches.
        return self._batches >= self.min_batches or running > self._limit * self._limit_factor

    def _first(self, objective: float) -> None:
        """The first positive objective becomes the reference (the watch starts there)."""
        self._batches += 1
        self._decay *= SMOOTHING
        self._average = SMOOTHING * self._average + (1 - SMOOTHING) * objective
        if self.factor is None or objective <= 0:
            return
        self.reference = objective
        self._limit = self.factor * objective
        self._limit_factor = self.factor
        if self.best is self.last and self.last.loss == math.inf:
            self.best.loss = objective  # the starting weights gave this loss

    # -- keeping -------------------------------------------------------------------------------
    def epoch_end(self, epoch: int, loss: float) -> bool:
        """Keep the weights of a finished epoch if they are good; False if they are non-finite.

        Good: finite, with a loss no more than ``factor`` times the first batch's (an epoch
        on its way to diverging is not one to fall back on).
        """
        weights = self.model.state_dict()
        if not (math.isfinite(loss) and _finite(weights)):
            return False
        reference = self.reference
        if self.factor is not None and reference is not None and loss > self.factor * reference:
            return True  # usable, but not kept as a fallback
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
