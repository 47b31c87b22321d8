"""A CNN saves and reloads exactly; hostile conv layer configs are refused before allocating."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import FormatError


def small_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding="same", rng=0), nn.BatchNorm2d(4), nn.ReLU(),
        nn.MaxPool2d(2), nn.Dropout2d(0.1), nn.Conv2d(4, 6, 3, groups=2, rng=1), nn.ReLU(),
        nn.AvgPool2d(2, stride=1),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(6, 3, rng=2),
    )  # fmt: skip


def test_a_cnn_round_trips_through_the_model_file(tmp_path):
    model = small_cnn()
    x = np.random.default_rng(0).normal(size=(5, 1, 8, 8)).astype(np.float32)
    model(x)  # one training-mode batch moves the BatchNorm2d running statistics
    model.eval()
    cr.save(model, tmp_path / "cnn")
    loaded = cr.load(tmp_path / "cnn").model
    assert repr(loaded) == repr(model)
    np.testing.assert_array_equal(loaded(x).data, model(x).data)
    assert list(loaded.state_dict()) == list(model.state_dict())
    seq = nn.Sequential(nn.Conv1d(2, 3, 3, padding=1, rng=0), nn.MaxPool1d(2),
                        nn.AvgPool1d(1), nn.AdaptiveAvgPool1d(2), nn.Flatten())  # fmt: skip
    cr.save(seq, tmp_path / "seq")
    s = np.ones((2, 2, 6), np.float32)
    np.testing.assert_array_equal(cr.load(tmp_path / "seq").model(s).data, seq(s).data)


def _with_conv_config(tmp_path, **config):
    cr.save(nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.Flatten()), tmp_path / "m")
    path = tmp_path / "m.json"
    doc = json.loads(path.read_text())
    doc["architecture"]["config"]["layers"][0]["config"].update(config)
    path.write_text(json.dumps(doc))
    return path


def test_a_kernel_of_a_billion_is_refused_before_anything_is_allocated(tmp_path):
    path = _with_conv_config(tmp_path, kernel_size=[10**9, 10**9], out_channels=32)
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match=r"the architecture needs 32,000,000,000,000,000,032 "
                           r"parameters and buffers but m.safetensors holds only 20"):  # fmt: skip
            cr.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 80 * 2**20  # from the sizes alone (the JSON reader reserves its 64 MiB cap)
    path = _with_conv_config(tmp_path, kernel_size=10**9)
    with pytest.raises(FormatError, match=r"the architecture needs 2,000,000,000,000,000,002 "):
        cr.load(path)


@pytest.mark.parametrize(
    "config, message",
    [
        ({"in_channels": -1}, r"bad config for a Conv2d layer: Conv2d: in_channels must be a pos"),
        ({"out_channels": -32}, r"Conv2d: out_channels must be a positive integer, got -32"),
        ({"kernel_size": [3, -3]}, r"Conv2d: kernel_size must be a positive int"),
        ({"groups": 0}, r"Conv2d: groups must be a positive integer"),
        ({"padding": "os.system"}, r"padding must be 'same', 'valid' or ints"),
        ({"stride": "2"}, r"Conv2d: stride must be a positive int"),
    ],
)
def test_hostile_conv_configs_are_refused_with_a_format_error(tmp_path, config, message):
    with pytest.raises(FormatError, match=message):
        cr.load(_with_conv_config(tmp_path, **config))
