"""The TensorBoard callback: a short run written, then read back with TensorBoard's own
EventAccumulator (scalars, gradient health, histograms and the weight image, right steps)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import chainrule as cr
from chainrule import nn, optim
from chainrule.callbacks import Callback, TensorBoard
from chainrule.callbacks.tensorboard import scalar_tag, weight_grid
from chainrule.errors import ConfigError

EPOCHS = 3


class KeepGradients(Callback):
    """Copies of every gradient at the end of each epoch (what the histograms must show)."""

    def __init__(self) -> None:
        self.grads: list[dict[str, np.ndarray]] = []

    def on_epoch_end(self, trainer, epoch, logs):  # type: ignore[no-untyped-def]
        self.grads.append({n: p.grad.copy() for n, p in trainer.model.named_parameters()})


def read(log_dir: Path) -> EventAccumulator:
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "histograms": 0,
                                                           "images": 0})  # fmt: skip
    events.Reload()
    return events


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 16)).astype(np.float32)
    y = (x[:, :4].sum(axis=1) > 0).astype(np.int64) + (x[:, 4] > 1)
    model = nn.mlp(16, [12], 3, "relu", rng=0)
    log_dir = tmp_path_factory.mktemp("tb") / "run"
    keep = KeepGradients()
    trainer = cr.Trainer(
        model,
        nn.CrossEntropyLoss(),
        optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        callbacks=[TensorBoard(log_dir, image_shape=(4, 4)), keep],
    )
    history = trainer.fit(x, y, epochs=EPOCHS, batch_size=32, validation_data=(x[:32], y[:32]),
                          seed=0)  # fmt: skip
    return read(log_dir), history, model, keep.grads


def test_epoch_scalars_have_the_history_values_and_steps(run) -> None:  # type: ignore[no-untyped-def]
    events, history, _, _ = run
    scalars = set(events.Tags()["scalars"])
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        tag = scalar_tag(key)
        assert tag in scalars, (tag, scalars)
        written = events.Scalars(tag)
        assert [e.step for e in written] == list(range(1, EPOCHS + 1))
        np.testing.assert_allclose([e.value for e in written], history[key], rtol=1e-6)
    assert {"train/loss", "val/loss", "optim/lr", "time/epoch_seconds"} <= scalars


def test_gradient_health_per_layer(run) -> None:  # type: ignore[no-untyped-def]
    events, history, _, _ = run
    for kind, group in (("grad_norm", "gradient_norm"), ("update_ratio", "update_ratio"),
                        ("dead_fraction", "dead_units")):  # fmt: skip
        per_layer = history.diagnostics[kind]
        assert per_layer, kind
        for layer, values in per_layer.items():
            written = events.Scalars(f"{group}/{layer}")
            assert [e.step for e in written] == list(range(1, EPOCHS + 1))
            np.testing.assert_allclose([e.value for e in written], values, rtol=1e-6)
    assert {"gradient_norm/0", "gradient_norm/2", "dead_units/1"} <= set(events.Tags()["scalars"])


def test_histograms_of_weights_and_gradients(run) -> None:  # type: ignore[no-untyped-def]
    events, _, model, grads = run
    tags = set(events.Tags()["histograms"])
    for name, param in model.named_parameters():
        assert {f"weights/{name}", f"gradients/{name}"} <= tags
        weights = events.Histograms(f"weights/{name}")
        assert [e.step for e in weights] == list(range(1, EPOCHS + 1))
        last = weights[-1].histogram_value  # the weights the model ends with
        assert last.num == param.size
        assert last.min == pytest.approx(float(param.data.min()), rel=1e-6)
        assert last.max == pytest.approx(float(param.data.max()), rel=1e-6)
        assert last.sum == pytest.approx(float(param.data.astype(np.float64).sum()), abs=1e-4)
        written = events.Histograms(f"gradients/{name}")
        assert [e.step for e in written] == list(range(1, EPOCHS + 1))
        for event, epoch_grads in zip(written, grads):  # the gradients of each epoch's last batch
            value, grad = event.histogram_value, epoch_grads[name]
            assert value.num == grad.size
            assert value.sum_squares == pytest.approx(float((grad.astype(np.float64) ** 2).sum()),
                                                      rel=1e-5)  # fmt: skip


def test_first_layer_weights_as_an_image(run) -> None:  # type: ignore[no-untyped-def]
    events, _, model, _ = run
    assert events.Tags()["images"] == ["first_layer_weights"]
    images = events.Images("first_layer_weights")
    assert [e.step for e in images] == list(range(1, EPOCHS + 1))
    expected = weight_grid(model[0].weight.data, (4, 4))  # 12 units of 4x4 in a 3x4 grid
    assert (images[-1].height, images[-1].width) == expected.shape[1:] == (14, 19)


def test_weight_grid_colours() -> None:
    image = weight_grid(np.array([[1.0, -1.0, 0.0, 0.5]]), (2, 2))
    assert image.shape == (3, 2, 2)
    np.testing.assert_allclose(image[:, 0, 0], [1, 0, 0])  # the largest weight: red
    np.testing.assert_allclose(image[:, 0, 1], [0, 0, 1])  # its negative: blue
    np.testing.assert_allclose(image[:, 1, 0], [1, 1, 1])  # zero: white


def test_bad_arguments_and_the_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="histogram_freq must be an int >= 0"):
        TensorBoard("runs/x", histogram_freq=-1)
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ConfigError, match=r'pip install "chainrule\[tensorboard\]"'):
        TensorBoard("runs/x")
