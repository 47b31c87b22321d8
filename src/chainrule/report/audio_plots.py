"""PNG plot of utterances as the network hears them: log-mel spectrograms with their labels.

Drawn like every plot of the report (``chainrule.report.plots``): matplotlib imported inside,
an Agg figure outside ``pyplot``, the PNG written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, ShapeError
from chainrule.report.figure import PathLike, new_figure, plain, save_png

__all__ = ["plot_spectrograms"]


def plot_spectrograms(
    features: Any,
    labels: Any,
    path: PathLike,
    predictions: Any = None,
    class_names: Sequence[str] | None = None,
    *,
    frame_seconds: float | None = None,
    max_items: int = 8,
    dpi: int = 100,
) -> Path:
    """Spectrograms ``(N, T, F)`` (time first, zero padding after each end is cut off), one
    panel each, titled with the true (and predicted) class; mistakes in red.

    ``frame_seconds`` (the hop in seconds) labels the time axis in seconds instead of frames.

    Examples
    --------
    >>> plot_spectrograms(x_test[:8], y_test[:8], "run/plots/spectrograms.png",
    ...                   predictions=pred[:8], class_names=names)  # doctest: +SKIP
    """
    x = np.asarray(features)
    true = np.asarray(labels).reshape(-1)
    if x.ndim != 3 or len(x) != len(true):
        raise ShapeError(
            f"plot_spectrograms: expected (N, frames, bands) with N labels, got {x.shape} and "
            f"{true.shape}"
        )
    if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1:
        raise ConfigError(f"max_items must be an int >= 1, got {max_items!r}")
    guess = None if predictions is None else np.asarray(predictions)
    if guess is not None and guess.ndim == 2:
        guess = guess.argmax(axis=1)

    def name(k: int) -> str:
        return plain(class_names[k]) if class_names and 0 <= k < len(class_names) else str(k)

    count = min(len(x), max_items)
    cols = 2 if count > 1 else 1
    rows = -(-count // cols)
    figure = new_figure(5.2 * cols, 1.9 * rows + 0.5)
    axes = figure.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= count:
            ax.set_axis_off()
            continue
        nonzero = np.flatnonzero((x[i] != 0).any(axis=1))
        frames = x[i, : (nonzero[-1] + 1 if nonzero.size else 1)]
        scale = frame_seconds or 1.0
        extent = (0.0, len(frames) * scale, 0.0, float(frames.shape[1]))
        ax.imshow(frames.T, origin="lower", aspect="auto", cmap="magma", extent=extent)
        title, color = f"true {name(int(true[i]))}", "black"
        if guess is not None:
            title += f" / predicted {name(int(guess[i]))}"
            color = "black" if int(guess[i]) == int(true[i]) else "red"
        ax.set_title(title, fontsize=9, color=color)
        ax.set_ylabel("mel band", fontsize=8)
        ax.set_xlabel("seconds" if frame_seconds else "frame", fontsize=8)
        ax.tick_params(labelsize=7)
    figure.suptitle("Log-mel spectrograms (normalised), test set", fontsize=10)
    return save_png(figure, path, dpi)
