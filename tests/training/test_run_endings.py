"""How a run ends: divergence, NaN, Ctrl-C, early stopping; what is kept, and what is written."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from chainrule import nn, optim
from chainrule.callbacks import Callback, EarlyStopping, ModelCheckpoint, TerminateOnNaN
from chainrule.data import load_digits
from chainrule.errors import ConfigError
from chainrule.training import History, Trainer


def blobs(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    y = rng.integers(0, 3, n)
    x = centers[y] + rng.normal(scale=0.6, size=(n, 2))
    return x.astype(np.float32), y.astype(np.int64)


def mlp(seed: int = 0, n_in: int = 2, hidden: int = 12, n_out: int = 3) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Linear(n_in, hidden, rng=rng), nn.ReLU(), nn.Linear(hidden, n_out, rng=rng)
    )


def sgd(model: nn.Module, callbacks: Any = (), lr: float = 0.1, **kwargs: Any) -> Trainer:
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.5)
    return Trainer(
        model, nn.CrossEntropyLoss(), opt, callbacks=callbacks, diagnostics=False, **kwargs
    )


class Snapshots(Callback):
    def __init__(self) -> None:
        self.epochs: dict[int, dict[str, np.ndarray]] = {}
        self.ended: list[int] = []

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
        self.epochs[epoch] = trainer.model.state_dict()
        self.ended.append(epoch)


def same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def finite(model: nn.Module) -> bool:
    return all(np.isfinite(a).all() for a in model.state_dict().values())


def strict_json(history: History) -> dict[str, Any]:
    """history.to_json() read back by a parser that refuses NaN and Infinity."""

    def refuse(name: str) -> None:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(history.to_json(), parse_constant=refuse)  # type: ignore[no-any-return]


# -- divergence ----------------------------------------------------------------------------------
def standardised_digits() -> tuple[np.ndarray, np.ndarray]:
    """The bundled digits, flattened and standardised per pixel (as the CLI did)."""
    (x, y), _ = load_digits()
    x = x.reshape(len(x), -1)
    x = (x - x.mean(0)) / np.maximum(x.std(0), 1e-3)
    return x.astype(np.float32), y


def test_lr_5_on_the_digits_diverges_and_stops_on_finite_weights() -> None:
    x, y = standardised_digits()
    model = mlp(n_in=64, hidden=256, n_out=10)
    initial = model.state_dict()
    snaps = Snapshots()
    trainer = Trainer(
        model,
        nn.CrossEntropyLoss(),
        optim.SGD(model.parameters(), lr=5.0, momentum=0.9),
        callbacks=[snaps],
        diagnostics=False,
    )
    with np.errstate(over="ignore", invalid="ignore"):
        history = trainer.fit(x, y, epochs=10, batch_size=32, seed=0)
    assert history.ended_by == "diverged" and history.stopped_early
    assert history.stop_reason.startswith("the training loss diverged")
    assert "lower the learning rate (--lr)" in history.stop_reason
    assert "clip gradients" in history.stop_reason
    assert len(history) < 10 and finite(model)
    # Nothing was good enough to fall back on but the initial weights.
    assert history.kept_epoch is None and same(model.state_dict(), initial)
    assert trainer.final_logs == {}
    assert snaps.ended == []  # the failed epoch is not passed to on_epoch_end (checkpoints)
    doc = strict_json(history)
    assert doc["ended_by"] == "diverged" and doc["stop_reason"] == history.stop_reason


def slowly_exploding(growth: float, after: int):
    """Cross-entropy plus growth**k - 1, k batches after the ``after``-th: a loss that climbs
    steadily while the gradients stay those of the cross-entropy."""
    count = [0]
    ce = nn.CrossEntropyLoss()

    def loss(out: Any, y: Any) -> Any:
        count[0] += 1
        return ce(out, y) + (growth ** max(0, count[0] - after) - 1.0)

    return loss


def test_a_loss_growing_over_hundreds_of_batches_is_caught_and_the_best_epoch_kept() -> None:
    x, y = blobs(400)
    model = mlp()
    snaps = Snapshots()
    trainer = Trainer(
        model,
        slowly_exploding(1.05, after=60),  # x1000 takes ~140 batches: several epochs of 20
        optim.SGD(model.parameters(), lr=1e-3),
        callbacks=[snaps],
        diagnostics=False,
    )
    history = trainer.fit(x, y, epochs=30, batch_size=20, seed=0)
    assert history.ended_by == "diverged"
    assert 3 < len(history) < 30
    best = int(np.argmin(history["loss"]))
    assert history.kept_epoch == history.epochs[best]
    assert same(model.state_dict(), snaps.epochs[history.kept_epoch])
    assert trainer.final_logs["loss"] == history["loss"][best]


def test_the_divergence_watch_can_be_switched_off_and_is_checked() -> None:
    x, y = blobs(200)
    model = mlp()
    trainer = Trainer(
        model,
        slowly_exploding(1.2, after=5),
        optim.SGD(model.parameters(), lr=1e-6),
        diagnostics=False,
        divergence_factor=None,
    )
    history = trainer.fit(x, y, epochs=6, batch_size=20, seed=0)
    assert history.ended_by is None and len(history) == 6
    with pytest.raises(ConfigError, match=r"divergence_factor must be a number > 1 or None"):
        sgd(mlp(), divergence_factor=0.5)


def test_an_ordinary_run_is_not_taken_for_divergence() -> None:
    x, y = blobs(300)
    history = sgd(mlp(), lr=0.5).fit(x, y, epochs=15, batch_size=10, seed=0)
    assert history.ended_by is None and len(history) == 15 and history.kept_epoch == 14


# -- NaN and inf ---------------------------------------------------------------------------------
def nan_from(batch: int, value: float = math.nan):
    count = [0]
    ce = nn.CrossEntropyLoss()

    def loss(out: Any, y: Any) -> Any:
        count[0] += 1
        return ce(out, y) * value if count[0] > batch else ce(out, y)

    return loss


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_non_finite_epoch_stops_the_run_on_the_last_good_weights(value: float) -> None:
    x, y = blobs(200)
    model = mlp()
    snaps = Snapshots()
    trainer = Trainer(
        model,
        nan_from(2 * 10 + 9, value),  # the last batch of epoch 3
        optim.SGD(model.parameters(), lr=0.1),
        callbacks=[snaps],
        diagnostics=False,
    )
    with np.errstate(invalid="ignore", over="ignore"):
        history = trainer.fit(x, y, epochs=6, batch_size=20, seed=0)
    assert history.ended_by == "non-finite" and history.stopped_early
    assert history.stop_reason.startswith(f"the training loss became {value} in epoch 3")
    assert "weights from the end of epoch 2 were restored" in history.stop_reason
    assert same(model.state_dict(), snaps.epochs[1]) and snaps.ended == [0, 1]
    assert history.kept_epoch == 1 and trainer.final_logs == {
        k: v[1] for k, v in history.history.items()
    }
    # The failed epoch is recorded, non-finite; JSON writes null and says where and what.
    assert len(history) == 3 and not math.isfinite(history["loss"][2])
    doc = strict_json(history)
    assert doc["history"]["loss"][2] is None
    assert doc["nonfinite"]["loss"] == {"2": "nan" if math.isnan(value) else "inf"}
    back = History.from_dict(doc)
    assert back["loss"][:2] == history["loss"][:2] and back.kept_epoch == 1
    assert (math.isnan(back["loss"][2])) if math.isnan(value) else back["loss"][2] == math.inf
    assert back.ended_by == "non-finite"
    csv_text = history.to_csv()
    assert csv_text.splitlines()[3].split(",")[1] == repr(value)


def test_terminate_on_nan_keeps_its_own_restore_and_checkpoints_skip_the_failed_epoch(
    tmp_path: Any,
) -> None:
    x, y = blobs(200)
    model = mlp()
    checkpoint = ModelCheckpoint(tmp_path / "ckpt-{epoch}.safetensors", save_best_only=False)
    trainer = Trainer(
        model,
        nan_from(10 + 4),  # epoch 2, batch 5
        optim.SGD(model.parameters(), lr=0.1),
        callbacks=[TerminateOnNaN(per="batch"), checkpoint],
        diagnostics=False,
    )
    history = trainer.fit(x, y, epochs=5, batch_size=20, seed=0)
    assert history.ended_by == "non-finite"
    assert "from epoch 2, batch 4 were restored" in history.stop_reason
    assert history.kept_epoch is None  # a mid-epoch copy: not an epoch's end
    assert [epoch for epoch, _ in checkpoint.saved] == [0]


# -- Ctrl-C --------------------------------------------------------------------------------------
class InterruptAt(Callback):
    def __init__(self, epoch: int, batch: int) -> None:
        self.at = (epoch, batch)

    def on_batch_end(self, trainer: Trainer, batch: int, logs: dict) -> None:
        if (trainer.epoch, batch) == self.at:
            raise KeyboardInterrupt


def test_ctrl_c_keeps_the_weights_of_the_last_complete_epoch() -> None:
    x, y = blobs(200)
    model = mlp()
    snaps = Snapshots()
    history = sgd(model, [snaps, InterruptAt(2, 5)]).fit(x, y, epochs=5, batch_size=20, seed=0)
    assert history.interrupted and history.ended_by == "interrupted" and len(history) == 2
    assert same(model.state_dict(), snaps.epochs[1])
    assert history.stop_reason.endswith("the weights of the end of epoch 2 were kept")
    assert history.kept_epoch == 1


def test_ctrl_c_in_the_first_epoch_keeps_the_initial_weights() -> None:
    model = mlp()
    initial = model.state_dict()
    history = sgd(model, [InterruptAt(0, 3)]).fit(*blobs(), epochs=3, batch_size=20, seed=0)
    assert same(model.state_dict(), initial) and history.kept_epoch is None
    assert history.stop_reason.endswith("the weights of the start of training were kept")


def test_ctrl_c_with_early_stopping_keeps_and_names_the_best_epoch() -> None:
    x, y = blobs(200)
    model = mlp()
    snaps = Snapshots()
    stop = EarlyStopping(monitor="loss", patience=10)
    # Listed first, the snapshots would otherwise see EarlyStopping's restore too late.
    history = sgd(model, [snaps, InterruptAt(4, 2), stop]).fit(
        x, y, epochs=10, batch_size=20, seed=0
    )
    best = int(np.argmin(history["loss"]))
    assert stop.restored and history.kept_epoch == best
    assert same(model.state_dict(), snaps.epochs[best])
    assert f"the weights of the best epoch ({best + 1}, loss" in history.stop_reason


# -- early stopping: the reported figures are the kept epoch's ------------------------------------
def overlapping_blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Closer, wider clusters than ``blobs``: a wrecked model shows in the validation loss."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    y = rng.integers(0, 3, n)
    return (centers[y] + rng.normal(scale=0.8, size=(n, 2))).astype(np.float32), y


def test_after_early_stopping_the_final_logs_are_the_best_epochs() -> None:
    stop = EarlyStopping(monitor="val_loss", patience=2)

    def worsening(epoch: int) -> float:
        return 0.1 if epoch < 3 else 3.0

    from chainrule.callbacks import LearningRateScheduler

    trainer = sgd(mlp(), [LearningRateScheduler(worsening), stop])
    x, y = overlapping_blobs(120, 0)
    history = trainer.fit(
        x, y, epochs=20, batch_size=16, validation_data=overlapping_blobs(60, 1), seed=0
    )
    assert history.stopped_early and history.kept_epoch == stop.best_epoch
    index = history.epochs.index(stop.best_epoch)
    assert trainer.final_logs["val_loss"] == history["val_loss"][index] == stop.best
    assert trainer.final_logs["val_loss"] != history["val_loss"][-1]
    assert strict_json(history)["kept_epoch"] == stop.best_epoch


# -- determinism ---------------------------------------------------------------------------------
def test_identical_runs_give_identical_weights_and_deterministic_history() -> None:
    runs = []
    for _ in range(2):
        model = mlp(seed=3)
        history = sgd(model).fit(*blobs(), epochs=3, batch_size=16, seed=7)
        runs.append((model.state_dict(), history))
    (w1, h1), (w2, h2) = runs
    assert same(w1, w2)
    assert h1.to_json(deterministic=True) == h2.to_json(deterministic=True)
    assert h1.to_csv(deterministic=True) == h2.to_csv(deterministic=True)
    assert "seconds" not in json.loads(h1.to_json(deterministic=True))["history"]
    assert "seconds" in json.loads(h1.to_json())["history"]
    assert all(h1[k] == h2[k] for k in h1 if k != "seconds")


# -- a last batch of one -------------------------------------------------------------------------
def test_batch_norm_trains_when_the_last_batch_would_hold_one_sample() -> None:
    x, y = blobs(33)
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Linear(2, 8, rng=rng), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3, rng=rng)
    )
    sizes: list[int] = []

    class Sizes(Callback):
        def on_batch_end(self, trainer: Trainer, batch: int, logs: dict) -> None:
            sizes.append(logs["size"])

    history = sgd(model, [Sizes()]).fit(x, y, epochs=2, batch_size=16, seed=0)
    assert len(history) == 2 and sizes == [16, 17, 16, 17]
    assert history.params["last_batch_merged"] is True and history.params["steps"] == 2


# -- the log_loss metric on logits ---------------------------------------------------------------
def test_the_log_loss_metric_works_on_logits() -> None:
    x, y = blobs(120)
    model = mlp()
    trainer = Trainer(
        model,
        nn.CrossEntropyLoss(),
        optim.SGD(model.parameters(), lr=0.1),
        metrics=("accuracy", "log_loss"),
        diagnostics=False,
    )
    history = trainer.fit(x, y, epochs=2, batch_size=20, seed=0)
    assert all(math.isfinite(v) for v in history["log_loss"])
    scores = trainer.evaluate(x, y)
    assert scores["log_loss"] == pytest.approx(scores["loss"], rel=1e-5)


def test_the_progress_bar_shows_the_failed_epoch_and_why_it_stopped() -> None:
    import io

    from chainrule.callbacks import ProgressBar

    stream = io.StringIO()
    model = mlp()
    trainer = Trainer(
        model,
        nan_from(10 + 9),  # the last batch of epoch 2
        optim.SGD(model.parameters(), lr=0.1),
        callbacks=[ProgressBar(verbose=2, file=stream)],
        diagnostics=False,
    )
    history = trainer.fit(*blobs(200), epochs=4, batch_size=20, seed=0)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("Epoch 1/4") and lines[1].startswith("Epoch 2/4")
    assert "loss nan" in lines[1]
    assert lines[-1] == f"Training stopped: {history.stop_reason}"


def test_a_resumed_run_interrupted_at_once_names_the_epoch_it_resumed_from() -> None:
    model = mlp()
    start = model.state_dict()
    history = sgd(model, [InterruptAt(3, 1)]).fit(
        *blobs(), epochs=6, batch_size=20, seed=0, initial_epoch=3
    )
    assert same(model.state_dict(), start) and history.kept_epoch == 2
    assert history.stop_reason.endswith("the weights of the end of epoch 3 were kept")
