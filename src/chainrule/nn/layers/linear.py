"""Linear (fully connected) layer."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff import functions as F
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, ShapeError
from chainrule.nn import init as nn_init
from chainrule.nn.layers.inputs import layer_input
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.registry import register_layer
from chainrule.validation import check_positive_int

__all__ = ["Linear", "layer_input", "check_positive_int"]


@register_layer
class Linear(Module):
    """Fully connected layer: ``y = x @ weight.T + bias``.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the last axis of the input and of the output.
    bias : bool
        Whether to learn an additive bias (initialized to zeros).
    init : str
        Weight initializer. ``"auto"`` (the default) is **Glorot/Xavier uniform**,
        ``U(-a, a)`` with ``a = sqrt(6 / (in + out))``: neutral for tanh/sigmoid and fine for
        shallow ReLU networks (a layer cannot see which activation follows it). For deep ReLU
        stacks choose ``"he"`` (He normal) or ``"he_uniform"``. Any name in
        ``chainrule.nn.init.INITIALIZERS`` is accepted (``"glorot_normal"``, ``"zeros"``, ...).
    rng : numpy.random.Generator or int, optional
        Randomness of the initialization; ``None`` draws a fresh, unseeded generator.

    Notes
    -----
    ``weight`` has shape ``(out_features, in_features)`` as in PyTorch; inputs of shape
    ``(..., in_features)`` are accepted. Inputs that do not require grad are cast to the
    layer's dtype (float32 unless ``astype`` changed it); see ``layer_input``.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import Linear
    >>> layer = Linear(784, 256, rng=0)
    >>> layer
    Linear(784 -> 256, bias=True)
    >>> layer(np.zeros((2, 784))).shape
    (2, 256)
    """

    @staticmethod
    def spec_size(config: dict[str, Any]) -> int:
        """Scalars the layer a config describes would allocate (checked before building it)."""
        n_in, n_out = config.get("in_features"), config.get("out_features")
        if not (isinstance(n_in, int) and isinstance(n_out, int)):
            return 0  # the constructor itself rejects such a config
        return n_in * n_out + (n_out if config.get("bias", True) else 0)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: str = "auto",
        rng: nn_init.RNG = None,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "Linear: in_features")
        self.out_features = check_positive_int(out_features, "Linear: out_features")
        if not isinstance(bias, (bool, np.bool_)):
            raise ConfigError(f"Linear: bias must be True or False, got {bias!r}")
        self.init = init
        self._weight_init = self._resolve_init(init)
        self.weight = Parameter(np.zeros((self.out_features, self.in_features), np.float32))
        self.bias = Parameter(np.zeros(self.out_features, np.float32)) if bias else None
        self.reset_parameters(rng)

    @staticmethod
    def _resolve_init(name: Any) -> nn_init.Initializer:
        """The weight initializer for ``name``, with ``"auto"`` meaning Glorot uniform."""
        if name == "auto":
            return nn_init.INITIALIZERS["glorot_uniform"]
        if not isinstance(name, str) or name not in nn_init.INITIALIZERS:
            known = ["auto", *sorted(nn_init.INITIALIZERS)]
            raise ConfigError(f"Linear: unknown init {name!r}; expected one of {known}")
        return nn_init.INITIALIZERS[name]

    def reset_parameters(self, rng: nn_init.RNG = None) -> None:
        """Draw new weights with this layer's initializer and set the bias to zeros."""
        dtype = self.weight.dtype
        self.weight.data = self._weight_init(self.weight.shape, nn_init.as_generator(rng), dtype)
        self.weight.grad = None
        if self.bias is not None:
            self.bias.data = np.zeros(self.out_features, dtype=dtype)
            self.bias.grad = None

    def _name(self) -> str:
        return f"Linear({self.in_features} -> {self.out_features})"

    def forward(self, x: Any) -> Tensor:
        x = layer_input(x, self.weight.dtype, self._name())
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ShapeError(
                f"{self._name()} got input of shape {x.shape}; expected the last axis to have "
                f"{self.in_features} features, e.g. shape (batch, {self.in_features}) "
                "(a Flatten() layer in front turns images into vectors)"
            )
        return F.linear(x, self.weight, self.bias)  # the fused primitive: one node, no .T copy

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this layer."""
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias is not None,
            "init": self.init,
        }

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}, bias={self.bias is not None}"
