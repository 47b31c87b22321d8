"""Plots and reports of a run that ended on NaN or infinity draw gaps, never crash."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

from chainrule.report import (  # noqa: E402
    plot_gradient_norms,
    plot_learning_curves,
    plot_lr_finder,
    write_report,
)
from chainrule.training import History  # noqa: E402


def decodes(path: Path) -> bool:
    with Image.open(path) as image:
        image.load()
        return image.format == "PNG"


def failed_history() -> History:
    """Two good epochs and one that went to NaN/inf, as a NaN-stopped run records it."""
    h = History()
    h.record(0, {"loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "lr": 0.1})
    h.record(1, {"loss": 0.6, "accuracy": 0.7, "val_loss": 0.9, "lr": 0.1})
    h.record(2, {"loss": math.nan, "accuracy": math.nan, "val_loss": math.inf, "lr": 0.1})
    h.record_diagnostics({"grad_norm": {"0": math.inf}})
    return h


def test_learning_curves_of_a_failed_run_are_drawn(tmp_path: Path) -> None:
    history = failed_history()
    assert decodes(plot_learning_curves(history.history, tmp_path / "a.png"))
    # As read back from history.json: nulls where the values were not finite.
    doc = json.loads(history.to_json())
    assert doc["history"]["loss"][2] is None
    assert decodes(plot_learning_curves(doc["history"], tmp_path / "b.png"))


def test_all_non_finite_series_and_gradients_are_drawn(tmp_path: Path) -> None:
    assert decodes(plot_learning_curves({"loss": [math.nan], "lr": [0.1]}, tmp_path / "c.png"))
    grads = {"0": [0.1, math.inf, None], "1": [math.nan, math.nan, math.nan]}
    assert decodes(plot_gradient_norms(grads, tmp_path / "d.png", update_ratios=grads))
    lr = plot_lr_finder([1e-3, 1e-2, 1e-1], [1.0, math.inf, math.nan], tmp_path / "e.png")
    assert decodes(lr)


def test_a_report_with_non_finite_figures_is_written(tmp_path: Path) -> None:
    history = failed_history()
    summary = {
        "stopped": "the training loss became nan in epoch 3",
        "Final metrics": {"loss": math.nan, "val_loss": math.inf},
    }
    for fmt in ("md", "html"):
        path = write_report(tmp_path, "run", summary, fmt=fmt)
        text = path.read_text()
        assert "nan" in text and "inf" in text
    assert np.isnan(history["loss"][2])
