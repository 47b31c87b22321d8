"""Learning-rate schedules against their formulas, and ReduceLROnPlateau's behaviour and state."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from chainrule.errors import ConfigError
from chainrule.nn import Parameter
from chainrule.optim import (
    SGD,
    CosineLR,
    ReduceLROnPlateau,
    cosine_lr,
    exponential_lr,
    multi_step_lr,
    schedule_from_config,
    step_lr,
)


def _opt(lr: float = 1.0) -> SGD:
    return SGD([Parameter(np.zeros(2))], lr=lr)


def test_step_lr():
    schedule = step_lr(0.2, step_size=3, gamma=0.5)
    for step in [0, 1, 2, 3, 5, 6, 10, 100]:
        assert schedule(step) == pytest.approx(0.2 * 0.5 ** (step // 3), rel=1e-15)
    assert schedule(2) == 0.2 and schedule(3) == 0.1


def test_multi_step_lr():
    schedule = multi_step_lr(0.1, milestones=[3, 7], gamma=0.1)
    expected = {0: 0.1, 2: 0.1, 3: 0.01, 6: 0.01, 7: 0.001, 50: 0.001}
    for step, lr in expected.items():
        assert schedule(step) == pytest.approx(lr, rel=1e-12)


def test_exponential_lr():
    schedule = exponential_lr(0.5, gamma=0.9)
    for step in [0, 1, 4, 17]:
        assert schedule(step) == pytest.approx(0.5 * 0.9**step, rel=1e-14)


def test_cosine_without_warmup():
    base, low, total = 0.1, 0.01, 10
    schedule = cosine_lr(base, total_steps=total, min_lr=low)
    for step in [0, 1, 5, 9, 10, 11, 40]:
        p = min(step, total) / total
        expected = low + (base - low) * (1 + math.cos(math.pi * p)) / 2
        assert schedule(step) == pytest.approx(expected, rel=1e-14)
    assert schedule(0) == base and schedule(5) == pytest.approx((base + low) / 2)
    assert schedule(10) == pytest.approx(low) and schedule(1000) == pytest.approx(low)


def test_cosine_with_warmup():
    base, total, warmup = 1.0, 12, 4
    schedule = cosine_lr(base, total_steps=total, warmup_steps=warmup)
    warm = [schedule(s) for s in range(warmup + 1)]
    np.testing.assert_allclose(warm, [0.2, 0.4, 0.6, 0.8, 1.0])  # linear, never 0
    assert all(b > a for a, b in zip(warm, warm[1:]))
    for step in [4, 6, 8, 12]:
        expected = 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))
        assert schedule(step) == pytest.approx(expected, abs=1e-15)
    decay = [schedule(s) for s in range(warmup, total + 1)]
    assert all(b < a for a, b in zip(decay, decay[1:]))


def test_apply_sets_the_optimizer_lr():
    opt = _opt()
    schedule = cosine_lr(0.1, total_steps=4)
    for epoch in range(5):
        assert schedule.apply(opt, epoch) == opt.lr == schedule(epoch)
    assert opt.lr == pytest.approx(0.0, abs=1e-18)


@pytest.mark.parametrize(
    "schedule",
    [
        step_lr(0.1, 5, 0.5),
        multi_step_lr(0.1, [2, 4]),
        exponential_lr(0.3, 0.95),
        cosine_lr(0.1, 20, min_lr=0.001, warmup_steps=3),
    ],
)
def test_config_round_trips_through_json(schedule):
    config = json.loads(json.dumps(schedule.config()))
    rebuilt = schedule_from_config(config)
    assert rebuilt == schedule and repr(rebuilt) == repr(schedule)
    assert [rebuilt(s) for s in range(25)] == [schedule(s) for s in range(25)]
    assert hash(rebuilt) == hash(schedule)


def test_config_contents():
    assert cosine_lr(0.1, 10, warmup_steps=2).config() == {
        "type": "cosine_lr",
        "base_lr": 0.1,
        "total_steps": 10,
        "min_lr": 0.0,
        "warmup_steps": 2,
    }
    rebuilt = schedule_from_config({"type": "cosine_lr", "base_lr": 1, "total_steps": 3})
    assert isinstance(rebuilt, CosineLR)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: step_lr(0.0, 3), r"step_lr: base_lr must be in \(0, infinity\), got 0.0"),
        (lambda: step_lr(-1.0, 3), r"base_lr must be in \(0, infinity\)"),
        (lambda: step_lr(math.nan, 3), "base_lr must be a finite number"),
        (lambda: step_lr(0.1, 0), "step_size must be an integer >= 1, got 0"),
        (lambda: step_lr(0.1, 2.5), "step_size must be an integer >= 1, got 2.5"),
        (lambda: step_lr(0.1, 3, gamma=0.0), r"gamma must be in \(0, 1\], got 0.0"),
        (lambda: step_lr(0.1, 3, gamma=1.5), r"gamma must be in \(0, 1\], got 1.5"),
        (lambda: multi_step_lr(0.1, [5, 3]), "strictly increasing"),
        (lambda: multi_step_lr(0.1, []), "non-empty, strictly increasing"),
        (lambda: multi_step_lr(0.1, [0, 3]), "each milestone must be an integer >= 1, got 0"),
        (lambda: multi_step_lr(0.1, "12"), "milestones must be a list"),
        (lambda: exponential_lr(0.1, gamma=-0.5), r"exponential_lr: gamma must be in \(0, 1\]"),
        (lambda: cosine_lr(0.1, 0), "total_steps must be an integer >= 1, got 0"),
        (lambda: cosine_lr(0.1, 10, warmup_steps=10), "warmup_steps must be less than total"),
        (lambda: cosine_lr(0.1, 10, warmup_steps=-1), "warmup_steps must be an integer >= 0"),
        (lambda: cosine_lr(0.1, 10, min_lr=0.2), r"min_lr must be in \[0, 0.1\], got 0.2"),
        (lambda: cosine_lr(0.1, 10, min_lr=-0.2), r"min_lr must be in \[0, 0.1\]"),
        (lambda: schedule_from_config({"type": "linear"}), "unknown schedule type 'linear'"),
        (lambda: schedule_from_config({"type": "step_lr", "base_lr": 0.1}), "bad arguments"),
    ],
)
def test_schedule_validation(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


@pytest.mark.parametrize("step", [-1, 1.5, "3", None])
def test_step_must_be_a_non_negative_integer(step):
    with pytest.raises(ConfigError, match="step must be an integer >= 0"):
        step_lr(0.1, 2)(step)


def test_numpy_integer_steps_are_accepted():
    assert exponential_lr(1.0, 0.5)(np.int64(2)) == 0.25


# -- ReduceLROnPlateau ---------------------------------------------------------------------------
def test_plateau_reduces_after_patience_bad_steps():
    opt = _opt(1.0)
    plateau = ReduceLROnPlateau(opt, factor=0.5, patience=2)
    history = []
    for loss in [5.0, 4.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0, 3.0]:
        plateau.step(loss)
        history.append(opt.lr)
    # Bad streaks: steps 2,3,4 -> reduce at the third bad one; steps 6,7,8 -> reduce again.
    assert history == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25]
    assert plateau.num_reductions == 2 and plateau.best == 3.0


def test_plateau_mode_max_and_relative_threshold():
    opt = _opt(1.0)
    plateau = ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=0, threshold=0.1)
    assert plateau.step(0.5) is False
    assert plateau.step(0.54) is True  # 0.54 <= 0.5 * 1.1: not enough to count as better
    assert opt.lr == pytest.approx(0.1)
    assert plateau.step(0.56) is False and plateau.best == 0.56


def test_plateau_threshold_is_relative_to_the_magnitude_of_negative_bests():
    plateau = ReduceLROnPlateau(_opt(), mode="min", patience=0, threshold=0.1)
    plateau.step(-10.0)
    assert not plateau.is_better(-10.5)  # needs < -10 - 0.1 * 10 = -11
    assert plateau.is_better(-11.5)


def test_plateau_cooldown_and_min_lr():
    opt = _opt(1.0)
    plateau = ReduceLROnPlateau(opt, factor=0.1, patience=0, cooldown=2, min_lr=0.05)
    lrs = []
    for _ in range(8):
        plateau.step(1.0)
        lrs.append(opt.lr)
    # Step 0 sets the best; step 1 reduces; steps 2-3 are cooldown; step 4 reduces to the floor.
    assert lrs[:5] == pytest.approx([1.0, 0.1, 0.1, 0.1, 0.05])
    assert lrs[5:] == pytest.approx([0.05] * 3)
    assert plateau.num_reductions == 2


def test_plateau_nan_is_never_an_improvement():
    opt = _opt(1.0)
    plateau = ReduceLROnPlateau(opt, factor=0.5, patience=1)
    for value in [math.nan, math.nan]:
        plateau.step(value)
    assert opt.lr == 0.5 and plateau.best is None
    plateau.step(np.float32(2.0))
    assert plateau.best == 2.0


def test_plateau_state_round_trips_through_json():
    opt = _opt(1.0)
    plateau = ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1)
    losses = [3.0, 3.0, 3.0, 2.5, 2.5, 2.5, 2.5, 2.0, 2.0, 2.0]
    for loss in losses[:5]:
        plateau.step(loss)
    state = json.loads(json.dumps(plateau.state_dict()))
    opt2 = _opt(opt.lr)
    resumed = ReduceLROnPlateau(opt2)
    resumed.load_state_dict(state)
    assert resumed.state_dict() == plateau.state_dict()
    for loss in losses[5:]:
        assert resumed.step(loss) == plateau.step(loss)
        assert opt2.lr == opt.lr


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "maximum"}, "mode must be 'min' or 'max', got 'maximum'"),
        ({"factor": 1.0}, r"factor must be in \(0, 1\), got 1.0"),
        ({"factor": 0}, r"factor must be in \(0, 1\)"),
        ({"patience": -1}, "patience must be an integer >= 0, got -1"),
        ({"threshold": -0.1}, r"threshold must be in \[0, infinity\)"),
        ({"min_lr": -1.0}, r"min_lr must be in \[0, infinity\)"),
        ({"cooldown": 0.5}, "cooldown must be an integer >= 0, got 0.5"),
    ],
)
def test_plateau_validation(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ReduceLROnPlateau(_opt(), **kwargs)


def test_plateau_needs_an_optimizer():
    with pytest.raises(ConfigError, match="expected an Optimizer, got list"):
        ReduceLROnPlateau([Parameter(np.zeros(1))])  # type: ignore[arg-type]


def test_plateau_load_state_dict_validation():
    plateau = ReduceLROnPlateau(_opt(), patience=3)
    good = plateau.state_dict()
    with pytest.raises(ConfigError, match="expected the keys"):
        plateau.load_state_dict({k: v for k, v in good.items() if k != "best"})
    with pytest.raises(ConfigError, match="factor must be in"):
        plateau.load_state_dict({**good, "factor": 2.0})
    with pytest.raises(ConfigError, match="num_bad_steps must be an integer >= 0"):
        plateau.load_state_dict({**good, "num_bad_steps": -2})
    with pytest.raises(ConfigError, match="the state is of a 'StepLR'"):
        plateau.load_state_dict({**good, "type": "StepLR"})
    assert plateau.state_dict() == good  # nothing changed
