"""Activation functions composed from primitives (ELU, GELU), next to the primitive ones."""

from __future__ import annotations

import math
from typing import Any

from chainrule.autodiff import functions as F
from chainrule.autodiff.backend import namespace
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError

__all__ = ["relu", "sigmoid", "tanh", "leaky_relu", "elu", "gelu", "erf", "softmax", "log_softmax"]

relu = F.relu
sigmoid = F.sigmoid
tanh = F.tanh
leaky_relu = F.leaky_relu
softmax = F.softmax
log_softmax = F.log_softmax


def _tensor(x: Any) -> Tensor:
    """``x`` as a tensor (arrays and lists are wrapped, tensors returned as they are)."""
    return x if isinstance(x, Tensor) else Tensor(x)


# Abramowitz & Stegun 7.1.26: erf(u) = 1 - t (a1 + t (a2 + ... + t a5)) exp(-u^2),
# t = 1 / (1 + p u) for u >= 0, with |error| <= 1.5e-7 (below float32 resolution near 1).
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def erf(x: Any) -> Tensor:
    """The error function, composed from primitives (A&S 7.1.26, absolute error <= 1.5e-7).

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.nn.functional import erf
    >>> bool(abs(erf(cr.tensor(np.array([1.0]))).item() - 0.8427007929) < 2e-7)
    True
    """
    x = _tensor(x)
    # erf is odd: erf(x) = s * E(s * x) with a constant sign s; s is +1 at 0 so the
    # gradient there is E'(0) (using abs() would give 0).
    sign = namespace(x.data).where(x.data >= 0, 1.0, -1.0).astype(x.dtype)
    u = x * sign
    t = 1.0 / (1.0 + _ERF_P * u)
    poly = _ERF_A[-1] * t
    for a in reversed(_ERF_A[:-1]):
        poly = (poly + a) * t
    return (1.0 - poly * F.exp(-(u * u))) * sign


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """Exponential linear unit: ``x`` where ``x > 0``, ``alpha * (exp(x) - 1)`` elsewhere.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.nn.functional import elu
    >>> elu(cr.tensor(np.array([-1.0, 2.0]))).data.round(4)
    array([-0.6321,  2.    ])
    """
    x = _tensor(x)
    # exp of the clipped value: the unused branch must not overflow for large x, because
    # where() still back-propagates 0 * exp'(x) through it (inf * 0 would be NaN).
    negative = alpha * (F.exp(F.clip(x, None, 0.0)) - 1.0)
    return F.where(x.data > 0, x, negative)


def gelu(x: Any, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit ``x * Phi(x)``.

    ``approximate="none"`` is the erf form ``0.5 x (1 + erf(x / sqrt(2)))`` with ``erf``
    composed from primitives (within 1.5e-7 of the true erf). ``approximate="tanh"`` is
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``, cheaper, within about 5e-4.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.nn.functional import gelu
    >>> gelu(cr.tensor(np.array([1.0]))).data.round(4)
    array([0.8413])
    """
    x = _tensor(x)
    if approximate == "none":
        return 0.5 * x * (1.0 + erf(x * (1.0 / math.sqrt(2.0))))
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * (x * x * x))
        return 0.5 * x * (1.0 + F.tanh(inner))
    raise ConfigError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
