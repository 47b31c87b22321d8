"""Hyperparameter checks of the scikit-learn estimators: choices, layer sizes, weights, seeds."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.utils.validation import check_array

from chainrule.errors import ConfigError
from chainrule.rng import as_generator
from chainrule.validation import is_real

__all__ = ["LR_SCHEDULES"]

LR_SCHEDULES = ("constant", "step", "cosine")


def _choice(owner: str, name: str, value: Any, choices: Any) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{owner}: {name} must be one of {sorted(choices)}, got {value!r}")
    return value


def _hidden_sizes(owner: str, value: Any) -> tuple[int, ...]:
    """``hidden_layer_sizes`` as a tuple of positive ints (an int means one layer)."""
    sizes = [value] if isinstance(value, numbers.Integral) else value
    try:
        items = list(sizes)
    except TypeError:
        items = [None]
    if isinstance(value, (str, bytes)) or not all(
        isinstance(s, numbers.Integral) and not isinstance(s, (bool, np.bool_)) and int(s) >= 1
        for s in items
    ):
        raise ConfigError(
            f"{owner}: hidden_layer_sizes must be a positive int or a sequence of positive ints "
            f"(one per hidden layer, e.g. (100,) or (64, 32)), got {value!r}"
        )
    return tuple(int(s) for s in items)


def _sample_weights(sample_weight: Any, n: int, allow_all_zero: bool) -> np.ndarray:
    """Validated non-negative float64 weights of shape (n,); a scalar applies to every sample."""
    if is_real(sample_weight):
        sample_weight = np.full(n, float(sample_weight))
    sw = check_array(sample_weight, ensure_2d=False, dtype=np.float64, input_name="sample_weight")
    if sw.shape != (n,):
        raise ValueError(
            f"sample_weight must have shape ({n},), one weight per sample, got shape {sw.shape}"
        )
    if (sw < 0).any():
        raise ValueError("sample_weight must be non-negative, got negative weights")
    if not allow_all_zero and not sw.any():
        raise ValueError("sample_weight must contain at least one non-zero weight; all are zero")
    return sw


@dataclass(frozen=True)
class _Config:
    """The validated hyperparameters of one fit."""

    hidden: tuple[int, ...]
    activation: str
    dropout: float
    batch_norm: bool
    optimizer: str
    lr: float
    momentum: float
    nesterov: bool
    weight_decay: float
    l1: float
    l2: float
    batch_size: int | None  # None: "auto"
    max_epochs: int
    schedule: Any
    early_stopping: bool
    validation_fraction: float
    n_iter_no_change: int
    tol: float
    verbose: int
    clip_grad_norm: float | None


def _check_random_state(owner: str, random_state: Any) -> None:
    """Refuse anything but None, a non-negative int, a RandomState or a Generator."""
    if random_state is None or isinstance(
        random_state, (np.random.Generator, np.random.RandomState)
    ):
        return
    if (
        not isinstance(random_state, numbers.Integral)
        or isinstance(random_state, bool)
        or (random_state < 0)
    ):
        raise ConfigError(
            f"{owner}: random_state must be None, a non-negative int, a numpy RandomState or "
            f"Generator, got {random_state!r}"
        )


def _generator(random_state: Any) -> np.random.Generator:
    """A NumPy Generator from a checked ``random_state`` (None gives a fresh, unseeded one)."""
    if isinstance(random_state, np.random.RandomState):
        # Draw a seed from it, so a shared RandomState advances as scikit-learn expects.
        return np.random.default_rng(int(random_state.randint(np.iinfo(np.int32).max)))
    return as_generator(random_state)
