"""Learning-rate schedules: pure functions of the step, and ReduceLROnPlateau (stateful by nature).

A schedule is a callable ``schedule(step) -> lr`` with ``step = 0, 1, 2, ...``. Whether a step
is an epoch or a batch is the caller's choice: the training loop calls schedules once per epoch
by default (``opt.lr = schedule(epoch)`` before the epoch's first batch), and a caller that
calls them per batch should give ``step_size``, ``milestones`` and ``total_steps`` in batches.
Because the value depends only on the step, resuming needs nothing but the step number.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from chainrule.errors import ConfigError
from chainrule.optim.optimizer import Optimizer
from chainrule.validation import check_int, check_number

__all__ = [
    "Schedule",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineLR",
    "step_lr",
    "multi_step_lr",
    "exponential_lr",
    "cosine_lr",
    "schedule_from_config",
    "ReduceLROnPlateau",
]


class Schedule:
    """Base of the step schedules: ``schedule(step) -> lr`` and a JSON-safe ``config()``."""

    kind = "schedule"

    def __call__(self, step: int) -> float:
        return self.lr_at(check_int(type(self).__name__, "step", step))

    def lr_at(self, step: int) -> float:
        """The learning rate at a validated step."""
        raise NotImplementedError  # pragma: no cover - abstract

    def apply(self, optimizer: Optimizer, step: int) -> float:
        """Set ``optimizer.lr`` to this schedule's value at ``step`` and return it."""
        lr = self(step)
        optimizer.lr = lr
        return lr

    def config(self) -> dict[str, Any]:
        """``{"type": <function name>, **arguments}``, for JSON; see ``schedule_from_config``."""
        args = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self).items()}
        return {"type": self.kind, **args}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{self.kind}({args})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash((self.kind, tuple(sorted(vars(self).items()))))


def _base_lr(owner: str, value: Any) -> float:
    return check_number(owner, "base_lr", value, 0.0, low_open=True)


def _gamma(owner: str, value: Any) -> float:
    return check_number(
        owner, "gamma", value, 0.0, 1.0, low_open=True, hint="; it multiplies the lr at each decay"
    )


class StepLR(Schedule):
    """``base_lr * gamma ** (step // step_size)``; build it with ``step_lr``."""

    kind = "step_lr"

    def __init__(self, base_lr: float, step_size: int, gamma: float = 0.1) -> None:
        self.base_lr = _base_lr(self.kind, base_lr)
        self.step_size = check_int(self.kind, "step_size", step_size, low=1)
        self.gamma = _gamma(self.kind, gamma)

    def lr_at(self, step: int) -> float:
        return self.base_lr * self.gamma ** (step // self.step_size)


class MultiStepLR(Schedule):
    """``base_lr * gamma ** (number of milestones <= step)``; build it with ``multi_step_lr``."""

    kind = "multi_step_lr"

    def __init__(self, base_lr: float, milestones: Iterable[int], gamma: float = 0.1) -> None:
        self.base_lr = _base_lr(self.kind, base_lr)
        if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Iterable):
            raise ConfigError(
                f"{self.kind}: milestones must be a list of increasing steps, got {milestones!r}"
            )
        values = [check_int(self.kind, "each milestone", m, low=1) for m in milestones]
        if not values or any(b <= a for a, b in zip(values, values[1:])):
            raise ConfigError(
                f"{self.kind}: milestones must be a non-empty, strictly increasing list of "
                f"steps >= 1, got {values!r}"
            )
        self.milestones = tuple(values)
        self.gamma = _gamma(self.kind, gamma)

    def lr_at(self, step: int) -> float:
        passed = sum(1 for m in self.milestones if m <= step)
        return self.base_lr * self.gamma**passed


class ExponentialLR(Schedule):
    """``base_lr * gamma ** step``; build it with ``exponential_lr``."""

    kind = "exponential_lr"

    def __init__(self, base_lr: float, gamma: float) -> None:
        self.base_lr = _base_lr(self.kind, base_lr)
        self.gamma = _gamma(self.kind, gamma)

    def lr_at(self, step: int) -> float:
        return self.base_lr * self.gamma**step


class CosineLR(Schedule):
    """Linear warm-up, then cosine decay to ``min_lr``; build it with ``cosine_lr``."""

    kind = "cosine_lr"

    def __init__(
        self, base_lr: float, total_steps: int, min_lr: float = 0.0, warmup_steps: int = 0
    ) -> None:
        self.base_lr = _base_lr(self.kind, base_lr)
        self.total_steps = check_int(self.kind, "total_steps", total_steps, low=1)
        self.min_lr = check_number(self.kind, "min_lr", min_lr, 0.0, self.base_lr)
        self.warmup_steps = check_int(self.kind, "warmup_steps", warmup_steps)
        if self.warmup_steps >= self.total_steps:
            raise ConfigError(
                f"{self.kind}: warmup_steps must be less than total_steps, got "
                f"warmup_steps={warmup_steps!r} and total_steps={total_steps!r}"
            )

    def lr_at(self, step: int) -> float:
        warmup = self.warmup_steps
        if step < warmup:
            return self.base_lr * (step + 1) / (warmup + 1)
        progress = min(1.0, (step - warmup) / (self.total_steps - warmup))
        return self.min_lr + (self.base_lr - self.min_lr) * 0.5 * (
            1.0 + math.cos(math.pi * progress)
        )


def step_lr(base_lr: float, step_size: int, gamma: float = 0.1) -> StepLR:
    """Decay the learning rate by ``gamma`` every ``step_size`` steps.

    ``lr(step) = base_lr * gamma ** (step // step_size)``, with ``base_lr > 0``,
    ``step_size >= 1`` and ``0 < gamma <= 1``.

    Examples
    --------
    >>> from chainrule.optim import step_lr
    >>> schedule = step_lr(0.1, step_size=10, gamma=0.5)
    >>> schedule(0), schedule(9), schedule(10), schedule(25)
    (0.1, 0.1, 0.05, 0.025)
    """
    return StepLR(base_lr, step_size, gamma)


def multi_step_lr(base_lr: float, milestones: Iterable[int], gamma: float = 0.1) -> MultiStepLR:
    """Decay the learning rate by ``gamma`` at each milestone step.

    ``lr(step) = base_lr * gamma ** k`` where ``k`` counts the milestones ``<= step``;
    milestones are strictly increasing integers ``>= 1``.

    Examples
    --------
    >>> from chainrule.optim import multi_step_lr
    >>> schedule = multi_step_lr(1.0, milestones=[2, 5], gamma=0.5)
    >>> [schedule(s) for s in range(6)]
    [1.0, 1.0, 0.5, 0.5, 0.5, 0.25]
    """
    return MultiStepLR(base_lr, milestones, gamma)


def exponential_lr(base_lr: float, gamma: float) -> ExponentialLR:
    """Multiply the learning rate by ``gamma`` every step: ``lr(step) = base_lr * gamma ** step``.

    Examples
    --------
    >>> from chainrule.optim import exponential_lr
    >>> exponential_lr(1.0, gamma=0.5)(3)
    0.125
    """
    return ExponentialLR(base_lr, gamma)


def cosine_lr(
    base_lr: float, total_steps: int, min_lr: float = 0.0, warmup_steps: int = 0
) -> CosineLR:
    """Linear warm-up from near zero to ``base_lr``, then cosine decay to ``min_lr``.

    With ``W = warmup_steps`` and ``T = total_steps``::

        lr(step) = base_lr * (step + 1) / (W + 1)                           step < W
        lr(step) = min_lr + (base_lr - min_lr) * (1 + cos(pi * p)) / 2      step >= W

    where ``p = min(1, (step - W) / (T - W))``. The warm-up never gives 0 and ends at
    ``base_lr`` exactly at ``step = W``; the decay reaches ``min_lr`` at ``step = T`` and stays
    there. Requires ``0 <= W < T`` and ``0 <= min_lr <= base_lr``.

    Examples
    --------
    >>> from chainrule.optim import cosine_lr
    >>> schedule = cosine_lr(1.0, total_steps=4, warmup_steps=1)
    >>> [round(schedule(s), 4) for s in range(5)]
    [0.5, 1.0, 0.75, 0.25, 0.0]
    """
    return CosineLR(base_lr, total_steps, min_lr, warmup_steps)


_KINDS: dict[str, type[Schedule]] = {
    cls.kind: cls for cls in (StepLR, MultiStepLR, ExponentialLR, CosineLR)
}


def schedule_from_config(config: Mapping[str, Any]) -> Schedule:
    """Rebuild a schedule from its ``config()`` dict (e.g. read back from JSON).

    Examples
    --------
    >>> from chainrule.optim import schedule_from_config, step_lr
    >>> schedule_from_config(step_lr(0.1, 5).config()) == step_lr(0.1, 5)
    True
    """
    args = dict(config)
    kind = args.pop("type", None)
    if kind not in _KINDS:
        raise ConfigError(
            f"schedule_from_config: unknown schedule type {kind!r}; "
            f"expected one of {sorted(_KINDS)}"
        )
    try:
        return _KINDS[kind](**args)
    except TypeError as error:
        raise ConfigError(f"schedule_from_config: bad arguments for {kind}: {error}") from None


class ReduceLROnPlateau:
    """Multiply ``optimizer.lr`` by ``factor`` when a metric has stopped improving.

    Call ``.step(metric)`` once per epoch (or per evaluation) with the monitored value. A value
    is an improvement when it beats the best so far by more than ``threshold``, relative to the
    best's magnitude (``mode="min"``: ``metric < best - threshold * |best|``; ``mode="max"``:
    ``metric > best + threshold * |best|``). After more than ``patience`` calls in a row
    without improvement the lr becomes ``max(lr * factor, min_lr)``, the count restarts, and
    the next ``cooldown`` calls do not count as bad. A NaN metric is never an improvement.

    Parameters
    ----------
    optimizer : Optimizer
        Whose ``lr`` to reduce.
    mode : {"min", "max"}
        Whether lower (a loss) or higher (an accuracy) is better.
    factor : float
        In (0, 1).
    patience : int
        Calls without improvement tolerated before reducing, >= 0.
    threshold : float
        Relative improvement needed, >= 0.
    min_lr : float
        Lower bound of the lr, >= 0.
    cooldown : int
        Calls after a reduction during which bad calls are not counted, >= 0.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.optim import SGD, ReduceLROnPlateau
    >>> opt = SGD([cr.tensor(np.zeros(1), requires_grad=True)], lr=1.0)
    >>> plateau = ReduceLROnPlateau(opt, factor=0.5, patience=1)
    >>> for loss in [3.0, 2.0, 2.0, 2.0]:
    ...     reduced = plateau.step(loss)
    >>> opt.lr
    0.5
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        min_lr: float = 0.0,
        cooldown: int = 0,
    ) -> None:
        owner = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise ConfigError(f"{owner}: expected an Optimizer, got {type(optimizer).__name__}")
        if mode not in ("min", "max"):
            raise ConfigError(f"{owner}: mode must be 'min' or 'max', got {mode!r}")
        self.optimizer = optimizer
        self.mode = mode
        self.factor = check_number(owner, "factor", factor, 0.0, 1.0, True, True)
        self.patience = check_int(owner, "patience", patience)
        self.threshold = check_number(owner, "threshold", threshold, 0.0)
        self.min_lr = check_number(owner, "min_lr", min_lr, 0.0)
        self.cooldown = check_int(owner, "cooldown", cooldown)
        self.best: float | None = None
        self.num_bad_steps = 0
        self.cooldown_counter = 0
        self.num_reductions = 0

    def is_better(self, metric: float) -> bool:
        """Whether ``metric`` improves on the best value by more than the threshold."""
        if self.best is None:
            return not math.isnan(metric)
        margin = self.threshold * abs(self.best)
        if self.mode == "min":
            return metric < self.best - margin
        return metric > self.best + margin

    def step(self, metric: Any) -> bool:
        """Record one value of the metric; returns True when it reduced the lr."""
        value = float(metric.item() if hasattr(metric, "item") else metric)
        if self.is_better(value):
            self.best = value
            self.num_bad_steps = 0
        else:
            self.num_bad_steps += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_steps = 0
        if self.num_bad_steps <= self.patience:
            return False
        self.num_bad_steps = 0
        self.cooldown_counter = self.cooldown
        old = self.optimizer.lr
        new = max(old * self.factor, self.min_lr)
        if not new < old:  # already at min_lr: nothing to change
            return False
        self.optimizer.lr = new
        self.num_reductions += 1
        return True

    def state_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of the settings and the counters (not the optimizer)."""
        return {
            "type": type(self).__name__,
            "mode": self.mode,
            "factor": self.factor,
            "patience": self.patience,
            "threshold": self.threshold,
            "min_lr": self.min_lr,
            "cooldown": self.cooldown,
            "best": self.best,
            "num_bad_steps": self.num_bad_steps,
            "cooldown_counter": self.cooldown_counter,
            "num_reductions": self.num_reductions,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what ``state_dict()`` returned (validated; nothing changes on error)."""
        owner = f"{type(self).__name__}.load_state_dict"
        expected = set(self.state_dict())
        if not isinstance(state, Mapping) or set(state) != expected:
            got = sorted(state) if isinstance(state, Mapping) else state
            raise ConfigError(f"{owner}: expected the keys {sorted(expected)}, got {got!r}")
        if state["type"] != type(self).__name__:
            raise ConfigError(
                f"{owner}: the state is of a {state['type']!r}, not a {type(self).__name__}"
            )
        fresh = ReduceLROnPlateau(
            self.optimizer,
            **{k: state[k] for k in ("mode", "factor", "patience", "threshold", "min_lr")},
            cooldown=state["cooldown"],
        )
        best = state["best"]
        if best is not None:
            best = check_number(owner, "best", best, -math.inf)
        counters = {
            k: check_int(owner, k, state[k])
            for k in ("num_bad_steps", "cooldown_counter", "num_reductions")
        }
        vars(self).update(vars(fresh))
        self.best = best
        vars(self).update(counters)

    def __repr__(self) -> str:
        return (
            f"ReduceLROnPlateau(mode={self.mode!r}, factor={self.factor}, "
            f"patience={self.patience}, threshold={self.threshold}, min_lr={self.min_lr}, "
            f"cooldown={self.cooldown})"
        )
