"""ONNX converter of ``AudioClassifier`` (zero-padded feature frames ``(N, T, F)`` -> logits),
attached where chainrule has that model (``register_audio_model``).

Each utterance's length is read from its padding in the graph, as the model does: one past
its last frame that is not all zeros (at least 1).
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from chainrule.onnx.graph import Graph, Value, register_converter
from chainrule.onnx.layers import float_input, linear_nodes
from chainrule.onnx.recurrent import last_state, pooled, rnn_scope, steps_of

__all__ = ["audio_classifier_nodes", "frame_lengths", "register_audio_model"]


def frame_lengths(graph: Graph, x: Value) -> Value:
    """(N,) int64: one past each utterance's last frame with a non-zero feature, at least 1."""
    batch, steps = x.shape[0], x.shape[1]
    zero = graph.constant(np.asarray(0.0, x.dtype), "zero")
    nonzero = graph.op("Not", [graph.op("Equal", [x, zero], x.shape, np.bool_)], x.shape)
    lit = graph.reduce("ReduceMax", graph.cast(nonzero, np.int64), 2, (batch, steps))
    one = graph.constant(np.asarray(1, np.int64), "one")
    last = graph.op("Add", [steps_of(graph, x, 1), one], ())
    positions = graph.op("Range", [one, last, one], (steps,))  # 1..T
    latest = graph.reduce("ReduceMax", graph.op("Mul", [lit, positions], (batch, steps)), 1,
                          (batch,))  # fmt: skip
    return graph.op("Max", [latest, one], (batch,))  # type: ignore[no-any-return]


def _statistics(graph: Graph, model: Any, x: Value, lengths: Value) -> Value:
    """ReLU(body([mean, std])) of each feature over the real frames, std = sqrt(var + 1e-5)."""
    batch, steps, features = x.shape
    zero_i = graph.constant(np.asarray(0, np.int64), "zero")
    one_i = graph.constant(np.asarray(1, np.int64), "one")
    t = graph.op("Range", [zero_i, steps_of(graph, x, 1), one_i], (steps,))
    column = graph.op("Unsqueeze", [lengths, graph.ints([1], "axes")], (batch, 1))
    real = graph.op("Less", [t, column], (batch, steps), np.bool_)
    real = graph.op("Unsqueeze", [real, graph.ints([2], "axes")], (batch, steps, 1))
    zero = graph.constant(np.asarray(0.0, x.dtype), "zero")
    masked = graph.op("Where", [real, x, zero], x.shape, x.dtype)
    count = graph.cast(column, x.dtype)  # lengths are at least 1
    shape = (batch, features)
    mean = graph.op("Div", [graph.reduce("ReduceSum", masked, 1, shape), count], shape)
    squares = graph.op("Mul", [masked, masked], x.shape)
    square = graph.op("Div", [graph.reduce("ReduceSum", squares, 1, shape), count], shape)
    var = graph.op("Sub", [square, graph.op("Mul", [mean, mean], shape)], shape)
    eps = graph.constant(np.asarray(1e-5, x.dtype), "eps")
    std = graph.op("Sqrt", [graph.op("Add", [graph.op("Max", [var, zero], shape), eps], shape)],
                   shape)  # fmt: skip
    both = graph.op("Concat", [mean, std], (batch, 2 * features if isinstance(features, int)
                                            else None), axis=1)  # fmt: skip
    with graph.scope("body"):
        hidden = linear_nodes(graph, model.body, both)
    return graph.op("Relu", [hidden], hidden.shape)  # type: ignore[no-any-return]


def _mask(graph: Graph, h: Value, lengths: Value) -> Value:
    """h (N, C, T) with the frames at or past each length set to zero."""
    batch, channels, steps = h.shape
    zero_i = graph.constant(np.asarray(0, np.int64), "zero")
    one_i = graph.constant(np.asarray(1, np.int64), "one")
    t = graph.op("Range", [zero_i, steps_of(graph, h, 2), one_i], (steps,))
    column = graph.op("Unsqueeze", [lengths, graph.ints([1], "axes")], (batch, 1))
    real = graph.op("Less", [t, column], (batch, steps), np.bool_)
    real = graph.op("Unsqueeze", [real, graph.ints([1], "axes")], (batch, 1, steps))
    zero = graph.constant(np.asarray(0.0, h.dtype), "zero")
    return graph.op("Where", [real, h, zero], h.shape, h.dtype)  # type: ignore[no-any-return]


def _convolve(graph: Graph, model: Any, x: Value, lengths: Value) -> Value:
    """conv1d: (N, F, T) zero-padded to a multiple of 2**blocks, each block, frames past the
    lengths zeroed, MaxPool1d(2), lengths halved (rounded up); mean over the real frames."""
    batch, _, _ = x.shape
    h = graph.op("Transpose", [x], (batch, x.shape[2], None), perm=[0, 2, 1])
    multiple = graph.constant(np.asarray(2**model.layers, np.int64), "multiple")
    rest = graph.op("Mod", [steps_of(graph, h, 2), multiple], ())
    extra = graph.op("Mod", [graph.op("Sub", [multiple, rest], ()), multiple], ())
    zeros5 = graph.ints([0] * 5, "pads")
    pads = graph.op("Concat", [zeros5, graph.op("Reshape", [extra, graph.ints([1], "shape")],
                                                 (1,))], (6,), axis=0)  # fmt: skip
    h = graph.op("Pad", [h, pads], h.shape, h.dtype)
    one = graph.constant(np.asarray(1, np.int64), "one")
    two = graph.constant(np.asarray(2, np.int64), "two")
    for index, block in enumerate(model.conv):
        with graph.scope(f"conv.{index}"):
            h = graph.convert(block, h)
        h = graph.convert(model.pool, _mask(graph, h, lengths), "pool")
        lengths = graph.op("Div", [graph.op("Add", [lengths, one], lengths.shape), two],
                           lengths.shape)  # fmt: skip
    shape = (batch, h.shape[1])
    total = graph.reduce("ReduceSum", _mask(graph, h, lengths), 2, shape)
    count = graph.op("Unsqueeze", [graph.cast(lengths, h.dtype), graph.ints([1], "axes")],
                     (batch, 1))  # fmt: skip
    return graph.op("Div", [total, count], shape)  # type: ignore[no-any-return]


def audio_classifier_nodes(graph: Graph, model: Any, x: Any) -> Value:
    """Frames (N, T, F) -> lengths from the padding -> GRU/LSTM pooled (or the frame
    statistics of the dense baseline) -> logits (N, classes)."""
    x = float_input(graph, model, x)
    if x.rank != 3 or (isinstance(x.shape[2], int) and x.shape[2] != model.n_features):
        raise graph.fail(
            model, f"it takes frames (batch, steps, {model.n_features}), got {x.shape}"
        )
    lengths = frame_lengths(graph, x)
    if getattr(model, "conv", None) is not None:
        state = _convolve(graph, model, x, lengths)
    elif model.rnn is None:
        state = _statistics(graph, model, x, lengths)
    else:
        batch, steps, features = x.shape
        time_major = graph.op("Transpose", [x], (steps, batch, features), perm=[1, 0, 2])
        out, finals = rnn_scope(graph, model, time_major, lengths)
        if model.pooling == "last":
            state = last_state(graph, model.rnn, finals, batch)
        else:
            state = pooled(graph, model.pooling, out, lengths)
    with graph.scope("head"):
        return linear_nodes(graph, model.head, state)


def register_audio_model() -> bool:
    """Attach the converter to ``chainrule.nn.audio_models.AudioClassifier`` if it exists."""
    try:
        cls = importlib.import_module("chainrule.nn.audio_models").AudioClassifier
    except (ImportError, AttributeError):
        return False
    register_converter(cls, input_axes=lambda m, rank: {0: "batch", 1: "steps"})(
        audio_classifier_nodes
    )
    return True


register_audio_model()
