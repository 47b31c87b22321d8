"""ONNX converters of RNN, LSTM and GRU and their cells (ONNX's own operators), TextClassifier
and SequenceTagger.

The gate order differs between PyTorch (which chainrule follows) and ONNX: LSTM rows are
``i, f, g, o`` here and ``i, o, f, c`` in ONNX; GRU rows ``r, z, n`` here and ``z, r, h`` in
ONNX, whose ``linear_before_reset=1`` is PyTorch's GRU (``r * (W_hn h + b_hn)``). Each layer
becomes one ONNX node running both directions; ``sequence_lens`` carries each sequence's
length, so padded steps are skipped exactly as ``lengths=`` does here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn.layers.recurrent import GRU, LSTM, RNN, _RecurrentBase
from chainrule.nn.layers.recurrent_cells import GRUCell, LSTMCell, RNNCell
from chainrule.nn.sequence_models import SequenceTagger, TextClassifier, _SequenceModel
from chainrule.onnx.graph import Graph, Shape, Value, register_converter
from chainrule.onnx.layers import float_input, linear_nodes

__all__ = ["recurrent_nodes", "rnn_scope", "last_state", "pooled", "steps_of", "GATE_ORDER"]

#: Where ONNX's gate blocks come from in PyTorch's layout (index of the PyTorch block).
GATE_ORDER = {RNN: (0,), LSTM: (0, 3, 1, 2), GRU: (1, 0, 2)}
_OP = {RNN: "RNN", LSTM: "LSTM", GRU: "GRU"}


def _reorder(array: np.ndarray, order: tuple[int, ...], hidden: int) -> np.ndarray:
    """Rows of ``array`` (gates * hidden, ...) regrouped in ONNX's gate order."""
    blocks = array.reshape(len(order), hidden, *array.shape[1:])
    return blocks[list(order)].reshape(array.shape)


def _weights(
    graph: Graph, kind: type, hidden: int, directions: list[list[Any]], name: str
) -> list[Value | None]:
    """ONNX's W (D, G*H, I), R (D, G*H, H) and B (D, 2*G*H) from each direction's
    ``[weight_ih, weight_hh, bias_ih, bias_hh]`` (biases None when absent)."""
    order = GATE_ORDER[kind]
    dtype = directions[0][0].dtype
    w = [_reorder(d[0].data, order, hidden) for d in directions]
    r = [_reorder(d[1].data, order, hidden) for d in directions]
    b = [
        np.concatenate([_reorder(d[2].data, order, hidden), _reorder(d[3].data, order, hidden)])
        for d in directions
        if d[2] is not None
    ]
    return [
        graph.constant(np.stack(w), f"W_{name}", dtype),
        graph.constant(np.stack(r), f"R_{name}", dtype),
        graph.constant(np.stack(b), f"B_{name}", dtype) if b else None,
    ]


def _attributes(kind: type, module: Any, directions: int) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "hidden_size": module.hidden_size,
        "direction": "bidirectional" if directions == 2 else "forward",
    }
    if kind is RNN:
        attrs["activations"] = ["Relu" if module.nonlinearity == "relu" else "Tanh"] * directions
    if kind is GRU:
        attrs["linear_before_reset"] = 1  # PyTorch's GRU: r * (W_hn h + b_hn)
    return attrs


def recurrent_nodes(
    graph: Graph, module: _RecurrentBase, x: Value, lengths: Value | None
) -> tuple[Value, list[Value]]:
    """The stack of layers on time-major ``x`` (T, N, I): output (T, N, D*H) and the final
    states (L*D, N, H): ``[h_n]``, or ``[h_n, c_n]`` for an LSTM."""
    kind = type(module)
    steps, batch = x.shape[0], x.shape[1]
    d, hidden = (2 if module.bidirectional else 1), module.hidden_size
    attrs = _attributes(kind, module, d)
    state: Shape = (d, batch, hidden)
    n_states = 2 if kind is LSTM else 1
    finals: list[list[Value]] = [[] for _ in range(n_states)]
    seq_lens = None if lengths is None else graph.cast(lengths, np.int32)
    for layer in range(module.num_layers):
        directions: list[list[Any]] = [
            [*module._weights(suffix), *([] if module.bias else [None, None])]
            for suffix in module._suffixes(layer)
        ]
        inputs = [x, *_weights(graph, kind, hidden, directions, f"l{layer}"), seq_lens]
        extra = [(state, x.dtype)] * n_states
        y, *states = graph.op(
            _OP[kind], inputs, (steps, d, batch, hidden), extra_outputs=extra, **attrs
        )
        for k, s in enumerate(states):
            finals[k].append(s)
        y = graph.op("Transpose", [y], (steps, batch, d, hidden), perm=[0, 2, 1, 3])
        x = graph.op(
            "Reshape", [y, graph.ints([0, 0, d * hidden], "shape")], (steps, batch, d * hidden)
        )
    stacked = [
        f[0]
        if len(f) == 1
        else graph.op("Concat", f, (module.num_layers * d, batch, hidden), axis=0)
        for f in finals
    ]
    return x, stacked


def _sequence_axes(module: Any, rank: int) -> dict[int, str]:
    """The steps (and the batch) of a recurrent layer's input stay free."""
    if rank == 2:
        return {0: "steps"}
    return {0: "batch", 1: "steps"} if module.batch_first else {0: "steps", 1: "batch"}


@register_converter(RNN, LSTM, GRU, input_axes=_sequence_axes)
def _recurrent(graph: Graph, module: _RecurrentBase, x: Any) -> Any:
    """``module(x)`` without initial states or lengths: ``(output, h_n)`` (LSTM:
    ``(output, (h_n, c_n))``), in the layer's own layouts (batch first, unbatched)."""
    x = float_input(graph, module, x)
    if x.rank not in (2, 3) or (isinstance(x.shape[-1], int) and x.shape[-1] != module.input_size):
        raise graph.fail(
            module, f"it takes (steps, batch, {module.input_size}) inputs, got shape {x.shape}"
        )
    unbatched = x.rank == 2
    if unbatched:
        x = graph.op("Unsqueeze", [x, graph.ints([1], "axes")], (x.shape[0], 1, x.shape[1]))
    elif module.batch_first:
        x = graph.op("Transpose", [x], (x.shape[1], x.shape[0], x.shape[2]), perm=[1, 0, 2])
    out, finals = recurrent_nodes(graph, module, x, None)
    if unbatched:
        axes = graph.ints([1], "axes")
        out = graph.op("Squeeze", [out, axes], (out.shape[0], out.shape[2]))
        finals = [graph.op("Squeeze", [f, axes], (f.shape[0], f.shape[2])) for f in finals]
    elif module.batch_first:
        out = graph.op(
            "Transpose", [out], (out.shape[1], out.shape[0], out.shape[2]), perm=[1, 0, 2]
        )
    return (out, tuple(finals)) if type(module) is LSTM else (out, finals[0])


_CELLS = {RNNCell: RNN, LSTMCell: LSTM, GRUCell: GRU}


@register_converter(*_CELLS)
def _cell(graph: Graph, module: Any, x: Any) -> Any:
    """One step from zero states: the layer's ONNX operator over a sequence of one step;
    ``h'`` (LSTMCell: ``(h', c')``)."""
    x = float_input(graph, module, x)
    if x.rank not in (1, 2) or (isinstance(x.shape[-1], int) and x.shape[-1] != module.input_size):
        raise graph.fail(module, f"it takes (batch, {module.input_size}) inputs, got {x.shape}")
    kind = _CELLS[type(module)]
    batch = x.shape[0] if x.rank == 2 else 1
    step = graph.op("Reshape", [x, graph.ints([1, -1, module.input_size], "shape")],
                    (1, batch, module.input_size))  # fmt: skip
    weights = [module.weight_ih, module.weight_hh, module.bias_ih, module.bias_hh]
    inputs = [step, *_weights(graph, kind, module.hidden_size, [weights], "cell")]
    state: Shape = (1, batch, module.hidden_size)
    n_states = 2 if kind is LSTM else 1
    _, *states = graph.op(
        _OP[kind],
        inputs,
        (1, 1, batch, module.hidden_size),
        extra_outputs=[(state, x.dtype)] * n_states,
        **_attributes(kind, module, 1),
    )
    out_shape: Shape = (batch, module.hidden_size) if x.rank == 2 else (module.hidden_size,)
    shape = graph.ints([-1, module.hidden_size] if x.rank == 2 else [module.hidden_size], "shape")
    outs = [graph.op("Reshape", [s, shape], out_shape) for s in states]
    return tuple(outs) if kind is LSTM else outs[0]


# -- the ready-made sequence models ----------------------------------------------------------------
def _lengths(graph: Graph, model: _SequenceModel, ids: Value) -> Value | None:
    """Each row's length, the count of its non-padding ids (None without a padding id)."""
    if model.padding_idx is None:
        return None
    batch = ids.shape[0]
    pad = graph.constant(np.asarray(model.padding_idx, dtype=ids.dtype), "padding_idx")
    real = graph.op("Not", [graph.op("Equal", [ids, pad], ids.shape, np.bool_)], ids.shape)
    return graph.reduce("ReduceSum", graph.cast(real, np.int64), 1, (batch,))


def _sequence_input(graph: Graph, model: _SequenceModel, x: Any) -> tuple[Value, Value | None]:
    """Time-major embedded tokens (T, N, D) and the lengths, from ids (N, T)."""
    if not isinstance(x, Value) or x.rank != 2:
        shape = x.shape if isinstance(x, Value) else type(x).__name__
        raise graph.fail(model, f"it takes padded token ids (batch, steps), got {shape}")
    ids = graph.cast(x, np.int64)
    embedded = graph.convert(model.embedding, ids, "embedding")
    batch, steps, dim = embedded.shape
    lengths = _lengths(graph, model, ids)
    time_major = graph.op("Transpose", [embedded], (steps, batch, dim), perm=[1, 0, 2])
    return time_major, lengths


def rnn_scope(graph: Graph, model: Any, x: Value, lengths: Value | None) -> Any:
    """``recurrent_nodes`` of ``model.rnn`` (named ``rnn.*``) on time-major ``x``."""
    graph.path.append(f"{type(model.rnn).__name__} ('rnn')")
    try:
        with graph.scope("rnn"):
            return recurrent_nodes(graph, model.rnn, x, lengths)
    finally:
        graph.path.pop()


def pooled(graph: Graph, how: str, out: Value, lengths: Value | None) -> Value:
    """Mean or max over each sequence's real steps of the outputs (T, N, F)."""
    steps, batch, features = out.shape
    shape: Shape = (batch, features)
    if lengths is None:
        return graph.reduce("ReduceMean" if how == "mean" else "ReduceMax", out, 0, shape)
    at_least_one = graph.op(
        "Max", [lengths, graph.constant(np.asarray(1, np.int64), "one")], (batch,)
    )
    if how == "mean":
        total = graph.reduce("ReduceSum", out, 0, shape)  # padded outputs are zeros
        count = graph.op(
            "Unsqueeze", [graph.cast(at_least_one, out.dtype), graph.ints([1], "axes")], (batch, 1)
        )
        return graph.op("Div", [total, count], shape)  # type: ignore[no-any-return]
    zero, one = (graph.constant(np.asarray(v, np.int64), n) for v, n in ((0, "zero"), (1, "one")))
    t = graph.op("Range", [zero, steps_of(graph, out, 0), one], (steps,))
    real = graph.op(
        "Less",
        [graph.op("Unsqueeze", [t, graph.ints([1], "axes")], (steps, 1)), at_least_one],
        (steps, batch),
        np.bool_,
    )
    real = graph.op("Unsqueeze", [real, graph.ints([2], "axes")], (steps, batch, 1))
    low = graph.constant(np.asarray(-np.inf, out.dtype), "minus_inf")
    masked = graph.op("Where", [real, out, low], out.shape, out.dtype)
    return graph.reduce("ReduceMax", masked, 0, shape)


def last_state(graph: Graph, rnn: _RecurrentBase, finals: list[Value], batch: Any) -> Value:
    """The last layer's final hidden state (N, D*H): both directions', as chainrule concatenates
    ``h_n[-2]`` and ``h_n[-1]`` when bidirectional."""
    d, hidden = (2 if rnn.bidirectional else 1), rnn.hidden_size
    last = h_n = finals[0]
    if rnn.num_layers > 1:
        starts = graph.ints([(rnn.num_layers - 1) * d], "start")
        ends = graph.ints([rnn.num_layers * d], "end")
        last = graph.op("Slice", [h_n, starts, ends], (d, batch, hidden))
    per_sample = graph.op("Transpose", [last], (batch, d, hidden), perm=[1, 0, 2])
    return graph.op("Reshape", [per_sample, graph.ints([0, -1], "shape")], (batch, d * hidden))  # type: ignore[no-any-return]


@register_converter(TextClassifier)
def _text_classifier(graph: Graph, model: TextClassifier, x: Any) -> Value:
    """Ids (N, T) -> embedding -> recurrent stack -> final state or pooled outputs -> logits."""
    embedded, lengths = _sequence_input(graph, model, x)
    out, finals = rnn_scope(graph, model, embedded, lengths)
    if model.pooling == "last":
        state = last_state(graph, model.rnn, finals, embedded.shape[1])
    else:
        state = pooled(graph, model.pooling, out, lengths)
    with graph.scope("head"):
        return linear_nodes(graph, model.head, state)


@register_converter(SequenceTagger)
def _tagger(graph: Graph, model: SequenceTagger, x: Any) -> Value:
    """Ids (N, T) -> embedding -> recurrent stack -> Linear at every step: (N, T, tags)."""
    embedded, lengths = _sequence_input(graph, model, x)
    out, _ = rnn_scope(graph, model, embedded, lengths)
    steps, batch, features = out.shape
    batch_major = graph.op("Transpose", [out], (batch, steps, features), perm=[1, 0, 2])
    with graph.scope("head"):
        logits = linear_nodes(graph, model.head, batch_major)
    if lengths is None or not hasattr(type(model), "pad_steps"):
        return logits
    # A tagger that skips the steps past its batch's longest text gives zeros there.
    one = graph.constant(np.asarray(1, np.int64), "one")
    longest = graph.op("Max", [graph.reduce("ReduceMax", lengths, 0, ()), one], ())
    t = graph.op("Range", [graph.constant(np.asarray(0, np.int64), "zero"),
                           steps_of(graph, logits, 1), one], (steps,))  # fmt: skip
    keep = graph.op("Less", [t, longest], (steps,), np.bool_)
    keep = graph.op("Unsqueeze", [keep, graph.ints([0, 2], "axes")], (1, steps, 1))
    zero = graph.constant(np.asarray(0.0, logits.dtype), "zero")
    return graph.op("Where", [keep, logits, zero], logits.shape, logits.dtype)  # type: ignore[no-any-return]


def steps_of(graph: Graph, x: Value, axis: int) -> Value:
    """The run-time size of ``x`` along ``axis`` (a 0-d int64)."""
    index = graph.constant(np.asarray(axis, np.int64), "axis")
    return graph.op("Gather", [graph.op("Shape", [x], (x.rank,), np.int64), index], (), axis=0)  # type: ignore[no-any-return]
