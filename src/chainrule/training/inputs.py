"""Checks of what ``fit``, ``evaluate`` and ``predict`` are given: arrays, counts, dtypes."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, DtypeError, ShapeError
from chainrule.nn.module import Module

__all__ = [
    "check_count",
    "check_x",
    "check_xy",
    "is_labels",
    "float_dtype",
    "check_initial_epoch",
    "fit_data",
]


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


def check_initial_epoch(initial_epoch: Any, epochs: int) -> None:
    """``initial_epoch`` must be an int in [0, epochs)."""
    if (
        isinstance(initial_epoch, bool)
        or not isinstance(initial_epoch, int)
        or not (0 <= initial_epoch < epochs)
    ):
        raise ConfigError(
            f"fit: initial_epoch must be an int in [0, epochs={epochs}), got {initial_epoch!r}"
        )


def fit_data(
    x: Any,
    y: Any,
    dtype: Any,
    validation_data: Any,
    validation_split: Any,
    seed: Any,
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """Checked training arrays and the validation pair (given, split off, or None)."""
    if isinstance(validation_split, bool) or not (
        isinstance(validation_split, (int, float)) and 0.0 <= validation_split < 1.0
    ):
        raise ConfigError(
            f"fit: validation_split must be a fraction in [0, 1), got {validation_split!r}; "
            "hint: 0.1 holds out a tenth of the data"
        )
    x, y = check_xy(x, y, dtype)
    val: tuple[np.ndarray, np.ndarray] | None = None
    if validation_data is not None:
        if validation_split:
            raise ConfigError("fit: give validation_data or validation_split, not both")
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise ConfigError(
                "fit: validation_data must be a pair (x_val, y_val), got "
                f"{type(validation_data).__name__}"
            )
        val = check_xy(validation_data[0], validation_data[1], dtype, "x_val", "y_val")
    elif validation_split:
        from chainrule.data import train_val_split

        stratify = y if is_labels(y) else None
        (x, y), (x_val, y_val) = train_val_split(
            x, y, val_fraction=validation_split, stratify=stratify, seed=seed
        )
        val = (x_val, y_val)
    return x, y, val
