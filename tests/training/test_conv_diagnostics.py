"""Gradient-health diagnostics on a CNN: conv layers get gradient norms and update ratios, and
the ReLUs after them count dead channels (zero at every position of every sample)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chainrule import nn, optim
from chainrule.training import GradientHealthWarning, Trainer


def images(n: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 1, 6, 6)).astype(np.float32)
    x[y == 1, :, :3] += 1.5  # class 1: a bright top half
    return x, y


def cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, rng=0), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3, rng=1), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2, rng=2),
    )  # fmt: skip


def fit(model: nn.Module, epochs: int = 2, lr: float = 0.05):
    opt = optim.SGD(model.parameters(), lr=lr)
    return Trainer(model, nn.CrossEntropyLoss(), opt).fit(*images(), epochs=epochs, batch_size=16)


def test_conv_layers_have_gradient_norms_and_update_ratios() -> None:
    model = cnn()
    before = model[0].weight.data.copy()
    history = fit(model)
    norms, ratios = history.diagnostics["grad_norm"], history.diagnostics["update_ratio"]
    assert list(norms) == ["0", "3", "6"] and list(ratios) == ["0", "3", "6"]
    for name in ("0", "3"):
        assert all(math.isfinite(v) and v > 0 for v in norms[name])
        assert all(0 < v < 1 for v in ratios[name])
    assert not np.array_equal(before, model[0].weight.data)


def test_dead_channels_are_counted_per_channel() -> None:
    model = cnn()
    model[0].weight.data[:3] = 0.0
    model[0].bias.data[:3] = -1.0  # channels 0-2 output 0 everywhere; channel 3 lives
    model[0].bias.data[3] = 5.0
    history = fit(model, epochs=1, lr=1e-4)
    assert history.diagnostics["dead_fraction"]["1"] == [0.75]


def test_a_wholly_dead_conv_layer_is_flagged() -> None:
    model = cnn()
    model[3].weight.data[:] = 0.0
    model[3].bias.data[:] = -1.0
    with pytest.warns(GradientHealthWarning) as record:
        history = fit(model, epochs=1, lr=1e-4)
    assert history.diagnostics["dead_fraction"]["4"] == [1.0]
    assert any(
        str(w.message).startswith("dead ReLUs in layer '4' (100% dead): units (channels, after")
        for w in record
    )
