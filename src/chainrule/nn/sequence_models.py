"""Ready-made sequence models (a text classifier, a tagger) and what shows their inner working.

``text_classifier`` and ``tagger`` build Embedding -> RNN/LSTM/GRU -> Linear models that take
padded token ids ``(N, T)`` (batch first, ``<pad>`` = 0 after the end): each sequence's length
is read from its padding, so a plain ``model(ids)`` (what the Trainer calls) handles batches of
mixed lengths exactly. ``gradient_norms_through_time`` measures how much of the error signal
reaches each time step (vanishing gradients made visible); ``nearest_neighbours`` lists the
words closest to a word in an embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.autodiff import functions as F
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, ShapeError
from chainrule.nn import init as nn_init
from chainrule.nn.layers.dropout import Dropout
from chainrule.nn.layers.embedding import Embedding
from chainrule.nn.layers.linear import Linear
from chainrule.nn.layers.recurrent import GRU, LSTM, RNN, _RecurrentBase
from chainrule.nn.module import Module
from chainrule.nn.registry import register_layer
from chainrule.validation import check_positive_int

__all__ = [
    "TextClassifier", "SequenceTagger", "text_classifier", "tagger", "ARCHITECTURES",
    "gradient_norms_through_time", "nearest_neighbours",
]  # fmt: skip

ARCHITECTURES: dict[str, type[_RecurrentBase]] = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
#: How a classifier reduces the sequence: the final state, or the mean / max of the outputs.
POOLINGS = ("last", "mean", "max")


class _SequenceModel(Module):
    """Embedding and recurrent stack shared by the classifier and the tagger."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden: int, out: int, arch: str,
                 layers: int, bidirectional: bool, dropout: float, padding_idx: int | None,
                 rng: nn_init.RNG) -> None:  # fmt: skip
        super().__init__()
        kind = type(self).__name__
        if arch not in ARCHITECTURES:
            raise ConfigError(f"{kind}: arch must be one of {sorted(ARCHITECTURES)}, got {arch!r}")
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, (int, float))
            or not (0.0 <= dropout < 1.0)
        ):
            raise ConfigError(f"{kind}: dropout must be a number in [0, 1), got {dropout!r}")
        gen = nn_init.as_generator(rng)
        self.arch, self.dropout_p, self.padding_idx = arch, float(dropout), padding_idx
        self.embedding = Embedding(vocab_size, embedding_dim, padding_idx=padding_idx, rng=gen)
        self.rnn = ARCHITECTURES[arch](
            embedding_dim, check_positive_int(hidden, f"{kind}: hidden"), num_layers=layers,
            batch_first=True, dropout=self.dropout_p if layers > 1 else 0.0,
            bidirectional=bidirectional, rng=gen,
        )  # fmt: skip
        features = hidden * (2 if bidirectional else 1)
        self.drop = Dropout(self.dropout_p, rng=gen) if self.dropout_p > 0 else None
        self.head = Linear(features, check_positive_int(out, f"{kind}: classes"), rng=gen)

    @staticmethod
    def spec_size(config: dict[str, Any]) -> int:
        """Scalars the model a config describes would allocate (checked before building it)."""
        v, d, h = (
            config.get("vocab_size"),
            config.get("embedding_dim", 64),
            config.get("hidden", 128),
        )
        out = config.get("num_classes", config.get("num_tags", 2))
        if not all(isinstance(n, int) for n in (v, d, h, out)):
            return 0  # the constructor itself rejects such a config
        arch = ARCHITECTURES.get(config.get("arch", "lstm"), LSTM)
        bidir = bool(config.get("bidirectional", False))
        rnn = {"input_size": d, "hidden_size": h, "num_layers": config.get("layers", 1),
               "bidirectional": bidir}  # fmt: skip
        features = h * (2 if bidir else 1)
        return v * d + arch.spec_size(rnn) + features * out + out

    def lengths_of(self, ids: np.ndarray) -> np.ndarray | None:
        """Each row's length: the steps before its padding (None without a padding id)."""
        if self.padding_idx is None:
            return None
        return (ids != self.padding_idx).sum(axis=1)

    def _ids(self, ids: Any) -> np.ndarray:
        data = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        if data.ndim != 2:
            raise ShapeError(
                f"{type(self).__name__} expects padded token ids of shape (batch, steps), got "
                f"{data.shape}; encode texts with chainrule.data.text.encode_texts"
            )
        if data.dtype.kind == "f" and np.all(data == np.round(data)):
            data = data.astype(np.int64)  # ids that travelled through a float array
        return data

    def forward(self, ids: Any, lengths: Any = None) -> Tensor:
        data = self._ids(ids)
        lengths = self._lengths(data, lengths)
        width = data.shape[1]
        if lengths is not None and data.size:
            # Steps past the longest text of the batch are padding everywhere: skip them (a
            # batch padded to the whole data set's longest text costs only its own longest).
            width = min(width, max(int(np.max(lengths)), 1))
        out = self.forward_embedded(self.embedding(data[:, :width]), lengths)
        return self.pad_steps(out, data.shape[1])

    def pad_steps(self, out: Tensor, steps: int) -> Tensor:
        """Outputs of the real steps, padded back to ``steps`` (per-step models only)."""
        return out

    def _lengths(self, data: np.ndarray, lengths: Any) -> Any:
        return self.lengths_of(data) if lengths is None else np.asarray(lengths)

    def forward_embedded(self, embedded: Tensor, lengths: Any) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this model."""
        rnn = self.rnn
        return {
            "vocab_size": self.embedding.num_embeddings,
            "embedding_dim": self.embedding.embedding_dim,
            "hidden": rnn.hidden_size,
            "arch": self.arch,
            "layers": rnn.num_layers,
            "bidirectional": rnn.bidirectional,
            "dropout": self.dropout_p,
            "padding_idx": self.padding_idx,
        }


@register_layer
class TextClassifier(_SequenceModel):
    """Embedding -> recurrent layers -> Linear on the final state (of both directions, if two).

    ``model(ids)`` with ids ``(N, T)``; logits ``(N, num_classes)``. Build it with
    ``text_classifier``.
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 64, hidden: int = 128,
                 num_classes: int = 2, arch: str = "lstm", layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, padding_idx: int | None = 0,
                 pooling: str = "last", rng: nn_init.RNG = None) -> None:  # fmt: skip
        if pooling not in POOLINGS:
            raise ConfigError(f"TextClassifier: pooling must be one of {POOLINGS}, got {pooling!r}")
        super().__init__(vocab_size, embedding_dim, hidden, num_classes, arch, layers,
                         bidirectional, dropout, padding_idx, rng)  # fmt: skip
        self.pooling = pooling

    def forward_embedded(self, embedded: Tensor, lengths: Any) -> Tensor:
        """Logits from already embedded tokens ``(N, T, D)``."""
        out, final = self.rnn(embedded, lengths=lengths)
        if self.pooling == "last":
            h_n = final[0] if isinstance(final, tuple) else final
            # The last layer's final state; both of its directions when bidirectional.
            bidir = self.rnn.bidirectional
            state = F.concatenate([h_n[-2], h_n[-1]], axis=1) if bidir else h_n[-1]
        else:
            state = _pool(out, lengths, self.pooling)
        if self.drop is not None:
            state = self.drop(state)
        return self.head(state)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this model."""
        return {**super().get_config(), "num_classes": self.head.out_features,
                "pooling": self.pooling}  # fmt: skip


def _pool(out: Tensor, lengths: Any, how: str) -> Tensor:
    """Mean or max of the outputs ``(N, T, F)`` over each sequence's real steps."""
    steps = out.shape[1]
    if lengths is None:
        lengths = np.full(out.shape[0], steps)
    lengths = np.asarray(lengths)
    if how == "mean":  # padded outputs are exactly zero: their sum is the real steps' sum
        return out.sum(axis=1) / np.maximum(lengths, 1)[:, None].astype(out.dtype)
    real = (np.arange(steps)[None, :] < np.maximum(lengths, 1)[:, None])[..., None]
    return F.where(real, out, np.array(-np.inf, out.dtype)).max(axis=1)


@register_layer
class SequenceTagger(_SequenceModel):
    """Embedding -> (bidirectional) recurrent layers -> Linear at every step: one tag per token.

    ``model(ids)`` with ids ``(N, T)``; logits ``(N, T, num_tags)``; train with
    ``cross_entropy(logits, tags, class_axis=-1)`` and padding tags set to -100. Build it with
    ``tagger``.
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 64, hidden: int = 128,
                 num_tags: int = 2, arch: str = "lstm", layers: int = 1,
                 bidirectional: bool = True, dropout: float = 0.0, padding_idx: int | None = 0,
                 rng: nn_init.RNG = None) -> None:  # fmt: skip
        super().__init__(vocab_size, embedding_dim, hidden, num_tags, arch, layers,
                         bidirectional, dropout, padding_idx, rng)  # fmt: skip

    def forward_embedded(self, embedded: Tensor, lengths: Any) -> Tensor:
        """Logits ``(N, T, num_tags)`` from embedded tokens ``(N, T, D)``."""
        out, _ = self.rnn(embedded, lengths=lengths)
        if self.drop is not None:
            out = self.drop(out)
        return self.head(out)

    def pad_steps(self, out: Tensor, steps: int) -> Tensor:
        """Logits ``(N, steps, num_tags)``: zeros on the skipped padding steps (which the loss
        ignores), so every batch of a data set has the same shape."""
        extra = steps - out.shape[1]
        return F.pad(out, ((0, 0), (0, extra), (0, 0))) if extra > 0 else out

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this model."""
        return {**super().get_config(), "num_tags": self.head.out_features}


def text_classifier(vocab_size: int, embedding_dim: int = 64, hidden: int = 128,
                    arch: str = "lstm", layers: int = 1, bidirectional: bool = False,
                    num_classes: int = 2, dropout: float = 0.0, padding_idx: int | None = 0,
                    pooling: str = "last", rng: nn_init.RNG = None) -> TextClassifier:  # fmt: skip
    """A recurrent text classifier (see ``TextClassifier``).

    ``pooling``: ``"last"`` reads the final state (both directions' if bidirectional);
    ``"mean"`` / ``"max"`` reduce the last layer's outputs over each text's real tokens,
    which trains faster on long texts (every step gets a direct gradient).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import text_classifier
    >>> model = text_classifier(100, 8, 16, arch="gru", num_classes=3, rng=0)
    >>> model(np.array([[5, 6, 7], [8, 9, 0]])).shape  # the second text has 2 tokens
    (2, 3)
    """
    return TextClassifier(vocab_size, embedding_dim, hidden, num_classes, arch, layers,
                          bidirectional, dropout, padding_idx, pooling, rng)  # fmt: skip


def tagger(vocab_size: int, num_tags: int, embedding_dim: int = 64, hidden: int = 128,
           arch: str = "lstm", layers: int = 1, bidirectional: bool = True,
           dropout: float = 0.0, padding_idx: int | None = 0,
           rng: nn_init.RNG = None) -> SequenceTagger:  # fmt: skip
    """A BiLSTM (by default) sequence tagger (see ``SequenceTagger``).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import tagger
    >>> tagger(100, num_tags=12, embedding_dim=8, hidden=16, rng=0)(np.ones((2, 5), int)).shape
    (2, 5, 12)
    """
    return SequenceTagger(vocab_size, embedding_dim, hidden, num_tags, arch, layers,
                          bidirectional, dropout, padding_idx, rng)  # fmt: skip


def gradient_norms_through_time(
    model: Any, ids: Any, target: Any, lengths: Any = None
) -> np.ndarray:
    """How much error signal reaches each time step: ``||d loss / d x_t||`` per step ``t``.

    ``model`` is a ``TextClassifier`` (or any model with ``embedding`` and
    ``forward_embedded``); ``ids`` ``(N, T)`` padded token ids and ``target`` their classes.
    The gradient of the mean cross-entropy with respect to the embedded input of each step is
    kept (``retain_grad``) and its L2 norm over batch and features returned, shape ``(T,)``.
    For a classifier reading the final state, a plain RNN's curve falls off quickly going back
    in time (vanishing gradients) where an LSTM's or GRU's stays up. Parameter gradients are
    left as they were.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import text_classifier, gradient_norms_through_time
    >>> model = text_classifier(20, 4, 8, arch="rnn", rng=0)
    >>> ids = np.random.default_rng(0).integers(1, 20, size=(6, 10))
    >>> norms = gradient_norms_through_time(model, ids, np.zeros(6, int))
    >>> norms.shape, bool(norms[-1] > norms[0])
    ((10,), True)
    """
    from chainrule.losses.functional import cross_entropy

    data = model._ids(ids)
    saved = [(p, p.grad) for p in model.parameters()]
    embedded = model.embedding(data)
    embedded.retain_grad()
    loss = cross_entropy(model.forward_embedded(embedded, model._lengths(data, lengths)), target)
    loss.backward()
    for p, grad in saved:
        p.grad = grad
    g = embedded.grad
    return np.sqrt((g.astype(np.float64) ** 2).sum(axis=(0, 2)))


def nearest_neighbours(
    weight: Any, tokens: Sequence[str], words: Sequence[str], k: int = 5
) -> dict[str, list[tuple[str, float]]]:
    """The ``k`` tokens whose embedding rows are closest (cosine) to each of ``words``.

    ``weight`` is an embedding table ``(V, D)`` (array, Tensor or ``Embedding``) whose row ``i``
    belongs to ``tokens[i]`` (``Vocabulary.tokens``). Words not in ``tokens`` are skipped;
    tokens written ``<...>`` (specials) are never neighbours.

    Examples
    --------
    >>> import numpy as np
    >>> w = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> nearest_neighbours(w, ["cat", "dog", "car"], ["cat"], k=1)
    {'cat': [('dog', 0.9939)]}
    """
    if isinstance(weight, Embedding):
        weight = weight.weight
    table = np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] != len(tokens):
        raise ShapeError(
            f"nearest_neighbours: a table of shape {table.shape} does not fit {len(tokens)} tokens"
        )
    k = check_positive_int(k, "nearest_neighbours: k")
    unit = table / np.maximum(np.linalg.norm(table, axis=1, keepdims=True), 1e-12)
    index = {t: i for i, t in enumerate(tokens)}
    special = np.array([t.startswith("<") and t.endswith(">") for t in tokens])
    result = {}
    for word in words:
        if word not in index:
            continue
        sims = unit @ unit[index[word]]
        sims[special] = -np.inf
        sims[index[word]] = -np.inf
        best = np.argsort(-sims, kind="stable")[:k]
        result[word] = [(tokens[i], round(float(sims[i]), 4)) for i in best if np.isfinite(sims[i])]
    return result
