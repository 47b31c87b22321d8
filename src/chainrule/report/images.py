"""Image plots of a run: the confusion matrix, first-layer weights as images, sample grids."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, ShapeError
from chainrule.report.figure import (
    PathLike,
    as_array,
    new_figure,
    plain,
    save_png,
)

__all__ = ["plot_confusion_matrix", "plot_weight_images", "plot_samples"]

_ANNOTATE_MAX_CLASSES = 20  # beyond this the cell text becomes unreadable


def plot_confusion_matrix(
    cm: Any,
    path: PathLike,
    class_names: Sequence[str] | None = None,
    normalize: bool = True,
    *,
    dpi: int = 100,
) -> Path:
    """Heat map of a confusion matrix (rows = true class, columns = predicted class).

    With ``normalize=True`` colours show each row as a fraction of its true class (so recall
    sits on the diagonal); with up to 20 classes every cell is annotated with its count and, when
    normalized, its row percentage.

    Parameters
    ----------
    cm : array_like, shape (n_classes, n_classes)
        Counts, as returned by :func:`chainrule.metrics.confusion_matrix`.
    path : str or path-like
        Output ``.png`` file.
    class_names : sequence of str, optional
        Tick labels; default ``0 .. n_classes-1``.
    normalize : bool
        Colour by row fraction instead of raw count.

    Examples
    --------
    >>> plot_confusion_matrix([[5, 1], [0, 4]], "run/cm.png", class_names=["no", "yes"])
    ... # doctest: +SKIP
    """
    counts = as_array(cm)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.size == 0:
        raise ShapeError(f"cm must be a square (n_classes, n_classes) matrix, got {counts.shape}")
    if counts.dtype.kind not in "iuf" or np.any(~np.isfinite(counts)) or counts.min() < 0:
        raise ValueError(
            "cm must hold finite non-negative counts; build it with "
            "chainrule.metrics.confusion_matrix"
        )
    n = counts.shape[0]
    names = [str(c) for c in range(n)] if class_names is None else [plain(c) for c in class_names]
    if len(names) != n:
        raise ShapeError(f"class_names has {len(names)} names but cm has {n} classes")
    row_totals = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, row_totals, out=np.zeros(counts.shape), where=row_totals != 0)
    shown = fractions if normalize else counts

    side = min(max(3.5, 0.45 * n + 2.0), 14.0)
    figure = new_figure(side + 1.0, side)
    ax = figure.subplots()
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1.0 if normalize else None)
    figure.colorbar(
        image, ax=ax, shrink=0.8, label="fraction of true class" if normalize else "count"
    )
    ticks = np.arange(n)
    ax.set_xticks(
        ticks,
        labels=names,
        rotation=45 if max(map(len, names)) > 2 else 0,
        ha="right" if max(map(len, names)) > 2 else "center",
    )
    ax.set_yticks(ticks, labels=names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("Confusion matrix" + (" (row-normalized)" if normalize else ""))
    if n <= _ANNOTATE_MAX_CLASSES:
        threshold = 0.5 * (1.0 if normalize else max(float(counts.max()), 1.0))
        size = "small" if n <= 10 else "x-small"
        for i in range(n):
            for j in range(n):
                count = f"{counts[i, j]:g}"
                # Zero cells stay a plain "0" so the non-zero confusions stand out.
                show_percent = normalize and counts[i, j] != 0
                text = f"{count}\n{100 * fractions[i, j]:.0f}%" if show_percent else count
                color = "white" if shown[i, j] > threshold else "black"
                ax.text(j, i, text, ha="center", va="center", color=color, fontsize=size)
    return save_png(figure, path, dpi)


def _grid(count: int) -> tuple[int, int]:
    """Rows and columns of a near-square grid holding ``count`` tiles."""
    cols = math.ceil(math.sqrt(count))
    return math.ceil(count / cols), cols


def plot_weight_images(
    weight: Any,
    path: PathLike,
    image_shape: tuple[int, int] = (28, 28),
    max_units: int = 64,
    *,
    dpi: int = 100,
) -> Path:
    """Show each hidden unit's incoming weights as an image: what that neuron looks for.

    Tile ``i`` is row ``i`` of the first layer's weight reshaped to ``image_shape``, in a
    diverging colormap centred at 0 (red = the pixel excites the unit, blue = inhibits it). Each
    tile is scaled to its own largest ``|w|`` so weak units still show their pattern.

    Parameters
    ----------
    weight : array_like, shape (hidden, in_features)
        First-layer weight (PyTorch layout ``(out, in)``); ``in_features`` must equal
        ``prod(image_shape)``.
    path : str or path-like
        Output ``.png`` file.
    image_shape : (int, int)
        Height and width of one input image.
    max_units : int
        Show at most this many units (the first ones).

    Examples
    --------
    >>> plot_weight_images(model.fc1.weight, "run/weights.png")  # doctest: +SKIP
    """
    w = as_array(weight).astype(np.float64)
    if len(image_shape) != 2 or any(int(s) < 1 for s in image_shape):
        raise ConfigError(f"image_shape must be (height, width), got {image_shape!r}")
    height, width = (int(s) for s in image_shape)
    if w.ndim != 2 or w.shape[1] != height * width:
        hint = ""
        if w.ndim == 2 and w.shape[0] == height * width:
            hint = "; the layout looks like (in, out): pass weight.T"
        raise ShapeError(
            f"weight must have shape (hidden, {height * width}) for image_shape {image_shape}, "
            f"got {w.shape}{hint}"
        )
    if isinstance(max_units, bool) or not isinstance(max_units, int) or max_units < 1:
        raise ConfigError(f"max_units must be an int >= 1, got {max_units!r}")
    count = min(w.shape[0], max_units)
    rows, cols = _grid(count)
    figure = new_figure(1.1 * cols + 0.4, 1.1 * rows + 0.6)
    axes = figure.subplots(rows, cols, squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index >= count:
            continue
        tile = w[index].reshape(height, width)
        limit = float(np.nanmax(np.abs(tile))) or 1.0
        ax.imshow(tile, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(f"unit {index}", fontsize=7, pad=2)
    shown = f"first {count} of {w.shape[0]}" if count < w.shape[0] else f"all {count}"
    figure.suptitle(f"Input weights of hidden units ({shown}); red +, blue -", fontsize=10)
    return save_png(figure, path, dpi)


def _images_nhwc(images: Any) -> np.ndarray:
    """Bring images to (N, H, W) or (N, H, W, C); flat rows must be square."""
    array = as_array(images)
    if array.ndim == 2:
        side = math.isqrt(array.shape[1])
        if side * side != array.shape[1]:
            raise ShapeError(
                f"flat images of {array.shape[1]} pixels are not square; reshape them to "
                "(N, height, width) first"
            )
        return array.reshape(len(array), side, side)
    if array.ndim == 4 and array.shape[1] in (1, 3) and array.shape[-1] not in (1, 3, 4):
        array = array.transpose(0, 2, 3, 1)  # channels-first (N, C, H, W) -> channels-last
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 3 or (array.ndim == 4 and array.shape[-1] in (3, 4)):
        return array
    raise ShapeError(
        "images must be (N, H, W), (N, H, W, C), (N, C, H, W) or flat square (N, H*W), "
        f"got shape {array.shape}"
    )


def _rgb_in_range(tile: np.ndarray) -> np.ndarray:
    """Colour tiles must be in [0, 1] (floats) for imshow; rescale others to that range."""
    tile = tile.astype(np.float64)
    low, high = float(tile.min()), float(tile.max())
    if low >= 0 and high <= 1:
        return tile
    return (tile - low) / (high - low) if high > low else np.zeros_like(tile)


def plot_samples(
    images: Any,
    labels: Any,
    path: PathLike,
    predictions: Any = None,
    class_names: Sequence[str] | None = None,
    *,
    max_images: int = 64,
    dpi: int = 100,
) -> Path:
    """A grid of sample images titled with their true (and predicted) labels; mistakes in red.

    Parameters
    ----------
    images : array_like
        ``(N, H, W)``, ``(N, H, W, C)``, ``(N, C, H, W)`` or flat square ``(N, H*W)``.
    labels : array_like of int, shape (N,)
        True class indices.
    path : str or path-like
        Output ``.png`` file.
    predictions : array_like, optional
        Predicted class indices ``(N,)`` or scores ``(N, n_classes)`` (argmax is taken).
    class_names : sequence of str, optional
        Names shown instead of the indices.
    max_images : int
        Show at most this many (the first ones).

    Examples
    --------
    >>> plot_samples(x_test[:16], y_test[:16], "run/samples.png",
    ...              predictions=model_scores[:16])  # doctest: +SKIP
    """
    pictures = _images_nhwc(images)
    true = as_array(labels).astype(np.int64).reshape(-1)
    if len(true) != len(pictures):
        raise ShapeError(
            f"images and labels must have the same length, got {len(pictures)} and {len(true)}"
        )
    predicted = None
    if predictions is not None:
        predicted = as_array(predictions)
        predicted = predicted.argmax(axis=-1) if predicted.ndim == 2 else predicted.reshape(-1)
        if len(predicted) != len(pictures):
            raise ShapeError(
                f"images and predictions must have the same length, got "
                f"{len(pictures)} and {len(predicted)}"
            )
    if isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 1:
        raise ConfigError(f"max_images must be an int >= 1, got {max_images!r}")

    def name(index: int) -> str:
        if class_names is not None and 0 <= index < len(class_names):
            return plain(class_names[index])
        return str(index)

    count = min(len(pictures), max_images)
    rows, cols = _grid(count)
    figure = new_figure(1.35 * cols + 0.3, 1.65 * rows + 0.5)
    axes = figure.subplots(rows, cols, squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index >= count:
            continue
        tile = pictures[index]
        if tile.ndim == 3:
            ax.imshow(_rgb_in_range(tile))
        else:
            ax.imshow(tile, cmap="gray", interpolation="nearest")
        title, color = name(int(true[index])), "black"
        if predicted is not None:
            guess = int(predicted[index])
            title = f"{title} / pred {name(guess)}"
            title = title.replace(" / ", "\n", 1) if len(title) > 18 else title
            color = "black" if guess == true[index] else "red"
        ax.set_title(title, fontsize=8, color=color, pad=2)
    caption = "label / prediction (mistakes in red)" if predicted is not None else "label"
    figure.suptitle(f"Samples: {caption}", fontsize=10)
    return save_png(figure, path, dpi)
