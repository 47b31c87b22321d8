"""The run report of a text model: what every report has, plus the gradient reaching each time
step (RNN vs LSTM vs GRU) and the embedding's nearest neighbours of a few words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: Texts the gradient-through-time curves are measured on, and their length (steps).
FLOW_TEXTS = 32
FLOW_STEPS = 100
#: Words whose neighbours the report lists, and how many neighbours each; neighbours are
#: searched among the most frequent tokens only (a rare word's row has barely moved from its
#: random start, and among thousands of random rows some are always close by chance).
NEIGHBOUR_WORDS = 6
NEIGHBOURS = 5
NEIGHBOUR_POOL = 2000
#: A word must occur this often in training to be a probe word of a class.
MIN_PROBE_COUNT = 20


def flow_batch(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Up to FLOW_TEXTS held-out texts (the longest), all cut to one length (the shortest of
    them, at most FLOW_STEPS), so step t of the curve is the same position in every text; and
    their rows."""
    lengths = (ids != 0).sum(axis=1)
    order = np.argsort(-lengths, kind="stable")[:FLOW_TEXTS]
    steps = int(min(FLOW_STEPS, max(int(lengths[order].min()), 1)))
    return ids[order, :steps], order


def _plain(token: str) -> bool:
    return token.isalpha() and not (token.startswith("<") and token.endswith(">"))


def probe_words(tokens: list[str], ids: np.ndarray | None = None, labels: np.ndarray | None = None,
                count: int = NEIGHBOUR_WORDS) -> list[str]:  # fmt: skip
    """Words to show the neighbours of. With training ``ids`` and class ``labels``: for each
    class in turn, the words most typical of it (the highest ratio of its count in the class to
    its count elsewhere, among words seen MIN_PROBE_COUNT times). Otherwise the most frequent
    plain words of 4+ letters (a vocabulary's ids are ordered by frequency)."""
    plain = [t for t in tokens if _plain(t)]
    frequent = [t for t in plain if len(t) >= 4] or plain
    if ids is None or labels is None or ids.size == 0:
        return frequent[:count]
    classes = np.unique(labels)
    counts = np.stack(
        [np.bincount(ids[labels == c].ravel(), minlength=len(tokens)) for c in classes]
    ).astype(np.float64)
    total = counts.sum(axis=0)
    chosen: list[str] = []
    ranked = []
    for k in range(len(classes)):
        ratio = (counts[k] + 1) / (total - counts[k] + 1)
        ratio[(total < MIN_PROBE_COUNT) | ~np.array([_plain(t) for t in tokens])] = -1
        ranked.append([int(i) for i in np.argsort(-ratio, kind="stable") if ratio[i] > 0])
    while len(chosen) < count and any(ranked):
        for order in ranked:
            while order and tokens[order[0]] in chosen:
                order.pop(0)
            if order and len(chosen) < count:
                chosen.append(tokens[order.pop(0)])
    return chosen or frequent[:count]


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
                test: dict[str, Any], encoder: Any, x_test: np.ndarray, y_test: np.ndarray,
                train: tuple[np.ndarray, np.ndarray] | None = None) -> list[str]:  # fmt: skip
    """Plots and report.md of a text run (``plots_and_report`` plus the sequence views);
    ``train`` (ids, labels of the training texts) picks the words typical of each class."""
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
    ids, labels = (None, None) if data.tagged or train is None else train
    words = probe_words(tokens, ids, labels)
    pool = max(NEIGHBOUR_POOL, 1 + max((tokens.index(w) for w in words), default=0))
    near = nearest_neighbours(model.embedding.weight.data[:pool], tokens[:pool], words,
                              k=NEIGHBOURS)  # fmt: skip
    if near:
        images["Nearest neighbours in the embedding (cosine similarity)"] = str(
            plot_embedding_neighbours(near, plots / "embedding_neighbours.png")
        )
        how = "" if data.tagged else "; words most typical of each class"
        tables[
            f"Nearest neighbours in the embedding (cosine, among the {pool} most frequent "
            f"tokens{how})"
        ] = [
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
    content = "text"

    def __init__(self, data: Any) -> None:
        self.name = data.name
        self.class_names = data.class_names
