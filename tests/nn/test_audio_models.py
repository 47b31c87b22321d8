"""AudioClassifier: lengths read from padding, padding invariance, learning tones, configs."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import nn, optim
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, ShapeError
from chainrule.nn.audio_models import frame_lengths
from chainrule.training import Trainer


def _batch(rng, n=4, steps=12, features=6):
    x = rng.normal(size=(n, steps, features)).astype(np.float64)
    lengths = rng.integers(3, steps + 1, size=n)
    lengths[0] = steps
    for i, length in enumerate(lengths):
        x[i, length:] = 0.0
    return x, lengths


@pytest.mark.parametrize("arch", ["gru", "lstm", "dense"])
@pytest.mark.parametrize("pooling", ["mean", "max", "last"])
def test_padding_changes_nothing(arch, pooling):
    rng = np.random.default_rng(0)
    x, lengths = _batch(rng)
    model = nn.AudioClassifier(6, 3, hidden=5, arch=arch, pooling=pooling, rng=0)
    model.to(np.float64) if hasattr(model, "to") else None
    np.testing.assert_array_equal(frame_lengths(x), lengths)
    implicit = model(x).data
    np.testing.assert_allclose(model(x, lengths).data, implicit, atol=1e-12)
    longer = np.concatenate([x, np.zeros((4, 7, 6))], axis=1)  # more padding, same utterances
    np.testing.assert_allclose(model(longer).data, implicit, atol=1e-5)
    alone = model(x[1:2, : lengths[1]]).data  # the utterance without any padding
    np.testing.assert_allclose(alone, implicit[1:2], atol=1e-5)


@pytest.mark.parametrize("layers", [2, 3])
def test_conv1d_padding_changes_nothing_in_eval_mode(layers):
    """Lengths halve (rounded up) at each pooling; frames past them never reach the mean."""
    rng = np.random.default_rng(1)
    x, lengths = _batch(rng, steps=13)
    model = nn.AudioClassifier(6, 3, hidden=5, arch="conv1d", layers=layers, rng=0)
    for block in model.conv:  # non-trivial running statistics, so BatchNorm shifts zeros
        block[1].running_mean.data[:] = rng.normal(size=5)
        block[1].running_var.data[:] = rng.uniform(0.5, 2.0, size=5)
    model.eval()
    implicit = model(x).data.astype(np.float64)
    longer = np.concatenate([x, np.zeros((4, 6, 6))], axis=1)
    np.testing.assert_allclose(model(longer).data, implicit, atol=1e-5)
    for i in range(4):
        alone = model(x[i : i + 1, : lengths[i]]).data
        np.testing.assert_allclose(alone, implicit[i : i + 1], atol=1e-5)
    assert model(x[:1, :1]).shape == (1, 3)  # one frame: still one pooled frame per block
    model.train()
    loss = model(x).sum()
    loss.backward()
    grads = [p.grad for _, p in model.named_parameters()]
    assert all(g is not None and np.isfinite(g).all() for g in grads)


def test_conv1d_config_round_trip_and_model_file(tmp_path):
    from chainrule.io.model_file import load, save

    model = nn.AudioClassifier(6, 3, hidden=4, arch="conv1d", layers=3, dropout=0.1, rng=0)
    config = model.get_config()
    assert (config["arch"], config["layers"]) == ("conv1d", 3)
    rebuilt = nn.AudioClassifier(**config)
    assert rebuilt.get_config() == config
    assert nn.AudioClassifier(6, 3, arch="conv1d").layers == 2  # the default: two blocks
    assert nn.AudioClassifier(6, 3, arch="gru").layers == 1
    x = np.random.default_rng(0).normal(size=(2, 9, 6)).astype(np.float32)
    model.eval()
    for block in model.conv:  # trained-looking running statistics must travel too
        block[1].running_mean.data[:] = 0.5
    save(model, tmp_path / "m")
    loaded = load(tmp_path / "m").model
    np.testing.assert_allclose(loaded(x).data, model(x).data, atol=1e-6)


def test_spec_size_is_the_parameter_count():
    for kw in ({"arch": "gru"}, {"arch": "lstm", "layers": 2, "bidirectional": True},
               {"arch": "dense"}, {"arch": "conv1d"}, {"arch": "conv1d", "layers": 3}):  # fmt: skip
        model = nn.AudioClassifier(10, 4, hidden=7, rng=0, **kw)
        assert nn.AudioClassifier.spec_size(model.get_config()) == model.num_parameters()


def test_bad_arguments_and_shapes():
    with pytest.raises(ConfigError, match="arch must be one of"):
        nn.AudioClassifier(4, 2, arch="transformer")
    with pytest.raises(ConfigError, match="pooling"):
        nn.AudioClassifier(4, 2, pooling="attention")
    with pytest.raises(ShapeError, match=r"expects frames \(batch, steps, 4\)"):
        nn.AudioClassifier(4, 2, rng=0)(np.zeros((2, 5, 3)))


@pytest.mark.parametrize("arch", ["gru", "dense", "conv1d"])
def test_learns_rising_from_falling_tones(arch):
    """Chirps up vs down have the same bands on average: only time order tells them apart for
    the GRU; the dense baseline gets a steady low vs high tone task instead."""
    from chainrule.data import audio

    rng = np.random.default_rng(0)
    settings = audio.FeatureSettings(
        sample_rate=4000, n_mels=16, n_fft=128, hop_length=80, normalization="none"
    )
    xs, ys = [], []
    t = np.arange(2000) / 4000
    for i in range(48):
        label = i % 2
        f0, f1 = rng.uniform(200, 500), rng.uniform(1200, 1800)
        if arch in ("gru", "conv1d"):
            lo, hi = (f0, f1) if label else (f1, f0)
            phase = 2 * np.pi * (lo * t + (hi - lo) * t**2 / (2 * t[-1]))
        else:
            phase = 2 * np.pi * (f1 if label else f0) * t
        n = int(rng.integers(1200, 2001))
        xs.append(settings.extract(np.sin(phase[:n]) + 0.05 * rng.normal(size=n), 4000))
        ys.append(label)
    x, _ = audio.pad_frames(xs)
    y = np.array(ys)
    model = nn.AudioClassifier(16, 2, hidden=12, arch=arch, rng=1)
    opt = optim.create("adam", model.named_parameters(), lr=1e-2)
    Trainer(model, nn.CrossEntropyLoss(), opt).fit(x[:32], y[:32], epochs=15, batch_size=8, seed=0)
    model.eval()
    accuracy = (model(Tensor(x[32:])).data.argmax(1) == y[32:]).mean()
    assert accuracy >= 0.9
