"""Line plots of a training run: learning curves, gradient norms per layer, the LR range test.

Non-finite values (a run that ended on NaN, inf or ``None`` read back from JSON) are drawn as
gaps, never as a crash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, ShapeError
from chainrule.report.figure import (
    PathLike,
    as_array,
    as_series,
    has_positive,
    log_safe,
    new_figure,
    plain,
    save_png,
)

__all__ = ["plot_learning_curves", "plot_gradient_norms", "plot_lr_finder"]

_LR_KEYS = ("lr", "learning_rate")


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
    series = {k: as_series(v, f"history[{k!r}]") for k, v in history.items() if k != "epoch"}
    groups: dict[str, list[str]] = {"loss": [], "metric": [], "lr": []}
    for key in series:
        base = key.removeprefix("val_")
        kind = "lr" if base in _LR_KEYS else "loss" if base.endswith("loss") else "metric"
        groups[kind].append(key)
    panels = [(kind, keys) for kind, keys in groups.items() if keys]
    if not panels:
        raise ConfigError(f"history has nothing to plot besides 'epoch': {list(history)}")
    epochs = as_array(history["epoch"]).astype(np.float64) if "epoch" in history else None

    figure = new_figure(4.2 * len(panels), 3.4)
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
                label=plain(key),
                color=colors.get(base),
            )
            colors.setdefault(base, line.get_color())
        if kind == "lr" and has_positive(*(series[k] for k in keys)):
            ax.set_yscale("log")
        ax.set_title({"loss": "Loss", "metric": "Metrics", "lr": "Learning rate"}[kind])
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    return save_png(figure, path, dpi)


def _line_panel(
    ax: Any, data: Mapping[str, Sequence[float]], name: str, title: str, ylabel: str
) -> None:
    """One log-y line per layer, epochs on x."""
    series = {k: as_series(v, f"{name}[{k!r}]") for k, v in data.items()}
    for key, values in series.items():
        marker = "o" if len(values) <= 30 else None
        ax.plot(
            np.arange(1, len(values) + 1),
            log_safe(values),
            marker=marker,
            markersize=3,
            label=plain(key),
        )
    if has_positive(*series.values()):
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
    figure = new_figure(6.0 * panels, 3.6)
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
    return save_png(figure, path, dpi)


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
    x = as_series(lrs, "lrs")
    y = as_series(losses, "losses")
    if len(x) != len(y):
        raise ShapeError(f"lrs and losses must have the same length, got {len(x)} and {len(y)}")
    if not np.all(np.isfinite(x) & (x > 0)):
        raise ValueError("lrs must be finite and positive (they are drawn on a log axis)")
    if suggestion is not None and not (np.isfinite(suggestion) and suggestion > 0):
        raise ConfigError(f"suggestion must be a positive learning rate, got {suggestion!r}")
    figure = new_figure(5.5, 3.8)
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
    return save_png(figure, path, dpi)
