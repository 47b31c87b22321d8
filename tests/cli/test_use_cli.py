"""Using a trained model from the command line: evaluate, predict, inspect, gradcheck, lr-find."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from chainrule.data import load_digits

Run = tuple[Path, subprocess.CompletedProcess[str]]


def _one_line_error(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert text in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_help_on_every_command_with_examples(cli: Any) -> None:
    top = cli("--help")
    assert top.returncode == 0
    for command in ("train", "evaluate", "predict", "inspect", "gradcheck", "lr-find"):
        assert command in top.stdout
        sub = cli(command, "--help")
        assert sub.returncode == 0 and "examples:" in sub.stdout, command


def test_help_starts_fast(cli: Any) -> None:
    cli("--help")  # warm the file cache
    best = min(_timed(cli) for _ in range(3))
    assert best < 2.0  # generous: a guard against importing the heavy parts at start-up


def _timed(cli: Any) -> float:
    start = time.perf_counter()
    cli("--help")
    return time.perf_counter() - start


def test_evaluate_reports_the_training_test_accuracy(cli: Any, digits_run: Run) -> None:
    run_dir, train = digits_run
    result = cli("evaluate", str(run_dir / "model"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert f"test accuracy {report['accuracy']:.4f}" in train.stdout
    assert (
        len(report["confusion_matrix"]) == 10 and sum(map(sum, report["confusion_matrix"])) == 359
    )
    text = cli("evaluate", str(run_dir / "model"))
    assert "precision" in text.stdout and "confusion matrix" in text.stdout


def test_predict_images_written_to_disk(cli: Any, digits_run: Run, tmp_path: Path) -> None:
    run_dir, _ = digits_run
    _, (x_test, y_test) = load_digits()
    paths, expected = [], []
    for i in range(12):
        # Dark ink on white paper, 10x larger than the data set's images: as a photo would be.
        big = np.kron(1.0 - x_test[i], np.ones((10, 10)))
        path = tmp_path / f"digit{i}.png"
        Image.fromarray((big * 255).astype(np.uint8)).save(path)
        paths.append(str(path))
        expected.append(str(y_test[i]))
    result = cli("predict", str(run_dir / "model"), *paths, "--json", "--top", "3")
    assert result.returncode == 0, result.stderr
    predictions = json.loads(result.stdout)
    assert len(predictions) == 12 and len(predictions[0]["top"]) == 3
    correct = sum(p["class"] == e for p, e in zip(predictions, expected))
    assert correct >= 10, (predictions, expected)
    text = cli("predict", str(run_dir / "model"), paths[0])
    assert text.returncode == 0 and text.stdout.startswith(paths[0] + ": ")


def test_predict_npy_arrays(cli: Any, digits_run: Run, tmp_path: Path) -> None:
    run_dir, _ = digits_run
    _, (x_test, y_test) = load_digits()
    np.save(tmp_path / "batch.npy", x_test[:50])
    result = cli("predict", str(run_dir / "model"), str(tmp_path / "batch.npy"), "--json")
    assert result.returncode == 0, result.stderr
    predicted = [int(p["class"]) for p in json.loads(result.stdout)]
    assert np.mean(np.array(predicted) == y_test[:50]) >= 0.9


def test_inspect_shows_layers_settings_and_metrics(cli: Any, digits_run: Run) -> None:
    run_dir, _ = digits_run
    result = cli("inspect", str(run_dir / "model"))
    assert result.returncode == 0, result.stderr
    assert "Linear(64 -> 256" in result.stdout and "0.weight" in result.stdout
    assert "256x64" in result.stdout and "19,210" in result.stdout  # 64*256+256 + 256*10+10
    assert "optimizer: sgd" in result.stdout and "test_accuracy" in result.stdout
    info = json.loads(cli("inspect", str(run_dir / "model"), "--json").stdout)
    assert info["total_parameters"] == 19210 and info["input"]["image_shape"] == [8, 8]


def test_gradcheck_of_a_saved_model_and_of_flags(cli: Any, digits_run: Run) -> None:
    run_dir, _ = digits_run
    saved = cli("gradcheck", str(run_dir / "model"))
    assert saved.returncode == 0 and "all gradients agree" in saved.stdout, saved.stdout
    flags = cli(
        "gradcheck",
        "--hidden",
        "12",
        "8",
        "--batch-norm",
        "--dropout",
        "0.2",
        "--activation",
        "gelu",
    )
    assert flags.returncode == 0 and "all gradients agree" in flags.stdout, flags.stdout
    assert "1.weight" in flags.stdout  # the batch-norm layer was checked too


def test_lr_find_writes_its_plot(cli: Any, tmp_path: Path) -> None:
    result = cli("lr-find", "--steps", "40", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "suggested learning rate" in result.stdout
    with Image.open(tmp_path / "lr_find.png") as image:
        image.verify()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("evaluate", "no/such/model"), "no/such/model"),
        (("inspect", "no/such/model"), "no/such/model"),
        (("predict", "no/such/model", "x.png"), "no/such/model"),
    ],
)
def test_missing_model_files(cli: Any, args: tuple[str, ...], message: str) -> None:
    _one_line_error(cli(*args), message)


def test_corrupt_model_files(cli: Any, digits_run: Run, tmp_path: Path) -> None:
    run_dir, _ = digits_run
    for suffix in (".json", ".safetensors"):
        (tmp_path / f"model{suffix}").write_bytes((run_dir / f"model{suffix}").read_bytes())
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # truncated
    _one_line_error(cli("inspect", str(tmp_path / "model")), "model.safetensors")
    (tmp_path / "model.json").write_text("{not json")
    _one_line_error(cli("evaluate", str(tmp_path / "model")), "model.json")


def test_predict_bad_inputs(cli: Any, digits_run: Run, tmp_path: Path) -> None:
    model = str(digits_run[0] / "model")
    np.save(tmp_path / "wrong.npy", np.zeros((3, 10), dtype=np.float32))
    _one_line_error(
        cli("predict", model, str(tmp_path / "wrong.npy")), "cannot be split into inputs of 64"
    )
    (tmp_path / "fake.png").write_bytes(b"not an image at all")
    _one_line_error(cli("predict", model, str(tmp_path / "fake.png")), "not a readable image")
    (tmp_path / "notes.txt").write_text("hello")
    _one_line_error(cli("predict", model, str(tmp_path / "notes.txt")), "unsupported input type")
    np.save(tmp_path / "nan.npy", np.full((1, 64), np.nan, dtype=np.float32))
    _one_line_error(cli("predict", model, str(tmp_path / "nan.npy")), "NaN")
    _one_line_error(cli("predict", model, str(tmp_path / "absent.png")), "absent.png")


def test_bad_flag_values_are_argparse_errors(cli: Any) -> None:
    result = cli("train", "--dataset", "cifar")
    assert result.returncode == 2 and "invalid choice: 'cifar'" in result.stderr
    result = cli("train", "--epochs", "0")
    assert result.returncode == 2 and "expected a positive integer" in result.stderr
