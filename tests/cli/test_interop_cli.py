"""``chainrule train`` -> ``chainrule export`` -> an ONNX Runtime session predicts what
``chainrule predict`` does, on the same raw pixels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from chainrule.data import load_digits


def test_train_export_onnxruntime_predicts_like_chainrule(cli: Any, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    trained = cli("train", "--epochs", "1", "--hidden", "16", "--batch-norm", "--no-plots",
                  "--quiet", "--out", str(run_dir))  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    exported = cli("export", str(run_dir), str(tmp_path / "model.onnx"))
    assert exported.returncode == 0, exported.stderr
    assert "pixel values 0-255 (N, 64)" in exported.stdout and "ONNX Runtime" in exported.stdout
    proto = onnx.load(str(tmp_path / "model.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    classes = json.loads({p.key: p.value for p in proto.metadata_props}["class_names"])
    assert classes == [str(i) for i in range(10)]

    _, (x_test, _) = load_digits()
    pixels = np.round(x_test[:40].reshape(40, 64) * 255).astype(np.uint8)  # raw 8-bit images
    np.save(tmp_path / "batch.npy", pixels)
    predicted = cli("predict", str(run_dir), str(tmp_path / "batch.npy"), "--json", "--top", "10")
    assert predicted.returncode == 0, predicted.stderr
    rows = json.loads(predicted.stdout)
    expected = np.zeros((40, 10))
    for i, row in enumerate(rows):
        for entry in row["top"]:
            expected[i, entry["index"]] = entry["probability"]

    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    (probs,) = session.run(["probabilities"], {"input": pixels.astype(np.float32)})
    np.testing.assert_allclose(probs, expected, rtol=0, atol=1e-5)
    assert probs.argmax(axis=1).tolist() == [r["index"] for r in rows]


def test_export_errors_are_one_line(cli: Any, tmp_path: Path) -> None:
    missing = cli("export", str(tmp_path / "nothing"), str(tmp_path / "m.onnx"))
    assert missing.returncode == 2 and "no model here" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    helped = cli("export", "--help")
    assert helped.returncode == 0 and "examples:" in helped.stdout and "--opset" in helped.stdout


def test_train_with_tensorboard_writes_the_run(cli: Any, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, board = tmp_path / "run", tmp_path / "tb"
    flags = [
        "--epochs",
        "2",
        "--hidden",
        "16",
        "--no-plots",
        "--quiet",
        "--validation-split",
        "0.2",
    ]
    trained = cli("train", *flags, "--out", str(run_dir), "--tensorboard", str(board))
    assert trained.returncode == 0, trained.stderr
    history = json.loads((run_dir / "history.json").read_text())["history"]
    events = EventAccumulator(str(board), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    for key, tag in (("loss", "train/loss"), ("val_accuracy", "val/accuracy"), ("lr", "optim/lr")):
        written = events.Scalars(tag)
        assert [e.step for e in written] == [1, 2]
        np.testing.assert_allclose([e.value for e in written], history[key], rtol=1e-6)
    tags = events.Tags()
    assert "gradient_norm/0" in tags["scalars"] and "dead_units/1" in tags["scalars"]
    assert {"weights/0.weight", "gradients/0.weight"} <= set(tags["histograms"])
    assert tags["images"] == ["first_layer_weights"]


def test_a_cli_cnn_exports_with_image_shaped_input(cli: Any, tmp_path: Path) -> None:
    run_dir = tmp_path / "cnn"
    trained = cli("train", "--arch", "cnn", "--conv", "4", "8", "--hidden", "16", "--epochs", "1",
                  "--no-plots", "--quiet", "--out", str(run_dir))  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    exported = cli("export", str(run_dir), str(tmp_path / "cnn.onnx"))
    assert exported.returncode == 0, exported.stderr
    assert "pixel values 0-255 (N, 1, 8, 8)" in exported.stdout

    _, (x_test, _) = load_digits()
    pixels = np.round(x_test[:20].reshape(20, 64) * 255).astype(np.uint8)
    np.save(tmp_path / "batch.npy", pixels)
    predicted = cli("predict", str(run_dir), str(tmp_path / "batch.npy"), "--json", "--top", "10")
    assert predicted.returncode == 0, predicted.stderr
    expected = np.zeros((20, 10))
    for i, row in enumerate(json.loads(predicted.stdout)):
        for entry in row["top"]:
            expected[i, entry["index"]] = entry["probability"]
    session = ort.InferenceSession(str(tmp_path / "cnn.onnx"), providers=["CPUExecutionProvider"])
    (probs,) = session.run(
        ["probabilities"], {"input": pixels.reshape(20, 1, 8, 8).astype(np.float32)}
    )
    np.testing.assert_allclose(probs, expected, rtol=0, atol=1e-5)
