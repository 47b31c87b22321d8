"""The learning-rate range test: the lr sweep, the smoothing, the suggestion, the restoring."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chainrule import nn, optim
from chainrule.errors import ConfigError
from chainrule.training import LRFinderResult, lr_find
from chainrule.training.lr_finder import _suggest


def blobs(n: int = 160, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    y = rng.integers(0, 3, n)
    return (centers[y] + rng.normal(scale=0.7, size=(n, 2))).astype(np.float32), y


def overlapping(n: int = 160, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Blobs that overlap: the loss cannot reach 0, so a large lr makes it blow up."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    y = rng.integers(0, 3, n)
    return (centers[y] + rng.normal(scale=1.5, size=(n, 2))).astype(np.float32), y


def mlp() -> nn.Sequential:
    rng = np.random.default_rng(0)
    return nn.Sequential(nn.Linear(2, 16, rng=rng), nn.ReLU(), nn.Linear(16, 3, rng=rng))


def warmed_up(model: nn.Module) -> optim.SGD:
    """An SGD with momentum buffers and a step count, so restoring them can be checked."""
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = blobs(32)
    ce = nn.CrossEntropyLoss()
    for _ in range(3):
        loss = ce(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    opt.zero_grad()
    return opt


def test_sweep_restores_model_and_optimizer_and_suggests_an_lr_in_range() -> None:
    model = mlp()
    opt = warmed_up(model)
    weights, state = model.state_dict(), opt.state_dict()
    model.eval()
    x, y = overlapping()
    result = lr_find(model, nn.CrossEntropyLoss(), opt, x, y, start_lr=1e-5, end_lr=10.0)
    assert isinstance(result, LRFinderResult)
    # The lr grows geometrically from start_lr towards end_lr, one value per batch.
    growth = (10.0 / 1e-5) ** (1 / 99)
    assert result.lrs[0] == pytest.approx(1e-5)
    np.testing.assert_allclose(result.lrs[1:] / result.lrs[:-1], growth, rtol=1e-9)
    assert 2 <= len(result.lrs) <= 100 and len(result.losses) == len(result.raw_losses)
    assert result.lrs[0] <= result.suggestion <= result.lrs[-1]
    assert result.min_loss_lr == result.lrs[int(np.argmin(result.losses))]
    # Steepest descent comes before the minimum, well past the flat start of the curve.
    assert 1e-3 < result.suggestion < result.min_loss_lr
    # The loss fell, then blew up past 4x its best: the sweep stopped early.
    assert result.diverged and len(result.lrs) < 100
    assert result.losses[-1] > 4 * result.losses[:-1].min()
    # Everything is as it was.
    after = model.state_dict()
    assert all(np.array_equal(weights[k], after[k]) for k in weights)
    restored = opt.state_dict()
    assert restored["hyperparameters"] == state["hyperparameters"] and opt.lr == 0.05
    assert restored["step"] == state["step"] == 3
    assert all(np.array_equal(state["state"][k], restored["state"][k]) for k in state["state"])
    assert not model.training and all(p.grad is None for p in model.parameters())


def test_losses_are_the_bias_corrected_exponential_average() -> None:
    model = mlp()
    result = lr_find(
        model,
        nn.CrossEntropyLoss(),
        lambda params: optim.SGD(params, lr=1.0),  # a factory
        *blobs(40),
        start_lr=1e-4,
        end_lr=1e-2,
        num_steps=20,  # 3 batches an epoch: the sweep cycles over the data
        batch_size=16,
        smooth=0.9,
    )
    assert len(result.lrs) == 20 and not result.diverged
    avg = 0.0
    for i, raw in enumerate(result.raw_losses):
        avg = 0.9 * avg + 0.1 * raw
        assert result.losses[i] == pytest.approx(avg / (1 - 0.9 ** (i + 1)), rel=1e-12)
    assert result.losses[0] == pytest.approx(result.raw_losses[0])


def test_suggestion_is_the_steepest_descent_before_the_minimum() -> None:
    lrs = np.logspace(-6, 0, 61)
    u = np.log10(lrs)
    # Falls fastest at lr = 1e-3, bottoms out near 1e-1, then rises steeply (diverging).
    losses = 2.0 - np.tanh(2 * (u + 3)) + np.where(u > -1, 50 * (u + 1) ** 2, 0.0)
    assert _suggest(lrs, losses) == pytest.approx(1e-3)
    # A noise spike on the flat start (a steep one-step drop after it) does not fool it.
    spiked = losses.copy()
    spiked[3] += 0.5
    assert _suggest(lrs, spiked) == pytest.approx(1e-3)
    # Too few points before the minimum for a slope: the minimum's lr / 10.
    assert _suggest(np.array([1e-3, 1e-2, 1e-1]), np.array([2.0, 1.0, 5.0])) == pytest.approx(1e-3)


def test_a_loss_that_is_never_finite_is_reported_and_the_model_restored() -> None:
    model = mlp()
    weights = model.state_dict()
    ce = nn.CrossEntropyLoss()
    with pytest.raises(ConfigError, match=r"the loss was not finite even at start_lr=1e-07"):
        lr_find(
            model,
            lambda out, y: ce(out, y) * math.inf,
            optim.SGD(model.parameters(), lr=0.1),
            *blobs(32),
        )
    assert all(np.array_equal(weights[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"start_lr": 0.0}, r"start_lr must be a positive finite number, got 0.0"),
        ({"end_lr": math.inf}, r"end_lr must be a positive finite number, got inf"),
        ({"start_lr": 1.0, "end_lr": 0.1}, r"end_lr \(0.1\) must be larger than start_lr \(1.0\)"),
        ({"num_steps": 1}, r"num_steps must be an integer >= 2, got 1"),
        ({"batch_size": 0}, r"batch_size must be an integer >= 1, got 0"),
        ({"smooth": 1.0}, r"smooth must be in \[0, 1\), got 1.0"),
        ({"diverge_factor": 1.0}, r"diverge_factor must be > 1, got 1.0"),
    ],
)
def test_lr_find_refuses_bad_options(kwargs: dict, match: str) -> None:
    model = mlp()
    with pytest.raises(ConfigError, match=match):
        lr_find(
            model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), *blobs(8), **kwargs
        )


def test_lr_find_refuses_a_non_model_and_a_non_optimizer() -> None:
    with pytest.raises(ConfigError, match=r"model must be a chainrule.nn.Module, got dict"):
        lr_find({}, nn.CrossEntropyLoss(), None, *blobs(8))
    with pytest.raises(ConfigError, match=r"optimizer must be an optimizer or a factory"):
        lr_find(mlp(), nn.CrossEntropyLoss(), 0.1, *blobs(8))
    with pytest.raises(ConfigError, match=r"the optimizer factory returned float"):
        lr_find(mlp(), nn.CrossEntropyLoss(), lambda params: 0.1, *blobs(8))


def test_plot_draws_the_curve_and_the_suggestion() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = mlp()
    result = lr_find(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), *blobs())
    ax = result.plot()
    line, marker = ax.get_lines()
    np.testing.assert_allclose(line.get_xdata(), result.lrs)
    assert marker.get_xdata()[0] == result.suggestion and ax.get_xscale() == "log"
    plt.close(ax.figure)
