"""Tensor: a thin facade over an array (data, grad, graph node) whose operators call primitives.

The operators find their primitive by name in ``registry.REGISTRY`` (filled as the primitive
classes are defined), so this module imports no primitive and primitives import Tensor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.autodiff import engine
from chainrule.autodiff.backend import is_array
from chainrule.autodiff.protocols import TensorProtocols
from chainrule.autodiff.registry import REGISTRY as _OPS
from chainrule.errors import ConfigError, DtypeError, GradientError, ShapeError

__all__ = ["Tensor", "tensor", "as_array"]

Hook = Callable[[Any], Any]


def as_array(data: Any, dtype: Any = None, copy: bool = False) -> Any:
    """Turn user data into an array: Python floats become float32, NumPy arrays keep their dtype."""
    if isinstance(data, Tensor):
        data = data.data
    if is_array(data) or isinstance(data, np.generic):
        array = data
    elif dtype is not None:
        array = np.asarray(data, dtype=dtype)
    else:
        array = np.asarray(data)
        if array.dtype == np.float64:  # Python floats: float32 unless asked otherwise
            array = array.astype(np.float32)
    if array.dtype == object or array.dtype.kind in "USV":
        raise DtypeError(
            f"cannot make a tensor from data of dtype {array.dtype}; expected numbers "
            "(a float, int or bool array, or nested lists of numbers)"
        )
    if dtype is not None:
        array = array.astype(dtype, copy=copy)
    elif copy:
        array = array.copy()
    return np.asarray(array) if isinstance(array, np.generic) else array


def _check_differentiable(array: Any) -> None:
    """Only floating tensors can carry gradients."""
    if array.dtype.kind not in "fc":
        raise DtypeError(
            f"only floating tensors can require gradients, got {array.dtype}; "
            "convert with dtype='float32' (integer tensors are for labels and indices)"
        )


class Tensor(TensorProtocols):
    """An array with an optional gradient and a record of the operation that made it.

    Parameters
    ----------
    data : array_like
        Numbers. Python floats and lists become float32; NumPy arrays keep their dtype, so a
        float64 array stays float64 (gradient checks need it). The array is not copied.
    requires_grad : bool
        Whether ``backward()`` should compute a gradient for this tensor.
    dtype : dtype, optional
        Convert the data to this dtype.

    Notes
    -----
    Gradients **accumulate** in ``.grad`` across ``backward()`` calls; reset them with
    ``zero_grad()`` (or the optimizer's / module's ``zero_grad()``) between steps.

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.tensor([[1.0, 2.0]], requires_grad=True)
    >>> loss = (w * w).sum()
    >>> loss.backward()
    >>> w.grad
    array([[2., 4.]], dtype=float32)
    """

    __slots__ = ("data", "grad", "requires_grad", "_op", "_retain", "_hooks", "name", "__weakref__")
    __array_ufunc__ = None  # make NumPy defer to our reflected operators (ndarray + Tensor)

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data = as_array(data, dtype)
        self.grad: Any = None
        self._op: Any = None
        self._retain = False
        self._hooks: list[Hook] | None = None
        self.name: str | None = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # -- array facts -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of ``data``."""
        return tuple(self.data.shape)

    @property
    def dtype(self) -> Any:
        """The dtype of ``data``."""
        return self.data.dtype

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return int(self.data.ndim)

    @property
    def size(self) -> int:
        """The number of elements."""
        return int(self.data.size)

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by an operation in a recorded graph."""
        return self._op is None

    def __repr__(self) -> str:
        body = np.array2string(np.asarray(self.data), separator=", ", prefix="tensor(")
        extra = f", dtype={self.data.dtype}" if self.data.dtype != np.float32 else ""
        if self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def numpy(self) -> Any:
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self) -> Any:
        """The single value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ShapeError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def detach(self) -> Tensor:
        """A tensor sharing this data but cut from the graph (no gradient flows through it)."""
        return Tensor(self.data)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place (floating tensors only) and return ``self``."""
        if requires_grad:
            _check_differentiable(self.data)
        elif self._op is not None:
            raise GradientError("requires_grad can only be switched off on leaves; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def zero_grad(self) -> None:
        """Forget the accumulated gradient."""
        self.grad = None

    # -- backward and inspection -------------------------------------------------------------
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Backpropagate from this tensor, accumulating d(self)/d(leaf) into each leaf's ``.grad``.

        Parameters
        ----------
        grad : array_like, optional
            The gradient of the final objective with respect to this tensor. Required unless
            the tensor holds a single value (a loss).
        retain_graph : bool
            Keep the graph so ``backward()`` can run through it again. By default it is freed.
        """
        if not self.requires_grad:
            raise GradientError(
                "backward() on a tensor that does not require grad: no input of the computation "
                "had requires_grad=True, or it was computed under no_grad()"
            )
        if grad is None:
            if self.data.size != 1:
                raise GradientError(
                    f"backward() on a non-scalar tensor of shape {self.shape} needs `grad`, the "
                    "gradient of the objective with respect to it (or reduce it first, e.g. .sum())"
                )
            seed = np.ones_like(self.data)
        else:
            seed = as_array(grad, dtype=self.data.dtype)
            if seed.shape != self.data.shape:
                raise ShapeError(
                    f"backward(): grad has shape {seed.shape} but the tensor has shape {self.shape}"
                )
        engine.backward(self, seed, retain_graph)

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` on this intermediate tensor after backward (leaves always keep it)."""
        if not self.requires_grad:
            raise GradientError("retain_grad() on a tensor that does not require grad")
        self._retain = True
        return self

    def register_hook(self, hook: Hook) -> Callable[[], None]:
        """Call ``hook(grad)`` when this tensor's gradient is computed.

        The hook sees the gradient array flowing through the tensor and may return a
        replacement of the same shape (or ``None`` to leave it). Returns a function that
        removes the hook.
        """
        if not self.requires_grad:
            raise GradientError("register_hook() on a tensor that does not require grad")
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        hooks = self._hooks

        def remove() -> None:
            if hook in hooks:
                hooks.remove(hook)

        return remove

    # -- operators: each calls its primitive, found by name in the registry ------------------
    def __add__(self, other: Any) -> Tensor:
        return binary("add", self, other)

    def __radd__(self, other: Any) -> Tensor:
        return binary("add", other, self)

    def __sub__(self, other: Any) -> Tensor:
        return binary("sub", self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return binary("sub", other, self)

    def __mul__(self, other: Any) -> Tensor:
        return binary("mul", self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return binary("mul", other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return binary("div", self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return binary("div", other, self)

    def __pow__(self, other: Any) -> Tensor:
        return binary("pow", self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return binary("pow", other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return _OPS["matmul"].apply(*lift_pair(self, other))

    def __rmatmul__(self, other: Any) -> Tensor:
        return _OPS["matmul"].apply(*lift_pair(other, self))

    def __neg__(self) -> Tensor:
        return _OPS["neg"].apply(self)

    def __getitem__(self, index: Any) -> Tensor:
        index = tuple(data_of(i) for i in index) if isinstance(index, tuple) else data_of(index)
        return _OPS["getitem"].apply(self, index=index)

    # Comparisons give boolean masks; they carry no gradient. (== keeps Python identity.)
    def __lt__(self, other: Any) -> Tensor:
        return Tensor(self.data < data_of(other))

    def __le__(self, other: Any) -> Tensor:
        return Tensor(self.data <= data_of(other))

    def __gt__(self, other: Any) -> Tensor:
        return Tensor(self.data > data_of(other))

    def __ge__(self, other: Any) -> Tensor:
        return Tensor(self.data >= data_of(other))

    # -- methods for unary operations and reductions -----------------------------------------
    def exp(self) -> Tensor:
        return _OPS["exp"].apply(self)

    def log(self) -> Tensor:
        return _OPS["log"].apply(self)

    def sqrt(self) -> Tensor:
        return _OPS["sqrt"].apply(self)

    def abs(self) -> Tensor:
        return _OPS["abs"].apply(self)

    def tanh(self) -> Tensor:
        return _OPS["tanh"].apply(self)

    def sigmoid(self) -> Tensor:
        return _OPS["sigmoid"].apply(self)

    def relu(self) -> Tensor:
        return _OPS["relu"].apply(self)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        if min is None and max is None:
            raise ConfigError("clip: give at least one of min and max")
        if min is not None and max is not None and min > max:
            raise ConfigError(f"clip: min ({min}) is greater than max ({max})")
        return _OPS["clip"].apply(self, low=min, high=max)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _OPS["sum"].apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _OPS["mean"].apply(self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _OPS["max"].apply(self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _OPS["min"].apply(self, axis=axis, keepdims=keepdims)

    def logsumexp(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _OPS["logsumexp"].apply(self, axis=axis, keepdims=keepdims)

    def softmax(self, axis: int = -1) -> Tensor:
        return _OPS["softmax"].apply(self, axis=axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return _OPS["log_softmax"].apply(self, axis=axis)

    def reshape(self, *shape: Any) -> Tensor:
        target = shape[0] if len(shape) == 1 else shape
        target = (target,) if isinstance(target, int) else tuple(target)
        return _OPS["reshape"].apply(self, shape=target)

    def transpose(self, *axes: Any) -> Tensor:
        order = (axes[0] if len(axes) == 1 else axes) or None
        return _OPS["transpose"].apply(self, axes=None if order is None else tuple(order))

    def permute(self, *axes: Any) -> Tensor:
        return _OPS["transpose"].apply(self, axes=tuple(axes[0] if len(axes) == 1 else axes))

    @property
    def T(self) -> Tensor:  # noqa: N802 - NumPy's name
        """The tensor with its axes reversed."""
        return _OPS["transpose"].apply(self, axes=None)

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        return _OPS["broadcast_to"].apply(self, shape=tuple(shape))


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Make a tensor holding a copy of ``data`` (see ``Tensor`` for the dtype rules).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.tensor([1.0, 2.0]).dtype
    dtype('float32')
    >>> cr.tensor([1, 2]).dtype
    dtype('int64')
    """
    return Tensor(as_array(data, dtype, copy=True), requires_grad=requires_grad)


# -- lifting: how operands that are not tensors join an operation ------------------------------
def data_of(x: Any) -> Any:
    """The array behind a tensor, or the value itself."""
    return x.data if isinstance(x, Tensor) else x


def lift(x: Any, like: Any = None) -> Tensor:
    """A tensor for ``x``; non-tensors take the floating dtype of ``like`` when there is one."""
    if isinstance(x, Tensor):
        return x
    if like is not None and like.dtype.kind == "f":
        return Tensor(as_array(x, dtype=like.dtype))
    return Tensor(x)


def lift_pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Lift both operands of a binary operation, each taking its dtype from the other."""
    like = a.data if isinstance(a, Tensor) else b.data if isinstance(b, Tensor) else None
    return lift(a, like), lift(b, like)


def check_broadcast(op: str, a: Tensor, b: Tensor) -> None:
    """Name the operation and both shapes when they cannot broadcast."""
    sa, sb = a.data.shape, b.data.shape
    if sa == sb:
        return
    for x, y in zip(reversed(sa), reversed(sb)):
        if x != y and x != 1 and y != 1:
            raise ShapeError(
                f"{op}: shapes {sa} and {sb} cannot broadcast (dimensions {x} and {y} differ "
                "and neither is 1)"
            )


def binary(name: str, a: Any, b: Any) -> Tensor:
    """Apply the broadcasting binary primitive ``name`` to two operands, lifting numbers."""
    ta, tb = lift_pair(a, b)
    check_broadcast(name, ta, tb)
    return _OPS[name].apply(ta, tb)
