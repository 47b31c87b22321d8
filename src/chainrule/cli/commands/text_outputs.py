"""The run report of a text model: what every report has, plus the gradient reaching each time
step (RNN vs LSTM vs GRU) and the embedding's nearest neighbours of a few words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: Texts the gradient-through-time curves are measured on, and their length (steps).
FLOW_TEXTS = 32
FLOW_STEPS = 100
#: Words whose neighbours the report lists, and how many neighbours each.
NEIGHBOUR_WORDS = 6
NEIGHBOURS = 5


def flow_batch(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Up to FLOW_TEXTS held-out texts (the longest), all cut to one length (the shortest of
    them, at most FLOW_STEPS), so step t of the curve is the same position in every text; and
    their rows."""
    lengths = (ids != 0).sum(axis=1)
    order = np.argsort(-lengths, kind="stable")[:FLOW_TEXTS]
    steps = int(min(FLOW_STEPS, max(int(lengths[order].min()), 1)))
    return ids[order, :steps], order


def probe_words(tokens: list[str], count: int = NEIGHBOUR_WORDS) -> list[str]:
    """The most frequent plain words of a vocabulary (ids are ordered by frequency), skipping
    the shortest (a, of, to) when there are longer ones."""
    plain = [t for t in tokens if not (t.startswith("<") and t.endswith(">")) and t.isalnum()]
    long = [t for t in plain if len(t) >= 4]
    return (long if len(long) >= count else plain)[:count]


def gradient_curves(model: Any, batch: np.ndarray, labels: np.ndarray | None, config: Any,
                    vocab_size: int) -> dict[str, Any]:  # fmt: skip
    """Per-step gradient norms (each divided by its value at the last step): the trained
    classifier's on ``batch`` with its true ``labels`` (None for a tagger: skipped), and those
    of untrained RNN, LSTM and GRU classifiers of the same sizes reading the final state."""
    from chainrule.nn import gradient_norms_through_time
    from chainrule.report.sequence_plots import gradient_flow_by_architecture

    target = np.zeros(len(batch), dtype=np.int64)
    curves: dict[str, Any] = {}
    if labels is not None:
        model.eval()
        norms = gradient_norms_through_time(model, batch, labels)
        curves[f"trained {config.arch} ({config.pooling} pooling)"] = norms / max(
            float(norms[-1]), 1e-300
        )
    fresh = gradient_flow_by_architecture(
        batch, target, vocab_size, embedding_dim=config.embedding_dim, hidden=config.hidden[0],
        rng=config.seed,
    )  # fmt: skip
    curves.update({f"untrained {k} (final state)": v for k, v in fresh.items()})
    return curves


def text_report(run_dir: Path, config: Any, data: Any, history: Any, model: Any,
                test: dict[str, Any], encoder: Any, x_test: np.ndarray,
                y_test: np.ndarray) -> list[str]:  # fmt: skip
    """Plots and report.md of a text run (``plots_and_report`` plus the sequence views)."""
    from chainrule.cli.commands.outputs import plots_and_report
    from chainrule.nn import nearest_neighbours
    from chainrule.report.sequence_plots import (
        plot_embedding_neighbours,
        plot_gradient_through_time,
    )

    plots = run_dir / "plots"
    images: dict[str, str] = {}
    tables: dict[str, Any] = {}
    batch, rows = flow_batch(np.asarray(x_test, dtype=np.int64))
    labels = None if data.tagged else np.asarray(y_test)[rows]
    curves = gradient_curves(model, batch, labels, config, len(encoder.vocabulary))
    images[
        f"Gradient reaching each time step (||d loss / d x_t||, {len(batch)} held-out "
        f"{'sentences' if data.tagged else 'texts'} of {batch.shape[1]} tokens; 1 at the last)"
    ] = str(plot_gradient_through_time(curves, plots / "gradient_through_time.png"))
    tables["Gradient reaching each time step (relative to the last step)"] = [
        {"steps back": back, **{k: float(v[-1 - back]) for k, v in curves.items()}}
        for back in sorted({0, 1, 2, 5, 10, 20, 50, 100, batch.shape[1] - 1})
        if back < batch.shape[1]
    ]
    tokens = encoder.vocabulary.tokens
    near = nearest_neighbours(model.embedding, tokens, probe_words(tokens), k=NEIGHBOURS)
    if near:
        images["Nearest neighbours in the embedding (cosine similarity)"] = str(
            plot_embedding_neighbours(near, plots / "embedding_neighbours.png")
        )
        tables["Nearest neighbours in the embedding"] = [
            {"word": w, "neighbours": ", ".join(f"{t} ({s:.2f})" for t, s in pairs)}
            for w, pairs in near.items()
        ]
    model.eval()
    view: Any = _DataView(data)
    summary = {
        "held-out": f"{len(x_test)} {'sentences' if data.tagged else 'texts'}"
        + (f", {test['tokens']} tokens" if data.tagged else ""),
        "encoding": encoder.describe(),
    }
    return plots_and_report(run_dir, config, view, history, model, test, extra_images=images,
                            extra_tables=tables, extra_summary=summary)  # fmt: skip


class _DataView:
    """What ``plots_and_report`` reads of a data set (name, classes; no image shape)."""

    image_shape = None

    def __init__(self, data: Any) -> None:
        self.name = data.name
        self.class_names = data.class_names
