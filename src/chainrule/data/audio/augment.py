"""SpecAugment-style masking (Park et al., 2019): blank random time spans and mel bands.

A training-time transform only: it takes an explicit ``numpy.random.Generator`` (or seed), so
a run that fixes its seed masks the same frames every time, and it never touches the input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.data.transforms import as_generator
from chainrule.errors import ConfigError, ShapeError

__all__ = ["spec_augment", "add_noise"]


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ConfigError(f"spec_augment: {name} must be a whole number >= 0, got {value!r}")
    return int(value)


def spec_augment(
    features: Any,
    rng: int | np.random.Generator,
    time_masks: int = 2,
    time_width: int = 10,
    freq_masks: int = 2,
    freq_width: int = 8,
    lengths: Any = None,
    value: float = 0.0,
) -> np.ndarray:
    """A copy of ``features`` (``(T, F)`` or a batch ``(N, T, F)``) with masks set to ``value``.

    Each utterance gets ``time_masks`` spans of ``0..time_width`` frames (inside its first
    ``lengths[i]`` frames, so padding stays padding) and ``freq_masks`` bands of
    ``0..freq_width`` features; widths and positions are drawn uniformly from ``rng``. With
    normalised features the default ``value`` 0 is the mean.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.ones((50, 20), np.float32)
    >>> y = spec_augment(x, rng=0, time_masks=1, time_width=5, freq_masks=1, freq_width=4)
    >>> y.shape, bool((y == 0).any()), bool((x == 1).all())
    ((50, 20), True, True)
    """
    x = np.asarray(features)
    single = x.ndim == 2
    if x.ndim not in (2, 3):
        raise ShapeError(f"spec_augment: expected (frames, features) or a batch, got {x.shape}")
    gen = as_generator(rng, "spec_augment")
    tm, tw = _count(time_masks, "time_masks"), _count(time_width, "time_width")
    fm, fw = _count(freq_masks, "freq_masks"), _count(freq_width, "freq_width")
    out = (x[None] if single else x).copy()
    n, steps, bands = out.shape
    lens = np.full(n, steps) if lengths is None else np.minimum(np.asarray(lengths), steps)
    if lens.shape != (n,):
        raise ShapeError(f"spec_augment: lengths of shape {lens.shape} for {n} utterances")
    for i in range(n):
        for _ in range(tm):
            width = int(gen.integers(0, min(tw, int(lens[i])) + 1))
            start = int(gen.integers(0, max(int(lens[i]) - width, 0) + 1))
            out[i, start : start + width] = value
        for _ in range(fm):
            width = int(gen.integers(0, min(fw, bands) + 1))
            start = int(gen.integers(0, bands - width + 1))
            out[i, : int(lens[i]), start : start + width] = value
    return out[0] if single else out


def add_noise(
    signal: Any, rng: int | np.random.Generator, snr_db: float | tuple[float, float] = (10, 30)
) -> np.ndarray:
    """``signal`` plus white noise at a signal-to-noise ratio of ``snr_db`` dB (a number, or a
    range to draw it from uniformly), float32.

    >>> y = add_noise(np.sin(np.arange(1000.0)), rng=0, snr_db=20)
    >>> round(float(10 * np.log10(0.5 / np.var(y - np.sin(np.arange(1000.0))))))
    20
    """
    x = np.asarray(signal, dtype=np.float64)
    gen = as_generator(rng, "add_noise")
    snr = float(gen.uniform(*snr_db)) if isinstance(snr_db, tuple) else float(snr_db)
    power = float(np.mean(x * x)) if x.size else 0.0
    noise = gen.normal(0.0, np.sqrt(power / 10 ** (snr / 10)) if power > 0 else 0.0, x.shape)
    return (x + noise).astype(np.float32)
