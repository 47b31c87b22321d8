"""Primitive-table samples of the recurrent family: sequence RNN/LSTM/GRU and the embedding.

Each reference runs every sequence alone, step by step, straight from the equations (PyTorch's
gate order), so lengths and reversal are checked against the definition.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.ops.embedding import EmbeddingLookup
from chainrule.autodiff.ops.recurrent import GRUSequence, LSTMSequence, RNNSequence

rng = np.random.default_rng(4321)
T, N, I, H = 4, 3, 3, 2
LENGTHS = np.array([4, 1, 3])
IDS = np.array([[1, 4, 1], [0, 4, 4]])


def _sig(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(x / 2))


def reference(kind: str, x: Any, *arrays: Any, lengths: Any = None, reverse: bool = False,
              nonlinearity: str = "tanh") -> tuple[np.ndarray, ...]:  # fmt: skip
    """(output, h_n[, c_n]) of one layer direction, each sequence run alone."""
    n_states = 2 if kind == "lstm" else 1
    states, (w_ih, w_hh, *b) = arrays[:n_states], arrays[n_states:]
    b_ih, b_hh = b if b else (0.0, 0.0)
    steps, batch, _ = x.shape
    hidden = w_hh.shape[1]
    out = np.zeros((steps, batch, hidden))
    finals = [s.copy() for s in states]
    for n in range(batch):
        length = steps if lengths is None else lengths[n]
        h = states[0][n].copy()
        c = states[1][n].copy() if kind == "lstm" else None
        for t in reversed(range(length)) if reverse else range(length):
            gi, gh = w_ih @ x[t, n] + b_ih, w_hh @ h + b_hh
            if kind == "rnn":
                pre = gi + gh
                h = np.tanh(pre) if nonlinearity == "tanh" else np.maximum(pre, 0)
            elif kind == "lstm":
                i, f, g, o = np.split(gi + gh, 4)
                c = _sig(f) * c + _sig(i) * np.tanh(g)
                h = _sig(o) * np.tanh(c)
            else:
                r = _sig(gi[:hidden] + gh[:hidden])
                z = _sig(gi[hidden : 2 * hidden] + gh[hidden : 2 * hidden])
                new = np.tanh(gi[2 * hidden :] + r * gh[2 * hidden :])
                h = (1 - z) * new + z * h
            out[t, n] = h
        finals[0][n] = h
        if c is not None:
            finals[1][n] = c
    return (out, *finals)


def _r(*shape: int, scale: float = 1.0) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, shape) * scale


def _inputs(gates: int, cell: bool, bias: bool = True) -> list[np.ndarray]:
    arrays = [_r(T, N, I), _r(N, H)] + ([_r(N, H)] if cell else [])
    arrays += [_r(gates * H, I), _r(gates * H, H)]
    return arrays + ([_r(gates * H), _r(gates * H)] if bias else [])


def _case(Case: Any, op: Any, kind: str, output: int, inputs: list[np.ndarray], case_id: str,
          **params: Any) -> Any:  # fmt: skip
    return Case(
        lambda *a: op.apply(*a, **params)[output],
        lambda *a: reference(kind, *a, **params)[output],
        inputs,
        id=case_id,
    )


def make(Case: Any) -> dict[str, list[Any]]:
    """The samples, built with the table's ``Case`` class."""
    return {
        "rnn_sequence": [
            _case(Case, RNNSequence, "rnn", 0, _inputs(1, False), "output"),
            _case(
                Case, RNNSequence, "rnn", 1, _inputs(1, False), "h_n-lengths", lengths=LENGTHS
            ),  # fmt: skip
            _case(
                Case,
                RNNSequence,
                "rnn",
                0,
                _inputs(1, False, bias=False),
                "relu-reverse",
                reverse=True,
                nonlinearity="relu",
                lengths=LENGTHS,
            ),  # fmt: skip
        ],
        "lstm_sequence": [
            _case(Case, LSTMSequence, "lstm", 0, _inputs(4, True), "output"),
            _case(
                Case,
                LSTMSequence,
                "lstm",
                1,
                _inputs(4, True),
                "h_n-lengths-reverse",
                lengths=LENGTHS,
                reverse=True,
            ),  # fmt: skip
            _case(
                Case, LSTMSequence, "lstm", 2, _inputs(4, True), "c_n-lengths", lengths=LENGTHS
            ),  # fmt: skip
            _case(
                Case,
                LSTMSequence,
                "lstm",
                0,
                _inputs(4, True, bias=False),
                "no-bias-reverse-lengths",
                lengths=LENGTHS,
                reverse=True,
            ),  # fmt: skip
        ],
        "gru_sequence": [
            _case(Case, GRUSequence, "gru", 0, _inputs(3, False), "output"),
            _case(
                Case, GRUSequence, "gru", 1, _inputs(3, False), "h_n-lengths", lengths=LENGTHS
            ),  # fmt: skip
            _case(
                Case,
                GRUSequence,
                "gru",
                0,
                _inputs(3, False, bias=False),
                "no-bias-reverse-lengths",
                lengths=LENGTHS,
                reverse=True,
            ),  # fmt: skip
        ],
        "embedding": [
            Case(
                lambda w: EmbeddingLookup.apply(w, indices=IDS),
                lambda w: w[IDS],
                [_r(5, 3)],
                id="repeated-ids",
            ),
            Case(
                lambda w: EmbeddingLookup.apply(w, indices=IDS, padding_idx=0),
                lambda w: w[IDS],
                [_r(5, 3)],
                grad=False,  # the padding row's gradient is zero on purpose
                id="padding",
            ),
        ],
    }
