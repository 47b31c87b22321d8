"""Callbacks: early stopping, checkpoints, lr schedules, NaN guard, progress bar, CSV log."""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

import chainrule as cr
from chainrule import nn, optim
from chainrule.callbacks import (
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgressBar,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from chainrule.callbacks.checkpoint import save_weights
from chainrule.errors import ConfigError
from chainrule.training import Trainer


def blobs(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    y = rng.integers(0, 3, n)
    return (centers[y] + rng.normal(scale=0.8, size=(n, 2))).astype(np.float32), y


def mlp(seed: int = 0) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(2, 12, rng=rng), nn.ReLU(), nn.Linear(12, 3, rng=rng))


def make(model: nn.Module, callbacks: list, lr: float = 0.1) -> Trainer:
    """A trainer without gradient-health checks: the lr schedules here blow gradients up."""
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.5)
    return Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=callbacks, diagnostics=False)


class Snapshots(Callback):
    """The weights at the end of every epoch (and after every batch, for per-batch checks)."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, np.ndarray]] = []
        self.batches: list[dict[str, np.ndarray]] = []

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
        self.epochs.append(trainer.model.state_dict())

    def on_batch_end(self, trainer: Trainer, batch: int, logs: dict) -> None:
        self.batches.append(trainer.model.state_dict())


def same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def worsening_schedule(epoch: int) -> float:
    """A sane lr for three epochs, then one that wrecks the model (later epochs are worse)."""
    return 0.1 if epoch < 3 else 3.0


# -- EarlyStopping --------------------------------------------------------------------------------
def test_early_stopping_triggers_and_restores_the_best_weights() -> None:
    snaps = Snapshots()
    stop = EarlyStopping(monitor="val_loss", patience=2)
    model = mlp()
    callbacks = [LearningRateScheduler(worsening_schedule), snaps, stop]
    history = make(model, callbacks).fit(
        *blobs(), epochs=20, batch_size=16, validation_data=blobs(60, 1), seed=0
    )
    best = int(np.nanargmin(history["val_loss"]))
    assert history.stopped_early and len(history) < 20
    assert len(history) == best + 1 + 2  # patience 2: two epochs without improvement
    assert stop.best_epoch == best and stop.best == history["val_loss"][best]
    assert same(model.state_dict(), snaps.epochs[best])
    assert not same(model.state_dict(), snaps.epochs[-1])
    assert history.stop_reason.startswith("early stopping: val_loss has not improved for 2")
    assert f"at epoch {best + 1}" in history.stop_reason


def test_early_stopping_restores_the_best_weights_when_training_ends_normally() -> None:
    snaps = Snapshots()
    model = mlp()
    callbacks = [LearningRateScheduler(worsening_schedule), snaps, EarlyStopping(patience=50)]
    history = make(model, callbacks).fit(
        *blobs(), epochs=6, batch_size=16, validation_data=blobs(60, 1), seed=0
    )
    assert not history.stopped_early and len(history) == 6
    best = int(np.nanargmin(history["val_loss"]))
    assert best < 5
    assert same(model.state_dict(), snaps.epochs[best])


def test_early_stopping_without_restoring_keeps_the_last_weights() -> None:
    snaps = Snapshots()
    model = mlp()
    stop = EarlyStopping(monitor="loss", patience=1, restore_best_weights=False)
    make(model, [LearningRateScheduler(worsening_schedule), snaps, stop]).fit(
        *blobs(), epochs=10, batch_size=16, seed=0
    )
    assert same(model.state_dict(), snaps.epochs[-1]) and stop.best_weights is None


def test_early_stopping_min_delta_and_max_mode() -> None:
    # With min_delta huge, only the first epoch counts as an improvement.
    stop = EarlyStopping(monitor="val_accuracy", patience=2, min_delta=10.0)
    history = make(mlp(), [stop]).fit(
        *blobs(), epochs=10, batch_size=16, validation_data=blobs(60, 1), seed=0
    )
    assert stop.mode == "max" and len(history) == 3 and stop.best_epoch == 0


def test_early_stopping_names_the_keys_there_are() -> None:
    with pytest.raises(
        ConfigError,
        match=r"monitor='val_loss' is not among the logged figures \['accuracy', 'loss', 'lr', "
        r"'seconds'\]; hint: pass validation_data",
    ):
        make(mlp(), [EarlyStopping()]).fit(*blobs(20), epochs=2)


def test_early_stopping_refuses_bad_options() -> None:
    with pytest.raises(ConfigError, match=r"patience must be an integer >= 0, got -1"):
        EarlyStopping(patience=-1)
    with pytest.raises(ConfigError, match=r"EarlyStopping: mode must be 'auto', 'min' or 'max'"):
        EarlyStopping(mode="down")
    with pytest.raises(ConfigError, match=r"min_delta must be a number >= 0, got -0.1"):
        EarlyStopping(min_delta=-0.1)
    with pytest.raises(ConfigError, match=r"monitor must be a log key"):
        EarlyStopping(monitor="")


# -- ModelCheckpoint ------------------------------------------------------------------------------
def test_checkpoint_saves_the_best_epochs_model(tmp_path: Path) -> None:
    snaps = Snapshots()
    target = tmp_path / "run" / "best"
    checkpoint = ModelCheckpoint(target)
    callbacks = [LearningRateScheduler(worsening_schedule), snaps, checkpoint]
    history = make(mlp(), callbacks).fit(
        *blobs(), epochs=6, batch_size=16, validation_data=blobs(60, 1), seed=0
    )
    best = int(np.nanargmin(history["val_loss"]))
    assert checkpoint.best_epoch == best and checkpoint.saved[-1] == (
        best,
        target.with_suffix(".json"),
    )
    loaded = cr.load(target)
    assert same(loaded.model.state_dict(), snaps.epochs[best])
    assert loaded.metadata == {"epoch": best + 1}
    assert loaded.metrics["val_loss"] == history["val_loss"][best]
    assert sorted(os.listdir(target.parent)) == ["best.json", "best.safetensors"]  # no temp files


def test_checkpoint_of_weights_only_saves_the_state_dict(tmp_path: Path) -> None:
    snaps = Snapshots()
    target = tmp_path / "best.safetensors"
    checkpoint = ModelCheckpoint(target, monitor="val_accuracy", save_fn=save_weights)
    callbacks = [LearningRateScheduler(worsening_schedule), snaps, checkpoint]
    history = make(mlp(), callbacks).fit(
        *blobs(), epochs=6, batch_size=16, validation_data=blobs(60, 1), seed=0
    )
    best = int(np.argmax(history["val_accuracy"]))  # the first of equal bests, as "improved"
    assert checkpoint.mode == "max" and checkpoint.best_epoch == best
    assert same(load_file(str(target)), snaps.epochs[best])
    assert os.listdir(tmp_path) == ["best.safetensors"]


def test_checkpoint_writes_through_a_temp_file_in_the_same_folder(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    target.write_text("old")
    seen: list[tuple[Path, bool, str]] = []

    def save(model: nn.Module, path: str) -> None:
        # While the new file is written, the old one is still whole at the destination.
        seen.append((Path(path), target.exists(), target.read_text()))
        Path(path).write_text("new")

    make(mlp(), [ModelCheckpoint(target, monitor="loss", save_fn=save)]).fit(
        *blobs(20), epochs=1, batch_size=20
    )
    ((temp, existed, content),) = seen
    assert temp.parent == target.parent and temp != target and temp.suffix == ".bin"
    assert existed and content == "old"
    assert target.read_text() == "new" and not temp.exists()


def test_a_failed_save_leaves_the_old_checkpoint_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "model.safetensors"
    target.write_text("old")

    def broken(model: nn.Module, path: str) -> None:
        Path(path).write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        make(mlp(), [ModelCheckpoint(target, monitor="loss", save_fn=broken)]).fit(
            *blobs(20), epochs=1
        )
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["model.safetensors"]


def test_checkpoint_every_epoch_with_a_path_template(tmp_path: Path) -> None:
    snaps = Snapshots()
    pattern = str(tmp_path / "e{epoch:02d}-{loss:.2f}.safetensors")
    checkpoint = ModelCheckpoint(pattern, save_best_only=False, save_fn=save_weights)
    history = make(mlp(), [snaps, checkpoint]).fit(*blobs(), epochs=3, batch_size=32, seed=0)
    names = sorted(os.listdir(tmp_path))
    assert names == [f"e{e + 1:02d}-{history['loss'][e]:.2f}.safetensors" for e in range(3)]
    assert same(load_file(str(tmp_path / names[1])), snaps.epochs[1])


def test_checkpoint_refuses_bad_options(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"ModelCheckpoint: path must be a file path"):
        ModelCheckpoint("")
    with pytest.raises(ConfigError, match=r"save_fn must be callable"):
        ModelCheckpoint(tmp_path / "m", save_fn="safetensors")
    with pytest.raises(ConfigError, match=r"ModelCheckpoint: monitor='val_loss' is not among"):
        make(mlp(), [ModelCheckpoint(tmp_path / "m")]).fit(*blobs(20), epochs=1)
    bad = ModelCheckpoint(tmp_path / "{val_acc}.st", save_best_only=False)
    with pytest.raises(ConfigError, match=r"cannot fill in the path .*\{epoch\} and the logged"):
        make(mlp(), [bad]).fit(*blobs(20), epochs=1)


# -- learning-rate callbacks ----------------------------------------------------------------------
def test_lr_scheduler_per_epoch_and_per_batch() -> None:
    history = make(mlp(), [LearningRateScheduler(lambda e: 0.1 / (e + 1))]).fit(
        *blobs(40), epochs=3, batch_size=20
    )
    assert history["lr"] == [0.1, 0.05, pytest.approx(0.1 / 3)]

    seen: list[float] = []

    class LrSpy(Callback):
        def on_batch_end(self, trainer: Trainer, batch: int, logs: dict) -> None:
            seen.append(trainer.optimizer.lr)

    # The spy comes first, so it sees the lr the batch was trained with.
    schedule = LearningRateScheduler(lambda s: 0.01 * (s + 1), per="batch")
    history = make(mlp(), [LrSpy(), schedule]).fit(*blobs(40), epochs=2, batch_size=20)
    assert seen == pytest.approx([0.01, 0.02, 0.03, 0.04])
    assert history["lr"] == pytest.approx([0.01, 0.03])


def test_lr_scheduler_checks_what_the_schedule_returns() -> None:
    with pytest.raises(ConfigError, match=r"schedule\(0\) returned -1.0; expected a finite"):
        make(mlp(), [LearningRateScheduler(lambda e: -1.0)]).fit(*blobs(20), epochs=1)
    with pytest.raises(ConfigError, match=r"per must be 'epoch' or 'batch', got 'step'"):
        LearningRateScheduler(lambda e: 0.1, per="step")
    with pytest.raises(ConfigError, match=r"schedule must be callable"):
        LearningRateScheduler(0.1)  # type: ignore[arg-type]


def test_reduce_lr_on_plateau_divides_the_lr() -> None:
    # A relative threshold of 100% makes every epoch after the first "no improvement".
    plateau = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, threshold=1.0)
    history = make(mlp(), [plateau]).fit(*blobs(40), epochs=5, batch_size=20)
    # Bad epochs 1, 2 -> reduce after epoch 2; bad epochs 3, 4 -> reduce after epoch 4.
    assert history["lr"] == [0.1, 0.1, 0.1, 0.05, 0.05]
    assert plateau.reductions == [(2, 0.05), (4, 0.025)]
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['step_size'\]"):
        ReduceLROnPlateau(step_size=3)


# -- TerminateOnNaN -------------------------------------------------------------------------------
def nan_after(batches: int):
    """Cross-entropy that turns NaN from the given (0-based, global) batch on."""
    count = [0]
    ce = nn.CrossEntropyLoss()

    def loss(out, y):
        value = ce(out, y)
        count[0] += 1
        return value * float("nan") if count[0] > batches else value

    return loss


def test_terminate_on_nan_restores_the_last_good_epoch() -> None:
    snaps = Snapshots()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    guard = TerminateOnNaN()
    trainer = Trainer(model, nan_after(6 + 2), opt, callbacks=[snaps, guard])
    history = trainer.fit(*blobs(), epochs=5, batch_size=20, seed=0)  # 6 batches per epoch
    assert history.stopped_early and guard.terminated_at == (1, 2)
    assert history.stop_reason.startswith("the loss became nan at epoch 2, batch 3")
    assert "weights from the end of epoch 1 were restored" in history.stop_reason
    assert same(model.state_dict(), snaps.epochs[0])
    assert len(history) == 2 and math.isnan(history["loss"][1])
    momentum = opt.state_dict()["state"]
    assert all(np.isfinite(v).all() for v in momentum.values())


def test_terminate_on_nan_in_the_first_epoch_restores_the_initial_weights() -> None:
    model = mlp()
    initial = model.state_dict()
    trainer = Trainer(
        model, nan_after(1), optim.SGD(model.parameters(), lr=0.1), callbacks=[TerminateOnNaN()]
    )
    history = trainer.fit(*blobs(), epochs=3, batch_size=20)
    assert same(model.state_dict(), initial)
    assert "weights from the start of training were restored" in history.stop_reason


def test_terminate_on_nan_per_batch_restores_the_last_good_batch() -> None:
    snaps = Snapshots()
    model = mlp()
    trainer = Trainer(
        model,
        nan_after(4),
        optim.SGD(model.parameters(), lr=0.1),
        callbacks=[snaps, TerminateOnNaN(per="batch")],
    )
    history = trainer.fit(*blobs(), epochs=3, batch_size=20, seed=0)
    assert same(model.state_dict(), snaps.batches[3])  # after batch 4 (index 3)
    assert "from epoch 1, batch 4 were restored" in history.stop_reason
    with pytest.raises(ConfigError, match=r"per must be 'epoch' or 'batch'"):
        TerminateOnNaN(per="step")


# -- ProgressBar ----------------------------------------------------------------------------------
def test_progress_bar_shows_batches_running_loss_and_epoch_summaries() -> None:
    stream = io.StringIO()
    history = make(mlp(), [ProgressBar(file=stream, mininterval=0)]).fit(
        *blobs(), epochs=2, batch_size=40, validation_data=blobs(30, 1), seed=0
    )
    text = stream.getvalue()
    assert "Epoch 1/2" in text and "3/3" in text and "batch/s" in text
    assert "loss=" in text  # the running loss in the bar's postfix
    for epoch in (0, 1):
        summary = (
            f"Epoch {epoch + 1}/2 - {history['seconds'][epoch]:.2f}s - "
            f"loss {history['loss'][epoch]:.4f} - accuracy {history['accuracy'][epoch]:.4f} - "
            f"val_loss {history['val_loss'][epoch]:.4f}"
        )
        assert summary in text


def test_progress_bar_verbose_two_prints_only_summaries_and_zero_nothing() -> None:
    stream = io.StringIO()
    make(mlp(), [ProgressBar(verbose=2, file=stream)]).fit(*blobs(40), epochs=2, batch_size=10)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].startswith("Epoch 2/2 - ") and "batch/s" not in lines[0]
    quiet = io.StringIO()
    make(mlp(), [ProgressBar(verbose=0, file=quiet)]).fit(*blobs(40), epochs=2, batch_size=10)
    assert quiet.getvalue() == ""
    with pytest.raises(ConfigError, match=r"verbose must be 0, 1 or 2, got 3"):
        ProgressBar(verbose=3)


def test_progress_bar_writes_to_stderr_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    make(mlp(), [ProgressBar(verbose=2)]).fit(*blobs(40), epochs=1, batch_size=10)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("Epoch 1/1 - ")


def test_progress_bar_says_training_was_interrupted_or_stopped() -> None:
    class Interrupt(Callback):
        def on_batch_end(self, trainer: Trainer, batch: int, logs: dict) -> None:
            if trainer.epoch == 1:
                raise KeyboardInterrupt

    stream = io.StringIO()
    history = make(mlp(), [ProgressBar(file=stream), Interrupt()]).fit(
        *blobs(40), epochs=3, batch_size=10
    )
    assert history.interrupted
    assert f"Training interrupted by Ctrl-C: {history.stop_reason}" in stream.getvalue()

    stream = io.StringIO()
    callbacks = [
        LearningRateScheduler(worsening_schedule),
        ProgressBar(verbose=2, file=stream),
        EarlyStopping("loss", patience=0),
    ]
    history = make(mlp(), callbacks).fit(*blobs(40), epochs=30, batch_size=10, seed=0)
    assert history.stopped_early
    assert stream.getvalue().splitlines()[-1] == f"Training stopped: {history.stop_reason}"


# -- CSVLogger ------------------------------------------------------------------------------------
def test_csv_logger_writes_one_row_per_epoch(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "train.csv"
    history = make(mlp(), [CSVLogger(path)]).fit(
        *blobs(), epochs=3, batch_size=20, validation_split=0.25, seed=0
    )
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"]
    assert [r[0] for r in rows[1:]] == ["1", "2", "3"]
    for e, row in enumerate(rows[1:]):
        for key, cell in zip(rows[0][1:], row[1:]):
            assert float(cell) == history[key][e]


def test_csv_logger_appends_under_the_existing_header(tmp_path: Path) -> None:
    path = tmp_path / "log.tsv"
    for _ in range(2):
        make(mlp(), [CSVLogger(path, separator="\t", append=True)]).fit(*blobs(20), epochs=2)
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch\tloss\taccuracy\tlr\tseconds" and len(lines) == 5
    assert [line.split("\t")[0] for line in lines[1:]] == ["1", "2", "1", "2"]
    with pytest.raises(ConfigError, match=r"separator must be one character"):
        CSVLogger(path, separator="::")
    with pytest.raises(ConfigError, match=r"CSVLogger: path must be a file path"):
        CSVLogger(None)  # type: ignore[arg-type]


# -- base -----------------------------------------------------------------------------------------
def test_callback_list_calls_batch_hooks_only_where_defined() -> None:
    class EpochOnly(Callback):
        pass

    class Batchy(Callback):
        def on_batch_end(self, trainer: Trainer, batch: int, logs: dict) -> None:
            pass

    batchy = Batchy()
    callbacks = CallbackList([EpochOnly(), batchy])
    assert callbacks.batch_callbacks == [batchy] and len(callbacks) == 2
    assert not callbacks.shows_warnings and CallbackList([ProgressBar()]).shows_warnings
    assert not CallbackList([ProgressBar(verbose=0)]).shows_warnings
    with pytest.raises(ConfigError, match=r"callbacks\[1\] is a function, expected a"):
        CallbackList([EpochOnly(), lambda: None])
