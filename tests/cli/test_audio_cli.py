"""Audio from the command line: train --audio-dir, evaluate, predict WAV files and folders."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chainrule.data.audio import write_wav

Run = tuple[Path, Path, subprocess.CompletedProcess[str]]


def _tones(root: Path, count: int = 10) -> Path:
    """Three classes of 0.4-1 s sounds at 8 or 16 kHz: a low tone, a high tone, a rising chirp."""
    rng = np.random.default_rng(0)
    for cls in ("high", "low", "rise"):
        (root / cls).mkdir(parents=True)
        for i in range(count):
            rate = 8000 if i % 2 else 16000
            t = np.arange(int(rng.uniform(0.4, 1.0) * rate)) / rate
            if cls == "rise":
                phase = 2 * np.pi * (300 * t + 1500 * t**2 / (2 * t[-1]))
            else:
                phase = 2 * np.pi * (1500 if cls == "high" else 300) * rng.uniform(0.9, 1.1) * t
            x = 0.5 * np.sin(phase) + 0.02 * rng.normal(size=len(t))
            write_wav(root / cls / f"{cls}{i}.wav", x, rate)
    return root


@pytest.fixture(scope="module")
def audio_run(tmp_path_factory: Any, cli: Any) -> Run:
    base = tmp_path_factory.mktemp("audio")
    data = _tones(base / "tones")
    out = base / "run"
    result = cli(
        "train", "--audio-dir", str(data), "--arch", "gru", "--sample-rate", "8000",
        "--n-mels", "20", "--hidden", "16", "--optimizer", "adam", "--lr", "0.01",
        "--epochs", "10", "--out", str(out), "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return data, out, result


def test_train_writes_model_report_and_spectrograms(audio_run: Run) -> None:
    data, out, result = audio_run
    assert "test accuracy" in result.stdout
    model = json.loads((out / "model.json").read_text())
    pre = model["preprocessing"]
    assert pre["kind"] == "audio" and pre["features"]["sample_rate"] == 8000
    assert pre["features"]["n_mels"] == 20 and len(pre["features"]["mean"]) == 20
    assert (out / "plots" / "spectrograms.png").is_file()
    assert (out / "plots" / "confusion_matrix.png").is_file()
    assert "spectrograms.png" in (out / "report.md").read_text()


def test_evaluate_and_predict_extract_as_training_did(audio_run: Run, cli: Any) -> None:
    data, out, _ = audio_run
    result = cli("evaluate", str(out / "model"), "--audio-dir", str(data), "--json")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    assert scores["samples"] == 30 and scores["accuracy"] >= 0.9
    assert scores["class_names"] == ["high", "low", "rise"]
    one = cli("predict", str(out / "model"), str(data / "rise" / "rise3.wav"), str(data / "low"),
              "--json")  # fmt: skip
    assert one.returncode == 0, one.stderr
    predictions = json.loads(one.stdout)
    assert len(predictions) == 11
    assert predictions[0]["class"] == "rise"
    assert sum(p["class"] == "low" for p in predictions[1:]) >= 9


def test_audio_errors_are_one_line(audio_run: Run, cli: Any, tmp_path: Path) -> None:
    data, out, _ = audio_run
    (tmp_path / "a.png").write_bytes(b"\x89PNG")
    bad = cli("predict", str(out / "model"), str(tmp_path / "a.png"))
    assert bad.returncode == 2 and "give .wav files or folders" in bad.stderr
    both = cli("train", "--audio-dir", str(data), "--csv", "x.csv", "--quiet")
    assert both.returncode == 2 and "give --audio-dir alone" in both.stderr
    (tmp_path / "c.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVE")
    broken = cli("predict", str(out / "model"), str(tmp_path / "c.wav"))
    assert broken.returncode == 2 and "no 'fmt ' chunk" in broken.stderr


def test_inspect_describes_the_audio_features(audio_run: Run, cli: Any) -> None:
    _, out, _ = audio_run
    result = cli("inspect", str(out / "model"))
    assert result.returncode == 0, result.stderr
    assert "WAV resampled to 8000 Hz, 20-band log_mel (global normalisation)" in result.stdout
    assert "AudioClassifier" in result.stdout


def test_audio_settings_are_validated() -> None:
    from chainrule.cli.config import build_config
    from chainrule.errors import ConfigError

    with pytest.raises(ConfigError, match="applies to --audio-dir"):
        build_config({}, {"arch": "gru"})
    with pytest.raises(ConfigError, match="arch: expected one of"):
        build_config({}, {"arch": "transformer", "audio_dir": "x"})
    with pytest.raises(ConfigError, match="sample_rate"):
        build_config({}, {"audio_dir": "x", "sample_rate": 10})
    with pytest.raises(ConfigError, match="duration"):
        build_config({}, {"audio_dir": "x", "duration": -1.0})
    config = build_config({}, {"audio_dir": "x", "arch": "lstm", "duration": 2.5})
    assert (config.arch, config.sample_rate, config.n_mels) == ("lstm", 16000, 40)
    assert build_config({}, {"audio_dir": "x", "arch": "conv1d"}).arch == "conv1d"
    with pytest.raises(ConfigError, match="text trains one of"):
        build_config({}, {"text_dir": "x", "arch": "conv1d"})


def test_conv1d_trains_evaluates_and_predicts(tmp_path: Path, cli: Any) -> None:
    """--arch conv1d: two Conv1d-BatchNorm-ReLU-MaxPool blocks over the log-mel frames."""
    data = _tones(tmp_path / "tones", count=8)
    out = tmp_path / "run"
    result = cli(
        "train", "--audio-dir", str(data), "--arch", "conv1d", "--sample-rate", "8000",
        "--n-mels", "20", "--hidden", "16", "--optimizer", "adam", "--lr", "0.01",
        "--epochs", "8", "--out", str(out), "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = json.loads((out / "model.json").read_text())["architecture"]["config"]
    assert (config["arch"], config["layers"], config["hidden"]) == ("conv1d", 2, 16)
    scores = cli("evaluate", str(out / "model"), "--audio-dir", str(data), "--json")
    assert scores.returncode == 0, scores.stderr
    assert json.loads(scores.stdout)["accuracy"] >= 0.9
    predicted = cli("predict", str(out / "model"), str(data / "high"), "--json")
    assert predicted.returncode == 0, predicted.stderr
    assert sum(p["class"] == "high" for p in json.loads(predicted.stdout)) >= 7


def test_default_hidden_applies_and_the_run_resumes(tmp_path: Path, cli: Any) -> None:
    """Without --hidden an audio run uses 64 units; the checkpoint is bound to that setting,
    so --resume continues instead of refusing a settings mismatch."""
    data = _tones(tmp_path / "tones", count=4)
    out = tmp_path / "run"
    common = ("--sample-rate", "8000", "--n-mels", "8", "--quiet", "--no-plots")
    first = cli("train", "--audio-dir", str(data), "--epochs", "1", "--out", str(out), *common)
    assert first.returncode == 0, first.stderr
    assert json.loads((out / "config.json").read_text())["hidden"] == [64]
    resumed = cli("train", "--resume", str(out), "--epochs", "2", "--quiet", "--no-plots")
    assert resumed.returncode == 0, resumed.stderr
    assert len(json.loads((out / "history.json").read_text())["epochs"]) == 2
