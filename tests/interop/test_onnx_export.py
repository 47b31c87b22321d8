"""ONNX export: every layer type, run by ONNX Runtime, against chainrule's own output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ConfigError, ExportError
from chainrule.nn.registry import LAYERS
from chainrule.onnx import CONVERTERS, export, register_converter, run_onnxruntime
from chainrule.onnx.export import _arrays

RNG = np.random.default_rng(7)
ATOL = 1e-5
#: Registered layers with no computation of their own to export: containers a custom
#: module's forward uses as it likes (they have no forward).
NOT_EXPORTABLE = {"ModuleList", "ModuleDict"}


def floats(*shape: int) -> np.ndarray:
    return RNG.normal(size=shape).astype(np.float32)


def padded_ids(lengths: list[int], steps: int, vocab: int = 30) -> np.ndarray:
    """Token ids (N, steps), ``<pad>`` = 0 after each row's length (one row may be empty)."""
    ids = RNG.integers(1, vocab, size=(len(lengths), steps))
    for row, length in enumerate(lengths):
        ids[row, length:] = 0
    return ids


def trained_batchnorm(bn: nn.BatchNorm1d, shape: tuple[int, ...]) -> nn.BatchNorm1d:
    """A BatchNorm1d whose running statistics and affine parameters are far from 0 and 1."""
    for _ in range(3):
        bn(floats(*shape) * 3.0 + 2.0)
    if bn.weight is not None:
        bn.weight.data = RNG.uniform(0.5, 2.0, bn.num_features).astype(np.float32)
        bn.bias.data = RNG.normal(size=bn.num_features).astype(np.float32)
    return bn


def with_bias(model: nn.Module) -> nn.Module:
    """``model`` with a non-zero output bias (so padded steps' outputs are not all zeros)."""
    model.head.bias.data = RNG.normal(size=model.head.bias.shape).astype(np.float32)
    for block in getattr(model, "conv", None) or []:  # conv1d audio: BatchNorm shifts zeros
        norm = block[1]
        norm.running_mean.data = RNG.normal(size=norm.num_features).astype(np.float32)
        norm.running_var.data = RNG.uniform(0.5, 2.0, size=norm.num_features).astype(np.float32)
    return model


def dense(act: nn.Module) -> nn.Module:
    return nn.Sequential(nn.Linear(6, 8, rng=0), act, nn.Linear(8, 4, rng=1))


# (id, model, example input (fixes the graph's input), batch to compare on: other size)
Case = tuple[str, Callable[[], nn.Module], Callable[[], np.ndarray], Callable[[], np.ndarray]]
CASES: list[Case] = [
    ("linear", lambda: nn.Linear(6, 3, rng=0), lambda: floats(1, 6), lambda: floats(9, 6)),
    ("linear-3d", lambda: nn.Linear(6, 3, bias=False, rng=0), lambda: floats(1, 4, 6),
     lambda: floats(5, 4, 6)),
    ("relu", lambda: dense(nn.ReLU()), lambda: floats(2, 6), lambda: floats(7, 6)),
    ("sigmoid", lambda: dense(nn.Sigmoid()), lambda: floats(2, 6), lambda: floats(7, 6)),
    ("tanh", lambda: dense(nn.Tanh()), lambda: floats(2, 6), lambda: floats(7, 6)),
    ("leaky-relu", lambda: dense(nn.LeakyReLU(0.2)), lambda: floats(2, 6), lambda: floats(7, 6)),
    ("elu", lambda: dense(nn.ELU(0.7)), lambda: floats(2, 6), lambda: floats(7, 6)),
    ("gelu", lambda: dense(nn.GELU()), lambda: floats(2, 6), lambda: floats(7, 6) * 3),
    ("gelu-tanh", lambda: dense(nn.GELU("tanh")), lambda: floats(2, 6), lambda: floats(7, 6) * 3),
    ("softmax", lambda: nn.Sequential(dense(nn.ReLU()), nn.Softmax()), lambda: floats(2, 6),
     lambda: floats(7, 6)),
    ("log-softmax-axis0", lambda: nn.Sequential(nn.Linear(6, 4, rng=0), nn.LogSoftmax(0)),
     lambda: floats(3, 6), lambda: floats(8, 6)),
    ("identity", lambda: nn.Sequential(nn.Identity(), nn.Linear(6, 2, rng=0)),
     lambda: floats(1, 6), lambda: floats(3, 6)),
    ("dropout", lambda: nn.Sequential(nn.Linear(6, 8, rng=0), nn.Dropout(0.5, rng=0),
                                      nn.Linear(8, 3, rng=1)), lambda: floats(2, 6),
     lambda: floats(6, 6)),
    ("batchnorm1d", lambda: nn.Sequential(nn.Linear(6, 5, rng=0),
                                          trained_batchnorm(nn.BatchNorm1d(5), (16, 5)),
                                          nn.ReLU()), lambda: floats(2, 6), lambda: floats(9, 6)),
    ("batchnorm1d-3d-no-affine",
     lambda: trained_batchnorm(nn.BatchNorm1d(3, eps=1e-3, affine=False), (8, 3, 5)),
     lambda: floats(2, 3, 5), lambda: floats(4, 3, 5)),
    ("flatten", lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 3, rng=0)),
     lambda: floats(1, 1, 3, 4), lambda: floats(6, 1, 3, 4)),
    ("flatten-middle", lambda: nn.Sequential(nn.Flatten(1, 2), nn.Linear(5, 2, rng=0)),
     lambda: floats(2, 3, 4, 5), lambda: floats(3, 3, 4, 5)),
    ("nested-sequential",
     lambda: nn.Sequential(nn.Sequential(nn.Linear(6, 5, rng=0), nn.Tanh()),
                           nn.Sequential(nn.Linear(5, 3, rng=1))),
     lambda: floats(1, 6), lambda: floats(4, 6)),
    ("mlp", lambda: nn.mlp(6, [16, 8], 4, "relu", dropout=0.2, batch_norm=True, rng=0),
     lambda: floats(1, 6), lambda: floats(10, 6)),
    ("embedding", lambda: nn.Embedding(30, 4, padding_idx=0, rng=0),
     lambda: padded_ids([3, 2], 4), lambda: padded_ids([5, 1, 0], 6)),
    ("rnn-tanh", lambda: nn.RNN(3, 5, rng=0), lambda: floats(4, 2, 3), lambda: floats(7, 5, 3)),
    ("rnn-relu-2-layers-bidirectional",
     lambda: nn.RNN(3, 5, 2, "relu", bidirectional=True, rng=0), lambda: floats(4, 2, 3),
     lambda: floats(6, 3, 3)),
    ("lstm", lambda: nn.LSTM(3, 5, rng=0), lambda: floats(4, 2, 3), lambda: floats(7, 5, 3)),
    ("lstm-2-layers-bidirectional-batch-first",
     lambda: nn.LSTM(3, 5, 2, batch_first=True, bidirectional=True, dropout=0.3, rng=0),
     lambda: floats(2, 4, 3), lambda: floats(5, 7, 3)),
    ("lstm-unbatched", lambda: nn.LSTM(3, 4, bias=False, rng=0), lambda: floats(4, 3),
     lambda: floats(9, 3)),
    ("gru", lambda: nn.GRU(3, 5, rng=0), lambda: floats(4, 2, 3), lambda: floats(7, 5, 3)),
    ("gru-3-layers-bidirectional", lambda: nn.GRU(3, 4, 3, bidirectional=True, rng=0),
     lambda: floats(4, 2, 3), lambda: floats(6, 3, 3)),
    ("rnn-cell", lambda: nn.RNNCell(3, 4, nonlinearity="relu", rng=0), lambda: floats(2, 3),
     lambda: floats(6, 3)),
    ("lstm-cell", lambda: nn.LSTMCell(3, 4, rng=0), lambda: floats(2, 3), lambda: floats(6, 3)),
    ("gru-cell", lambda: nn.GRUCell(3, 4, bias=False, rng=0), lambda: floats(2, 3),
     lambda: floats(6, 3)),
    *[
        (f"text-classifier-{arch}-{pooling}{'-bidirectional' if bi else ''}",
         (lambda arch=arch, pooling=pooling, bi=bi: nn.text_classifier(
             30, 4, 6, arch=arch, layers=2, bidirectional=bi, num_classes=3, pooling=pooling,
             rng=0)),
         lambda: padded_ids([4, 2], 5), lambda: padded_ids([8, 5, 1, 3, 0], 8))
        for arch, pooling, bi in [("lstm", "last", True), ("gru", "last", False),
                                  ("rnn", "mean", True), ("lstm", "max", False),
                                  ("gru", "max", True)]
    ],
    ("text-classifier-no-padding-mean",
     lambda: nn.text_classifier(30, 4, 6, arch="gru", padding_idx=None, pooling="mean", rng=0),
     lambda: padded_ids([4, 4], 4), lambda: padded_ids([6, 6, 6], 6)),
    ("tagger-bilstm", lambda: nn.tagger(30, 5, 4, 6, rng=0), lambda: padded_ids([3, 2], 4),
     lambda: padded_ids([7, 4, 1, 0], 7)),
    ("tagger-gru", lambda: nn.tagger(30, 5, 4, 6, arch="gru", layers=2, bidirectional=False,
                                     rng=0), lambda: padded_ids([3, 2], 4),
     lambda: padded_ids([7, 4, 1], 7)),
    ("tagger-batch-shorter-than-its-padding", lambda: with_bias(nn.tagger(30, 5, 4, 6, rng=0)),
     lambda: padded_ids([3, 2], 4), lambda: padded_ids([4, 2, 1], 7)),
]  # fmt: skip


def conv_cases() -> list[Case]:
    """The convolution family, once chainrule.nn has it (branch conv; the converters are
    checked against stand-ins in test_onnx_conv.py until then)."""
    if "Conv2d" not in LAYERS:
        return []

    def cnn() -> nn.Module:
        return nn.Sequential(
            nn.RandomFlip(rng=0), nn.RandomShift(2, rng=0),  # training only: no node
            nn.Conv2d(1, 4, 3, padding=1, rng=0),
            trained_batchnorm(nn.BatchNorm2d(4), (8, 4, 6, 6)),
            nn.ReLU(), nn.Dropout2d(0.3, rng=0), nn.MaxPool2d(2),
            nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, rng=1),
            nn.AvgPool2d(2, count_include_pad=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(6, 3, rng=2),
        )  # fmt: skip

    def cnn1d() -> nn.Module:
        return nn.Sequential(
            nn.Conv1d(2, 3, 3, padding="same", rng=0), nn.ReLU(), nn.MaxPool1d(2),
            nn.AvgPool1d(2), nn.AdaptiveAvgPool1d(2), nn.Flatten(), nn.Linear(6, 2, rng=1),
        )  # fmt: skip

    return [
        ("cnn2d", cnn, lambda: floats(1, 1, 12, 12), lambda: floats(5, 1, 12, 12)),
        ("cnn1d", cnn1d, lambda: floats(1, 2, 16), lambda: floats(4, 2, 16)),
    ]


def padded_frames(lengths: list[int], steps: int, features: int = 5) -> np.ndarray:
    """Feature frames (N, steps, F), exact zeros after each utterance's length."""
    x = floats(len(lengths), steps, features)
    for row, length in enumerate(lengths):
        x[row, length:] = 0
    return x


def audio_cases() -> list[Case]:
    """AudioClassifier, once chainrule.nn has it (branch audio)."""
    if "AudioClassifier" not in LAYERS:
        return []
    from chainrule.nn.audio_models import AudioClassifier

    return [
        (f"audio-{arch}-{pooling}",
         (lambda arch=arch, pooling=pooling, kw=kw: with_bias(
             AudioClassifier(5, 3, hidden=6, arch=arch, pooling=pooling, rng=0, **kw))),
         lambda: padded_frames([4, 2], 4), lambda: padded_frames([7, 3, 1, 0], 7))
        for arch, pooling, kw in [("gru", "mean", {}), ("lstm", "max", {"layers": 2}),
                                  ("lstm", "last", {"bidirectional": True}),
                                  ("dense", "mean", {}), ("conv1d", "mean", {}),
                                  ("conv1d", "mean", {"layers": 3})]
    ]  # fmt: skip


CASES += conv_cases() + audio_cases()


def compare(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    """Same number of outputs, same shapes, within ATOL, same argmax over the last axis."""
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.dtype == np.float32 and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=0, atol=ATOL)
        if b.ndim >= 1 and b.shape[-1] > 1:
            np.testing.assert_array_equal(a.argmax(axis=-1), b.argmax(axis=-1))


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_every_layer_runs_in_onnxruntime_like_in_chainrule(case: Case, tmp_path: Path) -> None:
    _, build, example, batch = case
    model = build()
    path = export(model, tmp_path / "model.onnx", example())
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert [o.domain for o in proto.opset_import] == [""] and proto.opset_import[0].version == 17
    x = batch()  # another batch size (and number of steps) than the example: dynamic axes
    with cr.no_grad():
        want = _arrays(model.eval()(x))
    compare(run_onnxruntime(path, x), want)


def test_every_registered_layer_has_a_converter_and_a_case() -> None:
    exported = {type(m).__name__ for case in CASES for m in case[1]().modules()}
    assert exported | NOT_EXPORTABLE == set(LAYERS), "a layer without an export case"
    assert {c.__name__ for c in CONVERTERS} >= set(LAYERS) - NOT_EXPORTABLE


def test_recurrent_weights_use_onnx_gate_order(tmp_path: Path) -> None:
    """LSTM i,f,g,o -> ONNX i,o,f,c; GRU r,z,n -> ONNX z,r,h with linear_before_reset=1."""
    hidden = 2
    for layer, order in ((nn.LSTM(1, hidden, rng=0), [0, 3, 1, 2]), (nn.GRU(1, hidden, rng=0),
                                                                     [1, 0, 2])):  # fmt: skip
        gates = len(order)
        layer.weight_ih_l0.data = np.repeat(np.arange(gates, dtype=np.float32), hidden)[:, None]
        proto = onnx.load(str(export(layer, tmp_path / "r.onnx", floats(2, 1, 1))))
        weights = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
        w = weights["W_l0"]  # (directions, gates * hidden, input)
        assert w[0, ::hidden, 0].tolist() == [float(i) for i in order]
        if isinstance(layer, nn.GRU):
            node = next(n for n in proto.graph.node if n.op_type == "GRU")
            assert {a.name: a.i for a in node.attribute}["linear_before_reset"] == 1


def test_dropout_is_dropped_and_the_model_keeps_its_mode(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(4, 4, rng=0), nn.Dropout(0.9, rng=0))
    path = export(model, tmp_path / "d.onnx", floats(1, 4))
    assert model.training and model[1].training  # export switched to eval and back
    assert "Dropout" not in {n.op_type for n in onnx.load(str(path)).graph.node}
    x = floats(3, 4)
    compare(run_onnxruntime(path, x), [model.eval()(x).data])


@pytest.mark.parametrize("opset", [13, 18, 21])
def test_other_opsets(opset: int, tmp_path: Path) -> None:
    """Opset 13 (reduce axes as attributes) up to 21 (axes as inputs): same results."""
    ids = padded_ids([5, 3, 1], 5)
    for model, x, example in (
        (nn.text_classifier(30, 4, 6, arch="lstm", pooling="max", rng=0), ids, ids[:1]),
        (nn.text_classifier(30, 4, 6, arch="gru", pooling="mean", rng=0), ids, ids[:1]),
        (dense(nn.GELU()), floats(4, 6), floats(1, 6)),
    ):
        path = export(model, tmp_path / "m.onnx", example, opset=opset)
        assert onnx.load(str(path)).opset_import[0].version == opset
        compare(run_onnxruntime(path, x), [model(x).data])


def test_preprocessing_becomes_the_first_nodes_raw_pixels_in(tmp_path: Path) -> None:
    model = nn.mlp(16, [8], 3, rng=0)
    pre = {"kind": "image", "mean": 0.3, "std": 0.25, "image_shape": [4, 4]}
    raw = RNG.integers(0, 256, size=(5, 16)).astype(np.float32)  # 0-255 pixel values
    names = ["a", "b", "c"]
    path = export(model, tmp_path / "m.onnx", raw[:1], preprocessing=pre, class_names=names,
                  probabilities=True, verify=True)  # fmt: skip
    proto = onnx.load(str(path))
    assert [n.op_type for n in proto.graph.node[:3]] == ["Div", "Sub", "Div"]
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["class_names"]) == names and "0-255" in props["input"]
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert (dims[0].dim_param, dims[1].dim_value) == ("batch", 16)
    logits, probs = run_onnxruntime(path, raw)
    expected = model.eval()(((raw / 255.0 - 0.3) / 0.25).astype(np.float32)).data
    compare([logits], [expected])
    np.testing.assert_allclose(probs, cr.tensor(expected).softmax(axis=-1).data, atol=ATOL)


def test_a_loaded_model_brings_its_preprocessing_and_class_names(tmp_path: Path) -> None:
    model = nn.mlp(4, [6], 2, rng=0)
    pre = {"kind": "standardize", "mean": [1.0, 2.0, 3.0, 4.0], "std": [1.0, 2.0, 0.5, 4.0]}
    cr.save(model, tmp_path / "m", preprocessing=pre, class_names=["no", "yes"])
    raw = floats(5, 4) + 2
    path = export(cr.load(tmp_path / "m"), tmp_path / "m.onnx", raw[:1], verify=True)
    proto = onnx.load(str(path))
    assert json.loads({p.key: p.value for p in proto.metadata_props}["class_names"]) == [
        "no",
        "yes",
    ]
    std = ((raw - pre["mean"]) / np.array(pre["std"])).astype(np.float32)
    compare(run_onnxruntime(path, raw), [model.eval()(std).data])


def test_per_feature_standardisation(tmp_path: Path) -> None:
    model = nn.mlp(3, [5], 2, rng=0)
    pre = {"kind": "standardize", "mean": [1.0, -2.0, 100.0], "std": [0.5, 2.0, 30.0]}
    raw = (floats(6, 3) * [0.5, 2.0, 30.0] + [1.0, -2.0, 100.0]).astype(np.float32)
    path = export(model, tmp_path / "m.onnx", raw[:1], preprocessing=pre)
    std = ((raw - pre["mean"]) / np.array(pre["std"])).astype(np.float32)
    compare(run_onnxruntime(path, raw), [model.eval()(std).data])
    with pytest.raises(ExportError, match="2 means for inputs of 3 features"):
        export(model, tmp_path / "bad.onnx", raw[:1], preprocessing={"mean": [0, 0], "std": [1, 1]})


class Custom(nn.Module):
    def forward(self, x: Any) -> Any:
        return x * 2


def test_a_layer_without_converter_is_named(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(3, 3, rng=0), nn.Sequential(nn.ReLU(), Custom()))
    with pytest.raises(ExportError, match=r"cannot export Custom \('1'\) inside Sequential \('1'\)"
                       r" inside Sequential: no ONNX converter for the layer Custom"):  # fmt: skip
        export(model, tmp_path / "m.onnx", floats(1, 3))
    assert not (tmp_path / "m.onnx").exists()
    # a converter registered for it makes it exportable
    register_converter(Custom)(
        lambda graph, m, x: graph.op("Add", [x, x], x.shape)  # 2x, as forward does
    )
    try:
        path = export(model, tmp_path / "m.onnx", floats(1, 3), verify=True)
        assert path.is_file()
    finally:
        CONVERTERS.pop(Custom)


def test_bad_uses_raise_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lstm_then_linear = nn.Sequential(nn.LSTM(3, 4, rng=0), nn.Linear(4, 2, rng=0))
    with pytest.raises(ExportError, match=r"Linear \('1'\) inside Sequential: it receives tuple"):
        export(lstm_then_linear, tmp_path / "m.onnx", floats(2, 1, 3))
    with pytest.raises(ExportError, match=r"Linear: it takes inputs \(\.\.\., 3\), got shape"):
        export(nn.Linear(3, 2), tmp_path / "m.onnx", floats(1, 5))
    with pytest.raises(ConfigError, match=r"opset must be in \[13, "):
        export(nn.Linear(3, 2), tmp_path / "m.onnx", floats(1, 3), opset=11)
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if the extra were not installed
    with pytest.raises(ConfigError, match=r'pip install "chainrule\[onnx\]"'):
        export(nn.Linear(3, 2), tmp_path / "m.onnx", floats(1, 3))


def test_verify_refuses_a_wrong_converter(tmp_path: Path) -> None:
    register_converter(Custom)(lambda graph, m, x: x)  # forgets the doubling
    try:
        with pytest.raises(ExportError, match="ONNX Runtime's output 0 differs from chainrule's"):
            export(Custom(), tmp_path / "m.onnx", floats(2, 3), verify=True)
    finally:
        CONVERTERS.pop(Custom)
    assert not (tmp_path / "m.onnx").exists()
