"""chainrule.save / chainrule.load: round trips, the file pair's contents, crash safety."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ConfigError, DataNotFoundError, FormatError
from chainrule.io import LoadedModel, atomic, load, model_paths, read_safetensors_header, save
from chainrule.nn import Module, Parameter
from chainrule.nn.layers import BatchNorm1d, Dropout, Linear, ReLU, Sequential
from chainrule.nn.registry import layer_to_spec


def mlp(dtype="float32", seed=0):
    net = Sequential(
        Linear(6, 5, rng=seed), ReLU(), Dropout(0.5, rng=seed), Linear(5, 3, rng=seed + 1)
    )
    return net.astype(dtype)


def inputs(dtype="float32"):
    return cr.tensor(np.random.default_rng(7).normal(size=(4, 6)).astype(dtype))


def assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for name in sa:
        assert sa[name].dtype == sb[name].dtype, name
        assert sa[name].shape == sb[name].shape, name
        assert sa[name].tobytes() == sb[name].tobytes(), name  # bit-identical


def names(folder):
    return sorted(p.name for p in folder.iterdir())


# -- round trips --------------------------------------------------------------------------------
def test_round_trip_is_bit_identical_with_identical_predictions(tmp_path):
    net = mlp()
    save(net, tmp_path / "net")
    loaded = load(tmp_path / "net")
    assert isinstance(loaded, LoadedModel)
    assert isinstance(loaded.model, Sequential)
    assert_same_state(net, loaded.model)
    assert loaded.model.training is False  # ready for inference: dropout off
    net.eval()
    x = inputs()
    assert np.array_equal(loaded.model(x).data, net(x).data)
    assert np.array_equal(loaded(x).data, net(x).data)  # calling the LoadedModel runs it


def test_float64_models_stay_float64(tmp_path):
    net = mlp("float64")
    save(net, tmp_path / "net64")
    loaded = load(tmp_path / "net64")
    assert loaded.dtype == "float64"
    assert {a.dtype for a in loaded.model.state_dict().values()} == {np.dtype("float64")}
    assert_same_state(net, loaded.model)
    header = read_safetensors_header(tmp_path / "net64.safetensors")
    assert {header[k]["dtype"] for k in header if k != "__metadata__"} == {"F64"}
    net.eval()
    assert np.array_equal(loaded.model(inputs("float64")).data, net(inputs("float64")).data)


def test_batchnorm_running_statistics_survive(tmp_path):
    net = Sequential(Linear(6, 4, rng=0), BatchNorm1d(4), ReLU(), Linear(4, 2, rng=1))
    for seed in range(3):  # training-mode passes move the running statistics
        net(cr.tensor(np.random.default_rng(seed).normal(2.0, 3.0, (8, 6)).astype(np.float32)))
    bn = net.state_dict()
    assert not np.allclose(bn["1.running_mean"], 0.0)
    assert int(bn["1.num_batches_tracked"]) == 3
    save(net, tmp_path / "bn")
    loaded = load(tmp_path / "bn")
    assert_same_state(net, loaded.model)
    net.eval()
    x = inputs()
    assert np.array_equal(loaded.model(x).data, net(x).data)


def test_metadata_round_trips(tmp_path):
    pre = {"mean": [0.1307], "std": [0.3081], "image_shape": [28, 28], "scale": 1 / 255}
    save(
        mlp(),
        tmp_path / "m",
        class_names=("cat", "dog", "bird"),
        preprocessing=pre,
        hyperparameters={"lr": np.float32(0.5), "layers": (6, 5, 3), "epochs": np.int64(3)},
        metrics={"accuracy": 0.75, "val_loss": float("nan"), "best": float("-inf")},
        metadata={"dataset": "toy", "weights": np.array([1, 2])},
    )
    loaded = load(tmp_path / "m")
    assert loaded.class_names == ["cat", "dog", "bird"]
    assert loaded.preprocessing == pre
    assert loaded.hyperparameters == {"lr": 0.5, "layers": [6, 5, 3], "epochs": 3}
    # Strict JSON cannot hold NaN; it is kept as a string that float() reads back.
    assert loaded.metrics == {"accuracy": 0.75, "val_loss": "NaN", "best": "-Infinity"}
    assert math.isnan(float(loaded.metrics["val_loss"]))
    assert loaded.metadata == {"dataset": "toy", "weights": [1, 2]}
    assert loaded.chainrule_version == cr.__version__
    assert loaded.created.endswith("+00:00")


def test_absent_metadata_loads_as_none(tmp_path):
    save(mlp(), tmp_path / "m")
    loaded = load(tmp_path / "m")
    fields = (loaded.class_names, loaded.preprocessing, loaded.hyperparameters, loaded.metrics)
    assert fields == (None, None, None, None)
    assert loaded.metadata is None


def test_json_document_contents(tmp_path):
    net = mlp()
    json_path = save(net, tmp_path / "m")
    assert json_path == tmp_path / "m.json"
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    weights = (tmp_path / "m.safetensors").read_bytes()
    assert doc["format"] == "chainrule-model"
    assert doc["format_version"] == 1
    assert doc["architecture"] == layer_to_spec(net)
    assert doc["dtype"] == "float32"
    assert doc["weights"] == {"sha256": hashlib.sha256(weights).hexdigest(), "bytes": len(weights)}
    assert doc["chainrule_version"] == cr.__version__


def test_weights_file_keys_are_exactly_the_state_dict_names(tmp_path):
    net = mlp()
    save(net, tmp_path / "m")
    header = read_safetensors_header(tmp_path / "m.safetensors")
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    state = net.state_dict()
    assert sorted(tensors) == sorted(state) == ["0.bias", "0.weight", "3.bias", "3.weight"]
    assert tensors["3.weight"]["shape"] == [3, 5]


@pytest.mark.parametrize("given", ["net", "net.json", "net.safetensors"])
def test_path_with_or_without_suffix_names_the_same_pair(tmp_path, given):
    net = mlp()
    save(net, tmp_path / given)
    assert names(tmp_path) == ["net.json", "net.safetensors"]
    for other in ["net", "net.json", "net.safetensors"]:
        assert_same_state(net, load(tmp_path / other).model)


def test_folder_path_means_folder_model(tmp_path):
    save(mlp(), tmp_path)
    assert names(tmp_path) == ["model.json", "model.safetensors"]
    assert load(str(tmp_path)).path == tmp_path / "model.json"
    assert model_paths(tmp_path) == (tmp_path / "model.safetensors", tmp_path / "model.json")


def test_save_creates_missing_folders_and_overwrites(tmp_path):
    first, second = mlp(seed=0), mlp(seed=5)
    save(first, tmp_path / "a" / "b" / "m")
    save(second, tmp_path / "a" / "b" / "m")
    assert_same_state(second, load(tmp_path / "a" / "b" / "m").model)
    assert names(tmp_path / "a" / "b") == ["m.json", "m.safetensors"]


# -- crash safety -------------------------------------------------------------------------------
def test_failure_while_writing_the_json_keeps_the_previous_pair(tmp_path, monkeypatch):
    old, new = mlp(seed=0), mlp(seed=9)
    save(old, tmp_path / "m")

    def broken_json(obj):
        raise OSError("disk full while writing the JSON")

    monkeypatch.setattr(atomic, "encode_json", broken_json)
    with pytest.raises(OSError, match="disk full"):
        save(new, tmp_path / "m")
    monkeypatch.undo()
    assert_same_state(old, load(tmp_path / "m").model)
    assert names(tmp_path) == ["m.json", "m.safetensors"]


def test_failure_between_the_two_renames_keeps_the_previous_pair(tmp_path, monkeypatch):
    old, new = mlp(seed=0), mlp(seed=9)
    save(old, tmp_path / "m")
    real = atomic.os.replace
    calls = []

    def json_rename_fails(src, dst):
        calls.append(str(dst))
        if str(dst).endswith("m.json"):
            raise OSError("power cut")
        real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", json_rename_fails)
    with pytest.raises(OSError, match="power cut"):
        save(new, tmp_path / "m")
    monkeypatch.undo()
    assert calls[0].endswith("m.safetensors")  # the weights were already replaced...
    assert_same_state(old, load(tmp_path / "m").model)  # ...and were rolled back
    assert names(tmp_path) == ["m.json", "m.safetensors"]


def test_an_interrupted_save_is_detected_not_loaded(tmp_path):
    # A process killed between the two renames leaves new weights beside the old JSON.
    save(mlp(seed=0), tmp_path / "old")
    save(mlp(seed=9), tmp_path / "new")
    (tmp_path / "old.safetensors").write_bytes((tmp_path / "new.safetensors").read_bytes())
    with pytest.raises(FormatError, match=r"old\.safetensors: its SHA-256 does not match"):
        load(tmp_path / "old")


# -- save refuses what it cannot write faithfully ------------------------------------------------
def test_save_needs_a_module(tmp_path):
    with pytest.raises(ConfigError, match="save\\(\\) needs a chainrule.nn.Module, got dict"):
        save({"w": np.zeros(3)}, tmp_path / "m")


class Custom(Module):
    def __init__(self):
        super().__init__()
        self.w = Parameter(np.zeros(2, dtype=np.float32))

    def forward(self, x):
        return x * self.w


def test_save_refuses_unregistered_layers(tmp_path):
    with pytest.raises(ConfigError, match="cannot describe a Custom layer"):
        save(Custom(), tmp_path / "m")
    assert names(tmp_path) == []


def test_save_refuses_nonfinite_weights_unless_allowed(tmp_path):
    net = mlp()
    net[0].weight.data[0, 0] = np.nan
    with pytest.raises(ConfigError, match=r"tensors \['0.weight'\] contain NaN or infinity"):
        save(net, tmp_path / "m")
    assert names(tmp_path) == []
    save(net, tmp_path / "m", allow_nonfinite=True)
    with pytest.raises(FormatError, match=r"m\.safetensors: tensors \['0.weight'\] contain NaN"):
        load(tmp_path / "m")
    loaded = load(tmp_path / "m", allow_nonfinite=True)
    assert np.isnan(loaded.model.state_dict()["0.weight"][0, 0])


def test_save_refuses_mixed_dtypes(tmp_path):
    net = mlp()
    net[3].astype("float64")
    with pytest.raises(ConfigError, match=r"dtypes \['float32', 'float64'\]"):
        save(net, tmp_path / "m")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metadata": {"f": print}}, r"metadata\['f'\] is a builtin_function_or_method"),
        ({"metrics": {1: 0.5}}, "metrics has the key 1; JSON keys must be strings"),
        ({"metrics": [0.5]}, "metrics must be a dict, got list"),
        ({"class_names": ["a", 2]}, "class_names must be a list of strings"),
        ({"preprocessing": {"std": [0.3, 0.0]}}, r"preprocessing\['std'\] must be positive"),
        ({"preprocessing": {"mean": "zero"}}, r"preprocessing\['mean'\] must be a number"),
        ({"preprocessing": {"image_shape": [28, -1]}}, "image_shape'] must be a list of posi"),
        ({"preprocessing": {"scale": 0}}, r"preprocessing\['scale'\] must be a positive"),
    ],
)
def test_save_refuses_bad_metadata(tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        save(mlp(), tmp_path / "m", **kwargs)
    assert names(tmp_path) == []


# -- missing files --------------------------------------------------------------------------------
def test_missing_model_has_a_hint(tmp_path):
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(DataNotFoundError, match=r"no model here \(looked for nope\.json\)") as e:
        load(tmp_path / "nope")
    assert isinstance(e.value, FileNotFoundError)
    assert "other.json" in str(e.value)  # lists what is there


def test_missing_half_of_the_pair_is_named(tmp_path):
    save(mlp(), tmp_path / "m")
    (tmp_path / "m.safetensors").unlink()
    with pytest.raises(DataNotFoundError, match=r"m\.safetensors: no such file, but m\.json"):
        load(tmp_path / "m")
    save(mlp(), tmp_path / "n")
    (tmp_path / "n.json").unlink()
    with pytest.raises(DataNotFoundError, match=r"n\.json: no such file, but n\.safetensors"):
        load(tmp_path / "n.safetensors")
