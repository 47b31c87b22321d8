"""Weight initializers: Glorot/Xavier and He/Kaiming (fan-based) and plain distributions.

Every initializer takes a shape and returns a **new NumPy array** (float32 unless ``dtype``
says otherwise); none fills a tensor in place. To re-initialize a parameter, assign the array::

    layer.weight.data = init.kaiming_normal(layer.weight.shape, rng=0)

Randomness is explicit: ``rng`` is a ``numpy.random.Generator`` (used and advanced) or an int
seed (reproducible); ``None`` draws a fresh, unseeded generator. Global NumPy state is never used.

Fans follow PyTorch for a weight of shape ``(out, in, *kernel)``: ``fan_in = in * prod(kernel)``
and ``fan_out = out * prod(kernel)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, ShapeError
from chainrule.rng import RNG, as_generator  # noqa: F401  (re-exported)

__all__ = [
    "as_generator",
    "calculate_gain",
    "compute_fans",
    "zeros",
    "ones",
    "constant",
    "uniform",
    "normal",
    "xavier_uniform",
    "xavier_normal",
    "glorot_uniform",
    "glorot_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "he_uniform",
    "he_normal",
    "INITIALIZERS",
    "get_initializer",
]

Shape = int | Sequence[int]


def _shape(shape: Shape) -> tuple[int, ...]:
    """Validate a shape: non-negative ints."""
    dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any(not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 0 for d in dims):
        raise ShapeError(f"a shape must be non-negative ints, got {shape!r}")
    return tuple(int(d) for d in dims)


def compute_fans(shape: Shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of shape ``(out, in, *kernel)``.

    Examples
    --------
    >>> from chainrule.nn.init import compute_fans
    >>> compute_fans((256, 784))
    (784, 256)
    """
    dims = _shape(shape)
    if len(dims) < 2:
        raise ShapeError(
            f"fan-based initializers need a weight with at least 2 axes, (out, in) or "
            f"(out, in, *kernel), got shape {dims}; use uniform/normal/zeros for biases"
        )
    receptive = math.prod(dims[2:])
    return dims[1] * receptive, dims[0] * receptive


_GAINS: dict[str, float] = {
    "linear": 1.0,
    "identity": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "selu": 3.0 / 4.0,
}


def calculate_gain(nonlinearity: str = "linear", negative_slope: float = 0.01) -> float:
    """The recommended gain for a nonlinearity (PyTorch's values).

    ``linear``/``identity``/``sigmoid``: 1; ``tanh``: 5/3; ``relu``: sqrt(2);
    ``leaky_relu``: sqrt(2 / (1 + negative_slope**2)); ``selu``: 3/4.

    Examples
    --------
    >>> from chainrule.nn.init import calculate_gain
    >>> round(calculate_gain("relu"), 4)
    1.4142
    """
    if nonlinearity == "leaky_relu":
        return math.sqrt(2.0 / (1.0 + float(negative_slope) ** 2))
    if nonlinearity not in _GAINS:
        known = sorted([*_GAINS, "leaky_relu"])
        raise ConfigError(f"unknown nonlinearity {nonlinearity!r}; expected one of {known}")
    return _GAINS[nonlinearity]


def zeros(shape: Shape, dtype: Any = np.float32) -> np.ndarray:
    """An array of zeros (the usual bias initializer)."""
    return np.zeros(_shape(shape), dtype=dtype)


def ones(shape: Shape, dtype: Any = np.float32) -> np.ndarray:
    """An array of ones (the usual batch-norm scale initializer)."""
    return np.ones(_shape(shape), dtype=dtype)


def constant(shape: Shape, value: float, dtype: Any = np.float32) -> np.ndarray:
    """An array filled with ``value``."""
    return np.full(_shape(shape), value, dtype=dtype)


def uniform(
    shape: Shape, low: float = 0.0, high: float = 1.0, *, rng: RNG = None, dtype: Any = np.float32
) -> np.ndarray:
    """Samples from ``U(low, high)``.

    Examples
    --------
    >>> from chainrule.nn.init import uniform
    >>> w = uniform((2, 3), -0.1, 0.1, rng=0)
    >>> w.shape, bool(abs(w).max() <= 0.1)
    ((2, 3), True)
    """
    if not low <= high:
        raise ConfigError(f"uniform: low ({low}) must not exceed high ({high})")
    return as_generator(rng).uniform(low, high, _shape(shape)).astype(dtype)


def normal(
    shape: Shape, mean: float = 0.0, std: float = 1.0, *, rng: RNG = None, dtype: Any = np.float32
) -> np.ndarray:
    """Samples from ``N(mean, std**2)``.

    Examples
    --------
    >>> from chainrule.nn.init import normal
    >>> normal((4,), std=0.02, rng=0).dtype
    dtype('float32')
    """
    if not std >= 0:
        raise ConfigError(f"normal: std must be non-negative, got {std}")
    return as_generator(rng).normal(mean, std, _shape(shape)).astype(dtype)


def xavier_uniform(
    shape: Shape, gain: float = 1.0, *, rng: RNG = None, dtype: Any = np.float32
) -> np.ndarray:
    """Glorot/Xavier uniform: ``U(-a, a)`` with ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    Examples
    --------
    >>> from chainrule.nn.init import xavier_uniform
    >>> w = xavier_uniform((256, 784), rng=0)
    >>> bool(abs(w).max() <= (6 / (784 + 256)) ** 0.5)
    True
    """
    fan_in, fan_out = compute_fans(shape)
    bound = gain * math.sqrt(6.0 / max(fan_in + fan_out, 1))
    return uniform(shape, -bound, bound, rng=rng, dtype=dtype)


def xavier_normal(
    shape: Shape, gain: float = 1.0, *, rng: RNG = None, dtype: Any = np.float32
) -> np.ndarray:
    """Glorot/Xavier normal: ``N(0, std**2)`` with ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    Examples
    --------
    >>> from chainrule.nn.init import xavier_normal
    >>> xavier_normal((3, 5), rng=0).shape
    (3, 5)
    """
    fan_in, fan_out = compute_fans(shape)
    std = gain * math.sqrt(2.0 / max(fan_in + fan_out, 1))
    return normal(shape, 0.0, std, rng=rng, dtype=dtype)


def _kaiming_std(shape: Shape, nonlinearity: str, negative_slope: float, mode: str) -> float:
    """``gain / sqrt(fan)`` for the He/Kaiming initializers."""
    fan_in, fan_out = compute_fans(shape)
    if mode not in ("fan_in", "fan_out"):
        raise ConfigError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, negative_slope) / math.sqrt(max(fan, 1))


def kaiming_uniform(
    shape: Shape,
    nonlinearity: str = "relu",
    *,
    negative_slope: float = 0.01,
    mode: str = "fan_in",
    rng: RNG = None,
    dtype: Any = np.float32,
) -> np.ndarray:
    """He/Kaiming uniform: ``U(-a, a)`` with ``a = sqrt(3) * gain / sqrt(fan)``.

    ``gain = calculate_gain(nonlinearity, negative_slope)``; ``fan`` is ``fan_in`` (keeps the
    forward variance) or ``fan_out`` (keeps the backward variance).

    Examples
    --------
    >>> from chainrule.nn.init import kaiming_uniform
    >>> w = kaiming_uniform((64, 100), rng=0)
    >>> bool(abs(w).max() <= (6 / 100) ** 0.5)
    True
    """
    bound = math.sqrt(3.0) * _kaiming_std(shape, nonlinearity, negative_slope, mode)
    return uniform(shape, -bound, bound, rng=rng, dtype=dtype)


def kaiming_normal(
    shape: Shape,
    nonlinearity: str = "relu",
    *,
    negative_slope: float = 0.01,
    mode: str = "fan_in",
    rng: RNG = None,
    dtype: Any = np.float32,
) -> np.ndarray:
    """He/Kaiming normal: ``N(0, std**2)`` with ``std = gain / sqrt(fan)``.

    Examples
    --------
    >>> from chainrule.nn.init import kaiming_normal
    >>> kaiming_normal((64, 100), rng=0).shape
    (64, 100)
    """
    std = _kaiming_std(shape, nonlinearity, negative_slope, mode)
    return normal(shape, 0.0, std, rng=rng, dtype=dtype)


# The Keras-style names for the same initializers.
glorot_uniform = xavier_uniform
glorot_normal = xavier_normal
he_uniform = kaiming_uniform
he_normal = kaiming_normal

Initializer = Callable[[tuple[int, ...], np.random.Generator, Any], np.ndarray]

#: Weight initializers by the names layers accept (``Linear(init=...)``), each called as
#: ``fn(shape, rng, dtype)``. ``"glorot"`` is Glorot uniform and ``"he"`` is He normal, the
#: forms of the original papers.
INITIALIZERS: dict[str, Initializer] = {
    "glorot_uniform": lambda s, r, d: xavier_uniform(s, rng=r, dtype=d),
    "glorot_normal": lambda s, r, d: xavier_normal(s, rng=r, dtype=d),
    "he_uniform": lambda s, r, d: kaiming_uniform(s, rng=r, dtype=d),
    "he_normal": lambda s, r, d: kaiming_normal(s, rng=r, dtype=d),
    "zeros": lambda s, r, d: zeros(s, dtype=d),
}
for _alias, _name in [
    ("xavier_uniform", "glorot_uniform"),
    ("xavier_normal", "glorot_normal"),
    ("kaiming_uniform", "he_uniform"),
    ("kaiming_normal", "he_normal"),
    ("glorot", "glorot_uniform"),
    ("he", "he_normal"),
]:
    INITIALIZERS[_alias] = INITIALIZERS[_name]


def get_initializer(name: str) -> Initializer:
    """The weight initializer called ``name`` (see ``INITIALIZERS``).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn.init import get_initializer
    >>> get_initializer("he")((4, 3), np.random.default_rng(0), np.float32).shape
    (4, 3)
    """
    if not isinstance(name, str) or name not in INITIALIZERS:
        raise ConfigError(f"unknown initializer {name!r}; expected one of {sorted(INITIALIZERS)}")
    return INITIALIZERS[name]
