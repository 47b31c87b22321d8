"""Reductions over axes (sum, mean, max, min, logsumexp), with ``keepdims``."""

from __future__ import annotations

from typing import Any

from chainrule.autodiff.backend import namespace
from chainrule.autodiff.primitive import Primitive
from chainrule.errors import ShapeError


def normalize_axes(axis: Any, ndim: int, op: str) -> tuple[int, ...]:
    """Turn ``None``, an int or a tuple of ints into a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for ax in axes:
        if not -ndim <= ax < max(ndim, 1):
            raise ShapeError(f"{op}: axis {ax} is out of range for a tensor with {ndim} dimensions")
        out.append(ax % ndim if ndim else 0)
    return tuple(sorted(set(out)))


class _Reduction(Primitive):
    """Shared bookkeeping: remember the input shape and the reduced axes."""

    def _setup(self, a: Any, axis: Any, keepdims: bool) -> tuple[int, ...]:
        self.shape, self.keepdims = a.shape, keepdims
        self.axes = normalize_axes(axis, a.ndim, self.name)
        return self.axes

    def _expand(self, g: Any) -> Any:
        """Give a reduced gradient back its reduced axes (size 1) so it broadcasts to the input."""
        if not self.keepdims:
            g = namespace(g).expand_dims(g, self.axes)
        return g


class Sum(_Reduction):
    name = "sum"

    def forward(self, a: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return a.sum(axis=self._setup(a, axis, keepdims), keepdims=keepdims)

    def backward(self, g: Any) -> tuple[Any, ...]:
        return (namespace(g).broadcast_to(self._expand(g), self.shape),)


class Mean(_Reduction):
    name = "mean"

    def forward(self, a: Any, axis: Any = None, keepdims: bool = False) -> Any:
        axes = self._setup(a, axis, keepdims)
        self.count = 1
        for ax in axes:
            self.count *= a.shape[ax]
        return a.mean(axis=axes, keepdims=keepdims)

    def backward(self, g: Any) -> tuple[Any, ...]:
        return (namespace(g).broadcast_to(self._expand(g) / self.count, self.shape),)


class _Extremum(_Reduction):
    """max / min: the gradient goes to the extreme elements, split equally among ties."""

    def _reduce(self, a: Any, axes: tuple[int, ...]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, a: Any, axis: Any = None, keepdims: bool = False) -> Any:
        axes = self._setup(a, axis, keepdims)
        if a.size == 0:
            raise ShapeError(f"{self.name}: cannot reduce an empty tensor of shape {a.shape}")
        out = self._reduce(a, axes)
        self.a, self.out = a, out
        return out if keepdims else out.squeeze(axis=axes)

    def backward(self, g: Any) -> tuple[Any, ...]:
        winners = (self.a == self.out).astype(g.dtype)
        winners /= winners.sum(axis=self.axes, keepdims=True)
        return (self._expand(g) * winners,)


class Max(_Extremum):
    name = "max"

    def _reduce(self, a: Any, axes: tuple[int, ...]) -> Any:
        return a.max(axis=axes, keepdims=True)


class Min(_Extremum):
    name = "min"

    def _reduce(self, a: Any, axes: tuple[int, ...]) -> Any:
        return a.min(axis=axes, keepdims=True)


class LogSumExp(_Reduction):
    """``log(sum(exp(a)))`` over axes, shifted by the maximum so it cannot overflow."""

    name = "logsumexp"

    def forward(self, a: Any, axis: Any = None, keepdims: bool = False) -> Any:
        xp = namespace(a)
        axes = self._setup(a, axis, keepdims)
        peak = a.max(axis=axes, keepdims=True)
        out = xp.log(xp.exp(a - peak).sum(axis=axes, keepdims=True)) + peak
        self.a, self.out = a, out
        return out if keepdims else out.squeeze(axis=axes)

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = namespace(g)
        return (self._expand(g) * xp.exp(self.a - self.out),)
