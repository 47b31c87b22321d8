"""Padding token-id sequences into arrays, and batches of similar lengths."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from chainrule.errors import ConfigError

__all__ = ["pad_sequences", "length_batches"]


def pad_sequences(
    sequences: Sequence[Any],
    pad_value: int = 0,
    max_length: int | None = None,
    dtype: Any = np.int64,
) -> tuple[np.ndarray, np.ndarray]:
    """Stack sequences into ``(N, T)`` (batch first), padded at the end; also their lengths.

    ``max_length`` cuts longer sequences (their beginning is kept). A sequence of length 0
    becomes one padding step of length 0.

    Examples
    --------
    >>> ids, lengths = pad_sequences([[5, 6, 7], [8]])
    >>> ids.tolist(), lengths.tolist()
    ([[5, 6, 7], [8, 0, 0]], [3, 1])
    """
    if max_length is not None and (
        isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1
    ):
        raise ConfigError(
            f"pad_sequences: max_length must be a positive integer, got {max_length!r}"
        )
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    if max_length is not None:
        lengths = np.minimum(lengths, max_length)
    width = max(int(lengths.max()) if lengths.size else 0, 1)
    out = np.full((len(sequences), width), pad_value, dtype=dtype)
    for i, (s, n) in enumerate(zip(sequences, lengths)):
        if n:
            out[i, :n] = np.asarray(s[:n])
    return out, lengths


def length_batches(
    lengths: Any,
    batch_size: int,
    shuffle: bool = True,
    rng: np.random.Generator | int | None = None,
) -> Iterator[np.ndarray]:
    """Index arrays of batches whose sequences have similar lengths (less padding, less work).

    The indices are sorted by length (ties in random order when shuffling), cut into batches,
    and the batches are visited in random order when ``shuffle``.

    Examples
    --------
    >>> [b.tolist() for b in length_batches([5, 1, 4, 2], 2, shuffle=False)]
    [[1, 3], [2, 0]]
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(
            f"length_batches: batch_size must be a positive integer, got {batch_size!r}"
        )
    lengths = np.asarray(lengths)
    gen = np.random.default_rng(rng) if shuffle else None
    if gen is not None:
        tie = gen.random(lengths.size)
        order = np.lexsort((tie, lengths))
    else:
        order = np.argsort(lengths, kind="stable")
    batches = [order[i : i + batch_size] for i in range(0, order.size, batch_size)]
    visit = gen.permutation(len(batches)) if gen is not None else range(len(batches))
    for k in visit:
        yield batches[k]


def encode_texts(
    texts: Sequence[str], tokenizer: Any, vocab: Any, max_length: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Tokenize, encode and pad ``texts``: ids ``(N, T)`` (``<pad>`` after the end), lengths.

    Examples
    --------
    >>> from chainrule.data.text import Tokenizer, Vocabulary
    >>> tok = Tokenizer("word")
    >>> vocab = Vocabulary.build([tok("a b c")])
    >>> ids, lengths = encode_texts(["a b", "c"], tok, vocab)
    >>> ids.tolist(), lengths.tolist()
    ([[2, 3], [4, 0]], [2, 1])
    """
    pad = vocab.pad_index if vocab.pad_index is not None else 0
    encoded = [
        vocab.encode(tokenizer(t)[:max_length] if max_length else tokenizer(t)) for t in texts
    ]
    return pad_sequences(encoded, pad_value=pad, max_length=max_length)
