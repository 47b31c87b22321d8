"""Training checkpoints: resuming continues bit-identically; bad or partial checkpoints refused."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ConfigError, DataNotFoundError, FormatError
from chainrule.io import (
    atomic,
    checkpoint_paths,
    generator_state,
    load_checkpoint,
    restore_generator,
    save_checkpoint,
)
from chainrule.nn import Buffer, Module, Parameter
from chainrule.nn.layers import Dropout
from chainrule.optim import SGD, Adam

X = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
LABELS = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1).astype(np.int64)
ONE_HOT = np.eye(3, dtype=np.float32)[LABELS]


class TinyNet(Module):
    """A two-layer net with dropout (a layer holding a Generator), a running mean of its inputs
    (a float Buffer) and a batch count (an integer Buffer)."""

    def __init__(self, seed, hidden=8, dropout=True):
        super().__init__()
        rng = np.random.default_rng(seed)
        if dropout:
            self.drop = Dropout(0.25, rng=seed + 1000)
        self.w1 = Parameter(rng.normal(0, 0.5, (4, hidden)).astype(np.float32))
        self.b1 = Parameter(np.zeros(hidden, np.float32))
        self.w2 = Parameter(rng.normal(0, 0.5, (hidden, 3)).astype(np.float32))
        self.input_mean = Buffer(np.zeros(4, np.float32))
        self.batches = Buffer(np.array(0, np.int64))

    def forward(self, x):
        if self.training:
            self.batches.data = self.batches.data + 1
            self.input_mean.data = (0.9 * self.input_mean.data + 0.1 * x.data.mean(0)).astype(
                np.float32
            )
        hidden = (x @ self.w1 + self.b1).relu()
        return (self.drop(hidden) if hasattr(self, "drop") else hidden) @ self.w2


def train(model, optimizer, rng, epochs, history):
    """Shuffled mini-batch cross-entropy training; appends each epoch's mean loss."""
    for _ in range(epochs):
        losses = []
        order = rng.permutation(len(X))
        for start in range(0, len(X), 8):
            idx = order[start : start + 8]
            logits = model(cr.tensor(X[idx]))
            loss = -(logits.log_softmax(axis=1) * cr.tensor(ONE_HOT[idx])).sum() / len(idx)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        history.setdefault("loss", []).append(float(np.mean(losses)))


def sgd(model):
    return SGD(model, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)


def same_state(a, b):
    return sorted(a) == sorted(b) and all(
        a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and a[k].tobytes() == b[k].tobytes()
        for k in a
    )


def test_resume_is_bit_identical(tmp_path):
    # One uninterrupted run: 3 epochs, checkpoint, 2 more.
    model, rng, history = TinyNet(seed=1), np.random.default_rng(123), {}
    opt = sgd(model)
    train(model, opt, rng, 3, history)
    save_checkpoint(tmp_path, model, opt, 3, history, extra={"rng": generator_state(rng)})
    train(model, opt, rng, 2, history)

    # A fresh process: different initial weights and seed, everything restored from disk.
    resumed, rng2 = TinyNet(seed=99), np.random.default_rng(999)
    opt2 = sgd(resumed)
    epoch, history2, extra = load_checkpoint(tmp_path, resumed, opt2)
    restore_generator(rng2, extra["rng"])
    assert epoch == 3 and history2 == {"loss": history["loss"][:3]}
    train(resumed, opt2, rng2, 2, history2)

    assert same_state(model.state_dict(), resumed.state_dict())
    assert int(resumed.state_dict()["batches"]) == 25
    assert same_state(opt.state_dict()["state"], opt2.state_dict()["state"])
    assert opt2.step_count == opt.step_count == 25
    assert history2 == history


def test_layer_generators_are_saved_and_restored(tmp_path):
    model = TinyNet(seed=1)
    model.drop.rng.random(17)  # move it away from its seeded start
    save_checkpoint(tmp_path, model, sgd(model), 0, {})
    doc = json.loads(checkpoint_paths(tmp_path)["json"].read_text())
    assert list(doc["generators"]) == ["drop.rng"]
    expected = model.drop.rng.random(4)
    resumed = TinyNet(seed=50)
    load_checkpoint(tmp_path, resumed, sgd(resumed))
    assert np.array_equal(resumed.drop.rng.random(4), expected)


def test_layer_generators_must_match_the_model(tmp_path):
    model = TinyNet(seed=1)
    save_checkpoint(tmp_path, model, sgd(model), 0, {})
    plain = TinyNet(seed=1, dropout=False)
    with pytest.raises(FormatError, match=r"random generators for the layers \['drop.rng'\], but"):
        load_checkpoint(tmp_path, plain, sgd(plain))


def test_bad_layer_generator_state_changes_nothing(tmp_path):
    model = TinyNet(seed=1)
    save_checkpoint(tmp_path, model, sgd(model), 0, {})
    path = checkpoint_paths(tmp_path)["json"]
    doc = json.loads(path.read_text())
    doc["generators"]["drop.rng"]["state"] = {"state": "x"}
    path.write_text(json.dumps(doc))
    resumed = TinyNet(seed=50)
    before, draw = resumed.state_dict(), TinyNet(seed=50).drop.rng.random(3)
    opt = sgd(resumed)
    with pytest.raises(FormatError, match="layer generator 'drop.rng': the saved PCG64 random"):
        load_checkpoint(tmp_path, resumed, opt)
    assert same_state(resumed.state_dict(), before)
    assert np.array_equal(resumed.drop.rng.random(3), draw)


def test_resume_without_the_random_state_differs(tmp_path):
    # Shows the test above is sensitive: the shuffling order matters to the final weights.
    model, rng = TinyNet(seed=1), np.random.default_rng(123)
    opt = sgd(model)
    train(model, opt, rng, 1, {})
    save_checkpoint(tmp_path, model, opt, 1, {})
    train(model, opt, rng, 1, {})
    resumed = TinyNet(seed=1)
    opt2 = sgd(resumed)
    load_checkpoint(tmp_path, resumed, opt2)
    train(resumed, opt2, np.random.default_rng(5), 1, {})
    assert not np.array_equal(model.w1.data, resumed.w1.data)


def test_adam_state_with_integer_step_counts_round_trips(tmp_path):
    model = TinyNet(seed=2)
    opt = Adam(model, lr=0.01, amsgrad=True)
    train(model, opt, np.random.default_rng(0), 1, {})
    save_checkpoint(tmp_path, model, opt, 1, {})
    resumed = TinyNet(seed=3)
    opt2 = Adam(resumed, lr=0.5)
    load_checkpoint(tmp_path, resumed, opt2)
    saved, restored = opt.state_dict(), opt2.state_dict()
    assert same_state(saved["state"], restored["state"])
    assert restored["hyperparameters"] == saved["hyperparameters"]  # lr 0.01, from the file
    assert np.asarray(restored["state"]["0.step"]).ravel().tolist() == [5]  # 5 updates


def test_checkpoint_files_and_json(tmp_path):
    model = TinyNet(seed=0)
    opt = sgd(model)
    rng = np.random.default_rng(7)
    path = save_checkpoint(
        tmp_path / "run", model, opt, 0, {"loss": [1.5, float("nan")]}, extra={"config": {"a": 1}}
    )
    assert path == tmp_path / "run" / "checkpoint.json"
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "checkpoint.json",
        "checkpoint.model.safetensors",
        "checkpoint.optimizer.safetensors",
    ]
    doc = json.loads(path.read_text())
    assert doc["format"] == "chainrule-checkpoint" and doc["format_version"] == 1
    assert doc["optimizer"]["type"] == "SGD"
    assert doc["optimizer"]["hyperparameters"]["momentum"] == 0.9
    assert doc["optimizer"]["step"] == 0
    assert set(doc["files"]) == {"model", "optimizer"}
    epoch, history, extra = load_checkpoint(tmp_path / "run", TinyNet(seed=5), sgd(TinyNet(5)))
    assert (epoch, extra) == (0, {"config": {"a": 1}})
    assert history["loss"][0] == 1.5 and math.isnan(float(history["loss"][1]))
    state = generator_state(rng)
    assert json.loads(json.dumps(state)) == state  # JSON-safe, 128-bit integers included


def test_history_objects_with_to_dict_are_accepted(tmp_path):
    class History:
        def to_dict(self):
            return {"history": {"loss": [0.5]}, "epochs": [1]}

    model = TinyNet(seed=0)
    save_checkpoint(tmp_path, model, sgd(model), 1, History())
    _, history, extra = load_checkpoint(tmp_path, model, sgd(model))
    assert history == {"history": {"loss": [0.5]}, "epochs": [1]} and extra is None


def test_named_checkpoints_live_side_by_side(tmp_path):
    model = TinyNet(seed=0)
    opt = sgd(model)
    save_checkpoint(tmp_path, model, opt, 1, {}, name="best")
    save_checkpoint(tmp_path, model, opt, 4, {})
    assert load_checkpoint(tmp_path, model, opt, name="best")[0] == 1
    assert load_checkpoint(tmp_path, model, opt)[0] == 4


@pytest.mark.parametrize("failing", ["checkpoint.optimizer.safetensors", "checkpoint.json"])
def test_failed_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, failing):
    model, rng = TinyNet(seed=1), np.random.default_rng(0)
    opt = sgd(model)
    train(model, opt, rng, 1, {})
    save_checkpoint(tmp_path, model, opt, 1, {"loss": [1.0]})
    first = model.state_dict()
    train(model, opt, rng, 1, {})
    real = atomic.os.replace

    def crash(src, dst):
        if str(dst).endswith(failing):
            raise OSError("killed")
        real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(OSError, match="killed"):
        save_checkpoint(tmp_path, model, opt, 2, {"loss": [1.0, 0.9]})
    monkeypatch.undo()
    fresh = TinyNet(seed=4)
    epoch, history, _ = load_checkpoint(tmp_path, fresh, sgd(fresh))
    assert (epoch, history) == (1, {"loss": [1.0]})
    assert same_state(fresh.state_dict(), first)
    assert len(list(tmp_path.iterdir())) == 3  # no temps or backups left behind


# -- refusals -----------------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    model = TinyNet(seed=1)
    opt = sgd(model)
    train(model, opt, np.random.default_rng(0), 1, {})
    save_checkpoint(tmp_path, model, opt, 1, {"loss": [1.0]})
    return tmp_path


def test_no_checkpoint(tmp_path):
    model = TinyNet(0)
    with pytest.raises(DataNotFoundError, match="there is no checkpoint named 'checkpoint' in"):
        load_checkpoint(tmp_path, model, sgd(model))


def test_missing_optimizer_file(saved):
    checkpoint_paths(saved)["optimizer"].unlink()
    model = TinyNet(0)
    with pytest.raises(DataNotFoundError, match="the checkpoint is incomplete"):
        load_checkpoint(saved, model, sgd(model))


def test_files_from_different_saves(saved, tmp_path_factory):
    other = tmp_path_factory.mktemp("other")
    model = TinyNet(seed=8)
    save_checkpoint(other, model, sgd(model), 0, {})
    paths = checkpoint_paths(saved)
    paths["model"].write_bytes(checkpoint_paths(other)["model"].read_bytes())
    with pytest.raises(FormatError, match=r"checkpoint\.model\.safetensors: its SHA-256 does not"):
        load_checkpoint(saved, model, sgd(model))


def test_other_optimizer_type_is_refused_and_nothing_changes(saved):
    model = TinyNet(seed=6)
    before = model.state_dict()
    opt = Adam(model, lr=0.1)
    with pytest.raises(FormatError, match="holds the state of a 'SGD' optimizer, but resuming"):
        load_checkpoint(saved, model, opt)
    assert same_state(model.state_dict(), before) and opt.step_count == 0


def test_other_model_shape_is_refused_and_nothing_changes(saved):
    model = TinyNet(seed=6, hidden=5)
    opt = sgd(model)
    before = model.state_dict()
    with pytest.raises(FormatError, match=r"tensor 'w1' has shape \(4, 8\), but the architecture"):
        load_checkpoint(saved, model, opt)
    assert same_state(model.state_dict(), before) and opt.step_count == 0


def test_optimizer_over_other_parameters_is_refused(saved):
    model = TinyNet(seed=6)
    opt = SGD(model.parameters()[:2], lr=0.1, momentum=0.9)
    with pytest.raises(FormatError, match="the optimizer state does not fit this optimizer"):
        load_checkpoint(saved, model, opt)
    assert opt.step_count == 0


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("format", "chainrule-model", "the format is 'chainrule-model', expected 'chainrule-chec"),
        ("format_version", 7, "format_version 7 was written by a newer chainrule"),
        ("epoch", -1, "epoch must be >= 0, got -1"),
        ("epoch", "3", "the field 'epoch' must be int"),
        ("history", [1], "the field 'history' must be dict"),
        ("files", {"model": {}, "optimizer": {}}, "the hash of checkpoint.model.safetensors must"),
        ("files", {"model": "x"}, "files.model must be an object with a sha256"),
        ("optimizer", None, "the field 'optimizer' must be dict"),
    ],
)
def test_hostile_checkpoint_json(saved, key, value, message):
    path = checkpoint_paths(saved)["json"]
    doc = json.loads(path.read_text())
    doc[key] = value
    path.write_text(json.dumps(doc))
    model = TinyNet(0)
    with pytest.raises(FormatError, match=message):
        load_checkpoint(saved, model, sgd(model))


def test_nonfinite_weights(tmp_path):
    model = TinyNet(0)
    model.w2.data[1, 1] = np.inf
    with pytest.raises(ConfigError, match=r"the model: tensors \['w2'\] contain NaN or infinity"):
        save_checkpoint(tmp_path, model, sgd(model), 0, {})
    save_checkpoint(tmp_path, model, sgd(model), 0, {}, allow_nonfinite=True)
    with pytest.raises(FormatError, match=r"tensors \['w2'\] contain NaN or infinity"):
        load_checkpoint(tmp_path, model, sgd(model))
    assert load_checkpoint(tmp_path, model, sgd(model), allow_nonfinite=True)[0] == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epoch": -2}, "epoch must be an integer >= 0, got -2"),
        ({"epoch": True}, "epoch must be an integer >= 0, got True"),
        ({"history_dict": [1.0]}, "history must be a dict"),
        ({"extra": {"rng": np.random.default_rng(0)}}, r"extra\['rng'\] is a Generator"),
        ({"name": "../evil"}, "checkpoint name must be a plain file name"),
    ],
)
def test_save_checkpoint_refuses_bad_arguments(tmp_path, kwargs, message):
    model = TinyNet(0)
    args = {"epoch": 0, "history_dict": {}, **kwargs}
    with pytest.raises(ConfigError, match=message):
        save_checkpoint(tmp_path, model, sgd(model), **args)
    assert list(tmp_path.iterdir()) == []


def test_save_checkpoint_needs_a_module(tmp_path):
    model = TinyNet(0)
    with pytest.raises(ConfigError, match="save_checkpoint\\(\\) needs a Module, got list"):
        save_checkpoint(tmp_path, [model], sgd(model), 0, {})


def test_restore_generator_checks_the_state():
    rng = np.random.default_rng(0)
    state = generator_state(rng)
    expected = rng.random(3)
    restore_generator(rng, state)
    assert np.array_equal(rng.random(3), expected)
    with pytest.raises(FormatError, match="for bit generator 'PCG64', but this generator uses 'MT"):
        restore_generator(np.random.Generator(np.random.MT19937(0)), state)
    with pytest.raises(FormatError, match="the saved PCG64 random state is invalid"):
        restore_generator(rng, {"bit_generator": "PCG64", "state": "garbage"})
    with pytest.raises(ConfigError, match="expected a numpy.random.Generator, got int"):
        generator_state(42)
