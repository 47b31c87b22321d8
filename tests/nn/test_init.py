"""Initializers: bounds and spreads from their formulas, fans, gains, explicit randomness."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chainrule.errors import ConfigError, ShapeError
from chainrule.nn import init

SHAPE = (300, 500)  # (out, in): fan_in 500, fan_out 300; 150k samples pin the statistics


def test_fans_of_dense_and_convolution_weights():
    assert init.compute_fans((256, 784)) == (784, 256)
    assert init.compute_fans((16, 3, 5, 5)) == (3 * 25, 16 * 25)


@pytest.mark.parametrize("shape", [(5,), ()])
def test_fans_need_two_axes(shape):
    with pytest.raises(ShapeError, match=r"at least 2 axes, \(out, in\)"):
        init.compute_fans(shape)


@pytest.mark.parametrize("shape", [(2, -1), (2.0, 3), (True, 2)])
def test_bad_shape(shape):
    with pytest.raises(ShapeError, match=r"a shape must be non-negative ints"):
        init.zeros(shape)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("linear", 1.0),
        ("identity", 1.0),
        ("sigmoid", 1.0),
        ("tanh", 5 / 3),
        ("relu", math.sqrt(2)),
        ("selu", 0.75),
        ("leaky_relu", math.sqrt(2 / (1 + 0.01**2))),
    ],
)
def test_gains(name, expected):
    assert init.calculate_gain(name) == pytest.approx(expected)


def test_leaky_relu_gain_uses_the_slope_and_unknown_names_fail():
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    with pytest.raises(ConfigError, match=r"unknown nonlinearity 'swish'; expected one of"):
        init.calculate_gain("swish")


def check_uniform(w: np.ndarray, bound: float) -> None:
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.99 * bound  # reaches the bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)  # std of U(-a, a)
    assert abs(w.mean()) < 0.01 * bound


def check_normal(w: np.ndarray, std: float) -> None:
    assert w.std() == pytest.approx(std, rel=0.02)
    assert abs(w.mean()) < 0.01 * std


def test_xavier_uniform_bound():
    check_uniform(init.xavier_uniform(SHAPE, rng=0), math.sqrt(6 / 800))
    check_uniform(init.glorot_uniform(SHAPE, gain=2.0, rng=1), 2 * math.sqrt(6 / 800))


def test_xavier_normal_std():
    check_normal(init.xavier_normal(SHAPE, rng=0), math.sqrt(2 / 800))
    check_normal(init.glorot_normal(SHAPE, gain=5 / 3, rng=1), 5 / 3 * math.sqrt(2 / 800))


def test_kaiming_uniform_bound():
    check_uniform(init.kaiming_uniform(SHAPE, rng=0), math.sqrt(3) * math.sqrt(2) / math.sqrt(500))
    w = init.he_uniform(SHAPE, "tanh", mode="fan_out", rng=1)
    check_uniform(w, math.sqrt(3) * (5 / 3) / math.sqrt(300))


def test_kaiming_normal_std():
    check_normal(init.kaiming_normal(SHAPE, rng=0), math.sqrt(2 / 500))
    w = init.he_normal(SHAPE, "leaky_relu", negative_slope=0.2, rng=1)
    check_normal(w, math.sqrt(2 / 1.04) / math.sqrt(500))


def test_plain_distributions_and_constants():
    w = init.uniform((100_000,), -2.0, 3.0, rng=0)
    assert w.min() >= -2.0 and w.max() < 3.0
    assert w.mean() == pytest.approx(0.5, abs=0.02)
    n = init.normal((100_000,), mean=1.0, std=0.5, rng=0)
    assert n.mean() == pytest.approx(1.0, abs=0.01) and n.std() == pytest.approx(0.5, rel=0.02)
    assert (init.zeros((2, 3)) == 0).all() and init.zeros(4).shape == (4,)
    assert (init.ones(3) == 1).all()
    assert (init.constant((2,), 0.25) == 0.25).all()


@pytest.mark.parametrize(
    "fn",
    [init.uniform, init.normal, init.xavier_uniform, init.xavier_normal, init.kaiming_uniform,
     init.kaiming_normal],
)  # fmt: skip
def test_seeds_reproduce_and_generators_advance(fn):
    a, b = fn((4, 6), rng=7), fn((4, 6), rng=7)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32
    gen = np.random.default_rng(7)
    first, second = fn((4, 6), rng=gen), fn((4, 6), rng=gen)
    np.testing.assert_array_equal(first, a)  # a Generator seeded 7 draws what seed 7 draws
    assert not np.array_equal(first, second)  # and is advanced, not copied
    assert fn((4, 6), rng=0, dtype=np.float64).dtype == np.float64


def test_rng_none_gives_fresh_randomness():
    assert not np.array_equal(init.normal((50,)), init.normal((50,)))


@pytest.mark.parametrize("rng", [-1, 1.5, "seed", True, np.random.RandomState(0)])
def test_bad_rng(rng):
    with pytest.raises(ConfigError, match=r"rng must be a numpy.random.Generator, a non-negative"):
        init.normal((2,), rng=rng)


def test_bad_options():
    with pytest.raises(ConfigError, match=r"mode must be 'fan_in' or 'fan_out', got 'fan_avg'"):
        init.kaiming_normal(SHAPE, mode="fan_avg")
    with pytest.raises(ConfigError, match=r"low \(1.0\) must not exceed high \(0.0\)"):
        init.uniform((2,), 1.0, 0.0)
    with pytest.raises(ConfigError, match=r"std must be non-negative, got -1"):
        init.normal((2,), std=-1)


def test_named_initializers():
    gen = np.random.default_rng(3)
    for name in init.INITIALIZERS:
        w = init.get_initializer(name)((20, 10), gen, np.float64)
        assert w.shape == (20, 10) and w.dtype == np.float64
    assert init.get_initializer("glorot") is init.INITIALIZERS["glorot_uniform"]
    assert init.get_initializer("he") is init.INITIALIZERS["he_normal"]
    assert init.get_initializer("xavier_uniform") is init.INITIALIZERS["glorot_uniform"]
    with pytest.raises(ConfigError, match=r"unknown initializer 'orthogonal'; expected one of"):
        init.get_initializer("orthogonal")
