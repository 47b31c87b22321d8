"""Class folders of WAV files: listing, features, labels, names, global normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.data import audio
from chainrule.errors import ConfigError, DataNotFoundError, FormatError


def _folder(root, rates=(8000, 16000)):
    rng = np.random.default_rng(0)
    for cls, freq in (("high", 2500.0), ("low", 300.0)):
        (root / cls / "sub").mkdir(parents=True)
        for i, rate in enumerate(rates):
            t = np.arange(int(0.2 * rate)) / rate
            x = 0.5 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.normal(size=len(t))
            audio.write_wav(root / cls / f"p{i}.wav", x, rate)
        audio.write_wav(root / cls / "sub" / "deep.wav", np.zeros(400), 8000)
        (root / cls / "notes.txt").write_text("not audio")
        (root / cls / ".hidden.wav").write_bytes(b"junk")
    return root


def test_load_folder_features_labels_and_names(tmp_path):
    root = _folder(tmp_path)
    s = audio.FeatureSettings(sample_rate=8000, n_mels=20, duration=0.25, normalization="none")
    data = audio.load_audio_folder(root, s, progress=True)
    assert data.class_names == ["high", "low"]
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert data.names == ["p0", "p1", "sub/deep"] * 2
    assert [len(f) for f in data.features] == [21, 21, 6] * 2  # 0.2 s, 0.2 s, 0.05 s
    x, lengths = data.padded()  # padded to the duration, 0.25 s
    assert x.shape == (6, 26, 20) and lengths.tolist() == [21, 21, 6] * 2
    signal = audio.FeatureSettings(sample_rate=8000, n_mels=20, duration=0.25, pad="signal")
    assert all(len(f) == 26 for f in audio.load_audio_folder(root, signal).features)
    band = audio.mel_frequencies(22, 0, 4000)[1:-1]
    # The loudest band of each tone is the one holding its frequency.
    assert abs(band[x[0].mean(axis=0).argmax()] - 2500) < 200
    assert abs(band[x[3].mean(axis=0).argmax()] - 300) < 100


def test_class_names_of_a_model_map_the_folders(tmp_path):
    root = _folder(tmp_path, rates=(8000,))
    data = audio.load_audio_folder(root, audio.FeatureSettings(sample_rate=8000),
                                   class_names=["low", "mid", "high"])  # fmt: skip
    assert data.labels.tolist() == [2, 2, 0, 0]
    with pytest.raises(FormatError, match=r"\['high'\] are not classes of the model"):
        audio.load_audio_folder(root, class_names=["low"])


def test_global_normalisation_from_the_training_part(tmp_path):
    root = _folder(tmp_path)
    s = audio.FeatureSettings(sample_rate=8000, n_mels=10, normalization="global")
    data = audio.load_audio_folder(root, s)
    train = np.array([True, True, False, True, True, False])
    raw_train = np.concatenate([f for f, keep in zip(data.features, train) if keep])
    fitted = data.fit_normalization(train)
    np.testing.assert_allclose(fitted.mean, raw_train.mean(axis=0), rtol=1e-5, atol=1e-4)
    z = np.concatenate([f for f, keep in zip(data.features, train) if keep])
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-4)
    with pytest.raises(ConfigError, match="already normalised"):
        data.fit_normalization()


def test_folder_errors(tmp_path):
    with pytest.raises(DataNotFoundError):
        audio.load_audio_folder(tmp_path / "nope")
    (tmp_path / "only").mkdir()
    with pytest.raises(FormatError, match="expected at least 2"):
        audio.list_audio_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="no .wav files in this class"):
        audio.list_audio_folder(tmp_path)
    (tmp_path / "file.wav").write_bytes(b"x")
    with pytest.raises(FormatError, match="is a file"):
        audio.list_audio_folder(tmp_path / "file.wav")
