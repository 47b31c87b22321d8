"""The learning-rate range test (Smith 2015; fastai's lr_find): sweep the lr, watch the loss."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError
from chainrule.nn.module import Module
from chainrule.training.inputs import check_count, check_xy, float_dtype
from chainrule.training.modes import module_modes, restore_modes
from chainrule.training.step import TrainingStep

__all__ = ["LRFinderResult", "lr_find"]


@dataclass(frozen=True)
class LRFinderResult:
    """What ``lr_find`` measured.

    Attributes
    ----------
    lrs : ndarray
        The learning rate of each step, increasing geometrically.
    losses : ndarray
        The exponentially smoothed (and bias-corrected) training loss after each step.
    raw_losses : ndarray
        The batch losses themselves.
    suggestion : float
        The lr where the smoothed loss falls fastest against log(lr) (see ``lr_find``).
    min_loss_lr : float
        The lr of the lowest smoothed loss; ``min_loss_lr / 10`` is the other common pick.
    diverged : bool
        Whether the sweep stopped early because the loss blew up.
    """

    lrs: np.ndarray
    losses: np.ndarray
    raw_losses: np.ndarray
    suggestion: float
    min_loss_lr: float
    diverged: bool

    def plot(self, ax: Any = None) -> Any:
        """Draw loss against lr (log axis) with the suggestion marked; returns the axes."""
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6, 4))
        ax.semilogx(self.lrs, self.losses, label="smoothed loss")
        ax.axvline(
            self.suggestion,
            color="tab:red",
            linestyle="--",
            label=f"suggestion {self.suggestion:.2g}",
        )
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        ax.legend()
        return ax


def _positive(name: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and value > 0)
    ):
        raise ConfigError(f"lr_find: {name} must be a positive finite number, got {value!r}")
    return float(value)


def _optimizer(optimizer: Any, model: Module) -> tuple[Any, bool]:
    """The optimizer to sweep with, and whether it is the caller's own (so must be restored)."""
    if all(hasattr(optimizer, a) for a in ("step", "zero_grad", "lr")):
        return optimizer, True
    if callable(optimizer):
        built = optimizer(model.parameters())
        if not all(hasattr(built, a) for a in ("step", "zero_grad", "lr")):
            raise ConfigError(
                f"lr_find: the optimizer factory returned {type(built).__name__}, not an optimizer"
            )
        return built, False
    raise ConfigError(
        f"lr_find: optimizer must be an optimizer or a factory params -> optimizer, got "
        f"{optimizer!r}; hint: lambda params: optim.SGD(params, lr=1e-3, momentum=0.9)"
    )


def _suggest(lrs: np.ndarray, losses: np.ndarray) -> float:
    """The lr of steepest descent of the smoothed loss against log(lr), on its final descent."""
    best = int(np.argmin(losses))
    top = int(np.argmax(losses[: best + 1]))  # early bumps before the descent are ignored
    if best - top < 2:
        return float(lrs[best] / 10)  # too few points on the descent to take a slope
    # Secant slopes over +-w points: one-step differences are dominated by batch noise.
    w = max(1, min(len(losses) // 20, (best - top) // 2))
    logs = np.log(lrs)
    index = np.arange(top + w, best - w + 1)  # whole windows only: a spike at an end is noise
    lo, hi = index - w, index + w
    slopes = (losses[hi] - losses[lo]) / (logs[hi] - logs[lo])
    return float(lrs[int(index[np.argmin(slopes)])])


def lr_find(
    model: Module,
    loss: Callable[[Tensor, Any], Tensor],
    optimizer: Any,
    x: Any,
    y: Any,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    batch_size: int = 32,
    smooth: float = 0.98,
    diverge_factor: float = 4.0,
    seed: int | np.random.Generator | None = 0,
) -> LRFinderResult:
    """Run the learning-rate range test and leave the model and optimizer as they were.

    Trains for up to ``num_steps`` batches (cycling over shuffled ``(x, y)``) with the lr
    rising geometrically from ``start_lr`` to ``end_lr``, one value per batch. The loss is
    smoothed exponentially, ``avg = smooth * avg + (1 - smooth) * loss``, bias-corrected by
    ``1 - smooth ** (step + 1)``; the sweep stops when it exceeds ``diverge_factor`` times the
    best smoothed loss so far (or a loss is NaN/inf).

    The suggestion is the lr of steepest descent: on the final descent of the smoothed loss
    (from its highest point before the minimum down to the minimum, so an early bump is
    ignored), the point where its slope against ``log(lr)``, measured as a secant over
    up to ``num_steps // 20`` points on either side, is most negative; with fewer than three points
    on that descent, the minimum's lr / 10. Pick a learning rate near it, or
    ``result.min_loss_lr / 10``; look at ``result.plot()`` before trusting either.

    Afterwards the model's parameters and buffers, its train/eval modes and the optimizer's
    state (lr, momentum buffers, step count) are restored, even after an error or Ctrl-C.
    Random generators the model owns (dropout) are not rewound.

    Parameters
    ----------
    model, loss
        As for ``Trainer``.
    optimizer : Optimizer or callable
        The optimizer to sweep (restored afterwards) or a factory ``params -> optimizer``.
    x, y : array_like
        Training inputs and targets.
    start_lr, end_lr : float
        The range, ``0 < start_lr < end_lr``.
    num_steps : int
        Batches in the sweep, >= 2.
    batch_size : int
    smooth : float
        Smoothing factor in [0, 1).
    diverge_factor : float
        Stop when the smoothed loss exceeds this multiple of its best, > 1.
    seed : int, Generator or None
        Shuffling of the batches.

    Examples
    --------
    >>> result = lr_find(model, nn.CrossEntropyLoss(), opt, x, y)  # doctest: +SKIP
    >>> opt.lr = result.suggestion  # doctest: +SKIP
    """
    start = _positive("start_lr", start_lr)
    end = _positive("end_lr", end_lr)
    if not end > start:
        raise ConfigError(f"lr_find: end_lr ({end_lr}) must be larger than start_lr ({start_lr})")
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 2:
        raise ConfigError(f"lr_find: num_steps must be an integer >= 2, got {num_steps!r}")
    check_count("batch_size", batch_size)
    if isinstance(smooth, bool) or not isinstance(smooth, (int, float)) or not 0 <= smooth < 1:
        raise ConfigError(f"lr_find: smooth must be in [0, 1), got {smooth!r}")
    factor = _positive("diverge_factor", diverge_factor)
    if factor <= 1:
        raise ConfigError(f"lr_find: diverge_factor must be > 1, got {diverge_factor!r}")
    if not isinstance(model, Module):
        raise ConfigError(
            f"lr_find: model must be a chainrule.nn.Module, got {type(model).__name__}"
        )
    x, y = check_xy(x, y, float_dtype(model))
    opt, owned = _optimizer(optimizer, model)

    from chainrule.data import DataLoader

    saved_weights = model.state_dict()
    saved_lr = opt.lr
    saved_state = opt.state_dict() if owned and hasattr(opt, "state_dict") else None
    modes = module_modes(model)
    growth = (end / start) ** (1.0 / (num_steps - 1))
    lrs: list[float] = []
    losses: list[float] = []
    raws: list[float] = []
    diverged = False
    step_once = TrainingStep(model, loss, opt, skip_nonfinite=True, owner="lr_find")
    try:
        model.train()
        loader = DataLoader((x, y), batch_size=batch_size, shuffle=True, seed=seed)
        avg, best, step = 0.0, math.inf, 0
        while step < num_steps and not diverged:
            for xb, yb in loader:
                lr = start * growth**step
                opt.lr = lr
                # skip_nonfinite: a NaN loss stops before backward (no NaN steps or warnings)
                raw = step_once(xb, yb)[0]
                if not math.isfinite(raw):
                    diverged = True
                    break
                avg = smooth * avg + (1 - smooth) * raw
                smoothed = avg / (1 - smooth ** (step + 1))
                lrs.append(lr)
                losses.append(smoothed)
                raws.append(raw)
                step += 1
                if step > 1 and smoothed > factor * best:
                    diverged = True
                    break
                best = min(best, smoothed)
                if step >= num_steps:
                    break
    finally:
        model.load_state_dict(saved_weights)
        model.zero_grad()
        if saved_state is not None:
            opt.load_state_dict(saved_state)
        opt.lr = saved_lr
        restore_modes(modes)
    if not losses:
        raise ConfigError(
            f"lr_find: the loss was not finite even at start_lr={start:g}; check the data and "
            "the model (or lower start_lr)"
        )
    lr_array, loss_array = np.array(lrs), np.array(losses)
    return LRFinderResult(
        lrs=lr_array,
        losses=loss_array,
        raw_losses=np.array(raws),
        suggestion=_suggest(lr_array, loss_array),
        min_loss_lr=float(lr_array[int(np.argmin(loss_array))]),
        diverged=diverged,
    )
