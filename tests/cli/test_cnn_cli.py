"""``chainrule train --arch cnn`` and the commands that use a CNN model, through the CLI."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from chainrule import load
from chainrule.cli.config import TrainConfig, build_config
from chainrule.data import load_digits, write_idx
from chainrule.errors import ConfigError

Run = tuple[Path, subprocess.CompletedProcess[str]]
SMALL = ("--arch", "cnn", "--conv", "8", "16", "--hidden", "32", "--batch-norm")


@pytest.fixture(scope="module")
def cnn_run(cli: Any, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One small CNN trained on the bundled digits, with plots and the report."""
    run_dir = tmp_path_factory.mktemp("cnn") / "run"
    result = cli("train", *SMALL, "--epochs", "3", "--seed", "1", "--out", str(run_dir))
    assert result.returncode == 0, result.stderr
    return run_dir, result


def _accuracy(result: subprocess.CompletedProcess[str]) -> float:
    found = re.search(r"test accuracy (\d\.\d+)", result.stdout)
    assert found, result.stdout
    return float(found.group(1))


def test_train_cnn_keeps_image_shape_and_records_it(cnn_run: Run) -> None:
    run_dir, result = cnn_run
    assert _accuracy(result) >= 0.85  # 3 epochs of a small CNN; 98.5 %+ takes ~30
    loaded = load(run_dir / "model")
    assert loaded.preprocessing["input_shape"] == [1, 8, 8]
    assert loaded.hyperparameters["arch"] == "cnn" and loaded.hyperparameters["conv"] == [8, 16]
    kinds = [type(m).__name__ for _, m in loaded.model.named_children()]
    assert kinds == [
        "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Conv2d", "BatchNorm2d", "ReLU",
        "MaxPool2d", "Flatten", "Linear", "ReLU", "Dropout", "Linear",
    ]  # fmt: skip
    weights = dict(loaded.model.named_parameters())
    assert weights["0.weight"].shape == (8, 1, 3, 3) and weights["4.weight"].shape == (16, 8, 3, 3)
    assert weights["9.weight"].shape == (32, 16 * 2 * 2)  # 8x8 pooled twice: 2x2


def test_report_shows_filters_and_feature_maps(cnn_run: Run) -> None:
    run_dir, _ = cnn_run
    report = (run_dir / "report.md").read_text()
    for name in ("conv_filters.png", "feature_maps.png", "gradient_norms.png"):
        png = run_dir / "plots" / name
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"](plots/{name})" in report, name
    assert "first_layer_weights.png" not in report  # the MLP's figure does not apply


def test_evaluate_predict_inspect_gradcheck_on_the_saved_cnn(
    cli: Any, cnn_run: Run, tmp_path: Path
) -> None:
    run_dir, train = cnn_run
    model = str(run_dir / "model")
    evaluated = cli("evaluate", model, "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert f"test accuracy {json.loads(evaluated.stdout)['accuracy']:.4f}" in train.stdout

    _, (x_test, y_test) = load_digits()
    paths = []
    for i in range(10):  # dark ink on white paper, 10x larger: as a photo would be
        big = np.kron(1.0 - x_test[i], np.ones((10, 10)))
        paths.append(tmp_path / f"digit{i}.png")
        Image.fromarray((big * 255).astype(np.uint8)).save(paths[-1])
    predicted = cli("predict", model, *map(str, paths), "--json")
    assert predicted.returncode == 0, predicted.stderr
    classes = [p["class"] for p in json.loads(predicted.stdout)]
    assert sum(c == str(y) for c, y in zip(classes, y_test[:10])) >= 7, (classes, y_test[:10])

    inspected = cli("inspect", model)
    assert inspected.returncode == 0, inspected.stderr
    assert "shapes after each layer (N images of 1x8x8)" in inspected.stdout
    expected = [
        ("input", "(N, 1, 8, 8)"), ("0 Conv2d", "(N, 8, 8, 8)"), ("3 MaxPool2d", "(N, 8, 4, 4)"),
        ("8 Flatten", "(N, 64)"), ("12 Linear", "(N, 10)"),
    ]  # fmt: skip
    for layer, shape in expected:
        assert re.search(rf"{layer}\s+{re.escape(shape)}", inspected.stdout), (layer, shape)
    info = json.loads(cli("inspect", model, "--json").stdout)
    assert info["layer_shapes"][1] == {"layer": "0 Conv2d", "output": "(N, 8, 8, 8)"}

    checked = cli("gradcheck", model)
    assert checked.returncode == 0 and "all gradients agree" in checked.stdout, checked.stdout
    assert "0.weight              8x1x3x3" in checked.stdout


def test_cnn_on_an_idx_folder_round_trips(cli: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    folder = tmp_path / "idx"
    folder.mkdir()
    for split, n in (("train", 120), ("t10k", 40)):
        y = rng.integers(0, 3, n).astype(np.uint8)
        x = np.zeros((n, 28, 28), dtype=np.uint8)
        for i, k in enumerate(y):  # class k: a bright bar in row band k
            x[i, 9 * k + 2 : 9 * k + 7, 4:24] = 255
        write_idx(folder / f"{split}-images-idx3-ubyte", x)
        write_idx(folder / f"{split}-labels-idx1-ubyte", y)
    run_dir = tmp_path / "run"
    result = cli(
        "train", "--data-dir", str(folder), "--arch", "cnn", "--conv", "4", "--kernel", "5",
        "--pool", "3", "--hidden", "8", "--epochs", "4", "--no-plots", "--out", str(run_dir),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    loaded = load(run_dir / "model")
    assert loaded.preprocessing["input_shape"] == [1, 28, 28]
    assert dict(loaded.model.named_parameters())["0.weight"].shape == (4, 1, 5, 5)
    evaluated = cli("evaluate", str(run_dir / "model"), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["accuracy"] >= 0.9


def test_cnn_flags_are_refused_where_they_do_not_apply(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("label,a,b\n0,1,2\n1,3,4\n" * 10)
    csv = cli("train", "--csv", str(tmp_path / "data.csv"), "--arch", "cnn", "--no-plots")
    assert csv.returncode == 2 and "convolutional network for images" in csv.stderr, csv.stderr
    shrink = cli("train", "--arch", "cnn", "--conv", "4", "4", "4", "4", "--no-plots")
    assert shrink.returncode == 2 and "shrink to nothing after block 4" in shrink.stderr
    assert "Traceback" not in csv.stderr + shrink.stderr


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"text_dir": "mails", "arch": "cnn"}, "text trains one of lstm, gru, rnn"),
        ({"audio_dir": "speech", "arch": "cnn"}, "--audio-dir is not image data"),
        ({"arch": "cnn", "conv": []}, "conv: expected one or more positive channel counts"),
        ({"arch": "cnn", "conv": [8, 0]}, "conv: expected one or more positive"),
        ({"arch": "cnn", "kernel": 0}, "kernel: expected a kernel size in 1..15"),
        ({"arch": "cnn", "pool": 99}, "pool: expected a pooling size in 1..8"),
        ({"arch": "cnn", "kernel": "3"}, "kernel: expected a whole number"),
        ({"arch": "cnn", "augment": ["rotate"]}, "augment: expected a list of flip, shift"),
        ({"arch": "cnn", "augment": "flip"}, "augment: expected a list of flip, shift"),
        ({"augment": ["shift"]}, "augment: --augment shift changes the images a convolutional"),
    ],
)
def test_cnn_settings_are_validated(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        build_config(settings, {})


def test_cnn_defaults() -> None:
    config = build_config({}, {"arch": "cnn"})
    assert (config.conv, config.kernel, config.pool, config.hidden) == ([32, 64], 3, 2, [128])
    assert build_config({}, {}).hidden == TrainConfig().hidden == [256]  # the MLP's default
    assert build_config({"arch": "cnn", "hidden": [64]}, {}).hidden == [64]


def test_augmented_cnn_trains_and_the_saved_model_sees_images_as_they_are(
    cli: Any, tmp_path: Path
) -> None:
    """--augment flip shift: the layers lead the saved model; evaluate, inspect, gradcheck and
    predict run it in eval mode (the same answer twice), and the run is reproducible."""
    run_dir = tmp_path / "run"
    args = ("train", *SMALL, "--augment", "shift", "flip", "--epochs", "3", "--no-plots")
    result = cli(*args, "--out", str(run_dir))
    assert result.returncode == 0, result.stderr
    loaded = load(run_dir / "model")
    kinds = [type(m).__name__ for _, m in loaded.model.named_children()]
    assert kinds[:3] == ["RandomFlip", "RandomShift", "Conv2d"]  # flip, then shift, always
    assert loaded.model[1].pixels == 1  # 8x8 digits: one pixel
    assert loaded.hyperparameters["augment"] == ["shift", "flip"]
    assert _accuracy(result) >= 0.25  # it learns (chance: 0.1); mirrored digits are hard
    again = cli(*args, "--out", str(tmp_path / "again"))
    assert _accuracy(again) == _accuracy(result)  # the draws come from --seed

    model = str(run_dir / "model")
    scores = [json.loads(cli("evaluate", model, "--json").stdout)["accuracy"] for _ in range(2)]
    assert scores[0] == scores[1] and f"test accuracy {scores[0]:.4f}" in result.stdout
    checked = cli("gradcheck", model)
    assert checked.returncode == 0 and "all gradients agree" in checked.stdout, checked.stdout
    inspected = cli("inspect", model)
    assert re.search(r"1 RandomShift\s+\(N, 1, 8, 8\)", inspected.stdout), inspected.stdout
    image = tmp_path / "digit.npy"
    np.save(image, load_digits()[1][0][:5])
    predictions = [cli("predict", model, str(image), "--json").stdout for _ in range(2)]
    assert predictions[0] == predictions[1] and json.loads(predictions[0])
