"""Text data: tokenizers, Vocabulary (build, encode, JSON round trip, hostile input), batching."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chainrule.data.text import (
    Tokenizer,
    Vocabulary,
    encode_texts,
    length_batches,
    pad_sequences,
    tokenize_chars,
    tokenize_words,
)
from chainrule.errors import ConfigError, FormatError


def test_word_tokens_split_punctuation_and_lowercase() -> None:
    assert tokenize_words("Hello, World! It's an e-mail (really).") == [
        "hello", ",", "world", "!", "it's", "an", "e-mail", "(", "really", ")", ".",
    ]  # fmt: skip
    assert tokenize_words("ABC def", lowercase=False) == ["ABC", "def"]
    assert tokenize_chars("Ab\n c") == ["A", "b", " ", "c"]
    assert Tokenizer("char", lowercase=True)("AB") == ["a", "b"]


def test_tokenizer_round_trip_and_errors() -> None:
    tok = Tokenizer("char")
    again = Tokenizer.from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again.kind == "char" and again.lowercase is False
    with pytest.raises(ConfigError, match="kind must be one of"):
        Tokenizer("bpe")
    with pytest.raises(FormatError, match="tokenizer: expected"):
        Tokenizer.from_dict({"kind": "word"})
    with pytest.raises(FormatError, match="kind must be one of"):
        Tokenizer.from_dict({"kind": "x", "lowercase": True})


def test_vocabulary_min_freq_max_size_and_ties() -> None:
    corpus = [["b", "a", "c", "a"], ["b", "d", "a", "<pad>"]]
    vocab = Vocabulary.build(corpus)
    assert vocab.tokens == ["<pad>", "<unk>", "a", "b", "c", "d"]  # counts, then alphabetical
    assert Vocabulary.build(corpus, min_freq=2).tokens == ["<pad>", "<unk>", "a", "b"]
    assert Vocabulary.build(corpus, max_size=3).tokens == ["<pad>", "<unk>", "a"]
    assert vocab.pad_index == 0 and vocab.unk_index == 1
    assert vocab.encode(["d", "zz", "a"]).tolist() == [5, 1, 2]
    assert vocab.decode([2, 3]) == ["a", "b"]
    assert "c" in vocab and len(vocab) == 6


def test_vocabulary_without_unk_refuses_unknown_tokens() -> None:
    tags = Vocabulary.build([["NN", "VB"]], specials=())
    assert tags.encode(["VB", "NN"]).tolist() == [1, 0]
    with pytest.raises(ConfigError, match="unknown token 'JJ' and no <unk>"):
        tags.encode(["JJ"])
    with pytest.raises(ConfigError, match="id 7 outside"):
        tags.decode([7])


def test_vocabulary_json_round_trip_and_hostile_files() -> None:
    vocab = Vocabulary.build([["héllo", "wörld"]])
    assert Vocabulary.from_json(vocab.to_json()) == vocab
    with pytest.raises(FormatError, match="not valid JSON"):
        Vocabulary.from_json("{")
    with pytest.raises(FormatError, match="expected an object"):
        Vocabulary.from_dict(["a"])
    with pytest.raises(FormatError, match="must be strings"):
        Vocabulary.from_dict({"tokens": ["<pad>", 3], "specials": ["<pad>"]})
    with pytest.raises(FormatError, match="appears twice"):
        Vocabulary.from_dict({"tokens": ["a", "a"], "specials": []})
    with pytest.raises(FormatError, match="not among the tokens"):
        Vocabulary.from_dict({"tokens": ["a"], "specials": ["<unk>"]})
    with pytest.raises(ConfigError, match="min_freq must be a positive integer"):
        Vocabulary.build([], min_freq=0)
    with pytest.raises(ConfigError, match="max_size must be an integer of at least 2"):
        Vocabulary.build([], max_size=1)


def test_padding_truncation_and_encoding() -> None:
    ids, lengths = pad_sequences([[1, 2, 3, 4], [], [5]], pad_value=9, max_length=3)
    assert ids.tolist() == [[1, 2, 3], [9, 9, 9], [5, 9, 9]] and lengths.tolist() == [3, 0, 1]
    assert ids.dtype == np.int64
    tok = Tokenizer("word")
    vocab = Vocabulary.build([tok("the cat sat on the mat")])
    ids, lengths = encode_texts(["The dog sat.", "cat"], tok, vocab, max_length=3)
    the, sat = vocab.index("the"), vocab.index("sat")
    assert ids.tolist() == [[the, 1, sat], [vocab.index("cat"), 0, 0]]
    assert lengths.tolist() == [3, 1]
    with pytest.raises(ConfigError, match="max_length must be a positive integer"):
        pad_sequences([[1]], max_length=0)


def test_length_batches_cover_everything_once_with_similar_lengths() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 100, size=103)
    batches = list(length_batches(lengths, 10, rng=1))
    seen = np.concatenate(batches)
    assert sorted(seen.tolist()) == list(range(103)) and len(batches) == 11
    spread = max(np.ptp(lengths[b]) for b in batches)
    assert spread < 30  # sorted by length: a random split would spread over ~90
    again = [b.tolist() for b in length_batches(lengths, 10, rng=1)]
    assert again == [b.tolist() for b in batches]
    assert [b.tolist() for b in length_batches([3, 1, 2], 2, shuffle=False)] == [[1, 2], [0]]
    with pytest.raises(ConfigError, match="batch_size must be a positive integer"):
        next(length_batches([1], 0))
