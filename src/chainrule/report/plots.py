"""PNG plots of a training run: learning curves, confusion matrix, weights, gradients, LR finder.

matplotlib is optional and imported only inside the functions. Figures are drawn with the
object-oriented API on an Agg canvas (``matplotlib.figure.Figure``), never through ``pyplot``,
so plotting neither switches the user's backend nor leaves figures open in a global registry.
Every function writes its PNG atomically (temp file in the same folder, then ``os.replace``)
and returns the path.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.autodiff.backend import to_numpy
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, ShapeError
from chainrule.io.atomic import atomic_write

__all__ = [
    "plot_learning_curves",
    "plot_confusion_matrix",
    "plot_weight_images",
    "plot_gradient_norms",
    "plot_lr_finder",
    "plot_samples",
]

PathLike = str | os.PathLike[str]
_LR_KEYS = ("lr", "learning_rate")
_ANNOTATE_MAX_CLASSES = 20  # beyond this the cell text becomes unreadable


def _new_figure(width: float, height: float) -> Any:
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


def _png_path(path: PathLike) -> Path:
    """Validate the output name and make sure its folder exists."""
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise ConfigError(f"plots are written as PNG; expected a path ending in .png, got {path!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _save(figure: Any, path: PathLike, dpi: int) -> Path:
    """Write the figure as PNG to a temp file next to ``path``, then move it into place."""
    target = _png_path(path)
    with atomic_write(target, "wb") as handle:
        figure.savefig(handle, format="png", dpi=dpi)
    return target


def _array(values: Any) -> np.ndarray:
    """Host NumPy array from an array, a Tensor/Parameter or nested lists."""
    if isinstance(values, Tensor):
        values = values.data
    return to_numpy(values)


def _series(values: Any, name: str) -> np.ndarray:
    """A non-empty 1-D float series."""
    array = _array(values).astype(np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ShapeError(f"{name} must be a non-empty 1-D list of numbers, got shape {array.shape}")
    return array


def _plain(text: object) -> str:
    """Text shown literally: a pair of ``$`` would otherwise start matplotlib mathtext."""
    return str(text).replace("$", r"\$")


def _has_positive(*arrays: np.ndarray) -> bool:
    """A log axis needs at least one positive finite value, or matplotlib warns."""
    return any(bool(np.any(np.isfinite(a) & (a > 0))) for a in arrays)


def _log_safe(array: np.ndarray) -> np.ndarray:
    """Hide non-positive values (drawn as gaps) on a log axis."""
    return np.where(array > 0, array, np.nan)


def plot_learning_curves(
    history: Mapping[str, Sequence[float]], path: PathLike, *, dpi: int = 100
) -> Path:
    """Loss, metric and learning-rate curves per epoch.

    Keys ending in ``loss`` go to the loss panel, ``lr``/``learning_rate`` to a log-scale
    learning-rate panel, everything else (accuracy, ...) to the metric panel. A ``val_`` key is
    drawn dashed in the colour of its training twin. An ``epoch`` key, if present, gives the x
    values; otherwise epochs are numbered from 1.

    Parameters
    ----------
    history : mapping of str to list of float
        One list per quantity, one value per epoch (lists may differ in length).
    path : str or path-like
        Output ``.png`` file.

    Examples
    --------
    >>> plot_learning_curves({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]},
    ...                      "run/curves.png")  # doctest: +SKIP
    """
    if not isinstance(history, Mapping) or not history:
        raise ConfigError(
            f"history must be a non-empty dict of lists (e.g. {{'loss': [...]}}), got {history!r}"
        )
    series = {k: _series(v, f"history[{k!r}]") for k, v in history.items() if k != "epoch"}
    groups: dict[str, list[str]] = {"loss": [], "metric": [], "lr": []}
    for key in series:
        base = key.removeprefix("val_")
        kind = "lr" if base in _LR_KEYS else "loss" if base.endswith("loss") else "metric"
        groups[kind].append(key)
    panels = [(kind, keys) for kind, keys in groups.items() if keys]
    if not panels:
        raise ConfigError(f"history has nothing to plot besides 'epoch': {list(history)}")
    epochs = _array(history["epoch"]).astype(np.float64) if "epoch" in history else None

    figure = _new_figure(4.2 * len(panels), 3.4)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    colors: dict[str, Any] = {}
    for ax, (kind, keys) in zip(axes, panels):
        for key in keys:
            values = series[key]
            same_length = epochs is not None and len(epochs) == len(values)
            x = epochs if same_length else np.arange(1, len(values) + 1)
            base = key.removeprefix("val_")
            style = "--" if key.startswith("val_") else "-"
            marker = "o" if len(values) <= 30 else None
            (line,) = ax.plot(
                x,
                values,
                style,
                marker=marker,
                markersize=3,
                label=_plain(key),
                color=colors.get(base),
            )
            colors.setdefault(base, line.get_color())
        if kind == "lr" and _has_positive(*(series[k] for k in keys)):
            ax.set_yscale("log")
        ax.set_title({"loss": "Loss", "metric": "Metrics", "lr": "Learning rate"}[kind])
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    return _save(figure, path, dpi)


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
    counts = _array(cm)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.size == 0:
        raise ShapeError(f"cm must be a square (n_classes, n_classes) matrix, got {counts.shape}")
    if counts.dtype.kind not in "iuf" or np.any(~np.isfinite(counts)) or counts.min() < 0:
        raise ValueError(
            "cm must hold finite non-negative counts; build it with "
            "chainrule.metrics.confusion_matrix"
        )
    n = counts.shape[0]
    names = [str(c) for c in range(n)] if class_names is None else [_plain(c) for c in class_names]
    if len(names) != n:
        raise ShapeError(f"class_names has {len(names)} names but cm has {n} classes")
    row_totals = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, row_totals, out=np.zeros(counts.shape), where=row_totals != 0)
    shown = fractions if normalize else counts

    side = min(max(3.5, 0.45 * n + 2.0), 14.0)
    figure = _new_figure(side + 1.0, side)
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
    return _save(figure, path, dpi)


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
    w = _array(weight).astype(np.float64)
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
    figure = _new_figure(1.1 * cols + 0.4, 1.1 * rows + 0.6)
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
    return _save(figure, path, dpi)


def _line_panel(
    ax: Any, data: Mapping[str, Sequence[float]], name: str, title: str, ylabel: str
) -> None:
    """One log-y line per layer, epochs on x."""
    series = {k: _series(v, f"{name}[{k!r}]") for k, v in data.items()}
    for key, values in series.items():
        marker = "o" if len(values) <= 30 else None
        ax.plot(
            np.arange(1, len(values) + 1),
            _log_safe(values),
            marker=marker,
            markersize=3,
            label=_plain(key),
        )
    if _has_positive(*series.values()):
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)


def plot_gradient_norms(
    grad_norms: Mapping[str, Sequence[float]],
    path: PathLike,
    update_ratios: Mapping[str, Sequence[float]] | None = None,
    *,
    dpi: int = 100,
) -> Path:
    """Gradient norm of each layer per epoch on a log scale: how the error is split among layers.

    Vanishing gradients show as the early layers' lines sinking decades below the last layer's.
    With ``update_ratios`` (``||lr * update|| / ||w||`` per layer and epoch) a second panel is
    drawn with the rule-of-thumb level 1e-3 marked.

    Parameters
    ----------
    grad_norms : mapping of str to list of float
        Layer name -> per-epoch gradient norm.
    path : str or path-like
        Output ``.png`` file.
    update_ratios : mapping of str to list of float, optional
        Layer name -> per-epoch update-to-weight ratio.

    Examples
    --------
    >>> plot_gradient_norms({"fc1.weight": [1e-2, 5e-3], "fc2.weight": [1e-1, 4e-2]},
    ...                     "run/grads.png")  # doctest: +SKIP
    """
    for name, data in (("grad_norms", grad_norms), ("update_ratios", update_ratios)):
        if data is not None and (not isinstance(data, Mapping) or not data):
            raise ConfigError(f"{name} must be a non-empty dict of layer name -> list of numbers")
    panels = 1 if update_ratios is None else 2
    figure = _new_figure(6.0 * panels, 3.6)
    axes = figure.subplots(1, panels, squeeze=False)[0]
    _line_panel(axes[0], grad_norms, "grad_norms", "Gradient norm per layer", "||grad||")
    if update_ratios is not None:
        _line_panel(
            axes[1], update_ratios, "update_ratios", "Update / weight ratio", "||update|| / ||w||"
        )
        axes[1].axhline(
            1e-3, color="gray", linestyle=":", linewidth=1, label="1e-3 (rule of thumb)"
        )
        axes[1].legend(
            fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0
        )
    return _save(figure, path, dpi)


def plot_lr_finder(
    lrs: Sequence[float],
    losses: Sequence[float],
    path: PathLike,
    suggestion: float | None = None,
    *,
    dpi: int = 100,
) -> Path:
    """Loss against learning rate (log x) from a learning-rate range test.

    The y-axis is cut at twice the first loss so the blow-up at the end does not flatten the
    interesting part; ``suggestion`` is marked with a vertical line and its value.

    Parameters
    ----------
    lrs : sequence of float
        Positive learning rates tried, in order.
    losses : sequence of float
        Loss after each of them (same length).
    path : str or path-like
        Output ``.png`` file.
    suggestion : float, optional
        The learning rate to mark.

    Examples
    --------
    >>> plot_lr_finder([1e-4, 1e-3, 1e-2], [2.3, 1.9, 4.0], "run/lr.png", suggestion=1e-3)
    ... # doctest: +SKIP
    """
    x = _series(lrs, "lrs")
    y = _series(losses, "losses")
    if len(x) != len(y):
        raise ShapeError(f"lrs and losses must have the same length, got {len(x)} and {len(y)}")
    if not np.all(np.isfinite(x) & (x > 0)):
        raise ValueError("lrs must be finite and positive (they are drawn on a log axis)")
    if suggestion is not None and not (np.isfinite(suggestion) and suggestion > 0):
        raise ConfigError(f"suggestion must be a positive learning rate, got {suggestion!r}")
    figure = _new_figure(5.5, 3.8)
    ax = figure.subplots()
    ax.plot(x, y, color="tab:blue")
    ax.set_xscale("log")
    finite = y[np.isfinite(y)]
    if finite.size and np.isfinite(y[0]) and y[0] > 0 and finite.max() > 2 * y[0]:
        ax.set_ylim(top=2 * y[0], bottom=min(finite.min(), y[0]) - 0.05 * y[0])
    if suggestion is not None:
        ax.axvline(
            suggestion, color="tab:red", linestyle="--", label=f"suggested lr = {suggestion:.2e}"
        )
        ax.legend(fontsize="small")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.set_title("Learning-rate range test")
    ax.grid(True, which="both", alpha=0.3)
    return _save(figure, path, dpi)


def _images_nhwc(images: Any) -> np.ndarray:
    """Bring images to (N, H, W) or (N, H, W, C); flat rows must be square."""
    array = _array(images)
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
    true = _array(labels).astype(np.int64).reshape(-1)
    if len(true) != len(pictures):
        raise ShapeError(
            f"images and labels must have the same length, got {len(pictures)} and {len(true)}"
        )
    predicted = None
    if predictions is not None:
        predicted = _array(predictions)
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
            return _plain(class_names[index])
        return str(index)

    count = min(len(pictures), max_images)
    rows, cols = _grid(count)
    figure = _new_figure(1.35 * cols + 0.3, 1.65 * rows + 0.5)
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
    return _save(figure, path, dpi)
