"""Checks of what ``fit``, ``evaluate`` and ``predict`` are given: arrays, counts, dtypes."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, DtypeError, ShapeError
from chainrule.nn.module import Module

__all__ = ["check_count", "check_x", "check_xy", "is_labels", "float_dtype"]


def check_count(name: str, value: Any) -> None:
    """A count like epochs or batch_size must be an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")


def is_labels(y: np.ndarray) -> bool:
    """Whether targets are 1-D integer class labels (what the named metrics expect)."""
    return y.ndim == 1 and y.dtype.kind in "iu"


def float_dtype(model: Module) -> Any:
    """The dtype of the model's floating parameters (inputs are converted to it once)."""
    for p in model.parameters():
        if p.data.dtype.kind == "f":
            return p.data.dtype
    return np.dtype(np.float32)


def _array(data: Any, name: str) -> np.ndarray:
    """``data`` as an ndarray with a sample axis and numeric values."""
    array = data.data if isinstance(data, Tensor) else np.asarray(data)
    if array.dtype.kind not in "biuf":  # objects, strings, bytes, dates, complex
        raise DtypeError(
            f"{name} must hold numbers, got dtype {array.dtype}; hint: convert strings or "
            "categories to numbers first (class indices: np.unique(y, return_inverse=True)[1])"
        )
    if array.ndim == 0:
        raise ShapeError(f"{name} must have a first axis of samples, got a scalar")
    if array.shape[0] == 0:
        raise ShapeError(f"{name} is empty: expected at least one sample, got shape {array.shape}")
    return array


def _check_finite(array: np.ndarray, name: str) -> None:
    """Refuse NaN and infinity, saying how many there are and where."""
    if array.dtype.kind != "f":
        return
    # min and max propagate NaN and show +-inf without allocating a mask the size of the data.
    if np.isfinite(array.min()) and np.isfinite(array.max()):
        return
    bad = ~np.isfinite(array)
    count = int(bad.sum())
    nans = int(np.isnan(array).sum())
    rows = np.unique(np.nonzero(bad.reshape(len(array), -1))[0])
    shown = ", ".join(str(int(r)) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    raise ConfigError(
        f"{name} contains {count} non-finite value(s) ({nans} NaN, {count - nans} inf) in "
        f"{len(rows)} sample(s): rows {shown}; the first is at index {first}. "
        "hint: drop or impute those samples (e.g. np.nan_to_num) before training"
    )


def check_x(x: Any, dtype: Any, name: str = "x") -> np.ndarray:
    """Validate inputs and convert them (once) to the model's float dtype."""
    array = _array(x, name)
    _check_finite(array, name)
    return array if array.dtype == dtype else array.astype(dtype)


def check_xy(
    x: Any, y: Any, dtype: Any, x_name: str = "x", y_name: str = "y"
) -> tuple[np.ndarray, np.ndarray]:
    """Validate inputs and targets; float targets take the model's dtype, labels stay integers."""
    xs = check_x(x, dtype, x_name)
    ys = _array(y, y_name)
    if len(xs) != len(ys):
        raise ShapeError(
            f"{x_name} and {y_name} must have the same number of samples, got {len(xs)} and "
            f"{len(ys)} (shapes {xs.shape} and {ys.shape})"
        )
    _check_finite(ys, y_name)
    if ys.dtype.kind == "f" and ys.dtype != dtype or ys.dtype.kind == "b":
        ys = ys.astype(dtype)
    return xs, ys
