"""Shared pieces of the report's plots: a standalone Agg figure, atomic PNG writes, series.

matplotlib is optional and imported only inside ``new_figure``. Figures are drawn with the
object-oriented API on an Agg canvas (``matplotlib.figure.Figure``), never through ``pyplot``,
so plotting neither switches the user's backend nor leaves figures open in a global registry.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.autodiff.backend import to_numpy
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, ShapeError
from chainrule.io.atomic import atomic_write

__all__ = [
    "PathLike",
    "new_figure",
    "save_png",
    "as_array",
    "as_series",
    "plain",
    "has_positive",
    "log_safe",
]

PathLike = str | os.PathLike[str]
_LR_KEYS = ("lr", "learning_rate")
_ANNOTATE_MAX_CLASSES = 20  # beyond this the cell text becomes unreadable


def new_figure(width: float, height: float) -> Any:
    """A standalone Agg figure; raises ConfigError with the install hint if matplotlib is absent."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ConfigError(
            "plotting needs matplotlib, which is not installed; "
            'install it with: pip install "chainrule[plots]"'
        ) from exc
    figure = Figure(figsize=(width, height), layout="constrained", facecolor="white")
    FigureCanvasAgg(figure)
    return figure


def png_path(path: PathLike) -> Path:
    """Validate the output name and make sure its folder exists."""
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise ConfigError(f"plots are written as PNG; expected a path ending in .png, got {path!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def save_png(figure: Any, path: PathLike, dpi: int) -> Path:
    """Write the figure as PNG to a temp file next to ``path``, then move it into place."""
    target = png_path(path)
    with atomic_write(target, "wb") as handle:
        figure.savefig(handle, format="png", dpi=dpi)
    return target


def as_array(values: Any) -> np.ndarray:
    """Host NumPy array from an array, a Tensor/Parameter or nested lists."""
    if isinstance(values, Tensor):
        values = values.data
    return to_numpy(values)


def as_series(values: Any, name: str) -> np.ndarray:
    """A non-empty 1-D float series; None, NaN and infinity become NaN (drawn as gaps)."""
    if isinstance(values, (list, tuple)) and any(v is None for v in values):
        values = [math.nan if v is None else v for v in values]
    array = as_array(values).astype(np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ShapeError(f"{name} must be a non-empty 1-D list of numbers, got shape {array.shape}")
    return np.where(np.isfinite(array), array, np.nan)


def plain(text: object) -> str:
    """Text shown literally: a pair of ``$`` would otherwise start matplotlib mathtext."""
    return str(text).replace("$", r"\$")


def has_positive(*arrays: np.ndarray) -> bool:
    """A log axis needs at least one positive finite value, or matplotlib warns."""
    return any(bool(np.any(np.isfinite(a) & (a > 0))) for a in arrays)


def log_safe(array: np.ndarray) -> np.ndarray:
    """Hide non-positive values (drawn as gaps) on a log axis."""
    return np.where(array > 0, array, np.nan)
