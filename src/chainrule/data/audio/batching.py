"""Fixed durations and variable-length batches of utterances, and feature normalisation.

Padding convention: a batch of feature sequences is ``(N, T, F)`` with each utterance's real
frames first and **exact zeros** after them (:func:`pad_frames`); ``lengths_of`` recovers the
lengths from that padding, so a model called on the padded array alone (as the Trainer calls
it) still sees each utterance's true length. Normalise before padding: a normalised real frame
is never all zeros, while raw log-mel frames might be.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, ShapeError

__all__ = [
    "fix_length", "pad_frames", "lengths_of", "normalize_utterance", "global_stats",
    "normalize_global", "NORMALIZATIONS", "trim_silence",
]  # fmt: skip

NORMALIZATIONS = ("utterance", "global", "none")


def fix_length(signal: Any, n_samples: int) -> np.ndarray:
    """A signal cropped to its first ``n_samples`` samples, or zero-padded at the end to them.

    >>> fix_length(np.ones(3), 5).tolist(), fix_length(np.arange(5.0), 2).tolist()
    ([1.0, 1.0, 1.0, 0.0, 0.0], [0.0, 1.0])
    """
    x = np.asarray(signal)
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ConfigError(
            f"fix_length: n_samples must be a positive whole number, got {n_samples!r}"
        )
    if len(x) >= n_samples:
        return x[:n_samples].copy()
    return np.concatenate([x, np.zeros((n_samples - len(x), *x.shape[1:]), dtype=x.dtype)])


def trim_silence(signal: Any, top_db: float = 30.0, frame: int = 512, hop: int = 128) -> np.ndarray:
    """``signal`` without its leading and trailing frames quieter than ``top_db`` below its
    loudest frame (RMS over ``frame`` samples every ``hop``; librosa's ``effects.trim``
    rule). A signal that is silent throughout is returned as it is.

    >>> x = np.concatenate([np.zeros(1000), np.ones(500), np.zeros(1000)])
    >>> len(trim_silence(x, frame=100, hop=50))
    600
    """
    x = np.asarray(signal)
    if x.ndim != 1:
        raise ShapeError(f"trim_silence: expected a mono signal (samples,), got {x.shape}")
    if len(x) <= frame:
        return x.copy()
    windows = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), frame)[::hop]
    rms = np.sqrt((windows * windows).mean(axis=1))
    if not rms.max() > 0:
        return x.copy()
    loud = np.flatnonzero(20 * np.log10(np.maximum(rms, 1e-20) / rms.max()) > -top_db)
    start, end = int(loud[0]) * hop, min(len(x), int(loud[-1]) * hop + frame)
    return x[start:end].copy()


def pad_frames(
    sequences: Sequence[Any], max_frames: int | None = None, dtype: Any = np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """Stack ``(T_i, F)`` feature sequences into ``(N, T, F)`` (zeros after each end) and
    their lengths; ``max_frames`` crops longer ones (default: the longest one's length).

    >>> x, lengths = pad_frames([np.ones((3, 2)), np.ones((1, 2))])
    >>> x.shape, lengths.tolist(), x[1, 1:].sum()
    ((2, 3, 2), [3, 1], np.float32(0.0))
    """
    if not len(sequences):
        raise ShapeError("pad_frames: no sequences given")
    arrays = [np.asarray(s) for s in sequences]
    widths = {a.shape[1:] for a in arrays}
    if any(a.ndim != 2 for a in arrays) or len(widths) != 1:
        raise ShapeError(
            f"pad_frames: every sequence must be (frames, features) with the same features, got "
            f"shapes {sorted({a.shape for a in arrays})[:4]}"
        )
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    steps = int(lengths.max()) if max_frames is None else int(max_frames)
    if steps < 1:
        raise ConfigError(f"pad_frames: max_frames must be >= 1, got {max_frames!r}")
    lengths = np.minimum(lengths, steps)
    out = np.zeros((len(arrays), steps, arrays[0].shape[1]), dtype=dtype)
    for i, (a, n) in enumerate(zip(arrays, lengths)):
        out[i, :n] = a[:n]
    return out, lengths


def lengths_of(batch: Any) -> np.ndarray:
    """Each utterance's length in a zero-padded ``(N, T, F)`` batch: the frames up to its
    last frame that is not all zeros (at least 1).

    >>> x, _ = pad_frames([np.ones((3, 2)), np.ones((1, 2))])
    >>> lengths_of(x).tolist()
    [3, 1]
    """
    x = np.asarray(batch)
    if x.ndim != 3:
        raise ShapeError(f"lengths_of: expected a (batch, frames, features) array, got {x.shape}")
    nonzero = (x != 0).any(axis=2)
    last = x.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
    return np.where(nonzero.any(axis=1), last, 1).astype(np.int64)


def normalize_utterance(features: Any, eps: float = 1e-5) -> np.ndarray:
    """Each feature (column) of one ``(T, F)`` utterance to mean 0 and standard deviation 1
    over its frames (cepstral mean and variance normalisation).

    >>> z = normalize_utterance(np.array([[1.0, 10.0], [3.0, 10.0]]))
    >>> z.tolist()
    [[-1.0, 0.0], [1.0, 0.0]]
    """
    x = np.asarray(features)
    if x.ndim != 2:
        raise ShapeError(f"normalize_utterance: expected (frames, features), got {x.shape}")
    mean = x.mean(axis=0, keepdims=True)
    std = x.std(axis=0, keepdims=True)
    return ((x - mean) / np.maximum(std, eps)).astype(x.dtype, copy=False)


def global_stats(sequences: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation over every frame of every ``(T_i, F)``
    sequence (float64; computed in one pass of sums, so they need not fit in memory at once)."""
    count, total, squares = 0, None, None
    for s in sequences:
        a = np.asarray(s, dtype=np.float64)
        if a.ndim != 2:
            raise ShapeError(f"global_stats: expected (frames, features) sequences, got {a.shape}")
        total = a.sum(axis=0) if total is None else total + a.sum(axis=0)
        squares = (a * a).sum(axis=0) if squares is None else squares + (a * a).sum(axis=0)
        count += len(a)
    if total is None or squares is None or count == 0:
        raise ShapeError("global_stats: no frames given")
    mean = total / count
    return mean, np.sqrt(np.maximum(squares / count - mean * mean, 0.0))


def normalize_global(features: Any, mean: Any, std: Any, eps: float = 1e-5) -> np.ndarray:
    """``(features - mean) / std`` with statistics from :func:`global_stats` (training data)."""
    x = np.asarray(features)
    m, s = np.asarray(mean), np.asarray(std)
    if m.shape != (x.shape[-1],) or s.shape != m.shape:
        raise ShapeError(
            f"normalize_global: {x.shape[-1]} features but statistics of shape {m.shape}, {s.shape}"
        )
    return ((x - m) / np.maximum(s, eps)).astype(x.dtype if x.dtype.kind == "f" else np.float32)
