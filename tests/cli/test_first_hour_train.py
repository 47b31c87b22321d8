"""What a new user meets in the first hour of ``chainrule train`` (issue 11 and 12, 16-17)."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chainrule.cli.preprocessing import apply_preprocessing, feature_standardizer
from chainrule.data import write_idx
from chainrule.errors import FormatError

Result = subprocess.CompletedProcess[str]


def _one_line_error(result: Result, text: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert text in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def _accuracy(result: Result) -> float:
    match = re.search(r"test accuracy (\d\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    return float(match.group(1))


def _csv(path: Path, labels: list[str], n_features: int = 4, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    names = sorted(set(labels))
    lines = []
    for label in labels:
        row = rng.normal(size=n_features) + 3.0 * names.index(label)
        lines.append(label + "," + ",".join(f"{v:.5f}" for v in row))
    path.write_text("\n".join(lines) + "\n")
    return path


# ---- item 1: images normalised globally; the canonical job on MNIST-like digits ----------


def test_default_run_on_mnist_like_digits_with_rare_lit_pixels(
    cli: Any, mnist_like_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    result = cli("train", "--data-dir", str(mnist_like_dir), "--epochs", "5", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert _accuracy(result) >= 0.95  # per-pixel standardisation: 0.54 on the same files
    losses = json.loads((out / "history.json").read_text())["history"]["loss"]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    pre = json.loads((out / "model.json").read_text())["preprocessing"]
    assert pre["kind"] == "image" and isinstance(pre["mean"], float)
    assert 0.1 < pre["mean"] < 0.2 and 0.2 < pre["std"] < 0.4
    assert pre["content"] == "handwritten" and pre["background"] == "dark"


def test_tabular_standardisation_floor_is_relative_to_the_data_scale() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    x[:, 2] = 5.0  # a constant column
    for scale in (1e-6, 1.0, 1e6):
        data = (x * scale).astype(np.float32)
        pre = feature_standardizer(data)
        z = apply_preprocessing(data, pre)
        assert abs(float(z[:, 0].std()) - 1.0) < 1e-3  # a real feature is standardised
        probe = data[:1].copy()
        probe[0, 2] = 6.0 * scale  # the constant column moves in new data: stays moderate
        assert abs(float(apply_preprocessing(probe, pre)[0, 2])) < 2.0


def test_a_huge_feature_is_refused_not_overflowed() -> None:
    x = np.ones((10, 2), dtype=np.float32)
    x[:, 1] = np.linspace(0, 1e-3, 10)
    pre = feature_standardizer(x)
    bad = np.array([[1.0, 3e38]], dtype=np.float32)
    with pytest.raises(FormatError, match="standard deviations from the training data"):
        apply_preprocessing(bad, pre)
    with pytest.raises(FormatError, match="beyond float32's range"):
        apply_preprocessing(np.array([[1e39]]), None)


# ---- item 3: defaults per optimizer, flags that do not apply -----------------------------


@pytest.mark.parametrize(
    ("optimizer", "lr", "momentum"),
    [("adam", 1e-3, None), ("rmsprop", 1e-3, 0.0), ("adagrad", 1e-2, None), ("sgd", 0.05, 0.9)],
)
def test_each_optimizer_has_its_own_default_lr(
    cli: Any, tmp_path: Path, optimizer: str, lr: float, momentum: float | None
) -> None:
    out = tmp_path / "run"
    flags = ("--optimizer", optimizer, "--epochs", "1", "--hidden", "8", "--quiet", "--no-plots")
    result = cli("train", *flags, "--out", str(out))
    assert result.returncode == 0, result.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["lr"] == lr and config["momentum"] == momentum


def test_help_shows_the_defaults(cli: Any) -> None:
    text = " ".join(cli("train", "--help").stdout.split())
    assert "adam/adamw/rmsprop 1e-3" in text and "sgd 0.05" in text and "adagrad 1e-2" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("train", "--optimizer", "adam", "--momentum", "0.5"), "adam has no momentum"),
        (("train", "--nesterov", "--optimizer", "adam"), "nesterov: needs --optimizer sgd"),
        (("train", "--warmup-epochs", "2"), "only the cosine schedule warms up"),
        (("lr-find", "--epochs", "3"), "--epochs: not used by lr-find"),
        (("lr-find", "--steps", "2"), "at least 10 steps"),
    ],
)
def test_flags_that_do_not_apply_are_refused(
    cli: Any, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    _one_line_error(cli(*args, cwd=tmp_path), message)


# ---- item 6: data sources never mix; runs named after their data -------------------------


def test_conflicting_data_sources_are_refused(
    cli: Any, mnist_like_dir: Path, tmp_path: Path
) -> None:
    table = _csv(tmp_path / "t.csv", ["a", "b"] * 20)
    _one_line_error(
        cli("train", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path / "nonexistent")),
        "no such folder",
    )
    _one_line_error(
        cli("train", "--dataset", "fashion-mnist", "--data-dir", str(mnist_like_dir)),
        "look like handwritten digits",
    )
    _one_line_error(cli("train", "--csv", str(table), "--dataset", "mnist"), "not both")
    _one_line_error(
        cli("train", "--dataset", "digits", "--data-dir", str(mnist_like_dir)), "reads no folder"
    )


def test_csv_runs_are_recorded_and_named_after_their_source(cli: Any, tmp_path: Path) -> None:
    table = _csv(tmp_path / "pets.csv", ["cat", "dog"] * 30)
    flags = ("train", "--csv", str(table), "--epochs", "1", "--quiet", "--no-plots")
    for _ in range(2):
        assert cli(*flags, cwd=tmp_path).returncode == 0
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2 and all(r.name.startswith("csv-pets-") for r in runs)
    meta = json.loads((runs[0] / "model.json").read_text())["metadata"]
    assert meta["source"] == {"kind": "csv", "path": str(table.resolve())}


# ---- item 7: one line, exit 2, instead of a traceback ------------------------------------


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('warmup_epochs = "x"', "warmup_epochs: expected a whole number"),
        ("hidden = 3.5", "hidden: expected one or more positive whole layer sizes"),
        ("csv = 5", "csv: expected a text"),
        ('data_dir = ["a"]', "data_dir: expected a text"),
        ('batch_norm = "no"', "batch_norm: expected true or false"),
        ("seed = -1", "seed: expected a non-negative integer"),
    ],
)
def test_config_values_of_the_wrong_type(
    cli: Any, tmp_path: Path, setting: str, message: str
) -> None:
    (tmp_path / "c.toml").write_text(setting + "\n")
    _one_line_error(cli("train", "--config", str(tmp_path / "c.toml")), message)


def test_negative_seed_and_infinite_lr(cli: Any, tmp_path: Path) -> None:
    _one_line_error(cli("train", "--seed", "-1"), "seed: expected a non-negative integer")
    _one_line_error(cli("gradcheck", "--seed", "-1"), "expected a non-negative integer")
    _one_line_error(cli("train", "--lr", "inf"), "lr: expected a finite number > 0, got inf")


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_deeply_nested_config_is_a_clear_error(cli: Any, tmp_path: Path, suffix: str) -> None:
    depth = 100_000
    path = tmp_path / f"deep{suffix}"
    if suffix == ".json":
        path.write_text('{"hidden": ' + "[" * depth + "]" * depth + "}")
    else:
        path.write_text("hidden = " + "[" * depth + "]" * depth + "\n")
    _one_line_error(cli("train", "--config", str(path)), "nested")


def test_resume_of_a_deeply_nested_run_config(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    _one_line_error(cli("train", "--resume", str(tmp_path / "run")), "nested")


def test_out_that_is_a_file(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("mine")
    _one_line_error(cli("train", "--out", str(tmp_path / "taken")), "a file of that name exists")
    _one_line_error(cli("lr-find", "--out", str(tmp_path / "taken")), "a file of that name exists")
    assert (tmp_path / "taken").read_text() == "mine"


def test_id_like_labels_make_two_classes_not_100001(cli: Any, tmp_path: Path) -> None:
    table = _csv(tmp_path / "ids.csv", ["0", "100000"] * 30)
    out = tmp_path / "run"
    result = cli(
        "train", "--csv", str(table), "--epochs", "1", "--quiet", "--no-plots", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "model.json").read_text())["class_names"] == ["0", "100000"]
    ids = _csv(tmp_path / "unique.csv", [str(i) for i in range(40)])
    _one_line_error(cli("train", "--csv", str(ids)), "looks like an ID column")


def test_one_class_csv_is_refused(cli: Any, tmp_path: Path) -> None:
    _one_line_error(
        cli("train", "--csv", str(_csv(tmp_path / "one.csv", ["a"] * 30))), "same label"
    )


def test_huge_hidden_layers_are_refused_before_allocating(cli: Any) -> None:
    result = cli("train", "--hidden", "100000", "100000")
    _one_line_error(result, "GiB")
    assert "10,000,000,000" in result.stderr or "parameters" in result.stderr


def test_empty_idx_files(cli: Any, tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    for split in ("train", "t10k"):
        write_idx(folder / f"{split}-images-idx3-ubyte", np.zeros((0, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte", np.zeros(0, dtype=np.uint8))
    _one_line_error(cli("train", "--data-dir", str(folder)), "holds no images")


def test_warnings_reach_the_user_once_in_words(cli: Any, tmp_path: Path) -> None:
    flags = ("--lr", "1", "--epochs", "3", "--hidden", "8", "--no-plots")  # gradients die
    for quiet in ((), ("--quiet",)):
        result = cli("train", *flags, *quiet, "--out", str(tmp_path / f"run{len(quiet)}"))
        assert result.returncode == 0, result.stderr
        lines = [ln for ln in result.stderr.splitlines() if "warning:" in ln]
        assert lines and len(lines) == len(set(lines))  # shown, each once
        assert "GradientHealthWarning" not in result.stderr and "warnings.warn" not in result.stderr
        assert not re.search(r"\.py:\d+:", result.stderr)  # no source locations


def test_numpy_warnings_are_put_in_words() -> None:
    from chainrule.cli.user_warnings import in_words

    text = in_words("overflow encountered in matmul", RuntimeWarning)
    assert "overflowed float32" in text and "matmul" in text and "--lr" in text


# ---- item 8: small ones ------------------------------------------------------------------


def test_metrics_after_early_stopping_are_the_best_epochs(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    flags = ("--early-stopping", "1", "--epochs", "15", "--lr", "0.3", "--hidden", "16")
    result = cli("train", *flags, "--quiet", "--no-plots", "--out", str(out))
    assert result.returncode == 0, result.stderr
    history = json.loads((out / "history.json").read_text())["history"]
    model = json.loads((out / "model.json").read_text())
    best = int(np.argmin(history["val_loss"]))
    assert model["metrics"]["val_loss"] == pytest.approx(history["val_loss"][best])
    assert model["metadata"]["best_epoch"] == best + 1
    shown = cli("inspect", str(out / "model")).stdout
    assert f"metrics of epoch {best + 1}" in shown


def test_reused_out_folder_loses_the_previous_runs_files(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert cli("train", "--epochs", "1", "--hidden", "8", "--out", str(out)).returncode == 0
    assert (out / "report.md").is_file() and (out / "plots").is_dir()
    (out / "mine.txt").write_text("kept")
    again = cli("train", "--epochs", "1", "--hidden", "8", "--no-plots", "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert not (out / "report.md").exists() and not (out / "plots").exists()
    assert (out / "mine.txt").read_text() == "kept" and (out / "model.json").is_file()


def test_lr_find_without_matplotlib_still_succeeds(tmp_path: Path) -> None:
    fake = tmp_path / "fake"
    (fake / "matplotlib").mkdir(parents=True)
    (fake / "matplotlib" / "__init__.py").write_text("raise ImportError('no matplotlib here')\n")
    env = {**os.environ, "PYTHONPATH": str(fake)}
    result = subprocess.run(
        [sys.executable, "-m", "chainrule", "lr-find", "--steps", "30", "--out", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "suggested learning rate for sgd" in result.stdout and "plot skipped" in result.stderr


def test_lr_find_ranges_differ_per_optimizer(cli: Any, tmp_path: Path) -> None:
    found = {}
    for name in ("sgd", "adam"):
        result = cli("lr-find", "--optimizer", name, "--steps", "30", "--out", str(tmp_path))
        assert result.returncode == 0, result.stderr
        found[name] = re.search(r"swept (\S+) to (\S+);", result.stdout).groups()  # type: ignore[union-attr]
    assert found["sgd"] != found["adam"]


def test_messages_that_used_to_mislead(cli: Any, tmp_path: Path) -> None:
    _one_line_error(cli("train", "--config", str(tmp_path)), "is a folder")
    (tmp_path / "c.yaml").write_text("epochs: 3\n")
    _one_line_error(cli("train", "--config", str(tmp_path / "c.yaml")), ".yaml files are not read")
    (tmp_path / "empty").mkdir()
    result = cli("train", "--data-dir", str(tmp_path / "empty"))
    assert result.returncode == 2 and "--data-dir DIR" in result.stderr
