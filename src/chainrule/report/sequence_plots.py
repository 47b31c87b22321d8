"""PNG plots for sequence models: the gradient reaching each time step, embedding neighbours.

Drawn like every plot of the report (``chainrule.report.plots``): matplotlib imported inside
the functions, an Agg figure outside ``pyplot``, the PNG written atomically. The numbers come
from ``chainrule.nn.gradient_norms_through_time`` and ``chainrule.nn.nearest_neighbours``;
``gradient_flow_by_architecture`` computes the RNN vs LSTM vs GRU comparison the plot shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ConfigError
from chainrule.report.figure import PathLike, as_series, has_positive, new_figure, plain, save_png

__all__ = [
    "plot_gradient_through_time",
    "plot_embedding_neighbours",
    "gradient_flow_by_architecture",
]


def gradient_flow_by_architecture(
    ids: Any,
    target: Any,
    vocab_size: int,
    archs: Sequence[str] = ("rnn", "lstm", "gru"),
    embedding_dim: int = 32,
    hidden: int = 64,
    rng: int = 0,
) -> dict[str, np.ndarray]:
    """Per-step gradient norms of freshly initialized classifiers, one per architecture.

    The same batch ``ids (N, T)`` / ``target (N,)`` and the same seed for each architecture,
    so the curves differ only by the recurrence. Each curve is normalized by its value at the
    last step (1.0), so it reads as "the fraction of the signal that gets this far back".

    Examples
    --------
    >>> import numpy as np
    >>> ids = np.random.default_rng(0).integers(1, 50, size=(8, 30))
    >>> flow = gradient_flow_by_architecture(ids, np.zeros(8, int), 50)
    >>> sorted(flow), bool(flow["lstm"][0] > flow["rnn"][0])
    (['gru', 'lstm', 'rnn'], True)
    """
    from chainrule.nn.sequence_models import gradient_norms_through_time, text_classifier

    curves = {}
    for arch in archs:
        model = text_classifier(vocab_size, embedding_dim, hidden, arch=arch, rng=rng)
        norms = gradient_norms_through_time(model, ids, target)
        curves[arch] = norms / max(float(norms[-1]), 1e-300)
    return curves


def plot_gradient_through_time(
    curves: Mapping[str, Sequence[float]],
    path: PathLike,
    *,
    title: str = "Gradient reaching each time step",
    dpi: int = 100,
) -> Path:
    """One line per model: the gradient norm at each input step, log scale.

    ``curves`` maps a name ("rnn", "lstm", ...) to norms per time step (the loss at the end).
    The x axis counts steps back from the last one, so the left edge is the end of the
    sequence and a line that sinks fast to the right is a vanishing gradient.

    Examples
    --------
    >>> plot_gradient_through_time({"rnn": [1e-6, 1e-3, 1.0], "lstm": [0.1, 0.5, 1.0]},
    ...                            "run/bptt.png")  # doctest: +SKIP
    """
    if not isinstance(curves, Mapping) or not curves:
        raise ConfigError("curves must be a non-empty dict of name -> norms per time step")
    series = {k: as_series(v, f"curves[{k!r}]") for k, v in curves.items()}
    figure = new_figure(6.4, 3.8)
    ax = figure.subplots()
    for name, values in series.items():
        back = np.arange(len(values))[::-1]  # steps before the last one
        ax.plot(back, np.where(values > 0, values, np.nan), label=plain(name), linewidth=1.5)
    if has_positive(*series.values()):
        ax.set_yscale("log")
    ax.set_xlabel("steps back from the last one")
    ax.set_ylabel("||d loss / d x_t||")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return save_png(figure, path, dpi)


def plot_embedding_neighbours(
    neighbours: Mapping[str, Sequence[tuple[str, float]]],
    path: PathLike,
    *,
    dpi: int = 100,
) -> Path:
    """A panel per word: its nearest tokens in the embedding, bars of cosine similarity.

    Examples
    --------
    >>> plot_embedding_neighbours({"free": [("cash", 0.81), ("offer", 0.77)]},
    ...                           "run/neighbours.png")  # doctest: +SKIP
    """
    if not isinstance(neighbours, Mapping) or not neighbours:
        raise ConfigError("neighbours must be a non-empty dict of word -> [(token, similarity)]")
    words = list(neighbours)
    cols = min(len(words), 4)
    rows = -(-len(words) // cols)
    figure = new_figure(3.0 * cols, 0.4 + 2.2 * rows)
    axes = figure.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel()[len(words) :]:
        ax.set_axis_off()
    for ax, word in zip(axes.ravel(), words):
        pairs = list(neighbours[word])
        names = [plain(t) for t, _ in pairs][::-1]
        sims = [float(s) for _, s in pairs][::-1]
        ax.barh(np.arange(len(pairs)), sims, color="tab:blue")
        ax.set_yticks(np.arange(len(pairs)), labels=names, fontsize="small")
        ax.set_xlim(min(0.0, *sims) if sims else 0.0, 1.0)
        ax.set_title(plain(word), fontsize="medium")
        ax.set_xlabel("cosine similarity", fontsize="small")
    return save_png(figure, path, dpi)
