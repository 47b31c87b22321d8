"""Recurrent layers RNN, LSTM and GRU: PyTorch's arguments, shapes and parameter names.

Each layer direction is one whole-sequence primitive (``chainrule.autodiff.ops.recurrent``):
the input projections of all steps in one product, backpropagation through time inside its
backward. Weights transfer 1:1 from PyTorch (``weight_ih_l0``, ``bias_hh_l1_reverse``, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff import functions as F
from chainrule.autodiff.ops.recurrent import GRUSequence, LSTMSequence, RNNSequence
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, ShapeError
from chainrule.nn import init as nn_init
from chainrule.nn.layers.dropout import Dropout
from chainrule.nn.layers.inputs import layer_input
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.registry import register_layer
from chainrule.validation import check_positive_int

__all__ = ["RNN", "LSTM", "GRU", "lengths_from_mask"]


def lengths_from_mask(mask: Any, batch_first: bool = False) -> np.ndarray:
    """Sequence lengths from a boolean mask ``(T, N)`` (``(N, T)`` if ``batch_first``).

    Each row must be a prefix mask (real steps first, then padding).

    Examples
    --------
    >>> lengths_from_mask([[True, True], [True, False], [True, False]])
    array([3, 1])
    """
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise ShapeError(f"mask must be 2-D (steps, batch) or (batch, steps), got {m.shape}")
    if batch_first:
        m = m.T
    lengths = m.sum(axis=0)
    if not np.array_equal(m, np.arange(m.shape[0])[:, None] < lengths):
        raise ShapeError(
            "mask must mark each sequence's real steps first and its padding after them "
            "(a prefix mask); pass lengths= for sequences padded at the end"
        )
    return lengths.astype(np.int64)


class _RecurrentBase(Module):
    """The stack of layers and directions every recurrent layer shares."""

    _gates = 1
    _op: Any = RNNSequence

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        rng: nn_init.RNG = None,
    ) -> None:
        super().__init__()
        kind = type(self).__name__
        self.input_size = check_positive_int(input_size, f"{kind}: input_size")
        self.hidden_size = check_positive_int(hidden_size, f"{kind}: hidden_size")
        self.num_layers = check_positive_int(num_layers, f"{kind}: num_layers")
        for flag, value in (("bias", bias), ("batch_first", batch_first),
                            ("bidirectional", bidirectional)):  # fmt: skip
            if not isinstance(value, (bool, np.bool_)):
                raise ConfigError(f"{kind}: {flag} must be True or False, got {value!r}")
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, (int, float))
            or not (0.0 <= dropout < 1.0)
        ):
            raise ConfigError(f"{kind}: dropout must be a number in [0, 1), got {dropout!r}")
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        self.dropout, self.bidirectional = float(dropout), bool(bidirectional)
        self._dropout = Dropout(self.dropout, rng=rng) if self.dropout > 0 else None
        rows = self._gates * self.hidden_size
        directions = 2 if self.bidirectional else 1
        for layer in range(self.num_layers):
            n_in = self.input_size if layer == 0 else self.hidden_size * directions
            for suffix in self._suffixes(layer):
                setattr(self, f"weight_ih{suffix}", Parameter(np.zeros((rows, n_in), np.float32)))
                setattr(self, f"weight_hh{suffix}", Parameter(np.zeros((rows, self.hidden_size),
                                                                       np.float32)))  # fmt: skip
                if self.bias:
                    setattr(self, f"bias_ih{suffix}", Parameter(np.zeros(rows, np.float32)))
                    setattr(self, f"bias_hh{suffix}", Parameter(np.zeros(rows, np.float32)))
        self.reset_parameters(rng)

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}"] + ([f"_l{layer}_reverse"] if self.bidirectional else [])

    @classmethod
    def spec_size(cls, config: dict[str, Any]) -> int:
        """Scalars the layer a config describes would allocate (checked before building it)."""
        n_in, hidden = config.get("input_size"), config.get("hidden_size")
        layers = config.get("num_layers", 1)
        if not (isinstance(n_in, int) and isinstance(hidden, int) and isinstance(layers, int)):
            return 0  # the constructor itself rejects such a config
        d = 2 if config.get("bidirectional") else 1
        rows = cls._gates * hidden
        per_dir_rest = rows * hidden + (2 * rows if config.get("bias", True) else 0)
        first = d * (rows * n_in + per_dir_rest)
        return first + (layers - 1) * d * (rows * hidden * d + per_dir_rest)

    def reset_parameters(self, rng: nn_init.RNG = None) -> None:
        """PyTorch's initialization: every weight and bias from U(-1/sqrt(H), 1/sqrt(H))."""
        gen = nn_init.as_generator(rng)
        k = 1.0 / float(np.sqrt(self.hidden_size))
        for p in self.parameters():
            p.data = gen.uniform(-k, k, p.shape).astype(p.dtype)
            p.grad = None

    def _weights(self, suffix: str) -> list[Parameter]:
        names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if self.bias else [])
        return [getattr(self, f"{n}{suffix}") for n in names]

    def _initial(self, hx: Any, batch: int, dtype: Any, what: str) -> Tensor | None:
        if hx is None:
            return None
        shape = (self.num_layers * (2 if self.bidirectional else 1), batch, self.hidden_size)
        t = layer_input(hx, dtype, type(self).__name__)
        if t.shape != shape:
            raise ShapeError(
                f"{type(self).__name__}: initial {what} of shape {t.shape}; expected {shape} "
                "(num_layers * num_directions, batch, hidden_size)"
            )
        return t

    def _run(self, x: Any, states: list[Tensor | None], lengths: Any, mask: Any) -> Any:
        """Shared forward: returns (output, [final state per kind]) in PyTorch's layouts."""
        kind = type(self).__name__
        dtype = self._weights("_l0")[0].dtype
        x = layer_input(x, dtype, kind)
        unbatched = x.ndim == 2
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            raise ShapeError(
                f"{kind} got input of shape {x.shape}; expected (steps, batch, {self.input_size})"
                f"{' (batch first)' if self.batch_first else ''} or (steps, {self.input_size})"
            )
        if unbatched:
            x = F.reshape(x, (x.shape[0], 1, x.shape[1]))
        elif self.batch_first:
            x = F.transpose(x, (1, 0, 2))
        steps, batch = x.shape[0], x.shape[1]
        if mask is not None:
            if lengths is not None:
                raise ConfigError(f"{kind}: pass lengths or mask, not both")
            lengths = lengths_from_mask(mask, self.batch_first and not unbatched)
        starts = [self._initial(s, 1 if unbatched else batch, dtype, "state") for s in states]
        if unbatched:
            starts = [None if s is None else F.reshape(s, (s.shape[0], 1, s.shape[2]))
                      for s in starts]  # fmt: skip
        zeros = Tensor(np.zeros((batch, self.hidden_size), dtype))
        finals: list[list[Tensor]] = [[] for _ in states]
        directions = 2 if self.bidirectional else 1
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(self._suffixes(layer)):
                index = layer * directions + d
                initial = [zeros if s is None else s[index] for s in starts]
                res = self._op.apply(x, *initial, *self._weights(suffix), lengths=lengths,
                                     reverse=d == 1, **self._op_params())  # fmt: skip
                outs.append(res[0])
                for k, final in enumerate(res[1:]):
                    finals[k].append(final)
            x = outs[0] if directions == 1 else F.concatenate(outs, axis=2)
            if self._dropout is not None and self.training and layer < self.num_layers - 1:
                x = self._dropout(x)
        stacked = [F.stack(f, axis=0) for f in finals]
        if unbatched:
            x = F.reshape(x, (steps, x.shape[2]))
            stacked = [F.reshape(s, (s.shape[0], s.shape[2])) for s in stacked]
        elif self.batch_first:
            x = F.transpose(x, (1, 0, 2))
        return x, stacked

    def _op_params(self) -> dict[str, Any]:
        return {}

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this layer."""
        return {
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "bias": self.bias,
            "batch_first": self.batch_first,
            "dropout": self.dropout,
            "bidirectional": self.bidirectional,
        }

    def extra_repr(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.get_config().items()
                          if k not in ("input_size", "hidden_size"))  # fmt: skip
        return f"{self.input_size}, {self.hidden_size}, {extra}"


@register_layer
class RNN(_RecurrentBase):
    """Elman RNN: ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` (or relu).

    Parameters
    ----------
    input_size, hidden_size : int
        Features of each step's input and of the hidden state.
    num_layers : int
        Stacked layers (each one's output sequence feeds the next).
    nonlinearity : {"tanh", "relu"}
    bias, batch_first, dropout, bidirectional
        As in PyTorch: biases ``b_ih`` and ``b_hh``; inputs ``(N, T, I)`` instead of
        ``(T, N, I)``; dropout on the outputs of every layer but the last (training only);
        a second direction reading each sequence backwards, outputs concatenated.
    rng : numpy.random.Generator or int, optional
        Randomness of the initialization (and of the dropout).

    Forward: ``rnn(x, h0=None, lengths=None, mask=None) -> (output, h_n)`` with ``output``
    ``(T, N, D*H)`` and ``h_n`` ``(num_layers*D, N, H)``. ``lengths`` (N,) (or a prefix
    ``mask``) gives each sequence's real length: padded outputs are zero and ``h_n`` is each
    sequence's state at its own last step, exactly as running it alone.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import RNN
    >>> rnn = RNN(3, 5, num_layers=2, rng=0)
    >>> out, h_n = rnn(np.zeros((7, 4, 3)), lengths=[7, 5, 2, 1])
    >>> out.shape, h_n.shape
    ((7, 4, 5), (2, 4, 5))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        rng: nn_init.RNG = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ConfigError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, rng)  # fmt: skip

    def _op_params(self) -> dict[str, Any]:
        return {"nonlinearity": self.nonlinearity}

    def forward(self, x: Any, hx: Any = None, lengths: Any = None, mask: Any = None) -> Any:
        out, (h_n,) = self._run(x, [hx], lengths, mask)
        return out, h_n

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this layer."""
        return {**super().get_config(), "nonlinearity": self.nonlinearity}


@register_layer
class LSTM(_RecurrentBase):
    """Long short-term memory, PyTorch's equations and gate order (i, f, g, o).

    Same arguments as ``RNN`` (without ``nonlinearity``). Forward:
    ``lstm(x, (h0, c0)=None, lengths=None, mask=None) -> (output, (h_n, c_n))``.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import LSTM
    >>> lstm = LSTM(3, 5, bidirectional=True, batch_first=True, rng=0)
    >>> out, (h_n, c_n) = lstm(np.zeros((4, 7, 3)), lengths=[7, 5, 2, 1])
    >>> out.shape, h_n.shape, c_n.shape
    ((4, 7, 10), (2, 4, 5), (2, 4, 5))
    """

    _gates = 4
    _op = LSTMSequence

    def forward(self, x: Any, hx: Any = None, lengths: Any = None, mask: Any = None) -> Any:
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise ConfigError("LSTM: the initial state must be a pair (h0, c0)")
        h0, c0 = (None, None) if hx is None else hx
        if (h0 is None) != (c0 is None):
            raise ConfigError("LSTM: give both h0 and c0, or neither")
        out, (h_n, c_n) = self._run(x, [h0, c0], lengths, mask)
        return out, (h_n, c_n)


@register_layer
class GRU(_RecurrentBase):
    """Gated recurrent unit, PyTorch's equations and gate order (r, z, n).

    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) * n + z * h``. Same
    arguments and forward as ``RNN`` (without ``nonlinearity``).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import GRU
    >>> out, h_n = GRU(3, 5, rng=0)(np.zeros((7, 4, 3)))
    >>> out.shape, h_n.shape
    ((7, 4, 5), (1, 4, 5))
    """

    _gates = 3
    _op = GRUSequence

    def forward(self, x: Any, hx: Any = None, lengths: Any = None, mask: Any = None) -> Any:
        out, (h_n,) = self._run(x, [hx], lengths, mask)
        return out, h_n
