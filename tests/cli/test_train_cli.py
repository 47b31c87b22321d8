"""``chainrule train`` end to end: the default job, run folder, resume and reproducibility."""

from __future__ import annotations

import csv
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import load_file

from chainrule.data import write_idx


def _accuracy(result: subprocess.CompletedProcess[str]) -> float:
    match = re.search(r"test accuracy (\d\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    return float(match.group(1))


def test_default_job_learns_the_bundled_digits(
    digits_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir, result = digits_run
    assert _accuracy(result) >= 0.97
    assert "Epoch 40/40" in result.stderr  # the epoch table
    for name in (
        "model.json",
        "model.safetensors",
        "config.json",
        "history.csv",
        "report.md",
        "checkpoint.json",
    ):
        assert (run_dir / name).is_file(), name
    with open(run_dir / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 40 and {"loss", "val_loss", "accuracy", "lr"} <= set(rows[0])
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])


def test_run_folder_plots_are_valid_images(
    digits_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir, _ = digits_run
    plots = sorted((run_dir / "plots").glob("*.png"))
    names = {p.name for p in plots}
    assert {
        "learning_curves.png",
        "confusion_matrix.png",
        "first_layer_weights.png",
        "gradient_norms.png",
    } <= names
    for p in plots:
        with Image.open(p) as image:
            image.verify()
            assert image.size[0] > 100 and image.size[1] > 100
    report = (run_dir / "report.md").read_text()
    assert "plots/confusion_matrix.png" in report and "test accuracy" in report


def run_cli(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return RUN[0](*args, **kwargs)


RUN: list = []


@pytest.fixture(autouse=True)
def _runner(cli) -> None:  # type: ignore[no-untyped-def]
    RUN[:] = [cli]


def _train(out: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    result = run_cli("train", "--quiet", "--no-plots", "--out", str(out), *flags)
    assert result.returncode == 0, result.stderr
    return result


def _history(run_dir: Path) -> dict[str, list[float]]:
    data = json.loads((run_dir / "history.json").read_text())
    return {k: v for k, v in data["history"].items() if k != "seconds"}


def test_same_seed_gives_bit_identical_weights_and_history(tmp_path: Path) -> None:
    flags = ("--epochs", "3", "--seed", "7")
    _train(tmp_path / "a", *flags)
    _train(tmp_path / "b", *flags)
    a, b = (
        load_file(tmp_path / "a" / "model.safetensors"),
        load_file(tmp_path / "b" / "model.safetensors"),
    )
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert _history(tmp_path / "a") == _history(tmp_path / "b")
    _train(tmp_path / "c", "--epochs", "3", "--seed", "8")
    c = load_file(tmp_path / "c" / "model.safetensors")
    assert not np.array_equal(a["0.weight"], c["0.weight"])


def test_resume_continues_exactly_where_the_run_stopped(tmp_path: Path) -> None:
    # A constant learning rate: a schedule's horizon is --epochs, which the resume changes here.
    flags = ("--seed", "3", "--dropout", "0.3", "--optimizer", "adam", "--lr", "0.001")
    _train(tmp_path / "whole", "--epochs", "5", *flags)
    _train(tmp_path / "part", "--epochs", "2", *flags)
    result = run_cli(
        "train", "--quiet", "--no-plots", "--resume", str(tmp_path / "part"), "--epochs", "5"
    )
    assert result.returncode == 0, result.stderr
    whole = load_file(tmp_path / "whole" / "model.safetensors")
    resumed = load_file(tmp_path / "part" / "model.safetensors")
    assert all(np.array_equal(whole[k], resumed[k]) for k in whole)
    assert _history(tmp_path / "whole") == _history(tmp_path / "part")


def test_resume_refuses_changed_settings_and_foreign_folders(tmp_path: Path) -> None:
    _train(tmp_path / "run", "--epochs", "2")
    changed = run_cli("train", "--resume", str(tmp_path / "run"), "--lr", "0.5")
    assert changed.returncode == 2 and "only --epochs may change" in changed.stderr
    done = run_cli("train", "--resume", str(tmp_path / "run"))
    assert done.returncode == 2 and "already has 2 epochs" in done.stderr
    foreign = run_cli("train", "--resume", str(tmp_path))
    assert foreign.returncode == 2 and "no config.json" in foreign.stderr


def _synthetic_idx(folder: Path, n_train: int = 300, n_test: int = 100) -> None:
    """Tiny MNIST-named IDX files: each class is a bright bar at its own row."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            images[i, 2 + 2 * label : 4 + 2 * label, 4:24] = 255
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels)


def test_train_on_a_folder_of_idx_files_then_predict_an_image(tmp_path: Path) -> None:
    _synthetic_idx(tmp_path / "idx")
    result = _train(
        tmp_path / "run", "--data-dir", str(tmp_path / "idx"), "--epochs", "8", "--hidden", "32"
    )
    assert _accuracy(result) >= 0.9
    image = np.zeros((56, 56), dtype=np.uint8)
    image[2 * 14 : 2 * 16, 8:48] = 255  # class 6's bar, drawn at twice the size
    Image.fromarray(image).save(tmp_path / "six.png")
    predicted = run_cli(
        "predict", str(tmp_path / "run" / "model"), str(tmp_path / "six.png"), "--json"
    )
    assert predicted.returncode == 0, predicted.stderr
    assert json.loads(predicted.stdout)[0]["class"] == "6"


def test_train_on_a_csv_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 5))
    labels = np.where(x[:, 0] + x[:, 1] > 0, "yes", "no")
    lines = ["label," + ",".join(f"f{i}" for i in range(5))]
    lines += [f"{lab}," + ",".join(f"{v:.4f}" for v in row) for lab, row in zip(labels, x)]
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    result = _train(
        tmp_path / "run", "--csv", str(tmp_path / "data.csv"), "--epochs", "20", "--hidden", "16"
    )
    assert _accuracy(result) >= 0.85
    model = json.loads((tmp_path / "run" / "model.json").read_text())
    assert model["class_names"] == ["no", "yes"]
    evaluated = run_cli(
        "evaluate", str(tmp_path / "run" / "model"), "--csv", str(tmp_path / "data.csv")
    )
    assert evaluated.returncode == 0 and "accuracy" in evaluated.stdout, evaluated.stderr
    unsaid = run_cli("evaluate", str(tmp_path / "run" / "model"))
    assert unsaid.returncode == 2 and "trained on 'data.csv'" in unsaid.stderr


def test_config_file_settings_and_flag_precedence(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text(
        "hidden = [16, 8]\nepochs = 2\nbatch-norm = true\nlr = 0.01\n"
    )
    _train(tmp_path / "run", "--config", str(tmp_path / "settings.toml"), "--lr", "0.02")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["hidden"] == [16, 8] and config["batch_norm"] is True and config["lr"] == 0.02


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--lr", "-1"), "lr: expected a finite number > 0"),
        (("--dropout", "1.5"), "dropout: expected a number in [0, 1)"),
        (
            ("--validation-split", "0", "--early-stopping", "3"),
            "early_stopping needs a validation set",
        ),
        (("--nesterov", "--optimizer", "adam"), "nesterov: needs --optimizer sgd"),
        (("--config", "missing.toml"), "config file missing.toml does not exist"),
    ],
)
def test_bad_settings_exit_2_with_one_line(
    tmp_path: Path, flags: tuple[str, ...], message: str
) -> None:
    result = run_cli("train", "--out", str(tmp_path / "run"), *flags, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_bad_config_file_contents(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"hiden": [3]}')
    result = run_cli("train", "--config", str(tmp_path / "bad.json"))
    assert result.returncode == 2 and "unknown settings ['hiden']" in result.stderr
    (tmp_path / "broken.toml").write_text("hidden = [")
    result = run_cli("train", "--config", str(tmp_path / "broken.toml"))
    assert result.returncode == 2 and "not valid TOML" in result.stderr


def test_missing_data_folder_says_what_it_expected(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run_cli("train", "--data-dir", str(tmp_path / "empty"))
    assert result.returncode == 2
    assert "train-images-idx3-ubyte" in result.stderr and "Traceback" not in result.stderr
