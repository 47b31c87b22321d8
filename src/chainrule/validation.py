"""Validation of hyperparameters: one place for the checks and the wording of their errors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.errors import ConfigError

__all__ = ["check_number", "check_int", "check_positive_int", "check_bool", "is_real"]


def is_real(value: Any) -> bool:
    """True for an int or float (NumPy scalars included), not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def check_number(
    owner: str,
    name: str,
    value: Any,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
    hint: str = "",
) -> float:
    """Validate a finite real in a range and return it as a Python float (never np.float64)."""
    left = "(" if low_open else "["
    right = ")" if high_open or high == math.inf else "]"
    allowed = f"{left}{low:g}, {high:g}{right}".replace("inf", "infinity")
    if not is_real(value) or not math.isfinite(float(value)):
        raise ConfigError(
            f"{owner}: {name} must be a finite number in {allowed}, got {value!r}" + hint
        )
    number = float(value)
    too_low = number <= low if low_open else number < low
    too_high = number >= high if high_open else number > high
    if too_low or too_high:
        raise ConfigError(f"{owner}: {name} must be in {allowed}, got {value!r}" + hint)
    return number


def check_int(owner: str, name: str, value: Any, low: int = 0) -> int:
    """Validate an integer >= ``low`` and return it as a Python int."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{owner}: {name} must be an integer >= {low}, got {value!r}")
    if value < low:
        raise ConfigError(f"{owner}: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_bool(owner: str, name: str, value: Any) -> bool:
    """Validate a bool (not 0/1 or a string) and return it."""
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{owner}: {name} must be True or False, got {value!r}")
    return bool(value)


def check_positive_int(value: Any, what: str) -> int:
    """Return ``value`` as an int, or raise ConfigError when it is not a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{what} must be a positive integer, got {value!r}")
    return int(value)
