"""Shape primitives: reshape, transpose, broadcast, indexing, joining and padding."""

from __future__ import annotations

from typing import Any

from chainrule.autodiff.backend import namespace
from chainrule.autodiff.primitive import Primitive
from chainrule.errors import ShapeError, TensorIndexError


class Reshape(Primitive):
    name = "reshape"

    def forward(self, a: Any, shape: tuple[int, ...] = ()) -> Any:
        self.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ShapeError(
                f"reshape: cannot reshape a tensor of shape {a.shape} ({a.size} elements) "
                f"into shape {tuple(shape)}"
            ) from None

    def backward(self, g: Any) -> tuple[Any, ...]:
        return (g.reshape(self.shape),)


class Transpose(Primitive):
    """Permute axes (``axes=None`` reverses them, as ``.T`` does)."""

    name = "transpose"

    def forward(self, a: Any, axes: tuple[int, ...] | None = None) -> Any:
        if axes is not None and sorted(ax % max(a.ndim, 1) for ax in axes) != list(range(a.ndim)):
            raise ShapeError(
                f"transpose: axes {tuple(axes)} are not a permutation of the {a.ndim} axes of "
                f"a tensor of shape {a.shape}"
            )
        xp = namespace(a)
        self.inverse = None if axes is None else tuple(xp.argsort([ax % a.ndim for ax in axes]))
        return xp.transpose(a, axes)

    def backward(self, g: Any) -> tuple[Any, ...]:
        return (namespace(g).transpose(g, self.inverse),)


class BroadcastTo(Primitive):
    """Broadcast to a larger shape; the engine sums the gradient back (broadcasting undone once)."""

    name = "broadcast_to"

    def forward(self, a: Any, shape: tuple[int, ...] = ()) -> Any:
        try:
            return namespace(a).broadcast_to(a, shape)
        except ValueError:
            raise ShapeError(
                f"broadcast_to: cannot broadcast shape {a.shape} to {tuple(shape)}"
            ) from None

    def backward(self, g: Any) -> tuple[Any, ...]:
        return (g,)


def _is_advanced(index: Any) -> bool:
    """True when an index uses integer or boolean arrays (so positions may repeat)."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, list) or hasattr(p, "dtype") for p in parts)


class GetItem(Primitive):
    """``a[index]`` with slices or integer / boolean arrays; repeated indices accumulate."""

    name = "getitem"

    def forward(self, a: Any, index: Any = None) -> Any:
        self.shape, self.dtype, self.index = a.shape, a.dtype, index
        try:
            return a[index]
        except IndexError as err:
            raise TensorIndexError(f"getitem: {err} (tensor of shape {a.shape})") from None

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = namespace(g)
        full = xp.zeros(self.shape, dtype=g.dtype)
        if _is_advanced(self.index):
            xp.add.at(full, self.index, g)
        else:
            full[self.index] = g
        return (full,)


class Concatenate(Primitive):
    name = "concatenate"

    def forward(self, *arrays: Any, axis: int = 0) -> Any:
        xp = namespace(*arrays)
        try:
            out = xp.concatenate(arrays, axis=axis)
        except ValueError:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ShapeError(
                f"concatenate: shapes {shapes} must match except along axis {axis}"
            ) from None
        self.axis = axis % out.ndim
        self.bounds = list(xp.cumsum([a.shape[self.axis] for a in arrays])[:-1])
        return out

    def backward(self, g: Any) -> tuple[Any, ...]:
        return tuple(namespace(g).split(g, self.bounds, axis=self.axis))


class Stack(Primitive):
    name = "stack"

    def forward(self, *arrays: Any, axis: int = 0) -> Any:
        xp = namespace(*arrays)
        if len({a.shape for a in arrays}) > 1:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ShapeError(f"stack: all tensors need the same shape, got {shapes}")
        out = xp.stack(arrays, axis=axis)
        self.axis, self.count = axis % out.ndim, len(arrays)
        return out

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = namespace(g)
        return tuple(xp.take(g, i, axis=self.axis) for i in range(self.count))


class Pad(Primitive):
    """Constant padding; ``pad_width`` as in ``numpy.pad``."""

    name = "pad"

    def forward(self, a: Any, pad_width: Any = 0, value: float = 0.0) -> Any:
        xp = namespace(a)
        widths = xp.broadcast_to(xp.asarray(pad_width, dtype=int), (a.ndim, 2))
        if (widths < 0).any():
            raise ShapeError(f"pad: widths must be non-negative, got {pad_width}")
        self.slices = tuple(slice(int(lo), int(lo) + n) for (lo, _), n in zip(widths, a.shape))
        return xp.pad(a, widths, mode="constant", constant_values=value)

    def backward(self, g: Any) -> tuple[Any, ...]:
        return (g[self.slices],)
