"""Gradient-health diagnostics: the figures against their definitions, and the warnings."""

from __future__ import annotations

import io

import numpy as np
import pytest

import chainrule as cr
from chainrule import losses, nn, optim
from chainrule.callbacks import Callback, ProgressBar
from chainrule.errors import ConfigError
from chainrule.training import GradientHealth, GradientHealthWarning, Trainer
from chainrule.training.diagnostics import relu_modules, weight_layers


def blobs(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = np.where(y[:, None] == 1, 1.5, -1.5) + rng.normal(size=(n, 2))
    return x.astype(np.float32), y


def sgd_trainer(model: nn.Module, loss=None, lr: float = 0.1, **kw: object) -> Trainer:
    loss = loss if loss is not None else nn.CrossEntropyLoss()
    return Trainer(model, loss, optim.SGD(model.parameters(), lr=lr), **kw)


def dead_relu_net() -> nn.Sequential:
    """The first layer's bias is so negative that every ReLU unit outputs 0 for every input."""
    model = nn.Sequential(nn.Linear(2, 8, rng=0), nn.ReLU(), nn.Linear(8, 2, rng=1))
    model[0].bias.data[:] = -100.0
    return model


def deep_sigmoid_net(depth: int = 10) -> nn.Sequential:
    """A deep sigmoid stack with small weights: each layer shrinks the backward signal."""
    rng = np.random.default_rng(0)
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(2 if i == 0 else 16, 16, rng=rng), nn.Sigmoid()]
    layers.append(nn.Linear(16, 2, rng=rng))
    model = nn.Sequential(*layers)
    for _, weight in weight_layers(model)[:-1]:
        weight.data *= 0.1
    return model


def test_a_deep_sigmoid_stack_is_flagged_as_vanishing() -> None:
    model = deep_sigmoid_net(10)
    with pytest.warns(GradientHealthWarning) as record:
        history = sgd_trainer(model).fit(*blobs(), epochs=2, batch_size=32, seed=0)
    messages = [str(w.message) for w in record]
    norms = history.diagnostics["grad_norm"]
    assert list(norms) == [str(2 * i) for i in range(11)]
    assert all(len(v) == 2 for v in norms.values())
    tiny = [name for name, values in norms.items() if values[0] < 1e-7]
    assert tiny[:2] == ["0", "2"]  # the layers nearest the input
    listed = ", ".join(f"'{n}' (norm {norms[n][0]:.3g})" for n in tiny)
    assert messages[0] == (
        f"vanishing gradients in layers {listed}: gradient norm below 1e-07; hint: use ReLU "
        "activations, He/Xavier initialisation or batch normalisation"
    )
    assert history.warnings[0] == f"epoch 1: {messages[0]}"
    # Reported once per fit: the second epoch names only layers not named before, if any.
    assert all(m.startswith("vanishing gradients in layer") for m in messages[1:])
    assert len(messages) <= 2


def test_a_shallower_stack_is_flagged_by_the_first_to_last_ratio() -> None:
    # Four layers: no gradient is below 1e-7, but the first is < 1e-4 times the last.
    with pytest.warns(GradientHealthWarning) as record:
        history = sgd_trainer(deep_sigmoid_net(4)).fit(*blobs(), epochs=2, batch_size=32)
    norms = history.diagnostics["grad_norm"]
    assert min(v[0] for v in norms.values()) > 1e-7
    ratio = norms["0"][0] / norms["8"][0]
    assert ratio < 1e-4
    assert [str(w.message) for w in record] == [
        "vanishing gradients towards the input: the gradient norm of the first layer '0' is "
        f"{ratio:.3g} times that of the last layer '8' (below 0.0001); hint: use ReLU "
        "activations, He/Xavier initialisation, batch normalisation or fewer layers"
    ]


def test_dead_relus_are_measured_and_flagged() -> None:
    with pytest.warns(GradientHealthWarning) as record:
        history = sgd_trainer(dead_relu_net()).fit(*blobs(), epochs=3, batch_size=32, seed=0)
    # Dead units pass no gradient back to layer '0' and feed zeros to layer '2', whose weight
    # gradient (outer product with those zeros) is 0 as well.
    assert [str(w.message) for w in record] == [
        "vanishing gradients in layers '0' (norm 0), '2' (norm 0): gradient norm below 1e-07; "
        "hint: use ReLU activations, He/Xavier initialisation or batch normalisation",
        "dead ReLUs in layer '1' (100% dead): units (channels, after a conv) that output 0 for "
        "every sample of the batch (flagged above 90%); hint: lower the learning rate, start "
        "biases at 0 or use LeakyReLU",
    ]
    assert history.diagnostics["dead_fraction"] == {"1": [1.0, 1.0, 1.0]}
    assert history.diagnostics["grad_norm"]["0"] == [0.0, 0.0, 0.0]


def test_dead_fraction_counts_units_zero_for_every_sample() -> None:
    model = nn.Sequential(nn.Linear(2, 4, rng=0), nn.ReLU(), nn.Linear(4, 2, rng=1))
    model[0].weight.data[:2] = 0.0
    model[0].bias.data[:] = [-1.0, -1.0, 50.0, 50.0]  # units 0 and 1 dead, 2 and 3 alive
    history = sgd_trainer(model, lr=1e-3).fit(*blobs(16), epochs=1, batch_size=16)
    assert history.diagnostics["dead_fraction"]["1"] == [0.5]


def test_exploding_gradients_are_flagged() -> None:
    ce = nn.CrossEntropyLoss()
    model = nn.Sequential(nn.Linear(2, 4, rng=0), nn.ReLU(), nn.Linear(4, 2, rng=1))
    with pytest.warns(GradientHealthWarning) as record:
        sgd_trainer(model, loss=lambda o, y: ce(o, y) * 1e6, lr=1e-12).fit(
            *blobs(), epochs=1, batch_size=64
        )
    messages = [str(w.message) for w in record]
    assert len(messages) == 1 and messages[0].startswith("exploding gradients in layers '0' (norm")
    assert ": gradient norm above 1e+03; hint: lower the learning rate" in messages[0]


def test_nan_gradients_count_as_exploding() -> None:
    ce = nn.CrossEntropyLoss()
    model = nn.Linear(2, 2, rng=0)
    with pytest.warns(
        GradientHealthWarning, match=r"exploding gradients in layer 'Linear' \(norm nan\)"
    ):
        sgd_trainer(model, loss=lambda o, y: ce(o, y) * float("nan")).fit(
            *blobs(), epochs=1, batch_size=64
        )


def test_gradient_norm_and_update_ratio_follow_their_definitions() -> None:
    # Linear regression, one full-batch SGD step: g = 2/N r^T x and w1 = w0 - lr g, so
    # ||g|| is known in closed form and the update ratio is lr ||g|| / ||w0||.
    rng = np.random.default_rng(2)
    x, t = rng.normal(size=(20, 3)), rng.normal(size=(20, 1))
    model = nn.Linear(3, 1, rng=0).astype(np.float64)
    w0, b0 = model.weight.data.copy(), model.bias.data.copy()
    trainer = Trainer(model, losses.mse_loss, optim.SGD(model.parameters(), lr=0.05), metrics=())
    history = trainer.fit(x, t, epochs=1, batch_size=20, shuffle=False)
    g = 2 / 20 * (x @ w0.T + b0 - t).T @ x
    grad_norm = history.diagnostics["grad_norm"]["Linear"][0]
    assert grad_norm == pytest.approx(np.linalg.norm(g), rel=1e-12)
    ratio = history.diagnostics["update_ratio"]["Linear"][0]
    assert ratio == pytest.approx(0.05 * np.linalg.norm(g) / np.linalg.norm(w0), rel=1e-9)
    assert history.diagnostics["dead_fraction"] == {}


def test_measured_on_the_last_full_size_batch() -> None:
    sizes: list[int] = []
    measured: list[int] = []
    ce = nn.CrossEntropyLoss()

    def loss(out: cr.Tensor, y: np.ndarray) -> cr.Tensor:
        sizes.append(len(y))
        return ce(out, y)

    class Spy(GradientHealth):
        def after_backward(self) -> None:
            measured.append(sizes[-1])
            super().after_backward()

    model = nn.Linear(2, 2, rng=0)
    sgd_trainer(model, loss=loss, diagnostics=Spy()).fit(*blobs(70), epochs=2, batch_size=32)
    assert sizes == [32, 32, 6, 32, 32, 6] and measured == [32, 32]
    measured.clear()
    sgd_trainer(model, loss=loss, diagnostics=Spy()).fit(*blobs(10), epochs=1, batch_size=32)
    assert measured == [10]


def test_a_progress_bar_shows_the_warnings_instead_of_python_warnings() -> None:
    stream = io.StringIO()
    seen: list[list[str]] = []

    class Spy(Callback):
        def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
            seen.append(list(logs["warnings"]))

    callbacks = [ProgressBar(verbose=2, file=stream), Spy()]
    history = sgd_trainer(dead_relu_net(), callbacks=callbacks).fit(
        *blobs(), epochs=2, batch_size=32
    )  # no GradientHealthWarning: pytest would turn it into an error
    assert len(seen[0]) == 2 and seen[1] == []  # vanishing '0' and '2', dead ReLUs in '1'
    assert seen[0][1].startswith("dead ReLUs in layer '1' (100% dead)")
    lines = stream.getvalue().splitlines()
    assert lines[1:3] == [f"warning: {m}" for m in seen[0]]
    assert history.warnings == [f"epoch 1: {m}" for m in seen[0]]


def test_warn_false_keeps_warnings_in_the_history_only() -> None:
    trainer = sgd_trainer(dead_relu_net(), diagnostics=GradientHealth(warn=False))
    history = trainer.fit(*blobs(), epochs=1, batch_size=32)
    assert len(history.warnings) == 2


def test_diagnostics_can_be_switched_off() -> None:
    history = sgd_trainer(dead_relu_net(), diagnostics=False).fit(*blobs(), epochs=2)
    assert history.diagnostics == {"grad_norm": {}, "update_ratio": {}, "dead_fraction": {}}
    assert history.warnings == []


def test_healthy_training_raises_no_warning_and_leaves_modules_untouched() -> None:
    model = nn.Sequential(nn.Linear(2, 8, rng=0), nn.ReLU(), nn.Linear(8, 2, rng=1))
    history = sgd_trainer(model).fit(*blobs(), epochs=3, batch_size=16, seed=0)
    assert history.warnings == []
    assert all(0 < r < 0.1 for r in history.diagnostics["update_ratio"]["0"])
    assert "forward" not in vars(model[1])  # the observer is gone


def test_observe_removes_its_wrapper_even_on_error() -> None:
    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.ReLU())
    health = GradientHealth()
    health.attach(model)
    with pytest.raises(RuntimeError, match="boom"), health.observe():
        model(np.ones((4, 2), np.float32))
        assert model[1]._post_hooks  # watched through a forward hook, not a patched forward
        assert "forward" not in vars(model[1])
        raise RuntimeError("boom")
    assert not model[1]._post_hooks and not model._post_hooks
    # Four identical samples: a unit is dead exactly when its pre-activation is <= 0.
    pre = np.ones(2) @ model[0].weight.data.T + model[0].bias.data
    assert health.dead_fraction == {"1": pytest.approx(np.mean(pre <= 0))}


def test_layer_discovery_names_layers_by_dotted_name() -> None:
    inner = nn.Sequential(nn.Linear(2, 2, rng=0), nn.ReLU())
    model = nn.Sequential(inner, nn.Linear(2, 1, rng=1))
    assert [n for n, _ in weight_layers(model)] == ["0.0", "1"]
    assert [n for n, _ in relu_modules(model)] == ["0.1"]


def test_gradient_health_refuses_bad_thresholds() -> None:
    with pytest.raises(ConfigError, match=r"vanish must be a number >= 0, got -1"):
        GradientHealth(vanish=-1)
    with pytest.raises(ConfigError, match=r"explode must be a number > 0, got 0"):
        GradientHealth(explode=0)
    with pytest.raises(ConfigError, match=r"dead must be a fraction in \[0, 1\], got 1.5"):
        GradientHealth(dead=1.5)


def test_a_run_that_simply_converged_is_not_told_to_use_relu() -> None:
    # Separable blobs fit to a loss near zero: every gradient is tiny because the loss is flat,
    # not because the signal dies on the way back (issue 11: "use ReLU" on converged runs).
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 64)
    x = (np.where(y[:, None] == 1, 3.0, -3.0) + 0.1 * rng.normal(size=(64, 2))).astype(np.float32)
    model = nn.Sequential(nn.Linear(2, 16, rng=0), nn.Tanh(), nn.Linear(16, 2, rng=1))
    health = GradientHealth(vanish=1e-3)  # high enough that the converged run's norms are below
    trainer = Trainer(
        model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.05), diagnostics=health
    )
    history = trainer.fit(x, y, epochs=60, batch_size=64, seed=0)
    last = {name: values[-1] for name, values in history.diagnostics["grad_norm"].items()}
    assert max(last.values()) < 1e-3, last  # the absolute test alone would flag every layer
    assert health.output_grad_norm is not None and health.output_grad_norm < 1e-2
    assert not [w for w in history.warnings if "vanishing" in w], history.warnings
