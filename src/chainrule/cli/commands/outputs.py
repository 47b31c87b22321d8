"""What ``train`` writes after training: test scores, history.csv, plots and the report."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.cli.common import Dataset
from chainrule.cli.config import TrainConfig
from chainrule.errors import FormatError

__all__ = [
    "check_scores",
    "evaluate_model",
    "plots_and_report",
    "write_history_csv",
    "what_was_kept",
]


def write_history_csv(path: Path, history: Any) -> None:
    from chainrule.io.atomic import atomic_write_text

    keys = list(history.history)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["epoch", *keys])
    for i, epoch in enumerate(history.epochs):
        writer.writerow([epoch + 1, *(f"{history.history[k][i]:.6g}" for k in keys)])
    atomic_write_text(path, buffer.getvalue())


def plots_and_report(
    run_dir: Path,
    config: TrainConfig,
    data: Dataset,
    history: Any,
    model: Any,
    test: dict[str, Any],
    report_fmt: str = "md",
    extra_images: dict[str, str] | None = None,
    extra_tables: dict[str, Any] | None = None,
    extra_summary: dict[str, Any] | None = None,
) -> list[str]:
    """Learning curves, confusion matrix, first-layer weights, gradient norms and the report.

    ``extra_images`` (caption -> PNG inside ``run_dir``), ``extra_tables`` and
    ``extra_summary`` add what a kind of model shows beyond these (the text models' gradient
    through time and embedding neighbours)."""
    from chainrule import report

    plots = run_dir / "plots"
    images: dict[str, str] = {}
    if len(history):
        images["Learning curves"] = str(
            report.plot_learning_curves(
                {k: v for k, v in history.history.items() if k != "seconds"},
                plots / "learning_curves.png",
            )
        )
    images["Confusion matrix (test set)"] = str(
        report.plot_confusion_matrix(
            np.asarray(test["confusion_matrix"]),
            plots / "confusion_matrix.png",
            class_names=data.class_names,
        )
    )
    first = next(
        p for name, p in model.named_parameters() if name.endswith("weight") and p.ndim == 2
    )
    image_shape = getattr(data, "image_shape", None)
    cnn = getattr(config, "arch", None) == "cnn"  # its filters come in extra_images
    if image_shape is not None and len(image_shape) == 2 and not cnn:
        images["What each hidden unit looks for (first-layer weights)"] = str(
            report.plot_weight_images(
                first.data, plots / "first_layer_weights.png", image_shape=image_shape
            )
        )
    if data.content == "audio":
        from chainrule.report.audio_plots import plot_spectrograms

        pick = _spectrogram_picks(np.asarray(data.y_test), np.asarray(test["predicted"]))
        images["Log-mel spectrograms with their true and predicted class (mistakes in red)"] = str(
            plot_spectrograms(
                data.x_test[pick],
                data.y_test[pick],
                plots / "spectrograms.png",
                predictions=np.asarray(test["predicted"])[pick],
                class_names=data.class_names,
            )
        )
    grad_norms = history.diagnostics.get("grad_norm", {})
    if grad_norms and len(history):
        images["Gradient norm per layer"] = str(
            report.plot_gradient_norms(
                grad_norms,
                plots / "gradient_norms.png",
                update_ratios=history.diagnostics.get("update_ratio") or None,
            )
        )
    images.update(extra_images or {})
    images = {k: str(Path(v).relative_to(run_dir)) for k, v in images.items()}
    per_class = [
        {
            "class": name,
            "precision": round(p, 4),
            "recall": round(r, 4),
            "f1": round(f, 4),
            "support": int(s),
        }
        for name, p, r, f, s in zip(
            data.class_names, test["precision"], test["recall"], test["f1"], test["support"]
        )
    ]
    summary: dict[str, Any] = {
        "dataset": data.name,
        "test accuracy": f"{test['accuracy']:.4f}",
        "epochs run": len(history),
        "stopped": history.stop_reason or "after the last epoch",
        **(extra_summary or {}),
        "Settings": config.to_dict(),
    }
    report.write_report(
        run_dir,
        f"chainrule run: {data.name}",
        summary,
        tables={"Per-class scores (test set)": per_class, **(extra_tables or {})},
        images=images,
        fmt=report_fmt,
    )
    return list(images.values())


def _spectrogram_picks(y: np.ndarray, predicted: np.ndarray, count: int = 8) -> np.ndarray:
    """A few test utterances to show: one per class first, then mistakes, then the rest."""
    first = [int(np.flatnonzero(y == k)[0]) for k in np.unique(y)][:count]
    wrong = [int(i) for i in np.flatnonzero(y != predicted) if i not in first]
    rest = [i for i in range(len(y)) if i not in first and i not in wrong]
    return np.array((first + wrong[: max(0, count - len(first))] + rest)[:count], dtype=np.int64)


def check_scores(scores: np.ndarray, labels: list[str] | None = None) -> None:
    """FormatError naming the first sample whose class scores are not finite (its inputs
    overflowed inside the network), instead of a prediction made from NaN."""
    bad = np.flatnonzero(~np.isfinite(scores).all(axis=1))
    if bad.size:
        first = int(bad[0])
        where = labels[first] if labels else f"sample {first}"
        raise FormatError(
            f"{where}: the network's outputs are not finite ({bad.size} sample(s) in all); "
            "the inputs hold values far outside the training data's range"
        )


def evaluate_model(model: Any, x: np.ndarray, y: np.ndarray, n_classes: int) -> dict[str, Any]:
    """Accuracy, confusion matrix and per-class precision / recall / F1 on one split."""
    from chainrule import metrics
    from chainrule.autodiff.mode import no_grad
    from chainrule.autodiff.tensor import Tensor
    from chainrule.training.loop import eval_batch_size

    model.eval()
    size = eval_batch_size(x)
    with no_grad():
        scores = np.concatenate(
            [model(Tensor(x[i : i + size])).data for i in range(0, len(x), size)]
        )
    check_scores(scores)
    predicted = scores.argmax(axis=1)
    scores_pr = metrics.precision_recall_f1(y, predicted, num_classes=n_classes)
    return {
        "accuracy": float(metrics.accuracy(y, predicted)),
        "confusion_matrix": metrics.confusion_matrix(y, predicted, num_classes=n_classes).tolist(),
        "precision": scores_pr.precision.tolist(),
        "recall": scores_pr.recall.tolist(),
        "f1": scores_pr.f1.tolist(),
        "support": scores_pr.support.tolist(),
        "predicted": predicted,
    }


def what_was_kept(history: Any) -> str:
    """Which weights the saved model holds, in words."""
    kept = history.kept_epoch
    if kept is None:
        return "the model with its initial weights (no epoch completed)"
    return f"the model with the weights of the end of epoch {kept + 1}"
