"""PNG plots for convolutional networks: the first layer's filters and one image's feature maps.

Drawn like every plot of the report (``chainrule.report.plots``): matplotlib imported inside
the functions, an Agg figure outside ``pyplot``, the PNG written atomically.
``first_conv_filters`` and ``feature_maps`` take the numbers from a model; the plot functions
take plain arrays, so they also draw filters and maps that came from elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.autodiff.mode import no_grad
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, ShapeError
from chainrule.nn.layers.conv import Conv2d
from chainrule.nn.module import Module
from chainrule.report.figure import PathLike, as_array, new_figure, plain, save_png

__all__ = ["first_conv_filters", "feature_maps", "plot_conv_filters", "plot_feature_maps"]


def first_conv_filters(model: Module) -> np.ndarray:
    """The weight ``(out, in, kh, kw)`` of the model's first ``Conv2d``, as a NumPy array.

    Examples
    --------
    >>> from chainrule import nn
    >>> first_conv_filters(nn.Sequential(nn.Conv2d(1, 8, 3, rng=0), nn.ReLU())).shape
    (8, 1, 3, 3)
    """
    for _, module in model.named_modules():
        if isinstance(module, Conv2d):
            return np.array(as_array(module.weight), dtype=np.float32)
    raise ConfigError(f"the model has no Conv2d layer, so it has no filters to show: {model!r}")


def feature_maps(model: Module, image: Any) -> list[tuple[str, np.ndarray]]:
    """The feature maps ``(C, H, W)`` of one image after each conv block, in model order.

    A block starts at a ``Conv2d`` and takes in the layers after it (activation, batch norm,
    pooling, dropout) as long as their output is still an image, up to the next ``Conv2d``.
    The model runs in evaluation mode under ``no_grad`` and is put back in its mode afterwards.
    ``image`` is ``(C, H, W)`` or ``(1, C, H, W)``.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, rng=0), nn.ReLU(), nn.MaxPool2d(2),
    ...                     nn.Conv2d(4, 6, 3, rng=1), nn.ReLU(), nn.Flatten())
    >>> [(name, maps.shape) for name, maps in feature_maps(net, np.ones((1, 12, 12)))]
    [('block 1 (layers 0-2)', (4, 5, 5)), ('block 2 (layers 3-4)', (6, 3, 3))]
    """
    x = np.asarray(as_array(image))
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[0] != 1:
        raise ShapeError(f"feature_maps takes one image (C, H, W) or (1, C, H, W), got {x.shape}")
    layers = list(model.named_children())
    if not any(isinstance(m, Conv2d) for _, m in layers):
        raise ConfigError("feature_maps needs a Sequential-like model whose layers include Conv2d")
    blocks: list[tuple[str, np.ndarray]] = []
    modes = [(m, m.training) for _, m in model.named_modules()]
    model.eval()
    try:
        with no_grad():
            out: Any = Tensor(x)
            start: str | None = None
            last: tuple[str, Any] | None = None
            for name, layer in layers:
                if isinstance(layer, Conv2d):
                    _close(blocks, start, last)
                    start = name
                out = layer(out)
                if start is not None:
                    if getattr(out, "ndim", 0) == 4:
                        last = (name, out)
                    else:
                        _close(blocks, start, last)
                        start = last = None
            _close(blocks, start, last)
    finally:
        for module, training in modes:
            module.training = training
    return blocks


def _close(blocks: list[tuple[str, np.ndarray]], start: str | None, last: Any) -> None:
    """Record the block from ``start`` to ``last`` (its final image output), if open."""
    if start is None or last is None:
        return
    end, out = last
    span = start if end == start else f"{start}-{end}"
    maps = np.ascontiguousarray(as_array(out)[0], dtype=np.float32)
    blocks.append((f"block {len(blocks) + 1} (layers {span})", maps))


def _grid(count: int, columns: int) -> tuple[int, int]:
    cols = max(1, min(count, columns))
    return -(-count // cols), cols


def plot_conv_filters(
    filters: Any,
    path: PathLike,
    *,
    max_filters: int = 64,
    title: str = "First-layer filters",
    dpi: int = 100,
) -> Path:
    """The filters ``(out, in, kh, kw)`` as a grid of small images (grey: the weight values).

    Each filter is shown on its own symmetric colour scale (zero is mid-grey), averaged over
    its input channels when it has several (a colour image's three).

    Examples
    --------
    >>> import numpy as np
    >>> plot_conv_filters(np.random.default_rng(0).normal(size=(32, 1, 3, 3)),
    ...                   "run/filters.png")  # doctest: +SKIP
    """
    w = np.asarray(as_array(filters), dtype=np.float64)
    if w.ndim != 4 or w.shape[0] == 0:
        raise ShapeError(f"filters must be (out, in, kh, kw), got shape {w.shape}")
    shown = w[:max_filters].mean(axis=1)
    rows, cols = _grid(len(shown), 8)
    figure = new_figure(1.1 * cols, 0.5 + 1.1 * rows)
    axes = figure.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for i, (ax, kernel) in enumerate(zip(axes.ravel(), shown)):
        bound = float(np.abs(kernel).max()) or 1.0
        ax.imshow(kernel, cmap="gray", vmin=-bound, vmax=bound, interpolation="nearest")
        ax.set_title(str(i), fontsize="x-small")
    more = f" (first {len(shown)} of {len(w)})" if len(w) > len(shown) else ""
    figure.suptitle(plain(f"{title}{more}, {w.shape[2]}x{w.shape[3]}"), fontsize="medium")
    return save_png(figure, path, dpi)


def plot_feature_maps(
    blocks: Sequence[tuple[str, Any]],
    path: PathLike,
    *,
    image: Any = None,
    max_maps: int = 16,
    dpi: int = 100,
) -> Path:
    """One row per conv block: the first ``max_maps`` channels of one image's feature maps.

    ``blocks`` is what ``feature_maps`` returns (``[(name, maps (C, H, W)), ...]``);
    ``image`` (optional, ``(C, H, W)`` or ``(H, W)``) is drawn first, as the input.

    Examples
    --------
    >>> plot_feature_maps(feature_maps(model, x_test[0]), "run/feature_maps.png",
    ...                   image=x_test[0])  # doctest: +SKIP
    """
    rows_data = [(plain(n), np.asarray(as_array(m), dtype=np.float64)) for n, m in blocks]
    if not rows_data:
        raise ConfigError("blocks must be a non-empty list of (name, maps (C, H, W))")
    for name, maps in rows_data:
        if maps.ndim != 3:
            raise ShapeError(f"the maps of {name} must be (C, H, W), got shape {maps.shape}")
    if image is not None:
        pic = np.asarray(as_array(image), dtype=np.float64)
        pic = pic.mean(axis=0) if pic.ndim == 3 else pic
        rows_data.insert(0, ("input", pic[None]))
    cols = min(max_maps, max(m.shape[0] for _, m in rows_data))
    figure = new_figure(1.0 * cols + 0.4, 0.4 + 1.25 * len(rows_data))
    axes = figure.subplots(len(rows_data), cols, squeeze=False)
    for row, (name, maps) in zip(axes, rows_data):
        for j, ax in enumerate(row):
            ax.set_axis_off()
            if j < min(max_maps, maps.shape[0]):
                ax.imshow(maps[j], cmap="viridis", interpolation="nearest")
        row[0].set_title(name, fontsize="x-small", loc="left")
    return save_png(figure, path, dpi)
