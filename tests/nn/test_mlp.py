"""nn.mlp builds the seed's network; optim.create builds an optimizer by name."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import nn, optim
from chainrule.errors import ConfigError


def test_mlp_layers_in_order_and_reproducible() -> None:
    model = nn.mlp(20, [16, 8], 3, activation="tanh", dropout=0.1, batch_norm=True, rng=0)
    kinds = [type(m).__name__ for m in model]
    assert kinds == [
        "Linear",
        "BatchNorm1d",
        "Tanh",
        "Dropout",
        "Linear",
        "BatchNorm1d",
        "Tanh",
        "Dropout",
        "Linear",
    ]
    again = nn.mlp(20, [16, 8], 3, activation="tanh", dropout=0.1, batch_norm=True, rng=0)
    for (name, a), (_, b) in zip(model.named_parameters(), again.named_parameters()):
        assert np.array_equal(a.data, b.data), name
    assert model(np.zeros((4, 20), np.float32)).shape == (4, 3)


def test_mlp_initialisation_follows_the_activation() -> None:
    rng_he = nn.mlp(400, [400], 2, activation="relu", rng=1)[0].weight.data.std()
    rng_glorot = nn.mlp(400, [400], 2, activation="tanh", rng=1)[0].weight.data.std()
    assert rng_he == pytest.approx(np.sqrt(2 / 400), rel=0.05)  # He: var = 2 / fan_in
    assert rng_glorot == pytest.approx(np.sqrt(2 / 800), rel=0.05)  # Glorot: 2 / (in + out)
    forced = nn.mlp(400, [400], 2, activation="relu", rng=1, init="glorot")[0].weight.data.std()
    assert forced == pytest.approx(np.sqrt(2 / 800), rel=0.05)


def test_mlp_rejects_unknown_activation() -> None:
    with pytest.raises(ConfigError, match="activation must be one of relu, .*got 'swish'"):
        nn.mlp(4, [3], 2, activation="swish")


def test_create_builds_each_optimizer_with_its_settings() -> None:
    w = nn.Parameter(np.zeros(3, np.float32))
    sgd = optim.create("sgd", [w], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
    assert isinstance(sgd, optim.SGD) and sgd.momentum == 0.9 and sgd.nesterov
    assert sgd.weight_decay == 0.01
    assert optim.create("rmsprop", [w], lr=0.01, momentum=0.5).momentum == 0.5
    for name, cls in (("adam", optim.Adam), ("adamw", optim.AdamW), ("adagrad", optim.Adagrad)):
        assert type(optim.create(name, [w], lr=0.01)) is cls
    with pytest.raises(ConfigError, match="optimizer must be one of sgd, adam, .*got 'lbfgs'"):
        optim.create("lbfgs", [w], lr=0.1)
