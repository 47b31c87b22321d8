"""Sample-rate conversion by a rational factor: a polyphase Kaiser-windowed sinc filter.

Changing the rate from ``orig`` to ``target`` Hz is upsampling by ``L`` and downsampling by
``M`` (``target / orig = L / M`` in lowest terms) around one low-pass filter: a sinc with its
cut-off at the lower of the two Nyquist frequencies, ``10 * max(L, M)`` taps on either side of
the centre, shaped by a Kaiser window (beta 5). This is the filter of SciPy's
``scipy.signal.resample_poly`` (the tests check the two agree), evaluated here the polyphase
way: each output sample is the dot product of the inputs around it with the one phase of the
filter that falls on them, so the zeros the upsampling would insert are never computed.
"""

from __future__ import annotations

from math import gcd
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, ShapeError

__all__ = ["resample", "resample_filter"]

#: Output samples computed at once (bounds the (chunk, taps) gather to a few MiB).
_CHUNK = 1 << 14


def _rate(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"resample: {name} must be a positive whole number of Hz, got {value!r}")
    return int(value)


def resample_filter(up: int, down: int, half_width: int = 10, beta: float = 5.0) -> np.ndarray:
    """The low-pass filter (length ``2 * half_width * max(up, down) + 1``, float64, taps summing
    to ``up``) that resampling by ``up / down`` applies at the upsampled rate."""
    half = half_width * max(up, down)
    t = np.arange(-half, half + 1, dtype=np.float64)
    cutoff = 1.0 / max(up, down)  # of the upsampled Nyquist frequency
    h = cutoff * np.sinc(cutoff * t) * np.kaiser(2 * half + 1, beta)
    return h * (up / h.sum())


def resample(signal: Any, orig_sr: int, target_sr: int) -> np.ndarray:
    """``signal`` (``(samples,)`` or ``(samples, channels)``) converted from ``orig_sr`` to
    ``target_sr`` Hz; ``ceil(samples * target_sr / orig_sr)`` output samples, same dtype for
    float input (float32 otherwise). Equal rates return a copy.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(8000) / 8000
    >>> y = resample(np.sin(2 * np.pi * 440 * t), 8000, 16000)
    >>> y.shape, round(float(np.abs(y[1000:-1000]).max()), 2)
    ((16000,), 1.0)
    """
    orig, target = _rate(orig_sr, "orig_sr"), _rate(target_sr, "target_sr")
    x = np.asarray(signal)
    if x.ndim not in (1, 2):
        raise ShapeError(f"resample: expected (samples,) or (samples, channels), got {x.shape}")
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    if orig == target:
        return x.astype(dtype, copy=True)
    g = gcd(orig, target)
    up, down = target // g, orig // g
    h = resample_filter(up, down)
    half = (len(h) - 1) // 2
    n_in = x.shape[0]
    n_out = -(-n_in * up // down)
    taps = 2 * half // up + 2
    # Output n sits at position n * down of the upsampled signal; input i at i * up. The inputs
    # that reach it are those within `half` of it: i from ceil((n * down - half) / up) on.
    pad = taps + 1
    xp = np.concatenate(
        [np.zeros((pad, *x.shape[1:])), x.astype(np.float64), np.zeros((pad, *x.shape[1:]))]
    )
    table = np.concatenate([h, [0.0]])  # index len(h) reads zero: taps outside the filter
    k = np.arange(taps)
    out = np.empty((n_out, *x.shape[1:]), dtype=np.float64)
    for start in range(0, n_out, _CHUNK):
        n = np.arange(start, min(start + _CHUNK, n_out))
        first = -((half - n * down) // up)  # ceil((n * down - half) / up)
        i = first[:, None] + k[None, :]
        offset = n[:, None] * down - i * up + half  # position inside the filter
        weights = table[np.where((offset >= 0) & (offset <= 2 * half), offset, len(h))]
        rows = xp[i + pad]
        if x.ndim == 1:
            out[n] = np.einsum("nk,nk->n", weights, rows)
        else:
            out[n] = np.einsum("nk,nkc->nc", weights, rows)
    return out.astype(dtype, copy=False)
