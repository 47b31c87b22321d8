"""Spectrograms, mel filterbanks, log-mel spectrograms and MFCCs, with NumPy's FFT.

Every function returns **time first**: ``(frames, bins)``, the ``(steps, features)`` layout a
recurrent layer reads (librosa returns the transpose, ``(bins, frames)``). With the same
settings the values are librosa's: ``log_mel_spectrogram(...).T`` equals
``librosa.power_to_db(librosa.feature.melspectrogram(...))`` (checked in the tests against
stored reference values).

Mel scales (``htk``): **Slaney** (default, as librosa and the Auditory Toolbox): linear below
1 kHz (``mel = 3 f / 200``), logarithmic above (27 mels per factor 6.4 in frequency);
**HTK**: ``mel = 2595 log10(1 + f / 700)`` everywhere. ``norm="slaney"`` scales each
triangle to unit area (``2 / (f_right - f_left)``) so a band's energy does not grow with
its width; ``norm=None`` leaves triangles of peak 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ConfigError, ShapeError

__all__ = [
    "hz_to_mel", "mel_to_hz", "mel_frequencies", "mel_filterbank", "frame_count",
    "spectrogram", "mel_spectrogram", "power_to_db", "log_mel_spectrogram", "mfcc", "dct_matrix",
]  # fmt: skip

_F_SP = 200.0 / 3  # Slaney: Hz per mel below 1 kHz
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(hz: Any, htk: bool = False) -> np.ndarray:
    """Frequencies in Hz to mels (Slaney's scale, or HTK's with ``htk=True``).

    >>> round(float(hz_to_mel(1000.0)), 6), round(float(hz_to_mel(1000.0, htk=True)), 1)
    (15.0, 1000.0)
    """
    f = np.asarray(hz, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    log_part = _MIN_LOG_MEL + np.log(np.maximum(f, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(f >= _MIN_LOG_HZ, log_part, f / _F_SP)


def mel_to_hz(mels: Any, htk: bool = False) -> np.ndarray:
    """Mels back to Hz (the inverse of :func:`hz_to_mel`)."""
    m = np.asarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    log_part = _MIN_LOG_HZ * np.exp(_LOGSTEP * (np.maximum(m, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.where(m >= _MIN_LOG_MEL, log_part, _F_SP * m)


def mel_frequencies(n: int, fmin: float, fmax: float, htk: bool = False) -> np.ndarray:
    """``n`` frequencies (Hz) equally spaced on the mel scale from ``fmin`` to ``fmax``."""
    low, high = hz_to_mel(fmin, htk), hz_to_mel(fmax, htk)
    return mel_to_hz(np.linspace(low, high, n), htk)


def _check_int(value: Any, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"{name} must be a whole number >= {low}, got {value!r}")
    return int(value)


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
) -> np.ndarray:
    """Triangular mel filters ``(n_mels, 1 + n_fft // 2)`` (float64), librosa's
    ``filters.mel`` on the same arguments.

    >>> fb = mel_filterbank(8000, 512, n_mels=40)
    >>> fb.shape, bool((fb >= 0).all())
    ((40, 257), True)
    """
    sr = _check_int(sample_rate, "sample_rate")
    n_fft, n_mels = _check_int(n_fft, "n_fft", 2), _check_int(n_mels, "n_mels")
    fmax = sr / 2.0 if fmax is None else float(fmax)
    if not 0.0 <= fmin < fmax <= sr / 2.0 + 1e-9:
        raise ConfigError(
            f"mel_filterbank: need 0 <= fmin < fmax <= {sr / 2:g} Hz, got {fmin}, {fmax}"
        )
    if norm not in (None, "slaney"):
        raise ConfigError(f"mel_filterbank: norm must be 'slaney' or None, got {norm!r}")
    fft_freqs = np.linspace(0.0, sr / 2.0, 1 + n_fft // 2)
    edges = mel_frequencies(n_mels + 2, fmin, fmax, htk)
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights


def frame_count(n_samples: int, n_fft: int, hop_length: int, center: bool = True) -> int:
    """The number of frames :func:`spectrogram` gives for ``n_samples`` samples."""
    if center:
        return 1 + n_samples // hop_length
    return 0 if n_samples < n_fft else 1 + (n_samples - n_fft) // hop_length


def spectrogram(
    signal: Any,
    n_fft: int = 2048,
    hop_length: int | None = None,
    win_length: int | None = None,
    power: float = 2.0,
    center: bool = True,
    pad_mode: str = "constant",
) -> np.ndarray:
    """``|STFT|**power`` of a mono signal, shape ``(frames, 1 + n_fft // 2)``.

    A periodic Hann window of ``win_length`` (default ``n_fft``) samples, zero-padded to
    ``n_fft``; frames every ``hop_length`` (default ``n_fft // 4``) samples. ``center=True``
    pads ``n_fft // 2`` samples on both sides (``pad_mode`` "constant": zeros, or "reflect")
    so frame ``t`` is centred on sample ``t * hop_length``. Float32 input is transformed in
    float32, anything else in float64.

    >>> spectrogram(np.ones(1000), n_fft=256, hop_length=100).shape
    (11, 129)
    """
    x = np.asarray(signal)
    if x.ndim != 1:
        raise ShapeError(f"spectrogram: expected a mono signal (samples,), got {x.shape}")
    dtype = np.float32 if x.dtype == np.float32 else np.float64
    x = x.astype(dtype, copy=False)
    n_fft = _check_int(n_fft, "n_fft", 2)
    hop = n_fft // 4 if hop_length is None else _check_int(hop_length, "hop_length")
    win = n_fft if win_length is None else _check_int(win_length, "win_length")
    if win > n_fft:
        raise ConfigError(f"spectrogram: win_length {win} exceeds n_fft {n_fft}")
    if pad_mode not in ("constant", "reflect"):
        raise ConfigError(
            f"spectrogram: pad_mode must be 'constant' or 'reflect', got {pad_mode!r}"
        )
    if center:
        if pad_mode == "reflect" and len(x) <= n_fft // 2:
            raise ShapeError(f"spectrogram: {len(x)} samples are too few to reflect-pad")
        x = np.pad(x, n_fft // 2, mode=pad_mode)  # type: ignore[call-overload]
    if len(x) < n_fft:
        raise ShapeError(f"spectrogram: {len(x)} samples are fewer than n_fft={n_fft}")
    window = np.zeros(n_fft, dtype=np.float64)
    left = (n_fft - win) // 2
    window[left : left + win] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    spec = np.abs(np.fft.rfft(frames * window.astype(dtype), axis=-1))
    if power == 1.0:
        return spec
    return spec**2 if power == 2.0 else spec**power


def mel_spectrogram(
    signal: Any,
    sample_rate: int,
    n_fft: int = 2048,
    hop_length: int | None = None,
    win_length: int | None = None,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
    power: float = 2.0,
    center: bool = True,
    pad_mode: str = "constant",
) -> np.ndarray:
    """Mel-band energies ``(frames, n_mels)``: :func:`spectrogram` times :func:`mel_filterbank`
    (librosa's ``feature.melspectrogram``, transposed)."""
    spec = spectrogram(signal, n_fft, hop_length, win_length, power, center, pad_mode)
    fb = mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax, htk, norm)
    return spec @ fb.T.astype(spec.dtype)


def power_to_db(
    power: Any, ref: float = 1.0, amin: float = 1e-10, top_db: float | None = 80.0
) -> np.ndarray:
    """``10 log10(max(power, amin) / ref)``, floored at ``top_db`` below the maximum
    (librosa's ``power_to_db``)."""
    s = np.asarray(power)
    if amin <= 0:
        raise ConfigError(f"power_to_db: amin must be > 0, got {amin}")
    db = 10.0 * np.log10(np.maximum(s, amin)) - 10.0 * np.log10(max(amin, ref))
    if top_db is not None and db.size:
        db = np.maximum(db, db.max() - top_db)
    return db


def log_mel_spectrogram(
    signal: Any,
    sample_rate: int,
    n_fft: int = 2048,
    hop_length: int | None = None,
    win_length: int | None = None,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
    top_db: float | None = 80.0,
    center: bool = True,
) -> np.ndarray:
    """Log-mel spectrogram in dB, ``(frames, n_mels)``: ``power_to_db(mel_spectrogram(...))``.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(8000) / 8000
    >>> feats = log_mel_spectrogram(np.sin(2 * np.pi * 440 * t), 8000, n_fft=256,
    ...                             hop_length=80, n_mels=40)
    >>> feats.shape, int(feats.argmax(axis=1)[50])  # 440 Hz: band 7 (400-457 Hz)
    ((101, 40), 7)
    """
    mel = mel_spectrogram(signal, sample_rate, n_fft, hop_length, win_length, n_mels, fmin, fmax,
                          htk, norm, 2.0, center)  # fmt: skip
    return power_to_db(mel, top_db=top_db)


def dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """The orthonormal DCT-II as a matrix ``(n_out, n_in)`` (``scipy.fft.dct(norm="ortho")``)."""
    n = np.arange(n_in)
    k = np.arange(n_out)[:, None]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    basis[0] /= np.sqrt(2.0)
    return basis


def mfcc(
    signal: Any,
    sample_rate: int,
    n_mfcc: int = 20,
    n_fft: int = 2048,
    hop_length: int | None = None,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    top_db: float | None = 80.0,
) -> np.ndarray:
    """Mel-frequency cepstral coefficients ``(frames, n_mfcc)``: the orthonormal DCT-II of the
    log-mel spectrogram over its bands (librosa's ``feature.mfcc``, transposed).

    >>> mfcc(np.random.default_rng(0).normal(size=4000), 8000, n_fft=256, n_mels=40).shape
    (63, 20)
    """
    n_mfcc = _check_int(n_mfcc, "n_mfcc")
    if n_mfcc > n_mels:
        raise ConfigError(f"mfcc: n_mfcc={n_mfcc} exceeds n_mels={n_mels}")
    logmel = log_mel_spectrogram(signal, sample_rate, n_fft, hop_length, None, n_mels, fmin, fmax,
                                 htk, "slaney", top_db)  # fmt: skip
    return logmel @ dct_matrix(n_mfcc, n_mels).T.astype(logmel.dtype)
