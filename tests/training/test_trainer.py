"""Trainer: fit / evaluate / predict, the train step's arithmetic, input checks, Ctrl-C, History."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import losses, nn, optim
from chainrule.callbacks import Callback, EarlyStopping
from chainrule.data import DataLoader
from chainrule.errors import ConfigError, DtypeError, ShapeError
from chainrule.training import History, Trainer


def blobs(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated Gaussian clusters in 2-D, labels 0..2."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    y = rng.integers(0, 3, n)
    x = centers[y] + rng.normal(scale=0.6, size=(n, 2))
    return x.astype(np.float32), y.astype(np.int64)


def mlp(seed: int = 0, hidden: int = 16) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(2, hidden, rng=rng), nn.ReLU(), nn.Linear(hidden, 3, rng=rng))


def trainer_for(model: nn.Module, lr: float = 0.1, **kwargs: object) -> Trainer:
    return Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=lr), **kwargs)


def log_softmax_ce(scores: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy written out: -mean(s_y - log sum_c exp s_c)."""
    s = scores.astype(np.float64)
    top = s.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(s - top).sum(axis=1))
    return float(np.mean(lse - s[np.arange(len(y)), y]))


# -- fit / evaluate / predict ---------------------------------------------------------------------
def test_fit_learns_blobs_and_records_history() -> None:
    x, y = blobs()
    trainer = trainer_for(mlp())
    history = trainer.fit(x, y, epochs=8, batch_size=16, validation_data=blobs(60, seed=1), seed=0)
    assert isinstance(history, History) and len(history) == 8
    assert set(history.keys()) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    assert all(len(v) == 8 for v in history.history.values())
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["val_accuracy"][-1] >= 0.95
    assert history["lr"] == [0.1] * 8
    assert all(s > 0 for s in history["seconds"])
    assert not history.interrupted and not history.stopped_early and history.stop_reason is None
    assert history.params == {"epochs": 8, "batch_size": 16, "steps": 13, "samples": 200}


def test_evaluate_matches_cross_entropy_and_accuracy_written_out() -> None:
    x, y = blobs()
    trainer = trainer_for(mlp())
    trainer.fit(x, y, epochs=2, batch_size=32, seed=0)
    scores = trainer.predict(x, batch_size=7)
    result = trainer.evaluate(x, y, batch_size=13)
    assert set(result) == {"loss", "accuracy"}
    assert result["loss"] == pytest.approx(log_softmax_ce(scores, y), rel=1e-5)
    assert result["accuracy"] == pytest.approx(np.mean(scores.argmax(1) == y))


def test_predict_is_batched_in_eval_mode_without_graph_and_restores_modes() -> None:
    seen: list[tuple[bool, bool, int]] = []

    class Probe(nn.Module):
        def forward(self, x: cr.Tensor) -> cr.Tensor:
            seen.append((self.training, cr.is_grad_enabled(), x.shape[0]))
            return x

    model = nn.Sequential(nn.Linear(2, 3, rng=0), Probe())
    model.train()
    model[0].eval()  # a mixed state must come back as it was
    trainer = trainer_for(model)
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    out = trainer.predict(x, batch_size=4)
    w, b = model[0].weight.data, model[0].bias.data
    np.testing.assert_allclose(out, x @ w.T + b, rtol=1e-6)
    assert [s[2] for s in seen] == [4, 4, 2]
    assert all(not training and not grad for training, grad, _ in seen)
    assert model.training and not model[0].training and model[1].training
    assert model[0].weight.grad is None


def test_predict_takes_images_fewer_at_a_time_than_rows() -> None:
    """Default batches: 2048 rows of features, 512 images (activations of a convolution are
    tens of times its input); evaluate follows the same rule, an explicit batch_size wins."""
    from chainrule.training.loop import EVAL_BATCH_SIZE, EVAL_IMAGE_BATCH_SIZE

    seen: list[int] = []

    class Probe(nn.Module):
        def forward(self, x: cr.Tensor) -> cr.Tensor:
            seen.append(x.shape[0])
            return x.reshape(x.shape[0], -1)[:, :2]

    trainer = trainer_for(nn.Sequential(Probe(), nn.Linear(2, 2, rng=0)))
    trainer.predict(np.zeros((2100, 2), np.float32))
    assert seen == [EVAL_BATCH_SIZE, 2100 - EVAL_BATCH_SIZE] == [2048, 52]
    seen.clear()
    trainer.evaluate(np.zeros((1100, 1, 2, 2), np.float32), np.zeros(1100, np.int64))
    assert seen == [EVAL_IMAGE_BATCH_SIZE, 512, 76]
    seen.clear()
    trainer.predict(np.zeros((1100, 1, 2, 2), np.float32), batch_size=600)
    assert seen == [600, 500]


def test_predict_restores_mode_even_when_forward_fails() -> None:
    model = mlp()
    model.train()
    with pytest.raises(ShapeError, match="expected the last axis"):
        trainer_for(model).predict(np.zeros((4, 5), np.float32))
    assert all(m.training for m in model.modules())


def test_fit_restores_the_modes_it_found() -> None:
    x, y = blobs(40)
    model = mlp()
    model.eval()
    trainer_for(model).fit(x, y, epochs=1, batch_size=8, seed=0)
    assert not any(m.training for m in model.modules())


def test_one_full_batch_epoch_is_one_sgd_step_on_mse() -> None:
    # y_hat = x w^T + b, L = mean((y_hat - t)^2): dL/dw = 2/N (y_hat - t)^T x, dL/db = 2/N sum.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(12, 3)).astype(np.float64)
    t = rng.normal(size=(12, 1)).astype(np.float64)
    model = nn.Linear(3, 1, rng=0).astype(np.float64)
    w0, b0 = model.weight.data.copy(), model.bias.data.copy()
    trainer = Trainer(model, losses.mse_loss, optim.SGD(model.parameters(), lr=0.05), metrics=())
    history = trainer.fit(x, t, epochs=1, batch_size=12, shuffle=False)
    residual = x @ w0.T + b0 - t
    np.testing.assert_allclose(model.weight.data, w0 - 0.05 * 2 / 12 * residual.T @ x, rtol=1e-12)
    np.testing.assert_allclose(model.bias.data, b0 - 0.05 * 2 / 12 * residual.sum(0), rtol=1e-12)
    assert history["loss"] == [pytest.approx(float(np.mean(residual**2)), rel=1e-12)]
    assert "accuracy" not in history  # no metrics asked for


def test_regularizer_penalty_is_added_to_the_gradient_and_logged_apart() -> None:
    rng = np.random.default_rng(4)
    x, t = rng.normal(size=(8, 2)), rng.normal(size=(8, 1))
    model = nn.Linear(2, 1, rng=0).astype(np.float64)
    w0, b0 = model.weight.data.copy(), model.bias.data.copy()
    lam = 0.3

    def half_l2(m: nn.Module) -> cr.Tensor:  # 0.5 * lam * ||w||^2, gradient lam * w
        return (m.weight * m.weight).sum() * (0.5 * lam)

    trainer = Trainer(
        model, losses.mse_loss, optim.SGD(model.parameters(), lr=0.1), regularizers=[half_l2]
    )
    history = trainer.fit(x, t, epochs=1, batch_size=8, shuffle=False)
    residual = x @ w0.T + b0 - t
    grad_w = 2 / 8 * residual.T @ x + lam * w0
    np.testing.assert_allclose(model.weight.data, w0 - 0.1 * grad_w, rtol=1e-12)
    assert history["penalty"] == [pytest.approx(0.5 * lam * float((w0**2).sum()))]
    assert history["loss"] == [pytest.approx(float(np.mean(residual**2)))]


def test_constraints_run_after_every_step_and_clipping_bounds_the_step() -> None:
    x, y = blobs(64)
    calls: list[float] = []

    def cap(m: nn.Module) -> None:
        calls.append(float(np.abs(m[0].weight.data).max()))
        np.clip(m[0].weight.data, -0.5, 0.5, out=m[0].weight.data)

    model = mlp()
    trainer = trainer_for(model, lr=1.0, constraints=[cap], clip_grad_norm=0.01)
    before = [p.data.copy() for p in model.parameters()]
    trainer.fit(x, y, epochs=1, batch_size=64, shuffle=False)
    assert len(calls) == 1
    assert np.abs(model[0].weight.data).max() <= 0.5
    # lr 1 and a clipped global gradient norm of 0.01: the step's norm is at most 0.01
    # (the cap only moves weights further toward the box, so compare the unconstrained layer).
    moved = [p.data - b for p, b in zip(model.parameters(), before)][1:]
    assert math.sqrt(sum(float((d**2).sum()) for d in moved)) <= 0.01 + 1e-6


def test_validation_split_holds_out_a_stratified_fraction() -> None:
    x, y = blobs(100)
    trainer = trainer_for(mlp())
    history = trainer.fit(x, y, epochs=1, batch_size=10, validation_split=0.2, seed=0)
    assert trainer.params["samples"] == 80 and trainer.params["steps"] == 8
    assert "val_loss" in history and "val_accuracy" in history


def test_named_metrics_are_left_out_for_regression_targets_and_callables_kept() -> None:
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=(20, 2)).astype(np.float32), rng.normal(size=(20, 1))

    def mean_abs(y_true: np.ndarray, scores: np.ndarray) -> float:
        return float(np.mean(np.abs(y_true - scores)))

    model = nn.Linear(2, 1, rng=0)
    trainer = Trainer(
        model,
        losses.mse_loss,
        optim.SGD(model.parameters(), lr=0.01),
        metrics=("accuracy", mean_abs, ("max_err", lambda a, b: float(np.max(np.abs(a - b))))),
    )
    history = trainer.fit(x, t, epochs=1, batch_size=20, validation_data=(x, t), shuffle=False)
    assert "accuracy" not in history
    assert {"mean_abs", "max_err", "val_mean_abs", "val_max_err"} <= set(history.keys())
    result = trainer.evaluate(x, t)
    np.testing.assert_allclose(
        result["mean_abs"], np.mean(np.abs(t - trainer.predict(x))), rtol=1e-5
    )


def test_float64_model_gets_float64_inputs() -> None:
    x, y = blobs(32)
    model = mlp().astype(np.float64)
    trainer = trainer_for(model)
    trainer.fit(x, y, epochs=1, batch_size=8, seed=0)
    assert model[0].weight.dtype == np.float64
    assert trainer.predict(x).dtype == np.float64


def test_the_loop_never_prints(capsys: pytest.CaptureFixture[str]) -> None:
    x, y = blobs(40)
    trainer_for(mlp()).fit(x, y, epochs=2, batch_size=8, validation_split=0.25, seed=0)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


# -- the plain loop -------------------------------------------------------------------------------
def test_plain_pytorch_style_loop_learns() -> None:
    x, y = blobs()
    model = mlp()
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    first = None
    for _ in range(5):
        for xb, yb in DataLoader((x, y), batch_size=16, shuffle=True, seed=0):
            out = model(cr.Tensor(xb))
            loss = loss_fn(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            first = loss.item() if first is None else first
    model.eval()
    with cr.no_grad():
        scores = model(cr.Tensor(x)).data
    assert np.mean(scores.argmax(1) == y) >= 0.95
    assert log_softmax_ce(scores, y) < 0.3 * first


# -- reproducibility ------------------------------------------------------------------------------
def test_same_seed_gives_bit_identical_weights_and_history() -> None:
    x, y = blobs()

    def run(seed: int) -> tuple[dict[str, np.ndarray], dict[str, list[float]]]:
        model = nn.Sequential(
            nn.Linear(2, 16, rng=7), nn.ReLU(), nn.Dropout(0.2, rng=8), nn.Linear(16, 3, rng=9)
        )
        history = Trainer(
            model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.01)
        ).fit(x, y, epochs=3, batch_size=16, validation_split=0.2, seed=seed)
        figures = {k: v for k, v in history.history.items() if k != "seconds"}
        return model.state_dict(), figures

    (w1, h1), (w2, h2), (w3, _) = run(5), run(5), run(6)
    assert h1 == h2
    assert all(np.array_equal(w1[k], w2[k]) for k in w1)
    assert not all(np.array_equal(w1[k], w3[k]) for k in w1)


# -- stopping and Ctrl-C --------------------------------------------------------------------------
class Recorder(Callback):
    """Remembers the hooks called, in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_train_begin(self, trainer: Trainer, logs: dict) -> None:
        self.calls.append("train_begin")

    def on_epoch_begin(self, trainer: Trainer, epoch: int, logs: dict) -> None:
        self.calls.append(f"epoch_begin {epoch}")

    def on_batch_end(self, trainer: Trainer, batch: int, logs: dict) -> None:
        self.calls.append(f"batch {batch}")

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
        self.calls.append(f"epoch_end {epoch}")

    def on_train_end(self, trainer: Trainer, logs: dict) -> None:
        self.calls.append("train_end")


class InterruptAt(Callback):
    def __init__(self, epoch: int, batch: int) -> None:
        self.at = (epoch, batch)

    def on_batch_end(self, trainer: Trainer, batch: int, logs: dict) -> None:
        if (trainer.epoch, batch) == self.at:
            raise KeyboardInterrupt


def test_keyboard_interrupt_returns_history_and_runs_on_train_end() -> None:
    x, y = blobs(64)
    recorder = Recorder()
    trainer = trainer_for(mlp(), callbacks=[recorder, InterruptAt(1, 2)])
    history = trainer.fit(x, y, epochs=5, batch_size=16, seed=0)
    assert history.interrupted and not history.stopped_early
    assert len(history) == 1  # the interrupted epoch is not recorded
    assert "KeyboardInterrupt" in history.stop_reason and "epoch 2" in history.stop_reason
    assert recorder.calls[-4:] == ["batch 0", "batch 1", "batch 2", "train_end"]


def test_keyboard_interrupt_still_restores_the_best_weights() -> None:
    x, y = blobs(64)
    snapshots: list[dict[str, np.ndarray]] = []

    class Snap(Callback):
        def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
            snapshots.append(trainer.model.state_dict())

    model = mlp()
    stop = EarlyStopping(monitor="loss", patience=10)
    history = trainer_for(model, callbacks=[Snap(), stop, InterruptAt(3, 1)]).fit(
        x, y, epochs=10, batch_size=16, seed=0
    )
    assert history.interrupted and len(history) == 3
    best = int(np.argmin(history["loss"]))
    assert all(np.array_equal(model.state_dict()[k], snapshots[best][k]) for k in snapshots[0])
    assert stop.restored


def test_other_exceptions_propagate() -> None:
    class Boom(Callback):
        def on_batch_end(self, trainer: Trainer, batch: int, logs: dict) -> None:
            raise RuntimeError("boom")

    x, y = blobs(16)
    model = mlp()
    model.eval()
    with pytest.raises(RuntimeError, match="boom"):
        trainer_for(model, callbacks=[Boom()]).fit(x, y, epochs=1, batch_size=4)
    assert not any(m.training for m in model.modules())  # modes restored on the way out


def test_a_callback_can_stop_training_and_say_why() -> None:
    class StopAfterTwo(Callback):
        def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
            if epoch == 1:
                trainer.request_stop("enough")

    class Silent(Callback):
        def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
            trainer.stop_training = True

    x, y = blobs(32)
    history = trainer_for(mlp(), callbacks=[StopAfterTwo()]).fit(x, y, epochs=9, batch_size=8)
    assert len(history) == 2 and history.stopped_early and history.stop_reason == "enough"
    history = trainer_for(mlp(), callbacks=[Silent()]).fit(x, y, epochs=9, batch_size=8)
    assert len(history) == 1 and history.stopped_early
    assert history.stop_reason == "a callback set trainer.stop_training"


def test_hooks_are_called_in_order() -> None:
    x, y = blobs(10)
    recorder = Recorder()
    trainer_for(mlp(), callbacks=[recorder]).fit(x, y, epochs=2, batch_size=6, shuffle=False)
    assert recorder.calls == [
        "train_begin",
        "epoch_begin 0", "batch 0", "batch 1", "epoch_end 0",
        "epoch_begin 1", "batch 0", "batch 1", "epoch_end 1",
        "train_end",
    ]  # fmt: skip


# -- bad inputs -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("x", "y", "error", "match"),
    [
        (
            np.zeros((5, 2)),
            np.zeros(4, np.int64),
            ShapeError,
            r"same number of samples, got 5 and 4",
        ),
        (np.array([["a", "b"]]), np.zeros(1, np.int64), DtypeError, r"x must hold numbers.*<U1"),
        (np.array([[1, None]], dtype=object), [0], DtypeError, r"x must hold numbers.*object"),
        (
            np.zeros((2, 2), complex),
            np.zeros(2, np.int64),
            DtypeError,
            r"x must hold numbers.*complex",
        ),
        (np.zeros((0, 2)), np.zeros(0, np.int64), ShapeError, r"x is empty"),
        (np.float32(3.0), np.zeros(1), ShapeError, r"x must have a first axis of samples"),
        (np.zeros((2, 2)), np.array(["a", "b"]), DtypeError, r"y must hold numbers"),
        (np.zeros((2, 2)), np.array([0.0, np.nan]), ConfigError, r"y contains 1 non-finite"),
    ],
)
def test_fit_refuses_bad_data(x: object, y: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        trainer_for(mlp()).fit(x, y, epochs=1)


def test_nan_and_inf_in_x_are_counted_and_located() -> None:
    x, y = blobs(10)
    x[3, 1] = np.nan
    x[7, 0] = np.inf
    x[7, 1] = -np.inf
    message = (
        r"x contains 3 non-finite value\(s\) \(1 NaN, 2 inf\) in 2 sample\(s\): rows 3, 7; "
        r"the first is at index \(3, 1\)"
    )
    with pytest.raises(ConfigError, match=message):
        trainer_for(mlp()).fit(x, y)
    with pytest.raises(ConfigError, match=r"x contains 3 non-finite"):
        trainer_for(mlp()).predict(x)
    with pytest.raises(ConfigError, match=r"x_val contains 3 non-finite"):
        trainer_for(mlp()).fit(*blobs(10), validation_data=(x, y))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epochs": 0}, r"epochs must be an integer >= 1, got 0"),
        ({"epochs": 2.5}, r"epochs must be an integer >= 1, got 2.5"),
        ({"batch_size": 0}, r"batch_size must be an integer >= 1, got 0"),
        ({"batch_size": True}, r"batch_size must be an integer >= 1, got True"),
        ({"validation_split": 1.0}, r"validation_split must be a fraction in \[0, 1\), got 1.0"),
        ({"validation_split": -0.1}, r"validation_split must be a fraction in \[0, 1\)"),
        ({"validation_split": 0.2, "validation_data": blobs(5)}, r"not both"),
        ({"validation_data": (1, 2, 3)}, r"validation_data must be a pair"),
    ],
)
def test_fit_refuses_bad_options(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        trainer_for(mlp()).fit(*blobs(20), **kwargs)


def test_evaluate_and_predict_check_batch_size() -> None:
    with pytest.raises(ConfigError, match=r"batch_size must be an integer >= 1, got -1"):
        trainer_for(mlp()).predict(np.zeros((2, 2)), batch_size=-1)
    with pytest.raises(ConfigError, match=r"batch_size must be an integer >= 1, got 0"):
        trainer_for(mlp()).evaluate(*blobs(4), batch_size=0)


def test_trainer_refuses_bad_construction() -> None:
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    ce = nn.CrossEntropyLoss()
    with pytest.raises(ConfigError, match=r"model must be a chainrule.nn.Module, got list"):
        Trainer([], ce, opt)
    with pytest.raises(ConfigError, match=r"loss must be callable"):
        Trainer(model, "ce", opt)
    with pytest.raises(ConfigError, match=r"optimizer must have step\(\), zero_grad\(\) and lr"):
        Trainer(model, ce, object())
    with pytest.raises(ConfigError, match=r"unknown metric 'f2'"):
        Trainer(model, ce, opt, metrics=["f2"])
    with pytest.raises(ConfigError, match=r"unknown metric 'confusion_matrix'"):
        Trainer(model, ce, opt, metrics=["confusion_matrix"])
    with pytest.raises(ConfigError, match=r"\['accuracy'\] appear twice"):
        Trainer(model, ce, opt, metrics=["accuracy", ("accuracy", len)])
    with pytest.raises(ConfigError, match=r"\['loss'\] are reserved"):
        Trainer(model, ce, opt, metrics=[("loss", len)])
    with pytest.raises(ConfigError, match=r"a metric must be a name"):
        Trainer(model, ce, opt, metrics=[3])
    with pytest.raises(ConfigError, match=r"callbacks\[0\] is a str"):
        Trainer(model, ce, opt, callbacks=["progress"])
    with pytest.raises(ConfigError, match=r"regularizers\[0\] must be callable"):
        Trainer(model, ce, opt, regularizers=[0.1])
    with pytest.raises(ConfigError, match=r"constraints\[0\] must be callable"):
        Trainer(model, ce, opt, constraints=["maxnorm"])
    with pytest.raises(ConfigError, match=r"clip_grad_norm must be a positive number"):
        Trainer(model, ce, opt, clip_grad_norm=-1.0)
    with pytest.raises(ConfigError, match=r"diagnostics must be True, False or a GradientHealth"):
        Trainer(model, ce, opt, diagnostics="yes")


def test_a_loss_that_is_not_a_scalar_is_refused() -> None:
    model = mlp()
    trainer = Trainer(
        model,
        lambda out, y: nn.functional.cross_entropy(out, y, reduction="none"),
        optim.SGD(model.parameters(), lr=0.1),
    )
    with pytest.raises(ShapeError, match=r"the loss must return a scalar Tensor.*shape \(8,\)"):
        trainer.fit(*blobs(8), epochs=1, batch_size=8)


# -- History --------------------------------------------------------------------------------------
def test_history_records_aligns_and_round_trips_through_json() -> None:
    h = History()
    h.record(0, {"loss": 1.0, "warnings": ["x"], "flag": True})
    h.record(1, {"loss": 0.5, "val_loss": 0.8})
    h.record(2, {"loss": 0.7, "val_loss": 0.6})
    assert h["loss"] == [1.0, 0.5, 0.7]
    assert math.isnan(h["val_loss"][0]) and h["val_loss"][1:] == [0.8, 0.6]
    assert "warnings" not in h and "flag" not in h
    assert h.best("val_loss") == (2, 0.6) and h.best("loss") == (1, 0.5)
    h.record_diagnostics({"grad_norm": {"0": 0.1}})
    h.stopped_early, h.stop_reason = True, "why"
    back = History.from_dict(json.loads(json.dumps(h.to_dict())))
    assert back.history.keys() == h.history.keys() and back["loss"] == h["loss"]
    assert back.diagnostics["grad_norm"]["0"][-1] == 0.1 and back.stop_reason == "why"
    assert "stopped early" in repr(back)
    with pytest.raises(KeyError, match=r"no 'accuracy' in the history; recorded keys are"):
        h["accuracy"]
    with pytest.raises(ConfigError, match=r"'loss' has no finite value in the history"):
        _history_with({"loss": [math.nan]}).best("loss")


def _history_with(values: dict[str, list[float]]) -> History:
    h = History()
    for i, v in enumerate(zip(*values.values())):
        h.record(i, dict(zip(values, v)))
    return h


def test_history_best_accepts_a_mode() -> None:
    h = _history_with({"val_accuracy": [0.5, 0.9, 0.7], "loss": [3.0, 2.0, 1.0]})
    assert h.best("val_accuracy") == (1, 0.9)
    assert h.best("loss", mode="max") == (0, 3.0)
    with pytest.raises(ConfigError, match=r"mode must be 'auto', 'min' or 'max', got 'up'"):
        h.best("loss", mode="up")


def test_initial_epoch_resumes_numbering_and_validates() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.ReLU(), nn.Linear(4, 2, rng=1))
    trainer = cr.Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1))
    history = trainer.fit(x, y, epochs=5, batch_size=8, seed=0, initial_epoch=3)
    assert history.epochs == [3, 4]
    with pytest.raises(ConfigError, match=r"initial_epoch must be an int in \[0, epochs=5\)"):
        trainer.fit(x, y, epochs=5, initial_epoch=5)


def test_fit_trains_in_training_mode_even_if_the_model_was_in_eval() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    dropout = nn.Dropout(0.5, rng=0)
    seen: list[bool] = []
    model = nn.Sequential(nn.Linear(3, 4, rng=0), dropout, nn.Linear(4, 2, rng=1))
    original = dropout.forward

    def spy(t):  # type: ignore[no-untyped-def]
        seen.append(dropout.training)
        return original(t)

    dropout.forward = spy  # type: ignore[method-assign]
    model.eval()
    Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1)).fit(
        x, y, epochs=2, batch_size=8, seed=0
    )
    assert seen and all(seen)  # every training forward ran with dropout active
    assert not dropout.training  # and the caller's eval mode is restored afterwards
