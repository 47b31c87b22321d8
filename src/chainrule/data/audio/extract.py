"""``FeatureSettings``: everything that turns a WAV file into network input, in one record.

A model file stores ``settings.to_dict()``; prediction rebuilds the settings with
``FeatureSettings.from_dict`` and so extracts features exactly as training did (same rate,
window, mel bands, duration and normalisation).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.data.audio.batching import (
    NORMALIZATIONS,
    fix_length,
    global_stats,
    normalize_global,
    normalize_utterance,
    trim_silence,
)
from chainrule.data.audio.features import log_mel_spectrogram, mfcc
from chainrule.data.audio.resample import resample
from chainrule.data.audio.wav import read_wav
from chainrule.errors import ConfigError

__all__ = ["FeatureSettings", "KINDS"]

KINDS = ("log_mel", "mfcc")


@dataclass(frozen=True)
class FeatureSettings:
    """How audio becomes a ``(frames, features)`` array.

    Signals are resampled to ``sample_rate``; ``duration`` (seconds) crops longer ones, and
    ``pad`` says what happens to shorter ones: "frames" (default) leaves them short, to be
    padded with zero *frames* by ``pad_frames`` (so a model sees each one's true length),
    "signal" zero-pads the *waveform* to ``duration`` (every utterance ``max_frames`` frames
    long, silence included; Keras's ``output_sequence_length``). ``n_fft``/``hop_length`` in
    samples (defaults: 32 ms windows every 10 ms); ``kind`` "log_mel" (dB) or "mfcc";
    ``normalization`` "utterance" (each feature to mean 0 / std 1 over the utterance's frames:
    removes the channel, but also the steady spectral shape), "global" (each feature by the
    ``mean`` / ``std`` of the training set, from :meth:`fit_global`) or "none". ``trim_db``
    cuts leading and trailing silence (frames that far below the loudest) before the
    duration is applied (None: keep everything).

    Examples
    --------
    >>> import numpy as np
    >>> s = FeatureSettings(sample_rate=8000, n_mels=40, duration=1.0)
    >>> s.extract(np.zeros(32000, np.float32), 16000).shape  # resampled, cropped to 1 s
    (101, 40)
    >>> s.extract(np.zeros(4000, np.float32), 16000).shape, s.max_frames  # 0.25 s
    ((26, 40), 101)
    >>> FeatureSettings.from_dict(s.to_dict()) == s
    True
    """

    sample_rate: int = 16000
    n_mels: int = 40
    n_fft: int | None = None
    hop_length: int | None = None
    fmin: float = 0.0
    fmax: float | None = None
    htk: bool = False
    kind: str = "log_mel"
    n_mfcc: int = 20
    duration: float | None = None
    normalization: str = "utterance"
    top_db: float | None = 80.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    trim_db: float | None = None
    pad: str = "frames"

    def __post_init__(self) -> None:
        if isinstance(self.sample_rate, bool) or not isinstance(self.sample_rate, int):
            raise ConfigError(f"sample_rate must be a whole number of Hz, got {self.sample_rate!r}")
        if not 1000 <= self.sample_rate <= 384000:
            raise ConfigError(f"sample_rate must be in [1000, 384000] Hz, got {self.sample_rate}")
        if isinstance(self.n_mels, bool) or not isinstance(self.n_mels, int) or self.n_mels < 1:
            raise ConfigError(f"n_mels must be a positive whole number, got {self.n_mels!r}")
        if self.kind not in KINDS:
            raise ConfigError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.normalization not in NORMALIZATIONS:
            raise ConfigError(
                f"normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}"
            )
        if (self.mean is None) != (self.std is None) or (
            self.mean is not None and self.std is not None
            and not len(self.mean) == len(self.std) == self.n_features
        ):  # fmt: skip
            raise ConfigError(
                f"mean and std must both be given, {self.n_features} values each (or neither)"
            )
        if self.pad not in ("frames", "signal"):
            raise ConfigError(f"pad must be 'frames' or 'signal', got {self.pad!r}")
        if self.duration is not None and not (0 < float(self.duration) <= 3600):
            raise ConfigError(f"duration must be in (0, 3600] seconds, got {self.duration!r}")

    @property
    def fft_size(self) -> int:
        """``n_fft``, or the power of two nearest 32 ms at the sample rate."""
        if self.n_fft is not None:
            return int(self.n_fft)
        return int(2 ** round(np.log2(0.032 * self.sample_rate)))

    @property
    def hop(self) -> int:
        """``hop_length``, or 10 ms at the sample rate."""
        return int(self.hop_length) if self.hop_length is not None else self.sample_rate // 100

    @property
    def n_features(self) -> int:
        return self.n_mfcc if self.kind == "mfcc" else self.n_mels

    @property
    def max_frames(self) -> int | None:
        """Frames of an utterance of ``duration`` seconds (None without a fixed duration)."""
        if self.duration is None:
            return None
        return 1 + round(self.duration * self.sample_rate) // self.hop

    def signal(self, samples: Any, sample_rate: int) -> np.ndarray:
        """The samples resampled to ``sample_rate``, silence trimmed (``trim_db``), cropped to
        ``duration`` (and zero-padded to it with ``pad="signal"``)."""
        x = resample(np.asarray(samples, dtype=np.float32), sample_rate, self.sample_rate)
        if self.trim_db is not None:
            x = trim_silence(x, self.trim_db, frame=self.fft_size, hop=self.hop)
        if self.duration is not None:
            n = round(self.duration * self.sample_rate)
            x = fix_length(x, n) if self.pad == "signal" or len(x) > n else x
        return x

    def extract(self, samples: Any, sample_rate: int) -> np.ndarray:
        """Features ``(frames, n_features)`` (float32) of one mono signal."""
        x = self.signal(samples, sample_rate)
        if len(x) < 2:
            x = fix_length(x, 2)
        kw: dict[str, Any] = {"n_fft": self.fft_size, "hop_length": self.hop,
                              "fmin": self.fmin, "fmax": self.fmax, "htk": self.htk,
                              "top_db": self.top_db}  # fmt: skip
        if self.kind == "mfcc":
            feats = mfcc(x, self.sample_rate, n_mfcc=self.n_mfcc, n_mels=self.n_mels, **kw)
        else:
            feats = log_mel_spectrogram(x, self.sample_rate, n_mels=self.n_mels, **kw)
        return self.normalize(feats)

    def normalize(self, features: Any) -> np.ndarray:
        """Apply the normalisation to un-normalised ``(T, F)`` features. "global" without
        statistics yet (before :meth:`fit_global`) leaves them as they are."""
        feats = np.asarray(features)
        if self.normalization == "utterance":
            feats = normalize_utterance(feats)
        elif self.normalization == "global" and self.mean is not None:
            feats = normalize_global(feats, np.array(self.mean), np.array(self.std))
        return feats.astype(np.float32, copy=False)

    def fit_global(self, features: Any) -> FeatureSettings:
        """These settings with the per-feature mean and standard deviation of ``features``
        (un-normalised ``(T_i, F)`` training utterances) for "global" normalisation."""
        mean, std = global_stats(features)
        return dataclasses.replace(
            self, mean=tuple(float(v) for v in mean), std=tuple(float(v) for v in std)
        )

    def extract_file(self, path: str | os.PathLike[str]) -> np.ndarray:
        """Features of a WAV file (mixed down to mono)."""
        samples, rate = read_wav(path)
        return self.extract(samples, rate)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-safe dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, settings: dict[str, Any]) -> FeatureSettings:
        """Settings from :meth:`to_dict`; unknown keys are a ConfigError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - names)
        if unknown:
            raise ConfigError(f"audio feature settings: unknown keys {unknown}")
        values = dict(settings)
        for key in ("mean", "std"):
            if values.get(key) is not None:
                values[key] = tuple(float(v) for v in values[key])
        return cls(**values)
