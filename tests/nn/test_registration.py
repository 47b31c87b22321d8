"""Layers register themselves: a user's own layer trains, saves and reloads like a library one."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.errors import ConfigError, FormatError
from chainrule.nn.registry import ACTIVATIONS, LAYERS, register_layer

SRC = Path(cr.__file__).resolve().parent


@pytest.fixture
def scaled_tanh() -> Any:
    """A layer written in a test file with the decorator, unregistered again afterwards."""

    @register_layer
    class ScaledTanh(nn.Module):
        """A layer written in a user's own file: ``scale * tanh(x)`` with a trainable scale."""

        def __init__(self, features: int, scale: float = 2.0) -> None:
            super().__init__()
            self.features, self.scale0 = features, scale
            self.scale = nn.Parameter(np.full(features, scale, dtype=np.float32))

        def forward(self, x: Any) -> Any:
            x = x if isinstance(x, cr.Tensor) else cr.Tensor(x)
            return x.tanh() * self.scale

        def get_config(self) -> dict[str, Any]:
            return {"features": self.features, "scale": self.scale0}

    yield ScaledTanh
    LAYERS.pop("ScaledTanh", None)


def test_a_user_layer_trains_saves_and_reloads_identically(
    tmp_path: Path, scaled_tanh: Any
) -> None:
    ScaledTanh = scaled_tanh  # noqa: N806
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(4, 8, rng=1), ScaledTanh(8), nn.Linear(8, 2, rng=2))
    before = model[1].scale.data.copy()
    trainer = cr.Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.2))
    trainer.fit(x, y, epochs=5, batch_size=16, seed=0)
    assert not np.array_equal(model[1].scale.data, before)  # its parameter was trained
    cr.save(model, tmp_path / "m")
    loaded = cr.load(tmp_path / "m").model
    assert isinstance(loaded[1], ScaledTanh)
    model.eval()
    loaded.eval()
    np.testing.assert_array_equal(model(x).data, loaded(x).data)


def test_a_file_naming_an_unregistered_layer_is_refused(tmp_path: Path, scaled_tanh: Any) -> None:
    ScaledTanh = scaled_tanh  # noqa: N806
    model = nn.Sequential(nn.Linear(2, 2, rng=0), ScaledTanh(2))
    cr.save(model, tmp_path / "m")
    del LAYERS["ScaledTanh"]
    try:
        with pytest.raises(FormatError, match="unknown layer type 'ScaledTanh'"):
            cr.load(tmp_path / "m")
    finally:
        register_layer(ScaledTanh)


def test_every_library_layer_is_registered_by_its_own_module() -> None:
    assert {"Linear", "Sequential", "Flatten", "Identity", "Dropout", "BatchNorm1d", "ReLU"} <= set(
        LAYERS
    )
    registry = (SRC / "nn" / "registry.py").read_text(encoding="utf-8")
    imported = [
        node.module
        for node in ast.walk(ast.parse(registry))
        if isinstance(node, ast.ImportFrom) and node.module
    ]
    assert not [m for m in imported if m.startswith("chainrule.nn.layers")], imported


def test_activation_names_come_from_the_registry() -> None:
    assert ACTIVATIONS["relu"] is nn.ReLU
    assert ACTIVATIONS["logistic"] is nn.Sigmoid
    assert isinstance(nn.mlp(3, [4], 2, activation="gelu", rng=0)[1], nn.GELU)


def test_registering_a_taken_name_or_activation_is_refused() -> None:
    class Other(nn.Module):
        def get_config(self) -> dict[str, Any]:
            return {}

    with pytest.raises(ConfigError, match="already taken"):
        register_layer(Other, name="Linear")
    with pytest.raises(ConfigError, match="activation name 'relu' is already taken"):
        register_layer(activation="relu")(Other)
    assert "Other" not in LAYERS


def test_optimizer_names_come_from_the_classes() -> None:
    assert optim.OPTIMIZERS["sgd"] is optim.SGD
    assert set(optim.OPTIMIZERS) == {"sgd", "adam", "adamw", "rmsprop", "adagrad"}
