"""Activation layers: thin Modules around the functions in ``chainrule.nn.functional``."""

from __future__ import annotations

from typing import Any

from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError
from chainrule.nn.functional import activations as A
from chainrule.nn.module import Module
from chainrule.nn.registry import register_layer

__all__ = ["Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "GELU", "Softmax", "LogSoftmax"]


def _number(value: Any, what: str) -> float:
    """``value`` as a float, or ConfigError when it is not a real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{what} must be a number, got {value!r}")
    return float(value)


def _axis(value: Any, layer: str) -> int:
    """``value`` as an int axis, or ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{layer}: axis must be an int, got {value!r}")
    return value


class _Parameterless(Module):
    """An activation with no constructor arguments."""

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (none)."""
        return {}


@register_layer(activation="relu")
class ReLU(_Parameterless):
    """Rectified linear unit ``max(x, 0)``.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import ReLU
    >>> ReLU()(np.array([-1.0, 2.0], np.float32)).data
    array([0., 2.], dtype=float32)
    """

    def forward(self, x: Any) -> Tensor:
        return A.relu(x)


@register_layer(activation="leaky_relu")
class LeakyReLU(Module):
    """``x`` where positive, ``negative_slope * x`` elsewhere.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import LeakyReLU
    >>> LeakyReLU(0.1)(np.array([-1.0, 2.0], np.float32)).data
    array([-0.1,  2. ], dtype=float32)
    """

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = _number(negative_slope, "LeakyReLU: negative_slope")

    def forward(self, x: Any) -> Tensor:
        return A.leaky_relu(x, self.negative_slope)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this layer."""
        return {"negative_slope": self.negative_slope}

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


@register_layer(activation="elu")
class ELU(Module):
    """Exponential linear unit: ``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import ELU
    >>> ELU()(np.array([0.0, 1.0], np.float32)).data
    array([0., 1.], dtype=float32)
    """

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = _number(alpha, "ELU: alpha")

    def forward(self, x: Any) -> Tensor:
        return A.elu(x, self.alpha)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this layer."""
        return {"alpha": self.alpha}

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


@register_layer(activation="gelu")
class GELU(Module):
    """Gaussian error linear unit ``x * Phi(x)``.

    ``approximate="none"`` (the default, as in PyTorch) uses the erf form with erf composed
    from primitives (within 1.5e-7); ``"tanh"`` uses the cheaper tanh approximation.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import GELU
    >>> GELU()(np.array([0.0], np.float32)).data
    array([0.], dtype=float32)
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ConfigError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Any) -> Tensor:
        return A.gelu(x, self.approximate)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this layer."""
        return {"approximate": self.approximate}

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


@register_layer(activation=("sigmoid", "logistic"))
class Sigmoid(_Parameterless):
    """Logistic sigmoid ``1 / (1 + exp(-x))``.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import Sigmoid
    >>> Sigmoid()(np.zeros(2, np.float32)).data
    array([0.5, 0.5], dtype=float32)
    """

    def forward(self, x: Any) -> Tensor:
        return A.sigmoid(x)


@register_layer(activation="tanh")
class Tanh(_Parameterless):
    """Hyperbolic tangent.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import Tanh
    >>> Tanh()(np.zeros(1, np.float32)).data
    array([0.], dtype=float32)
    """

    def forward(self, x: Any) -> Tensor:
        return A.tanh(x)


@register_layer
class Softmax(Module):
    """Softmax along ``axis`` (probabilities that sum to 1).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import Softmax
    >>> Softmax()(np.zeros((1, 4), np.float32)).data
    array([[0.25, 0.25, 0.25, 0.25]], dtype=float32)
    """

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = _axis(axis, "Softmax")

    def forward(self, x: Any) -> Tensor:
        return A.softmax(x, self.axis)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this layer."""
        return {"axis": self.axis}

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


@register_layer
class LogSoftmax(Module):
    """Log-softmax along ``axis`` (fused and stable; pairs with ``NLLLoss``).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import LogSoftmax
    >>> float(LogSoftmax()(np.zeros((1, 2), np.float32)).data[0, 0])  # log(1/2)
    -0.6931471824645996
    """

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = _axis(axis, "LogSoftmax")

    def forward(self, x: Any) -> Tensor:
        return A.log_softmax(x, self.axis)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this layer."""
        return {"axis": self.axis}

    def extra_repr(self) -> str:
        return f"axis={self.axis}"
