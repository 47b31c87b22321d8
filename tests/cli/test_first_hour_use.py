"""``predict`` and ``evaluate`` apply what the model file says its inputs were (issue 11)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import chainrule as cr
from chainrule.cli.images import load_input, match_polarity, read_grayscale
from chainrule.data import read_idx
from chainrule.errors import FormatError

Result = subprocess.CompletedProcess[str]
OBJECTS = {"kind": "image", "mean": 0.29, "std": 0.35, "image_shape": [28, 28],
           "content": "objects", "background": "dark"}  # fmt: skip
DIGITS = {**OBJECTS, "content": "handwritten"}


def _one_line_error(result: Result, text: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert text in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def _object_image(seed: int = 0) -> np.ndarray:
    """A Fashion-MNIST-like uint8 image: a textured object on black, touching two edges."""
    rng = np.random.default_rng(seed)
    image = np.zeros((28, 28), dtype=np.uint8)
    image[0:28, 6:20] = rng.integers(80, 255, (28, 14))
    return image


# ---- item 4: only the steps that fit the model's data ------------------------------------


def test_object_pngs_of_the_models_size_are_used_as_they_are(tmp_path: Path) -> None:
    image = _object_image()
    Image.fromarray(image).save(tmp_path / "shoe.png")
    rows = load_input(tmp_path / "shoe.png", OBJECTS, 784)
    np.testing.assert_array_equal(rows, (image.astype(np.float32) / 255).reshape(1, -1))
    np.save(tmp_path / "shoe.npy", image)
    np.testing.assert_allclose(load_input(tmp_path / "shoe.npy", OBJECTS, 784), rows, atol=1e-7)


def test_sixteen_bit_pngs_keep_their_depth(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 32 * 32).astype(np.uint16).reshape(32, 32)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    gray = read_grayscale(tmp_path / "deep.png")
    np.testing.assert_allclose(gray, ramp / 65535.0, atol=1e-4)
    assert len(np.unique(gray)) > 500  # not binarised to 0/1


def test_npy_dtypes_are_scaled_by_their_depth(tmp_path: Path) -> None:
    image = _object_image(1)
    np.save(tmp_path / "u8.npy", image)
    np.save(tmp_path / "f32.npy", image.astype(np.float32) / 255)
    np.testing.assert_allclose(
        load_input(tmp_path / "u8.npy", OBJECTS, 784),
        load_input(tmp_path / "f32.npy", OBJECTS, 784),
        atol=1e-7,
    )
    np.save(tmp_path / "big.npy", np.full((1, 784), 1e39))
    with pytest.raises(FormatError, match="beyond float32's range"):
        load_input(tmp_path / "big.npy", OBJECTS, 784)


def test_grey_paper_is_subtracted_after_inverting() -> None:
    paper = np.full((40, 40), 200 / 255, dtype=np.float32)
    paper[10:30, 18:22] = 30 / 255  # a dark stroke on grey paper
    gray = match_polarity(paper, "dark", "auto")
    assert float(np.median(gray)) < 0.01 and float(gray[20, 20]) > 0.8  # ink 225 over 55
    assert float(match_polarity(paper, "dark", "no")[0, 0]) == pytest.approx(200 / 255)


def test_blank_and_tiny_images_are_warned_about(tmp_path: Path) -> None:
    Image.fromarray(np.full((28, 28), 255, dtype=np.uint8)).save(tmp_path / "blank.png")
    Image.fromarray(np.zeros((1, 1), dtype=np.uint8)).save(tmp_path / "dot.png")
    for name, text in (("blank.png", "blank"), ("dot.png", "1x1 pixels")):
        warn: list[str] = []
        load_input(tmp_path / name, DIGITS, 784, warn=warn)
        assert len(warn) == 1 and text in warn[0]


def test_predict_reports_good_files_beside_a_bad_one(
    cli: Any, digits_run: tuple[Path, Result], tmp_path: Path
) -> None:
    model = str(digits_run[0] / "model")
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[4:24, 12:16] = 255
    Image.fromarray(digit).save(tmp_path / "one.png")
    (tmp_path / "bad.png").write_bytes(b"")
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "blank.png")
    result = cli("predict", model, str(tmp_path / "one.png"), str(tmp_path / "bad.png"),
                 str(tmp_path / "blank.png"), "--json")  # fmt: skip
    assert result.returncode == 2
    assert [r["input"] for r in json.loads(result.stdout)] == [
        str(tmp_path / "one.png"),
        str(tmp_path / "blank.png"),
    ]
    assert "bad.png" in result.stderr and "blank" in result.stderr
    assert "Traceback" not in result.stderr


def test_invert_flag(cli: Any, digits_run: tuple[Path, Result], tmp_path: Path) -> None:
    model = str(digits_run[0] / "model")
    Image.fromarray(np.zeros((16, 16), dtype=np.uint8)).save(tmp_path / "x.png")
    for choice in ("auto", "yes", "no"):
        assert cli("predict", model, str(tmp_path / "x.png"), "--invert", choice).returncode == 0
    assert cli("predict", model, str(tmp_path / "x.png"), "--invert", "maybe").returncode == 2


# ---- items 5 and 7: evaluate --csv scores every row; models saved by cr.save --------------


def _pets(path: Path, labels: list[str], seed: int) -> Path:
    rng = np.random.default_rng(seed)
    centre = {"cat": 0.0, "dog": 4.0, "fox": 8.0, "emu": 12.0}
    rows = [f"{s}," + ",".join(f"{v:.4f}" for v in rng.normal(centre[s], 0.5, 3)) for s in labels]
    path.write_text("kind,a,b,c\n" + "\n".join(rows) + "\n")
    return path


def test_evaluate_csv_scores_every_row_with_the_models_classes(cli: Any, tmp_path: Path) -> None:
    train = _pets(tmp_path / "train.csv", ["cat", "dog", "fox"] * 40, 0)
    out = tmp_path / "run"
    flags = ("--epochs", "15", "--hidden", "16", "--quiet", "--no-plots")
    assert cli("train", "--csv", str(train), *flags, "--out", str(out)).returncode == 0
    no_dog = _pets(tmp_path / "no_dog.csv", ["cat", "fox"] * 25, 1)
    result = cli("evaluate", str(out / "model"), "--csv", str(no_dog), "--json")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    assert scores["samples"] == 50 and scores["class_names"] == ["cat", "dog", "fox"]
    assert scores["accuracy"] >= 0.95
    emu = _pets(tmp_path / "emu.csv", ["cat", "emu"] * 5, 2)
    _one_line_error(cli("evaluate", str(out / "model"), "--csv", str(emu)), "'emu'")
    huge = tmp_path / "huge.csv"
    huge.write_text("kind,a,b,c\ncat,0.1,0.2,3e38\n")
    _one_line_error(cli("evaluate", str(out / "model"), "--csv", str(huge)), "sample 0")


def test_models_saved_with_cr_save_take_raw_inputs(cli: Any, tmp_path: Path) -> None:
    (x, y), (xt, yt) = cr.data.load_digits()
    model = cr.nn.mlp(64, [16], 10, rng=0)
    cr.save(model, tmp_path / "lib")  # as the README's library example does
    np.save(tmp_path / "rows.npy", xt[:3].reshape(3, -1))
    result = cli("predict", str(tmp_path / "lib"), str(tmp_path / "rows.npy"), "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 3 and "used as given (raw)" in result.stderr
    evaluated = cli("evaluate", str(tmp_path / "lib"), "--dataset", "digits")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "used as given (raw)" in evaluated.stderr


def test_evaluate_an_idx_model_on_its_own_folder_by_default(
    cli: Any, mnist_like_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    flags = ("--epochs", "1", "--hidden", "16", "--quiet", "--no-plots")
    assert (
        cli("train", "--data-dir", str(mnist_like_dir), *flags, "--out", str(out)).returncode == 0
    )
    result = cli("evaluate", str(out / "model"), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["samples"] == 500
    shown = cli("inspect", str(out / "model")).stdout
    assert "scaled to [0, 1], then (x - 0.1" in shown and "handwritten" in shown
    # the same test digits drawn dark on white paper and on grey paper, at twice the size
    images = read_idx(mnist_like_dir / "t10k-images-idx3-ubyte.gz")[:40].astype(np.float32)
    labels = read_idx(mnist_like_dir / "t10k-labels-idx1-ubyte.gz")[:40]
    images[:, :2] = images[:, -2:] = images[:, :, :2] = images[:, :, -2:] = 0  # no lit specks
    scores = {}
    for paper in (255, 200):
        names = []
        for i, image in enumerate(images):
            drawn = paper - image / 255 * (paper - 30)  # ink 30 on the paper's grey
            big = Image.fromarray(drawn.astype(np.uint8)).resize((56, 56), Image.BILINEAR)
            names.append(str(tmp_path / f"{paper}_{i}.png"))
            big.save(names[-1])
        result = cli("predict", str(out / "model"), *names, "--json")
        assert result.returncode == 0, result.stderr
        predicted = [int(r["class"]) for r in json.loads(result.stdout)]
        scores[paper] = float(np.mean(np.array(predicted) == labels))
    assert scores[255] >= 0.75 and scores[200] >= scores[255] - 0.05, scores
