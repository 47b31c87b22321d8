"""Activation primitives, with the fused, numerically stable softmax and log-softmax."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.backend import namespace
from chainrule.autodiff.primitive import Primitive
from chainrule.autodiff.threads import MIN_SIZE, map_parts


class Tanh(Primitive):
    name = "tanh"

    def forward(self, a: Any) -> Any:
        self.out = namespace(a).tanh(a)
        return self.out

    def backward(self, g: Any) -> tuple[Any, ...]:
        return (g * (1 - self.out * self.out),)


class Sigmoid(Primitive):
    """``1 / (1 + exp(-a))`` computed without overflow for large ``|a|``."""

    name = "sigmoid"

    def forward(self, a: Any) -> Any:
        xp = namespace(a)
        e = xp.exp(-xp.abs(a))
        self.out = xp.where(a >= 0, 1 / (1 + e), e / (1 + e))
        return self.out

    def backward(self, g: Any) -> tuple[Any, ...]:
        return (g * self.out * (1 - self.out),)


def _relu(out: Any, a: Any) -> None:
    np.maximum(a, 0, out=out)


def _relu_grad(out: Any, g: Any, y: Any) -> None:
    np.greater(y, 0, out=out)  # 1.0 or 0.0, so the product is g * (y > 0) bit for bit
    out *= g


class ReLU(Primitive):
    """``max(a, 0)``; its gradient at 0 is taken as 0.

    Large NumPy arrays are done in parts on several threads (``chainrule.autodiff.threads``).
    """

    name = "relu"

    def forward(self, a: Any) -> Any:
        if type(a) is np.ndarray and a.size >= MIN_SIZE:
            self.out = np.empty_like(a)
            map_parts(_relu, self.out, a)
        else:
            self.out = namespace(a).maximum(a, 0)
        return self.out

    def backward(self, g: Any) -> tuple[Any, ...]:
        y = self.out
        if type(g) is np.ndarray and type(y) is np.ndarray and g.shape == y.shape \
                and g.size >= MIN_SIZE:  # fmt: skip
            out = np.empty_like(y, dtype=np.result_type(g.dtype, np.bool_))
            map_parts(_relu_grad, out, g, y)
            return (out,)
        return (g * (y > 0),)


class LeakyReLU(Primitive):
    """``a`` where positive, ``slope * a`` elsewhere."""

    name = "leaky_relu"

    def forward(self, a: Any, slope: float = 0.01) -> Any:
        self.positive, self.slope = a > 0, slope
        return namespace(a).where(self.positive, a, a * slope)

    def backward(self, g: Any) -> tuple[Any, ...]:
        return (namespace(g).where(self.positive, g, g * self.slope),)


class Softmax(Primitive):
    """``exp(a) / sum(exp(a))`` along ``axis``, shifted by the maximum so it cannot overflow."""

    name = "softmax"

    def forward(self, a: Any, axis: int = -1) -> Any:
        xp = namespace(a)
        e = xp.exp(a - a.max(axis=axis, keepdims=True))
        self.out, self.axis = e / e.sum(axis=axis, keepdims=True), axis
        return self.out

    def backward(self, g: Any) -> tuple[Any, ...]:
        s = self.out
        return (s * (g - (g * s).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Primitive):
    """``a - logsumexp(a)`` along ``axis``; a logit of 1000 does not overflow."""

    name = "log_softmax"

    def forward(self, a: Any, axis: int = -1) -> Any:
        xp = namespace(a)
        shifted = a - a.max(axis=axis, keepdims=True)
        self.out = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        self.axis = axis
        return self.out

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = namespace(g)
        return (g - xp.exp(self.out) * g.sum(axis=self.axis, keepdims=True),)
