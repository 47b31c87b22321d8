"""Embedding: lookups, accumulated gradients of repeated ids, the padding row, errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ConfigError, DtypeError, ShapeError


def test_lookup_and_repeated_ids_accumulate() -> None:
    emb = nn.Embedding(6, 3, rng=0)
    ids = np.array([[1, 4, 1], [1, 0, 5]])
    out = emb(ids)
    np.testing.assert_array_equal(out.data, emb.weight.data[ids])
    g = np.arange(18, dtype=np.float32).reshape(2, 3, 3)
    out.backward(g)
    expected = np.zeros((6, 3), np.float32)
    for (n, t), i in np.ndenumerate(ids):
        expected[i] += g[n, t]
    np.testing.assert_array_equal(emb.weight.grad, expected)
    assert np.all(emb.weight.grad[2:4] == 0)


def test_gradient_of_many_ids_equals_one_scatter_add_bitwise() -> None:
    """Rows taken once are assigned and repeated ones scatter-added: the same bits as one
    add.at over every id, in float32 where the order of the additions shows."""
    rng = np.random.default_rng(3)
    emb = nn.Embedding(50, 4, rng=0)
    ids = rng.integers(0, 50, size=(7, 9)).astype(np.uint16)  # ~half the ids repeat
    g = rng.standard_normal((7, 9, 4)).astype(np.float32) * 1e3
    emb(ids).backward(g)
    expected = np.zeros((50, 4), np.float32)
    np.add.at(expected, ids.reshape(-1), g.reshape(-1, 4))
    assert 0 < np.sum(np.bincount(ids.reshape(-1)) > 1) < 50
    np.testing.assert_array_equal(emb.weight.grad, expected)


def test_padding_row_starts_at_zero_and_gets_no_gradient() -> None:
    emb = nn.Embedding(5, 2, padding_idx=-1, rng=0)
    assert emb.padding_idx == 4 and np.all(emb.weight.data[4] == 0)
    out = emb(np.array([4, 4, 2]))
    out.sum().backward()
    assert np.all(emb.weight.grad[4] == 0) and np.all(emb.weight.grad[2] == 1)
    assert emb.get_config() == {"num_embeddings": 5, "embedding_dim": 2, "padding_idx": 4}
    assert nn.Embedding.spec_size(emb.get_config()) == emb.num_parameters() == 10


def test_gradcheck_through_a_model() -> None:
    emb = nn.Embedding(4, 3, rng=0).astype(np.float64)
    ids = np.array([[0, 3, 3, 1]])
    assert cr.gradcheck(lambda w: (emb(ids) * emb(ids[:, ::-1])).sum(), [emb.weight])


def test_errors() -> None:
    with pytest.raises(ConfigError, match="outside the table of 3 rows"):
        nn.Embedding(3, 2, padding_idx=3)
    emb = nn.Embedding(3, 2, rng=0)
    with pytest.raises(ShapeError, match=r"token ids must lie in \[0, 2\]"):
        emb(np.array([0, 3]))
    with pytest.raises(DtypeError, match="indices must be integers"):
        emb(np.array([0.0, 1.0]))
