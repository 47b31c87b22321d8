"""One-step recurrent cells RNNCell, LSTMCell and GRUCell (PyTorch's names and shapes).

Each call is the whole-sequence primitive of its layer run over one step, so a cell and its
layer share one forward and one gradient rule.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff import functions as F
from chainrule.autodiff.ops.recurrent import GRUSequence, LSTMSequence, RNNSequence
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, ShapeError
from chainrule.nn import init as nn_init
from chainrule.nn.layers.inputs import layer_input
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.registry import register_layer
from chainrule.validation import check_positive_int

__all__ = ["RNNCell", "LSTMCell", "GRUCell"]


class _CellBase(Module):
    """Parameters ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` and the one-step call."""

    _gates = 1
    _op: Any = RNNSequence

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, rng: nn_init.RNG = None
    ) -> None:
        super().__init__()
        kind = type(self).__name__
        self.input_size = check_positive_int(input_size, f"{kind}: input_size")
        self.hidden_size = check_positive_int(hidden_size, f"{kind}: hidden_size")
        if not isinstance(bias, (bool, np.bool_)):
            raise ConfigError(f"{kind}: bias must be True or False, got {bias!r}")
        self.bias = bool(bias)
        rows = self._gates * self.hidden_size
        self.weight_ih = Parameter(np.zeros((rows, self.input_size), np.float32))
        self.weight_hh = Parameter(np.zeros((rows, self.hidden_size), np.float32))
        self.bias_ih = Parameter(np.zeros(rows, np.float32)) if self.bias else None
        self.bias_hh = Parameter(np.zeros(rows, np.float32)) if self.bias else None
        self.reset_parameters(rng)

    @classmethod
    def spec_size(cls, config: dict[str, Any]) -> int:
        """Scalars the cell a config describes would allocate (checked before building it)."""
        n_in, hidden = config.get("input_size"), config.get("hidden_size")
        if not (isinstance(n_in, int) and isinstance(hidden, int)):
            return 0
        rows = cls._gates * hidden
        return rows * (n_in + hidden) + (2 * rows if config.get("bias", True) else 0)

    def reset_parameters(self, rng: nn_init.RNG = None) -> None:
        """PyTorch's initialization: U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias."""
        gen = nn_init.as_generator(rng)
        k = 1.0 / float(np.sqrt(self.hidden_size))
        for p in self.parameters():
            p.data = gen.uniform(-k, k, p.shape).astype(p.dtype)
            p.grad = None

    def _step(self, x: Any, states: list[Any]) -> tuple[Tensor, ...]:
        kind = type(self).__name__
        dtype = self.weight_ih.dtype
        x = layer_input(x, dtype, kind)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ShapeError(
                f"{kind} got input of shape {x.shape}; expected (batch, {self.input_size}) "
                f"or ({self.input_size},)"
            )
        unbatched = x.ndim == 1
        batch = 1 if unbatched else x.shape[0]
        shape = (batch, self.hidden_size)
        ready = []
        for s in states:
            if s is None:
                ready.append(Tensor(np.zeros(shape, dtype)))
                continue
            s = layer_input(s, dtype, kind)
            s = F.reshape(s, shape) if unbatched and s.shape == (self.hidden_size,) else s
            if s.shape != shape:
                raise ShapeError(f"{kind}: state of shape {s.shape}; expected {shape}")
            ready.append(s)
        weights = [self.weight_ih, self.weight_hh]
        if self.bias:
            weights += [self.bias_ih, self.bias_hh]  # type: ignore[list-item]
        res = self._op.apply(F.reshape(x, (1, *x.shape) if not unbatched else (1, 1, x.shape[0])),
                             *ready, *weights, **self._op_params())  # fmt: skip
        finals = res[1:]  # after one step the final state is the step's output
        if unbatched:
            finals = tuple(F.reshape(f, (self.hidden_size,)) for f in finals)
        return finals

    def _op_params(self) -> dict[str, Any]:
        return {}

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this cell."""
        return {"input_size": self.input_size, "hidden_size": self.hidden_size, "bias": self.bias}

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"


@register_layer
class RNNCell(_CellBase):
    """One Elman step: ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`` (or relu).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import RNNCell
    >>> RNNCell(3, 4, rng=0)(np.zeros((2, 3))).shape
    (2, 4)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        rng: nn_init.RNG = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ConfigError(
                f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}"
            )
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, rng)

    def _op_params(self) -> dict[str, Any]:
        return {"nonlinearity": self.nonlinearity}

    def forward(self, x: Any, hx: Any = None) -> Tensor:
        return self._step(x, [hx])[0]

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this cell."""
        return {**super().get_config(), "nonlinearity": self.nonlinearity}


@register_layer
class LSTMCell(_CellBase):
    """One LSTM step (gates i, f, g, o): ``cell(x, (h, c)) -> (h', c')``.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import LSTMCell
    >>> h, c = LSTMCell(3, 4, rng=0)(np.zeros((2, 3)))
    >>> h.shape, c.shape
    ((2, 4), (2, 4))
    """

    _gates = 4
    _op = LSTMSequence

    def forward(self, x: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise ConfigError("LSTMCell: the state must be a pair (h, c)")
        h, c = self._step(x, [None, None] if hx is None else list(hx))
        return h, c


@register_layer
class GRUCell(_CellBase):
    """One GRU step (gates r, z, n): ``h' = (1 - z) * n + z * h``.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import GRUCell
    >>> GRUCell(3, 4, rng=0)(np.zeros((2, 3))).shape
    (2, 4)
    """

    _gates = 3
    _op = GRUSequence

    def forward(self, x: Any, hx: Any = None) -> Tensor:
        return self._step(x, [hx])[0]
