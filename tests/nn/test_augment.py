"""nn.RandomFlip and nn.RandomShift: each sample's output is one of the allowed transforms of its
input (checked against np.flip / np.pad references), every transform occurs, eval mode and
inference see the images as they are, and the input gradient is the matching scatter-add."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import nn
from chainrule.autodiff import Tensor, gradcheck
from chainrule.errors import ConfigError, ShapeError


def images(n: int = 64, c: int = 2, h: int = 5, w: int = 6, dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, c, h, w)).astype(dtype)


def shifted(image: np.ndarray, dy: int, dx: int, mode: str, fill: float = 0.0) -> np.ndarray:
    """``image`` (C, H, W) moved down by dy and right by dx: np.pad, then the window."""
    h, w = image.shape[1:]
    p = max(abs(dy), abs(dx))
    kwargs = {"constant_values": fill} if mode == "constant" else {}
    padded = np.pad(image, ((0, 0), (p, p), (p, p)), mode="edge" if mode == "nearest" else mode,
                    **kwargs)  # fmt: skip
    return padded[:, p - dy : p - dy + h, p - dx : p - dx + w]


@pytest.mark.parametrize(
    ("mode", "flips"),
    [("horizontal", [(False, False), (False, True)]),
     ("vertical", [(False, False), (True, False)]),
     ("horizontal_and_vertical", [(a, b) for a in (False, True) for b in (False, True)])],
)  # fmt: skip
def test_random_flip_gives_each_sample_one_of_its_mirror_images(mode, flips):
    x = images()
    out = nn.RandomFlip(mode, rng=0)(x).data
    seen = set()
    for xi, yi in zip(x, out):
        matches = [
            f for f in flips
            if np.array_equal(yi, xi[:, ::-1 if f[0] else 1, ::-1 if f[1] else 1])
        ]  # fmt: skip
        assert len(matches) == 1, "each output is exactly one allowed flip of its input"
        seen.add(matches[0])
    assert seen == set(flips)  # 64 samples: every allowed flip occurs
    assert out.dtype == x.dtype


@pytest.mark.parametrize(
    ("mode", "fill"), [("nearest", 0.0), ("constant", 0.0), ("constant", -2.5)]
)
def test_random_shift_moves_each_sample_by_its_own_offset(mode, fill):
    x = images(n=200)
    layer = nn.RandomShift(2, fill_mode=mode, fill_value=fill, rng=3)
    out = layer(x).data
    offsets = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)]
    seen = set()
    for xi, yi in zip(x, out):
        matches = [o for o in offsets if np.array_equal(yi, shifted(xi, *o, mode, fill))]
        assert len(matches) == 1, "each output is exactly one shift of its input"
        seen.add(matches[0])
    assert seen == set(offsets)  # 200 samples: all 25 offsets occur


def test_each_batch_draws_anew_and_a_seed_repeats_the_draws():
    x = images()
    layer = nn.RandomShift(1, rng=5)
    first, second = layer(x).data, layer(x).data
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(nn.RandomShift(1, rng=5)(x).data, first)


@pytest.mark.parametrize("layer", [nn.RandomFlip(rng=0), nn.RandomShift(2, rng=0)])
def test_eval_mode_is_the_identity(layer):
    x = images()
    assert not np.array_equal(layer.train()(x).data, x)
    np.testing.assert_array_equal(layer.eval()(x).data, x)


@pytest.mark.parametrize(
    "make",
    [lambda: nn.RandomFlip("horizontal_and_vertical", rng=1),
     lambda: nn.RandomShift(2, rng=1),
     lambda: nn.RandomShift(1, fill_mode="constant", fill_value=0.5, rng=2)],
)  # fmt: skip
def test_input_gradient_passes_gradcheck(make):
    # A fresh layer with the same seed per call: the same draw in every evaluation.
    x = Tensor(images(n=4, c=1, h=4, w=3, dtype=np.float64), requires_grad=True)
    assert gradcheck(lambda t: make()(t), [x])


def test_shift_sums_the_gradient_of_repeated_edge_pixels():
    x = Tensor(np.array([[[[1.0, 2.0, 3.0]]]]), requires_grad=True)
    for seed in range(50):  # find a draw that moves the row right by one: [x0, x0, x1]
        out = nn.RandomShift(1, rng=seed)(x)
        if out.data.ravel().tolist() == [1.0, 1.0, 2.0]:
            (out * Tensor(np.array([10.0, 20.0, 30.0]))).sum().backward()
            assert x.grad.ravel().tolist() == [30.0, 30.0, 0.0]
            return
    pytest.fail("no seed in 0..49 drew a shift right by one")


def test_bad_settings_and_inputs_are_named():
    with pytest.raises(ConfigError, match=r"RandomFlip: mode must be one of"):
        nn.RandomFlip("diagonal")
    with pytest.raises(ConfigError, match=r"RandomShift: pixels must be an integer >= 0, got -1"):
        nn.RandomShift(-1)
    with pytest.raises(ConfigError, match=r"pixels must be an integer >= 0, got 1.5"):
        nn.RandomShift(1.5)
    with pytest.raises(ConfigError, match=r"fill_mode must be one of \['nearest', 'constant'\]"):
        nn.RandomShift(1, fill_mode="reflect")
    with pytest.raises(ConfigError, match=r"fill_value must be a finite number in .*, got nan"):
        nn.RandomShift(1, fill_value=float("nan"))
    with pytest.raises(ShapeError, match=r"expected images \(N, C, H, W\), got .*\(8, 784\)"):
        nn.RandomShift(2)(np.zeros((8, 784), np.float32))
    with pytest.raises(ShapeError, match=r"before any Flatten\(\)"):
        nn.RandomFlip()(np.zeros((1, 28, 28), np.float32))
