"""``AudioClassifier``: a recurrent (GRU/LSTM) or pooled-dense network over feature frames.

Input: ``(N, T, F)`` frames (log-mel bands or MFCCs, time first), each utterance's real frames
first and exact zeros after them (``chainrule.data.audio.pad_frames``). The lengths are read
from that padding, so ``model(x)`` (what the Trainer calls) handles batches of mixed lengths;
``model(x, lengths)`` gives them explicitly.

Architectures (``AUDIO_ARCHITECTURES``): ``"gru"`` / ``"lstm"`` read the frames in order and
pool their outputs (mean, max or the final state); ``"dense"`` is the baseline without time
order: the mean and standard deviation of every feature over the real frames, then a hidden
layer; ``"conv1d"`` transposes the frames to ``(N, F, T)``, runs ``layers`` blocks of
Conv1d(k=5, "same") - BatchNorm1d - ReLU - MaxPool1d(2) and averages over the real frames (the
lengths halve, rounded up, at every pooling; frames past them are zeroed before each pooling).
In evaluation mode more padding changes nothing; in training mode BatchNorm's batch statistics
also count the padded positions (as PyTorch's BatchNorm1d would).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff import functions as F
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, ShapeError
from chainrule.nn import init as nn_init
from chainrule.nn.layers.activation import ReLU
from chainrule.nn.layers.batchnorm import BatchNorm1d
from chainrule.nn.layers.container import Sequential
from chainrule.nn.layers.conv import Conv1d
from chainrule.nn.layers.dropout import Dropout
from chainrule.nn.layers.linear import Linear, check_positive_int
from chainrule.nn.layers.modulelist import ModuleList
from chainrule.nn.layers.pooling import MaxPool1d
from chainrule.nn.layers.recurrent import GRU, LSTM
from chainrule.nn.module import Module
from chainrule.nn.registry import register_layer
from chainrule.nn.sequence_models import _pool

__all__ = ["AudioClassifier", "audio_classifier", "AUDIO_ARCHITECTURES", "AUDIO_POOLINGS"]

AUDIO_ARCHITECTURES = ("gru", "lstm", "dense", "conv1d")
#: Kernel width of the conv1d blocks (odd, so "same" padding is symmetric).
CONV_KERNEL = 5
AUDIO_POOLINGS = ("mean", "max", "last")


def frame_lengths(x: np.ndarray) -> np.ndarray:
    """Real frames of each ``(T, F)`` utterance of a zero-padded batch (at least 1)."""
    nonzero = (x != 0).any(axis=2)
    last = x.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
    return np.where(nonzero.any(axis=1), last, 1).astype(np.int64)


@register_layer
class AudioClassifier(Module):
    """Frames ``(N, T, n_features)`` -> logits ``(N, num_classes)``.

    ``arch`` "gru" or "lstm": ``layers`` recurrent layers of ``hidden`` units (both directions
    when ``bidirectional``), outputs pooled over each utterance's real frames by ``pooling``
    ("mean", "max", or "last": the final state). ``arch`` "dense": per-feature mean and
    standard deviation over the real frames, a ReLU layer of ``hidden`` units. ``arch``
    "conv1d": ``layers`` blocks (default 2) of Conv1d(``hidden`` channels, kernel 5, "same") -
    BatchNorm1d - ReLU - MaxPool1d(2), then the mean over the real (pooled) frames. Dropout
    before the output layer.

    Examples
    --------
    >>> import numpy as np
    >>> model = AudioClassifier(40, 5, hidden=16, arch="gru", rng=0)
    >>> x = np.ones((2, 30, 40), np.float32)
    >>> x[1, 10:] = 0  # the second utterance has 10 frames
    >>> model(x).shape
    (2, 5)
    """

    def __init__(self, n_features: int, num_classes: int, hidden: int = 64, arch: str = "gru",
                 layers: int | None = None, bidirectional: bool = False, dropout: float = 0.0,
                 pooling: str = "mean", rng: nn_init.RNG = None) -> None:  # fmt: skip
        super().__init__()
        if arch not in AUDIO_ARCHITECTURES:
            raise ConfigError(
                f"AudioClassifier: arch must be one of {AUDIO_ARCHITECTURES}, got {arch!r}"
            )
        if pooling not in AUDIO_POOLINGS:
            raise ConfigError(
                f"AudioClassifier: pooling must be one of {AUDIO_POOLINGS}, got {pooling!r}"
            )
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, (int, float))
            or not (0.0 <= dropout < 1.0)
        ):
            raise ConfigError(
                f"AudioClassifier: dropout must be a number in [0, 1), got {dropout!r}"
            )
        gen = nn_init.as_generator(rng)
        self.n_features = check_positive_int(n_features, "AudioClassifier: n_features")
        hidden = check_positive_int(hidden, "AudioClassifier: hidden")
        self.arch, self.pooling, self.dropout_p = arch, pooling, float(dropout)
        layers = (2 if arch == "conv1d" else 1) if layers is None else layers
        self.layers = check_positive_int(layers, "AudioClassifier: layers")
        self.hidden, self.bidirectional = hidden, bool(bidirectional)
        self.conv: Any = None
        self.rnn: Any = None
        self.body: Any = None
        if arch == "conv1d":
            features = hidden
            self.conv = ModuleList(
                [Sequential(Conv1d(self.n_features if i == 0 else hidden, hidden, CONV_KERNEL,
                                   padding="same", rng=gen),
                            BatchNorm1d(hidden), ReLU())
                 for i in range(self.layers)]
            )  # fmt: skip
            self.pool = MaxPool1d(2)
        elif arch == "dense":
            self.body = Linear(2 * self.n_features, hidden, rng=gen)
            features = hidden
        else:
            cls = GRU if arch == "gru" else LSTM
            self.rnn = cls(self.n_features, hidden, num_layers=layers, batch_first=True,
                           dropout=self.dropout_p if layers > 1 else 0.0,
                           bidirectional=bidirectional, rng=gen)  # fmt: skip
            features = hidden * (2 if bidirectional else 1)
        self.drop = Dropout(self.dropout_p, rng=gen) if self.dropout_p > 0 else None
        self.head = Linear(features, check_positive_int(num_classes, "AudioClassifier: classes"),
                           rng=gen)  # fmt: skip

    @staticmethod
    def spec_size(config: dict[str, Any]) -> int:
        """Scalars the model a config describes would allocate (checked before building it)."""
        f, c, h = config.get("n_features"), config.get("num_classes"), config.get("hidden", 64)
        if not (isinstance(f, int) and isinstance(c, int) and isinstance(h, int)):
            return 0  # the constructor itself rejects such a config
        arch, bidir = config.get("arch", "gru"), bool(config.get("bidirectional", False))
        if arch == "dense":
            return 2 * f * h + h + h * c + c
        if arch == "conv1d":
            blocks = config.get("layers") or 2
            if not isinstance(blocks, int):
                return 0
            first = f * h * CONV_KERNEL + 3 * h  # weights, bias, BatchNorm scale and shift
            return first + (blocks - 1) * (h * h * CONV_KERNEL + 3 * h) + h * c + c
        rnn = {"input_size": f, "hidden_size": h, "num_layers": config.get("layers", 1),
               "bidirectional": bidir}  # fmt: skip
        features = h * (2 if bidir else 1)
        return (LSTM if arch == "lstm" else GRU).spec_size(rnn) + features * c + c

    def forward(self, x: Any, lengths: Any = None) -> Tensor:
        frames = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        if frames.ndim != 3 or frames.shape[2] != self.n_features:
            raise ShapeError(
                f"AudioClassifier expects frames (batch, steps, {self.n_features}), got "
                f"{frames.shape}; extract features with chainrule.data.audio.FeatureSettings"
            )
        lens = frame_lengths(frames.data) if lengths is None else np.asarray(lengths)
        if self.conv is not None:
            state = self._convolve(frames, lens)
        elif self.rnn is None:
            state = self._statistics(frames, lens)
        else:
            out, final = self.rnn(frames, lengths=lens)
            if self.pooling == "last":
                h_n = final[0] if isinstance(final, tuple) else final
                state = F.concatenate([h_n[-2], h_n[-1]], axis=1) if self.bidirectional else h_n[-1]
            else:
                state = _pool(out, lens, self.pooling)
        if self.drop is not None:
            state = self.drop(state)
        return self.head(state)

    def _statistics(self, frames: Tensor, lens: np.ndarray) -> Tensor:
        """Mean and standard deviation of each feature over the real frames, then ReLU layer."""
        real = (np.arange(frames.shape[1])[None, :] < lens[:, None])[..., None]
        masked = F.where(real, frames, np.array(0.0, frames.dtype))
        count = np.maximum(lens, 1)[:, None].astype(frames.dtype)
        mean = masked.sum(axis=1) / count
        square = (masked * masked).sum(axis=1) / count
        std = F.sqrt(F.maximum(square - mean * mean, np.array(0.0, frames.dtype)) + 1e-5)
        return F.relu(self.body(F.concatenate([mean, std], axis=1)))

    def _convolve(self, frames: Tensor, lens: np.ndarray) -> Tensor:
        """Conv blocks over ``(N, F, T)``, zeroing the frames past each length before every
        pooling (so the next block sees the zeros "same" padding would give), then the mean
        over the real frames. Time is zero-padded to a multiple of 2**layers first."""
        steps = frames.shape[1]
        extra = -steps % (2**self.layers)
        h = F.transpose(frames, (0, 2, 1))
        if extra:
            h = F.pad(h, ((0, 0), (0, 0), (0, extra)))
        lens = np.clip(np.asarray(lens, np.int64), 1, steps)
        zero = np.array(0.0, frames.dtype)
        for block in self.conv:
            h = block(h)
            real = np.arange(h.shape[2])[None, None, :] < lens[:, None, None]
            h = self.pool(F.where(real, h, zero))
            lens = (lens + 1) // 2  # a pooled frame is real if either of its two frames is
        real = np.arange(h.shape[2])[None, None, :] < lens[:, None, None]
        total = F.where(real, h, zero).sum(axis=2)
        return total / lens[:, None].astype(frames.dtype)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this model."""
        return {
            "n_features": self.n_features,
            "num_classes": self.head.out_features,
            "hidden": self.hidden,
            "arch": self.arch,
            "layers": self.layers,
            "bidirectional": self.bidirectional,
            "dropout": self.dropout_p,
            "pooling": self.pooling,
        }


def audio_classifier(
    n_features: int, num_classes: int, hidden: int = 64, arch: str = "gru",
    layers: int | None = None,
    bidirectional: bool = False, dropout: float = 0.0, pooling: str = "mean",
    rng: nn_init.RNG = None,
) -> AudioClassifier:  # fmt: skip
    """An ``AudioClassifier`` (see there): ``audio_classifier(40, 5, arch="lstm", rng=0)``."""
    return AudioClassifier(
        n_features, num_classes, hidden, arch, layers, bidirectional, dropout, pooling, rng
    )
