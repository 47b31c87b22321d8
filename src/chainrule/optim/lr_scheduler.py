"""Learning-rate schedulers the PyTorch way: bound to an optimizer, advanced by ``step()``.

``scheduler = StepLR(optimizer, step_size=10)`` then ``scheduler.step()`` once per epoch, as in
``torch.optim.lr_scheduler``. Each wraps one of the pure schedules of ``optim.schedules`` (the
learning rate is a function of the step count, nothing else), so both ways give the same rates.
With parameter groups every group is scaled by the same factor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chainrule.errors import ConfigError
from chainrule.optim import schedules
from chainrule.optim.optimizer import Optimizer
from chainrule.optim.schedules import Schedule
from chainrule.validation import check_int

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR"]


class LRScheduler:
    """Set ``optimizer.lr`` from ``schedule(last_epoch)``; ``step()`` advances one epoch.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule import nn, optim
    >>> from chainrule.optim.lr_scheduler import StepLR
    >>> opt = optim.SGD([nn.Parameter(np.zeros(2))], lr=0.1)
    >>> scheduler = StepLR(opt, step_size=2, gamma=0.5)
    >>> rates = []
    >>> for epoch in range(5):
    ...     rates.append(opt.lr)   # train one epoch here
    ...     scheduler.step()
    >>> rates
    [0.1, 0.1, 0.05, 0.05, 0.025]
    """

    def __init__(self, optimizer: Optimizer, schedule: Schedule) -> None:
        if not isinstance(optimizer, Optimizer):
            raise ConfigError(
                f"{type(self).__name__}: expected an optimizer first, got "
                f"{type(optimizer).__name__}; for example StepLR(optimizer, step_size=10)"
            )
        self.optimizer, self.schedule, self.last_epoch = optimizer, schedule, 0
        schedule.apply(optimizer, 0)

    def step(self) -> None:
        """Advance one epoch and set the optimizer's learning rate for it."""
        self.last_epoch += 1
        self.schedule.apply(self.optimizer, self.last_epoch)

    def get_last_lr(self) -> list[float]:
        """The learning rate of each parameter group, as set by the last step."""
        return [float(group["lr"]) for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": self.last_epoch, "schedule": self.schedule.config()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a saved epoch (the schedule itself is the one this was built with)."""
        self.last_epoch = check_int(type(self).__name__, "last_epoch", state.get("last_epoch"))
        self.schedule.apply(self.optimizer, self.last_epoch)


class StepLR(LRScheduler):
    """``lr * gamma ** (epoch // step_size)``, as ``torch.optim.lr_scheduler.StepLR``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer, schedules.StepLR(_lr(optimizer), step_size, gamma))


class MultiStepLR(LRScheduler):
    """``lr * gamma ** (milestones passed)``, as ``torch.optim.lr_scheduler.MultiStepLR``."""

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1) -> None:
        super().__init__(optimizer, schedules.MultiStepLR(_lr(optimizer), milestones, gamma))


class ExponentialLR(LRScheduler):
    """``lr * gamma ** epoch``, as ``torch.optim.lr_scheduler.ExponentialLR``."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        super().__init__(optimizer, schedules.ExponentialLR(_lr(optimizer), gamma))


class CosineAnnealingLR(LRScheduler):
    """Cosine from ``lr`` to ``eta_min`` over ``T_max`` epochs, then flat (no restart)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:  # noqa: N803
        super().__init__(optimizer, schedules.CosineLR(_lr(optimizer), T_max, min_lr=eta_min))


def _lr(optimizer: Any) -> float:
    """The base rate the schedule starts from (the optimizer's, before any scheduling)."""
    if not isinstance(optimizer, Optimizer):
        raise ConfigError(
            f"expected an optimizer as the first argument, got {type(optimizer).__name__}; "
            "for example StepLR(optimizer, step_size=10)"
        )
    return float(optimizer._initial_lr)
