"""Parameter groups (PyTorch's form) and the PyTorch-style schedulers bound to an optimizer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chainrule import nn, optim
from chainrule.errors import ConfigError
from chainrule.optim.lr_scheduler import CosineAnnealingLR, ExponentialLR, MultiStepLR, StepLR


def _pair() -> tuple[nn.Parameter, nn.Parameter]:
    a = nn.Parameter(np.array([1.0, -2.0]))
    b = nn.Parameter(np.array([3.0]))
    a.grad, b.grad = np.array([0.5, 0.5]), np.array([1.0])
    return a, b


def test_each_group_uses_its_own_settings() -> None:
    a, b = _pair()
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5, "weight_decay": 0.1}], lr=0.1)
    opt.step()
    np.testing.assert_allclose(a.data, [1.0 - 0.1 * 0.5, -2.0 - 0.1 * 0.5])
    np.testing.assert_allclose(b.data, [3.0 * (1 - 0.5 * 0.1) - 0.5 * 1.0])
    assert opt.lr == 0.1 and opt.weight_decay == 0.0  # the attributes show the defaults
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]


def test_setting_lr_scales_every_group_alike() -> None:
    a, b = _pair()
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.01}], lr=0.001)
    opt.lr = 0.0005
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.0005, 0.005])


def test_a_group_dict_edited_the_pytorch_way_takes_effect() -> None:
    a, _ = _pair()
    opt = optim.SGD([a], lr=0.1)
    for group in opt.param_groups:
        group["lr"] = 1.0
    opt.step()
    np.testing.assert_allclose(a.data, [0.5, -2.5])
    assert opt.lr == 1.0


def test_group_state_round_trips_through_json() -> None:
    a, b = _pair()
    opt = optim.SGD([{"params": [a]}, {"params": [b], "momentum": 0.9}], lr=0.1)
    opt.step()
    saved = opt.state_dict()
    rest = json.loads(json.dumps({k: v for k, v in saved.items() if k != "state"}))
    a2, b2 = _pair()
    other = optim.SGD([{"params": [a2]}, {"params": [b2], "momentum": 0.5}], lr=0.3)
    other.load_state_dict({**rest, "state": saved["state"]})
    assert [g["momentum"] for g in other.param_groups] == [0.0, 0.9]
    assert [g["lr"] for g in other.param_groups] == [0.1, 0.1]
    with pytest.raises(ConfigError, match="has no parameter groups but this optimizer has 2"):
        other.load_state_dict(optim.SGD(list(_pair()), lr=0.1).state_dict())


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ([{"lr": 0.1}], r"parameter group 0 has no 'params' key"),
        ([{"params": [nn.Parameter(np.zeros(1))], "betas": (0.9, 0.99)}], r"sets \['betas'\]"),
        ([{"params": [nn.Parameter(np.zeros(1))], "lr": -1.0}], r"param group 0: lr must be"),
    ],
)
def test_bad_groups_are_refused(groups: list, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        optim.SGD(groups, lr=0.1)


def test_a_parameter_in_two_groups_is_refused() -> None:
    a, _ = _pair()
    with pytest.raises(ConfigError, match="already in an earlier group"):
        optim.SGD([{"params": [a]}, {"params": [a]}], lr=0.1)


def test_weight_decay_groups_leave_biases_and_norms_alone() -> None:
    model = nn.Sequential(nn.Linear(3, 2, rng=0), nn.BatchNorm1d(2))
    opt = optim.SGD(optim.weight_decay_groups(model), lr=0.1, weight_decay=0.5)
    for p in model.parameters():
        p.grad = np.zeros_like(p.data)
    before = {n: p.data.copy() for n, p in model.named_parameters()}
    opt.step()
    after = dict(model.named_parameters())
    np.testing.assert_allclose(after["0.weight"].data, before["0.weight"] * (1 - 0.1 * 0.5))
    for name in ("0.bias", "1.weight", "1.bias"):
        np.testing.assert_array_equal(after[name].data, before[name])


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda o: StepLR(o, step_size=2, gamma=0.5), [1.0, 1.0, 0.5, 0.5, 0.25]),
        (lambda o: MultiStepLR(o, milestones=[1, 3], gamma=0.1), [1.0, 0.1, 0.1, 0.01, 0.01]),
        (lambda o: ExponentialLR(o, gamma=0.5), [1.0, 0.5, 0.25, 0.125, 0.0625]),
        (lambda o: CosineAnnealingLR(o, T_max=4), [1.0, 0.8535534, 0.5, 0.1464466, 0.0]),
    ],
)
def test_schedulers_the_pytorch_way(make, expected: list[float]) -> None:
    a, b = _pair()
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 2.0}], lr=1.0)
    scheduler = make(opt)
    rates, second = [], []
    for _ in range(5):
        rates.append(opt.lr)
        second.append(scheduler.get_last_lr()[1])
        scheduler.step()
    np.testing.assert_allclose(rates, expected, atol=1e-7)
    np.testing.assert_allclose(second, np.array(expected) * 2, atol=1e-7)
    resumed = make(optim.SGD([{"params": [a]}, {"params": [b], "lr": 2.0}], lr=1.0))
    resumed.load_state_dict(scheduler.state_dict())
    assert resumed.optimizer.lr == pytest.approx(opt.lr)


def test_a_scheduler_needs_an_optimizer() -> None:
    with pytest.raises(ConfigError, match="expected an optimizer"):
        StepLR(0.1, step_size=2)  # type: ignore[arg-type]


def test_attributes_set_directly_survive_a_schedule_on_one_group() -> None:
    a, _ = _pair()
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    opt.step()
    opt.momentum = 0.0  # set as an attribute, the pre-groups way
    scheduler = StepLR(opt, step_size=1, gamma=0.5)
    scheduler.step()
    before = a.data.copy()
    opt.step()
    assert opt.momentum == 0.0 and opt.lr == 0.05
    np.testing.assert_allclose(a.data, before - 0.05 * a.grad)  # no momentum term
