"""Sequence plots: the gradient-through-time lines and embedding-neighbour panels as PNG."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="plots need matplotlib (the plots extra)")

from chainrule.errors import ConfigError  # noqa: E402
from chainrule.report.sequence_plots import (  # noqa: E402
    gradient_flow_by_architecture,
    plot_embedding_neighbours,
    plot_gradient_through_time,
)

PNG = b"\x89PNG\r\n\x1a\n"


def test_gradient_flow_and_its_plot(tmp_path) -> None:
    ids = np.random.default_rng(0).integers(1, 40, size=(8, 25))
    flow = gradient_flow_by_architecture(ids, np.zeros(8, int), 40, hidden=16)
    assert sorted(flow) == ["gru", "lstm", "rnn"]
    assert all(v.shape == (25,) and v[-1] == pytest.approx(1.0) for v in flow.values())
    assert flow["lstm"][0] > flow["rnn"][0]
    path = plot_gradient_through_time(flow, tmp_path / "bptt.png")
    assert path.read_bytes()[:8] == PNG
    with pytest.raises(ConfigError, match="non-empty dict"):
        plot_gradient_through_time({}, tmp_path / "x.png")
    with pytest.raises(ConfigError, match="PNG"):
        plot_gradient_through_time(flow, tmp_path / "x.jpg")


def test_neighbour_panels(tmp_path) -> None:
    data = {f"w{i}": [("a", 0.9), ("b", -0.2)] for i in range(5)}
    assert plot_embedding_neighbours(data, tmp_path / "nn.png").read_bytes()[:8] == PNG
    with pytest.raises(ConfigError, match="non-empty dict"):
        plot_embedding_neighbours({}, tmp_path / "nn.png")
