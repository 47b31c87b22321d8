"""Text classifier and tagger builders, gradient norms through time, embedding neighbours."""

from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ConfigError, ShapeError

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_classifier_reads_lengths_from_padding(
    arch: str, bidirectional: bool, pooling: str
) -> None:
    model = nn.text_classifier(
        30, 6, 5, arch=arch, layers=2, bidirectional=bidirectional, num_classes=3,
        pooling=pooling, rng=0,
    ).astype(np.float64)  # fmt: skip
    ids = RNG.integers(1, 30, size=(4, 7))
    ids[1, 3:] = 0
    ids[2, 1:] = 0
    logits = model(ids)
    assert logits.shape == (4, 3)
    for n, length in enumerate([7, 3, 1, 7]):
        alone = model(ids[n : n + 1, :length])
        np.testing.assert_allclose(alone.data[0], logits.data[n], atol=1e-12)
    config = json.loads(json.dumps(model.get_config()))
    rebuilt = nn.TextClassifier(**config, rng=1).astype(np.float64)
    assert nn.TextClassifier.spec_size(config) == model.num_parameters()
    rebuilt.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(rebuilt(ids).data, logits.data)


def test_tagger_gives_a_tag_per_token_and_learns_a_rule() -> None:
    # Tag = whether the previous token is 1: needs the left context (a BiLSTM has it).
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 4, size=(128, 9))
    ids[::3, 6:] = 0
    tags = np.zeros_like(ids)
    tags[:, 1:] = ids[:, :-1] == 1
    tags[ids == 0] = -100
    model = nn.tagger(4, num_tags=2, embedding_dim=8, hidden=16, rng=0)
    assert model(ids).shape == (128, 9, 2)
    opt = cr.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(40):
        loss = nn.functional.cross_entropy(model(ids), tags, class_axis=-1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with cr.no_grad():
        predicted = model(ids).data.argmax(axis=-1)
    real = tags != -100
    assert (predicted[real] == tags[real]).mean() > 0.97
    assert model.get_config()["num_tags"] == 2 and model.get_config()["bidirectional"]
    assert nn.SequenceTagger.spec_size(model.get_config()) == model.num_parameters()


def test_builder_errors() -> None:
    with pytest.raises(ConfigError, match="arch must be one of"):
        nn.text_classifier(10, arch="transformer")
    with pytest.raises(ConfigError, match="pooling must be one of"):
        nn.text_classifier(10, pooling="attention")
    with pytest.raises(ConfigError, match="dropout must be a number"):
        nn.tagger(10, 3, dropout=2.0)
    with pytest.raises(ShapeError, match=r"padded token ids of shape \(batch, steps\)"):
        nn.text_classifier(10, 4, 4, rng=0)(np.array([1, 2, 3]))


def test_gradient_norms_through_time_vanish_for_a_plain_rnn() -> None:
    ids = RNG.integers(1, 50, size=(16, 40))
    target = RNG.integers(0, 2, size=16)
    rnn = nn.text_classifier(50, 8, 16, arch="rnn", rng=0).astype(np.float64)
    lstm = nn.text_classifier(50, 8, 16, arch="lstm", rng=0).astype(np.float64)
    before = [p.grad for p in rnn.parameters()]
    norms = nn.gradient_norms_through_time(rnn, ids, target)
    assert norms.shape == (40,) and np.all(norms > 0)
    assert norms[-1] > 1e3 * norms[0]  # 40 steps of tanh recurrence: the signal dies out
    assert [p.grad for p in rnn.parameters()] == before  # parameter gradients untouched
    lstm_norms = nn.gradient_norms_through_time(lstm, ids, target)
    assert lstm_norms[0] / lstm_norms[-1] > norms[0] / norms[-1]
    # The norm at a step equals the gradient of the loss with respect to that step's input.
    model = nn.text_classifier(50, 8, 16, arch="gru", rng=0).astype(np.float64)
    emb = cr.tensor(model.embedding(ids).data, requires_grad=True)
    nn.functional.cross_entropy(model.forward_embedded(emb, None), target).backward()
    expected = np.sqrt((emb.grad**2).sum(axis=(0, 2)))
    np.testing.assert_allclose(nn.gradient_norms_through_time(model, ids, target), expected)


def test_nearest_neighbours() -> None:
    weight = np.array([[0.0, 0.0], [1.0, 0.0], [0.8, 0.2], [-1.0, 0.1], [0.0, 1.0]])
    tokens = ["<pad>", "good", "great", "bad", "table"]
    result = nn.nearest_neighbours(weight, tokens, ["good", "missing"], k=2)
    assert list(result) == ["good"]
    assert [t for t, _ in result["good"]] == ["great", "table"]
    assert result["good"][0][1] == pytest.approx(0.8 / np.hypot(0.8, 0.2), abs=1e-4)
    emb = nn.Embedding(5, 2, rng=0)
    assert len(nn.nearest_neighbours(emb, tokens, ["bad"], k=10)["bad"]) == 3  # no <pad>, no self
    with pytest.raises(ShapeError, match="does not fit 4 tokens"):
        nn.nearest_neighbours(weight, tokens[:4], ["good"])


def test_model_file_round_trip_with_the_vocabulary(tmp_path) -> None:
    from chainrule import io
    from chainrule.data.text import Tokenizer, Vocabulary, encode_texts

    texts = ["free money now", "meeting at noon", "free offer"]
    tok = Tokenizer("word")
    vocab = Vocabulary.build(tok(t) for t in texts)
    model = nn.text_classifier(len(vocab), 4, 6, arch="gru", bidirectional=True, rng=0)
    ids, _ = encode_texts(texts, tok, vocab)
    pre = {"tokenizer": tok.to_dict(), "vocabulary": vocab.to_dict()}
    path = io.save(model, tmp_path / "spam", class_names=["ham", "spam"], preprocessing=pre)
    loaded = io.load(path)
    again = Vocabulary.from_dict(loaded.preprocessing["vocabulary"])
    tok2 = Tokenizer.from_dict(loaded.preprocessing["tokenizer"])
    ids2, _ = encode_texts(texts, tok2, again)
    np.testing.assert_array_equal(ids2, ids)
    np.testing.assert_array_equal(loaded.model(ids2).data, model(ids).data)
    assert type(loaded.model) is nn.TextClassifier
