"""Audio features against mathematics and stored librosa values; resampling; batching; masks."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from chainrule.data import audio
from chainrule.errors import ConfigError, ShapeError

HERE = Path(__file__).parent / "audio"


def _reference_module():
    spec = importlib.util.spec_from_file_location("ref", HERE / "make_librosa_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REFERENCE = json.loads((HERE / "librosa_reference.json").read_text())


def _close(ours, theirs, rtol=1e-4):
    """Relative 1e-4 on every value that is not negligible next to the largest (1e-6 of it)."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=1e-6 * np.abs(theirs).max())


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=lambda c: f"{c['sample_rate']}Hz")
def test_mel_log_mel_and_mfcc_match_stored_librosa_values(case):
    x = _reference_module().reference_signal(case["sample_rate"], case["seconds"])
    kw = {k: case[k] for k in ("n_fft", "hop_length", "n_mels", "fmin", "fmax", "htk")}
    mel = audio.mel_spectrogram(x, case["sample_rate"], norm=case["norm"], **kw)
    _close(mel, case["mel"])
    db = audio.log_mel_spectrogram(x, case["sample_rate"], norm=case["norm"], **kw)
    np.testing.assert_allclose(db, case["log_mel_db"], rtol=1e-4, atol=1e-3)  # dB: ~0 crossings
    if case["norm"] == "slaney":
        kw.pop("n_mels")
        ours = audio.mfcc(x, case["sample_rate"], case["n_mfcc"], n_mels=case["n_mels"], **kw)
        np.testing.assert_allclose(ours, case["mfcc"], rtol=1e-4, atol=1e-3)


def test_against_librosa_itself_when_installed():
    librosa = pytest.importorskip("librosa")  # not a test dependency; the stored values are
    rng = np.random.default_rng(3)
    x = rng.normal(size=3000).astype(np.float64)
    theirs = librosa.feature.melspectrogram(y=x, sr=12000, n_fft=400, hop_length=100, n_mels=30)
    _close(audio.mel_spectrogram(x, 12000, n_fft=400, hop_length=100, n_mels=30), theirs.T)


def test_mel_scales_invert_and_slaney_is_linear_below_1khz():
    hz = np.array([0.0, 200.0, 999.0, 1000.0, 4000.0, 11025.0])
    for htk in (False, True):
        np.testing.assert_allclose(audio.mel_to_hz(audio.hz_to_mel(hz, htk), htk), hz, atol=1e-9)
    np.testing.assert_allclose(audio.hz_to_mel([200.0, 400.0]), [3.0, 6.0])
    assert audio.hz_to_mel(6400.0) == pytest.approx(15 + 27)  # 27 mels per factor 6.4
    assert audio.hz_to_mel(700.0, htk=True) == pytest.approx(2595 * np.log10(2))


def test_filterbank_triangles():
    fb = audio.mel_filterbank(16000, 512, n_mels=20, norm=None)
    assert fb.shape == (20, 257) and fb.max() <= 1.0 + 1e-12
    # Neighbouring triangles overlap so their sum is 1 between the first and last centre.
    freqs = np.linspace(0, 8000, 257)
    centres = audio.mel_frequencies(22, 0.0, 8000.0)[1:-1]
    inside = (freqs > centres[0]) & (freqs < centres[-1])
    np.testing.assert_allclose(fb.sum(axis=0)[inside], 1.0, atol=1e-9)
    with pytest.raises(ConfigError, match="fmin < fmax"):
        audio.mel_filterbank(8000, 256, fmax=5000)


def test_spectrogram_of_a_sine_peaks_at_its_bin_and_obeys_parseval():
    rate, n_fft = 8000, 256
    x = np.sin(2 * np.pi * 1000 * np.arange(4000) / rate)  # 1 kHz = bin 32
    s = audio.spectrogram(x, n_fft=n_fft, hop_length=64, power=1.0)
    assert s.shape == (audio.frame_count(4000, n_fft, 64), 129)
    assert (s[5:-5].argmax(axis=1) == 32).all()
    # Hann window: the peak magnitude of a unit sine is sum(window) / 2.
    assert s[20, 32] == pytest.approx(n_fft / 4, rel=1e-6)
    assert audio.spectrogram(x.astype(np.float32), n_fft=n_fft).dtype == np.float32
    with pytest.raises(ShapeError, match="mono"):
        audio.spectrogram(np.zeros((10, 2)))


def test_mfcc_is_the_orthonormal_dct_of_log_mel():
    d = audio.dct_matrix(8, 8)
    np.testing.assert_allclose(d @ d.T, np.eye(8), atol=1e-12)
    x = np.random.default_rng(0).normal(size=2000)
    logmel = audio.log_mel_spectrogram(x, 8000, n_fft=256, n_mels=26)
    m = audio.mfcc(x, 8000, n_mfcc=26, n_fft=256, n_mels=26)
    np.testing.assert_allclose(m @ audio.dct_matrix(26, 26), logmel, atol=1e-9)  # inverse DCT


def test_resample_matches_scipy_resample_poly():
    signal = pytest.importorskip("scipy.signal")  # scipy comes with scikit-learn (test extra)
    x = np.random.default_rng(1).normal(size=(1001, 2))
    for orig, target in ((8000, 16000), (22050, 8000), (48000, 16000), (16000, 44100)):
        ours = audio.resample(x, orig, target)
        g = np.gcd(orig, target)
        theirs = signal.resample_poly(x, target // g, orig // g, axis=0)
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, atol=1e-10)


def test_resample_keeps_a_tone_and_removes_what_the_new_rate_cannot_hold():
    t = np.arange(16000) / 16000
    low = np.sin(2 * np.pi * 500 * t)
    y = audio.resample(low.astype(np.float32), 16000, 8000)
    assert y.dtype == np.float32 and y.shape == (8000,)
    np.testing.assert_allclose(y[200:-200], low[::2][200:-200], atol=2e-3)
    high = np.sin(2 * np.pi * 6000 * t)  # above the new Nyquist frequency (4 kHz)
    assert np.abs(audio.resample(high, 16000, 8000)[200:-200]).max() < 0.01
    np.testing.assert_array_equal(audio.resample(low, 16000, 16000), low)
    with pytest.raises(ConfigError, match="target_sr"):
        audio.resample(low, 16000, 0)


def test_fix_length_pad_frames_and_lengths():
    assert audio.fix_length(np.ones(10), 4).shape == (4,)
    seqs = [np.full((5, 3), 2.0), np.full((2, 3), -1.0), np.full((7, 3), 1.0)]
    x, lengths = audio.pad_frames(seqs)
    assert x.shape == (3, 7, 3) and lengths.tolist() == [5, 2, 7]
    assert (x[1, 2:] == 0).all()
    np.testing.assert_array_equal(audio.lengths_of(x), lengths)
    cropped, lengths = audio.pad_frames(seqs, max_frames=4)
    assert cropped.shape == (3, 4, 3) and lengths.tolist() == [4, 2, 4]
    with pytest.raises(ShapeError, match="same features"):
        audio.pad_frames([np.ones((2, 3)), np.ones((2, 4))])


def test_normalisation_per_utterance_and_global():
    rng = np.random.default_rng(0)
    u = rng.normal(3.0, 5.0, size=(200, 4))
    z = audio.normalize_utterance(u)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-9)
    seqs = [rng.normal(1.0, 2.0, size=(n, 4)) for n in (10, 50, 3)]
    mean, std = audio.global_stats(seqs)
    allframes = np.concatenate(seqs)
    np.testing.assert_allclose(mean, allframes.mean(axis=0))
    np.testing.assert_allclose(std, allframes.std(axis=0))
    g = audio.normalize_global(allframes, mean, std)
    np.testing.assert_allclose(g.std(axis=0), 1, atol=1e-9)
    with pytest.raises(ShapeError, match="statistics"):
        audio.normalize_global(allframes, mean[:2], std[:2])


def test_spec_augment_masks_inside_lengths_reproducibly():
    x = np.ones((3, 30, 10), np.float32)
    lengths = np.array([30, 12, 5])
    x[1, 12:] = x[2, 5:] = 0
    a = audio.spec_augment(x, np.random.default_rng(7), 2, 6, 2, 3, lengths=lengths)
    b = audio.spec_augment(x, np.random.default_rng(7), 2, 6, 2, 3, lengths=lengths)
    np.testing.assert_array_equal(a, b)
    assert (x[0] == 1).all()  # the input is untouched
    assert (a == 0).sum() > (x == 0).sum()
    np.testing.assert_array_equal(a[1, 12:], 0)
    masked_frames = (a[0] == 0).all(axis=1).sum()
    assert masked_frames <= 12
    none = audio.spec_augment(x, 0, time_masks=0, freq_masks=0)
    np.testing.assert_array_equal(none, x)
    with pytest.raises(ConfigError, match="time_masks"):
        audio.spec_augment(x, 0, time_masks=-1)


def test_feature_settings_extract_resamples_crops_and_round_trips(tmp_path):
    s = audio.FeatureSettings(sample_rate=8000, n_mels=20, duration=0.5)
    assert s.fft_size == 256 and s.hop == 80 and s.max_frames == 51
    audio.write_wav(tmp_path / "a.wav", np.sin(np.arange(44100) * 0.05), 44100)
    feats = s.extract_file(tmp_path / "a.wav")
    assert feats.shape == (51, 20) and feats.dtype == np.float32
    np.testing.assert_allclose(feats.mean(axis=0), 0, atol=1e-4)
    m = audio.FeatureSettings(sample_rate=8000, kind="mfcc", n_mfcc=13, normalization="none")
    assert m.extract(np.zeros(8000), 8000).shape == (101, 13)
    assert audio.FeatureSettings.from_dict(s.to_dict()) == s
    with pytest.raises(ConfigError, match="unknown keys"):
        audio.FeatureSettings.from_dict({"sample_rate": 8000, "window": "hann"})
    with pytest.raises(ConfigError, match="normalization"):
        audio.FeatureSettings(normalization="batch")


def test_global_normalisation_is_fitted_and_stored():
    s = audio.FeatureSettings(sample_rate=8000, n_mels=8, normalization="global")
    rng = np.random.default_rng(0)
    signals = [rng.normal(size=800) * k for k in (0.5, 1.0, 2.0)]
    raw = [s.extract(x, 8000) for x in signals]  # no statistics yet: un-normalised
    fitted = s.fit_global(raw)
    z = np.concatenate([fitted.extract(x, 8000) for x in signals])
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-4)
    again = audio.FeatureSettings.from_dict(json.loads(json.dumps(fitted.to_dict())))
    assert again == fitted
    with pytest.raises(ConfigError, match="mean and std"):
        audio.FeatureSettings(n_mels=8, mean=(0.0,) * 8)


def test_trim_silence_keeps_the_sound_and_settings_apply_it():
    rate = 8000
    tone = 0.5 * np.sin(2 * np.pi * 500 * np.arange(rate // 2) / rate)
    x = np.concatenate([np.zeros(rate), tone, 1e-4 * np.ones(rate)])
    y = audio.trim_silence(x, top_db=30, frame=256, hop=80)
    assert 4000 <= len(y) <= 4000 + 2 * 256 and np.abs(y).max() == pytest.approx(0.5, abs=1e-3)
    np.testing.assert_array_equal(audio.trim_silence(np.zeros(5000)), np.zeros(5000))
    trimmed = audio.FeatureSettings(sample_rate=rate, trim_db=30.0)
    assert (
        len(trimmed.extract(x, rate))
        < len(audio.FeatureSettings(sample_rate=rate).extract(x, rate)) // 2
    )
