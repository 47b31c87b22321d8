"""Elementwise primitives: arithmetic (broadcasting), powers, exp/log, and selections."""

from __future__ import annotations

from typing import Any

from chainrule.autodiff.backend import namespace
from chainrule.autodiff.primitive import Primitive


class Add(Primitive):
    name = "add"

    def forward(self, a: Any, b: Any) -> Any:
        return a + b

    def backward(self, g: Any) -> tuple[Any, ...]:
        return g, g


class Sub(Primitive):
    name = "sub"

    def forward(self, a: Any, b: Any) -> Any:
        return a - b

    def backward(self, g: Any) -> tuple[Any, ...]:
        return g, -g


class Mul(Primitive):
    name = "mul"

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        return a * b

    def backward(self, g: Any) -> tuple[Any, ...]:
        need_a, need_b = self.needs_grad  # type: ignore[misc]
        return (g * self.b if need_a else None, g * self.a if need_b else None)


class Div(Primitive):
    name = "div"

    def forward(self, a: Any, b: Any) -> Any:
        self.b = b
        self.out = a / b
        return self.out

    def backward(self, g: Any) -> tuple[Any, ...]:
        need_a, need_b = self.needs_grad  # type: ignore[misc]
        ga = g / self.b if need_a else None
        return ga, (-(ga if ga is not None else g / self.b) * self.out if need_b else None)


class Neg(Primitive):
    name = "neg"

    def forward(self, a: Any) -> Any:
        return -a

    def backward(self, g: Any) -> tuple[Any, ...]:
        return (-g,)


class Pow(Primitive):
    """``a ** b``; the exponent's gradient ``a**b * log(a)`` is taken as 0 where ``a <= 0``."""

    name = "pow"

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        self.out = a**b
        return self.out

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = namespace(g)
        need_a, need_b = self.needs_grad  # type: ignore[misc]
        a, b = self.a, self.b
        ga = g * b * a ** (b - 1) if need_a else None
        gb = None
        if need_b:
            positive = a > 0
            gb = g * self.out * xp.where(positive, xp.log(xp.where(positive, a, 1)), 0)
        return ga, gb


class Exp(Primitive):
    name = "exp"

    def forward(self, a: Any) -> Any:
        self.out = namespace(a).exp(a)
        return self.out

    def backward(self, g: Any) -> tuple[Any, ...]:
        return (g * self.out,)


class Log(Primitive):
    name = "log"

    def forward(self, a: Any) -> Any:
        self.a = a
        return namespace(a).log(a)

    def backward(self, g: Any) -> tuple[Any, ...]:
        return (g / self.a,)


class Sqrt(Primitive):
    name = "sqrt"

    def forward(self, a: Any) -> Any:
        self.out = namespace(a).sqrt(a)
        return self.out

    def backward(self, g: Any) -> tuple[Any, ...]:
        return (g * 0.5 / self.out,)


class Abs(Primitive):
    """``|a|``; its gradient at 0 is taken as 0."""

    name = "abs"

    def forward(self, a: Any) -> Any:
        self.a = a
        return namespace(a).abs(a)

    def backward(self, g: Any) -> tuple[Any, ...]:
        return (g * namespace(g).sign(self.a),)


class Maximum(Primitive):
    """Elementwise maximum; on ties the gradient is split equally."""

    name = "maximum"

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        return namespace(a).maximum(a, b)

    def backward(self, g: Any) -> tuple[Any, ...]:
        return _split_by_winner(g, self.a > self.b, self.a == self.b)


class Minimum(Primitive):
    """Elementwise minimum; on ties the gradient is split equally."""

    name = "minimum"

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        return namespace(a).minimum(a, b)

    def backward(self, g: Any) -> tuple[Any, ...]:
        return _split_by_winner(g, self.a < self.b, self.a == self.b)


def _split_by_winner(g: Any, a_wins: Any, tie: Any) -> tuple[Any, Any]:
    """Send the gradient to the winning operand, half to each on a tie."""
    share_a = a_wins + 0.5 * tie
    return g * share_a.astype(g.dtype), g * (1 - share_a).astype(g.dtype)


class Where(Primitive):
    """``where(condition, a, b)``; the condition (a boolean tensor) gets no gradient."""

    name = "where"

    def forward(self, condition: Any, a: Any, b: Any) -> Any:
        self.condition = condition
        return namespace(a).where(condition, a, b)

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = namespace(g)
        zero = xp.zeros((), dtype=g.dtype)
        return None, xp.where(self.condition, g, zero), xp.where(self.condition, zero, g)


class Clip(Primitive):
    """Clamp into ``[low, high]``; the gradient passes only where the value was inside."""

    name = "clip"

    def forward(self, a: Any, low: float | None = None, high: float | None = None) -> Any:
        xp = namespace(a)
        inside = xp.ones(a.shape, dtype=bool)
        if low is not None:
            inside &= a >= low
        if high is not None:
            inside &= a <= high
        self.inside = inside
        return xp.clip(a, low, high)

    def backward(self, g: Any) -> tuple[Any, ...]:
        return (g * self.inside,)
