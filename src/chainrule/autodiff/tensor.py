"""Tensor: a thin facade over an array (data, grad, graph node) whose operators call primitives."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.autodiff import engine
from chainrule.autodiff.backend import is_array
from chainrule.errors import DtypeError, GradientError, ShapeError

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


class Tensor:
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

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return int(self.data.shape[0])

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

    # -- operators: each calls a primitive through the functions module ----------------------
    def __add__(self, other: Any) -> Tensor:
        return F.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return F.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return F.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return F.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return F.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return F.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return F.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return F.div(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return F.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return F.pow(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return F.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return F.matmul(other, self)

    def __neg__(self) -> Tensor:
        return F.neg(self)

    def __getitem__(self, index: Any) -> Tensor:
        return F.getitem(self, index)

    # Comparisons give boolean masks; they carry no gradient. (== keeps Python identity.)
    def __lt__(self, other: Any) -> Tensor:
        return Tensor(self.data < F.data_of(other))

    def __le__(self, other: Any) -> Tensor:
        return Tensor(self.data <= F.data_of(other))

    def __gt__(self, other: Any) -> Tensor:
        return Tensor(self.data > F.data_of(other))

    def __ge__(self, other: Any) -> Tensor:
        return Tensor(self.data >= F.data_of(other))

    # -- methods for unary operations and reductions -----------------------------------------
    def exp(self) -> Tensor:
        return F.exp(self)

    def log(self) -> Tensor:
        return F.log(self)

    def sqrt(self) -> Tensor:
        return F.sqrt(self)

    def abs(self) -> Tensor:
        return F.abs(self)

    def tanh(self) -> Tensor:
        return F.tanh(self)

    def sigmoid(self) -> Tensor:
        return F.sigmoid(self)

    def relu(self) -> Tensor:
        return F.relu(self)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        return F.clip(self, min, max)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return F.sum(self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return F.mean(self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return F.max(self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return F.min(self, axis, keepdims)

    def logsumexp(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return F.logsumexp(self, axis, keepdims)

    def softmax(self, axis: int = -1) -> Tensor:
        return F.softmax(self, axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return F.log_softmax(self, axis)

    def reshape(self, *shape: Any) -> Tensor:
        return F.reshape(self, shape[0] if len(shape) == 1 else shape)

    def transpose(self, *axes: Any) -> Tensor:
        return F.transpose(self, (axes[0] if len(axes) == 1 else axes) or None)

    def permute(self, *axes: Any) -> Tensor:
        return F.transpose(self, axes[0] if len(axes) == 1 else axes)

    @property
    def T(self) -> Tensor:  # noqa: N802 - NumPy's name
        """The tensor with its axes reversed."""
        return F.transpose(self, None)

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        return F.broadcast_to(self, shape)


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


from chainrule.autodiff import functions as F  # noqa: E402  - the operators need the functions
from chainrule.autodiff import primitive as _primitive  # noqa: E402

_primitive._tensor_class = Tensor  # primitives build their results without importing Tensor
