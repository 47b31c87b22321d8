"""TrainingStep: the stages in order, the reduce hook, clipping, constraints; every loop uses it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from chainrule import nn, optim
from chainrule.autodiff import denormals
from chainrule.errors import ConfigError, ShapeError
from chainrule.regularizers import L2, MaxNorm
from chainrule.sklearn import NeuralNetClassifier
from chainrule.training import GradientHealth, Trainer, lr_find
from chainrule.training.step import TrainingStep


def data(n: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64)


def model(seed: int = 0) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(3, 8, rng=rng), nn.ReLU(), nn.Linear(8, 2, rng=rng))


class Recording(TrainingStep):
    """Records the stages as they run."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []

    def forward(self, x: Any, health: Any = None) -> Any:
        self.calls.append("forward")
        return super().forward(x, health)

    def objective(self, out: Any, target: Any) -> Any:
        self.calls.append("objective")
        return super().objective(out, target)

    def backward(self, objective: Any) -> None:
        self.calls.append("backward")
        super().backward(objective)

    def reduce_gradients(self) -> None:
        self.calls.append("reduce")
        super().reduce_gradients()

    def clip(self, health: Any = None) -> None:
        self.calls.append("clip")
        super().clip(health)

    def update(self, health: Any = None) -> None:
        self.calls.append("update")
        super().update(health)

    def constrain(self) -> None:
        self.calls.append("constrain")
        super().constrain()


def test_the_stages_run_in_the_contract_order() -> None:
    net = model()
    step = Recording(
        net,
        nn.CrossEntropyLoss(),
        optim.SGD(net.parameters(), lr=0.1),
        regularizers=[L2(1e-3)],
        constraints=[MaxNorm(2.0)],
    )
    x, y = data()
    loss, penalty, out = step(x[:8], y[:8])
    assert step.calls == [
        "forward",
        "objective",
        "backward",
        "reduce",
        "clip",
        "update",
        "constrain",
    ]
    assert out.shape == (8, 2) and math.isfinite(loss) and penalty > 0


def test_the_reducer_sees_the_gradients_between_backward_and_clipping() -> None:
    net = model()
    seen: list[float] = []

    def reducer(params: list[Any]) -> None:
        # What an all-reduce over 4 identical processes summing (not averaging) would do.
        seen.append(math.sqrt(sum(float((p.grad.astype(np.float64) ** 2).sum()) for p in params)))
        for p in params:
            p.grad = p.grad * 4.0

    opt = optim.SGD(net.parameters(), lr=0.1)
    step = TrainingStep(net, nn.CrossEntropyLoss(), opt, gradient_reducer=reducer)
    x, y = data()
    before = [p.data.copy() for p in net.parameters()]
    step(x[:8], y[:8])
    grads = [p.grad.copy() for p in net.parameters()]
    assert len(seen) == 1 and seen[0] > 0
    # The update used the reduced (4x) gradients.
    for b, p, g in zip(before, net.parameters(), grads):
        np.testing.assert_allclose(b - 0.1 * g, p.data, rtol=1e-6, atol=1e-7)
    reference = model()
    ref_step = TrainingStep(
        reference, nn.CrossEntropyLoss(), optim.SGD(reference.parameters(), lr=0.1)
    )
    ref_step(x[:8], y[:8])
    for g, p in zip(grads, reference.parameters()):
        np.testing.assert_allclose(g, 4.0 * p.grad, rtol=1e-6)


def test_clipping_comes_after_the_reducer_and_bounds_the_norm() -> None:
    net = model()
    step = TrainingStep(
        net,
        nn.CrossEntropyLoss(),
        optim.SGD(net.parameters(), lr=0.1),
        clip_grad_norm=1e-3,
        gradient_reducer=lambda params: [setattr(p, "grad", p.grad * 1e3) for p in params],
    )
    x, y = data()
    step(x[:8], y[:8])
    norm = math.sqrt(sum(float((p.grad.astype(np.float64) ** 2).sum()) for p in net.parameters()))
    assert norm == pytest.approx(1e-3, rel=1e-3)


def test_skip_nonfinite_leaves_the_weights_alone() -> None:
    net = model()
    step = TrainingStep(
        net,
        lambda out, y: out.sum() * math.inf,
        optim.SGD(net.parameters(), lr=0.1),
        skip_nonfinite=True,
    )
    x, y = data()
    before = [p.data.copy() for p in net.parameters()]
    loss, _, _ = step(x[:8], y[:8])
    assert not math.isfinite(loss)
    assert all(p.grad is None for p in net.parameters())
    for b, p in zip(before, net.parameters()):
        np.testing.assert_array_equal(b, p.data)


def test_health_hooks_run_at_their_stages() -> None:
    net = model()
    health = GradientHealth()
    health.attach(net)
    step = TrainingStep(net, nn.CrossEntropyLoss(), optim.SGD(net.parameters(), lr=0.1))
    x, y = data()
    step(x[:8], y[:8], health)
    figures = health.figures()
    assert all(v > 0 for v in figures["grad_norm"].values())
    assert all(v > 0 for v in figures["update_ratio"].values())
    assert set(figures["dead_fraction"]) == {"1"}


def test_bad_settings_are_refused() -> None:
    net = model()
    opt = optim.SGD(net.parameters(), lr=0.1)
    with pytest.raises(ConfigError, match="clip_grad_norm must be a positive number"):
        TrainingStep(net, nn.CrossEntropyLoss(), opt, clip_grad_norm=-1.0)
    with pytest.raises(ConfigError, match="gradient_reducer must be callable"):
        TrainingStep(net, nn.CrossEntropyLoss(), opt, gradient_reducer=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="model must be a chainrule.nn.Module"):
        TrainingStep("net", nn.CrossEntropyLoss(), opt)  # type: ignore[arg-type]
    step = TrainingStep(net, lambda out, y: out, opt, owner="mine")
    x, y = data()
    with pytest.raises(ShapeError, match="mine: the loss must return a scalar Tensor"):
        step(x[:4], y[:4])


def counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the calls of TrainingStep.__call__, by owner."""
    owners: list[str] = []
    original = TrainingStep.__call__

    def spy(self: TrainingStep, *args: Any, **kwargs: Any) -> Any:
        owners.append(self.owner)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TrainingStep, "__call__", spy)
    return owners


def test_every_loop_trains_through_the_step(monkeypatch: pytest.MonkeyPatch) -> None:
    owners = counting(monkeypatch)
    x, y = data()
    net = model()
    Trainer(net, nn.CrossEntropyLoss(), optim.SGD(net.parameters(), lr=0.1)).fit(
        x, y, epochs=1, batch_size=16, seed=0
    )
    assert owners == ["Trainer"] * 3
    owners.clear()
    lr_find(model(), nn.CrossEntropyLoss(), lambda p: optim.SGD(p, lr=0.1), x, y, num_steps=5)
    assert owners == ["lr_find"] * 5
    owners.clear()
    NeuralNetClassifier((4,), max_epochs=2, batch_size=24, random_state=0).fit(x, y)
    assert owners == ["NeuralNetClassifier"] * 4


def test_trainer_passes_its_reducer_to_the_step() -> None:
    calls: list[int] = []
    net = model()
    trainer = Trainer(
        net,
        nn.CrossEntropyLoss(),
        optim.SGD(net.parameters(), lr=0.1),
        gradient_reducer=lambda params: calls.append(len(params)),
    )
    x, y = data()
    trainer.fit(x, y, epochs=2, batch_size=16, seed=0)
    assert calls == [4] * 6


def test_the_sklearn_loop_clips_gradients() -> None:
    x, y = data(96)
    # Plain SGD: a tiny norm bound makes every step tiny, so the loss barely moves.
    sgd = {"optimizer": "sgd", "momentum": 0.0, "learning_rate": 0.5, "max_epochs": 3}
    free = NeuralNetClassifier((8,), random_state=0, **sgd).fit(x, y)
    tight = NeuralNetClassifier((8,), random_state=0, clip_grad_norm=1e-4, **sgd).fit(x, y)
    moved_free = free.loss_curve_[0] - free.loss_curve_[-1]
    moved_tight = tight.loss_curve_[0] - tight.loss_curve_[-1]
    assert moved_free > 0.05 and abs(moved_tight) < 1e-3
    with pytest.raises(ConfigError, match="clip_grad_norm must be"):
        NeuralNetClassifier(clip_grad_norm=0.0).fit(x, y)


@pytest.mark.skipif(not denormals.supported(), reason="FTZ needs x86-64 Linux")
def test_the_sklearn_loop_flushes_denormals(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    original = TrainingStep.__call__

    def spy(self: TrainingStep, *args: Any, **kwargs: Any) -> Any:
        seen.append(denormals.is_flush_denormal())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TrainingStep, "__call__", spy)
    x, y = data()
    NeuralNetClassifier((4,), max_epochs=1, random_state=0).fit(x, y)
    assert seen and all(seen)
    assert not denormals.is_flush_denormal()
