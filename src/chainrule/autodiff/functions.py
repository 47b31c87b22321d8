"""The function form of every primitive: lift plain numbers and arrays to tensors, then apply.

NumPy arrays and Python numbers mixed with a floating tensor take that tensor's dtype, so a
float32 computation stays float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule.autodiff.ops import activation as act
from chainrule.autodiff.ops import elementwise as ew
from chainrule.autodiff.ops import linalg, loss, reduce
from chainrule.autodiff.ops import shape as shape_ops
from chainrule.autodiff.primitive import Primitive
from chainrule.autodiff.tensor import Tensor, as_array
from chainrule.errors import ConfigError, ShapeError

__all__ = [
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "tanh", "sigmoid",
    "relu", "leaky_relu", "maximum", "minimum", "where", "clip", "matmul", "sum", "mean", "max",
    "min", "logsumexp", "log_softmax", "softmax", "reshape", "transpose", "permute",
    "broadcast_to", "getitem", "concatenate", "stack", "pad", "linear", "softmax_cross_entropy",
]  # fmt: skip


def data_of(x: Any) -> Any:
    """The array behind a tensor, or the value itself."""
    return x.data if isinstance(x, Tensor) else x


def _lift(x: Any, like: Any = None) -> Tensor:
    """A tensor for ``x``; non-tensors take the floating dtype of ``like`` when there is one."""
    if isinstance(x, Tensor):
        return x
    if like is not None and like.dtype.kind == "f":
        return Tensor(as_array(x, dtype=like.dtype))
    return Tensor(x)


def _pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Lift both operands of a binary operation, each taking its dtype from the other."""
    like = a.data if isinstance(a, Tensor) else b.data if isinstance(b, Tensor) else None
    return _lift(a, like), _lift(b, like)


def _broadcast_check(op: str, a: Tensor, b: Tensor) -> None:
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


def _binary(primitive: type[Primitive], name: str, a: Any, b: Any) -> Tensor:
    ta, tb = _pair(a, b)
    _broadcast_check(name, ta, tb)
    return primitive.apply(ta, tb)


def add(a: Any, b: Any) -> Tensor:
    """``a + b`` with broadcasting."""
    return _binary(ew.Add, "add", a, b)


def sub(a: Any, b: Any) -> Tensor:
    """``a - b`` with broadcasting."""
    return _binary(ew.Sub, "sub", a, b)


def mul(a: Any, b: Any) -> Tensor:
    """``a * b`` with broadcasting."""
    return _binary(ew.Mul, "mul", a, b)


def div(a: Any, b: Any) -> Tensor:
    """``a / b`` with broadcasting."""
    return _binary(ew.Div, "div", a, b)


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001 - the name users expect
    """``a ** b``: tensor to a scalar power, or tensor to a tensor power (both differentiable)."""
    return _binary(ew.Pow, "pow", a, b)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum with broadcasting."""
    return _binary(ew.Maximum, "maximum", a, b)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum with broadcasting."""
    return _binary(ew.Minimum, "minimum", a, b)


def neg(a: Any) -> Tensor:
    """``-a``."""
    return ew.Neg.apply(_lift(a))


def exp(a: Any) -> Tensor:
    """``e ** a``."""
    return ew.Exp.apply(_lift(a))


def log(a: Any) -> Tensor:
    """Natural logarithm."""
    return ew.Log.apply(_lift(a))


def sqrt(a: Any) -> Tensor:
    """Square root."""
    return ew.Sqrt.apply(_lift(a))


def abs(a: Any) -> Tensor:  # noqa: A001
    """Absolute value."""
    return ew.Abs.apply(_lift(a))


def tanh(a: Any) -> Tensor:
    """Hyperbolic tangent."""
    return act.Tanh.apply(_lift(a))


def sigmoid(a: Any) -> Tensor:
    """Logistic sigmoid ``1 / (1 + exp(-a))``, stable for large ``|a|``."""
    return act.Sigmoid.apply(_lift(a))


def relu(a: Any) -> Tensor:
    """``max(a, 0)``."""
    return act.ReLU.apply(_lift(a))


def leaky_relu(a: Any, negative_slope: float = 0.01) -> Tensor:
    """``a`` where positive, ``negative_slope * a`` elsewhere."""
    return act.LeakyReLU.apply(_lift(a), slope=negative_slope)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Pick ``a`` where ``condition`` holds, else ``b`` (broadcasting all three)."""
    cond = _lift(condition)
    if cond.dtype.kind != "b":
        cond = Tensor(cond.data.astype(bool))
    ta, tb = _pair(a, b)
    _broadcast_check("where", ta, tb)
    _broadcast_check("where", cond, ta)
    return ew.Where.apply(cond, ta, tb)


def clip(a: Any, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """Clamp values into ``[min, max]`` (either bound may be ``None``)."""
    if min is None and max is None:
        raise ConfigError("clip: give at least one of min and max")
    if min is not None and max is not None and min > max:
        raise ConfigError(f"clip: min ({min}) is greater than max ({max})")
    return ew.Clip.apply(_lift(a), low=min, high=max)


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product ``a @ b``: 2-D, batched (leading axes broadcast) and vector cases."""
    ta, tb = _pair(a, b)
    return linalg.MatMul.apply(ta, tb)


def sum(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (an int, a tuple, or ``None`` for all)."""
    return reduce.Sum.apply(_lift(a), axis=axis, keepdims=keepdims)


def mean(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis``."""
    return reduce.Mean.apply(_lift(a), axis=axis, keepdims=keepdims)


def max(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Maximum over ``axis``; ties share the gradient equally."""
    return reduce.Max.apply(_lift(a), axis=axis, keepdims=keepdims)


def min(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Minimum over ``axis``; ties share the gradient equally."""
    return reduce.Min.apply(_lift(a), axis=axis, keepdims=keepdims)


def logsumexp(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """``log(sum(exp(a)))`` over ``axis`` without overflow."""
    return reduce.LogSumExp.apply(_lift(a), axis=axis, keepdims=keepdims)


def softmax(a: Any, axis: int = -1) -> Tensor:
    """Softmax along ``axis`` (stable: shifted by the maximum)."""
    return act.Softmax.apply(_lift(a), axis=axis)


def log_softmax(a: Any, axis: int = -1) -> Tensor:
    """Log-softmax along ``axis``; stable for logits as large as 1000."""
    return act.LogSoftmax.apply(_lift(a), axis=axis)


def reshape(a: Any, shape: int | Sequence[int]) -> Tensor:
    """The same values in a new shape (one axis may be -1)."""
    target = (shape,) if isinstance(shape, int) else tuple(shape)
    return shape_ops.Reshape.apply(_lift(a), shape=target)


def transpose(a: Any, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes; ``None`` reverses them."""
    return shape_ops.Transpose.apply(_lift(a), axes=None if axes is None else tuple(axes))


def permute(a: Any, axes: Sequence[int]) -> Tensor:
    """Reorder the axes (PyTorch's name for ``transpose`` with explicit axes)."""
    return transpose(a, axes)


def broadcast_to(a: Any, shape: Sequence[int]) -> Tensor:
    """Repeat along size-1 and new leading axes to reach ``shape``."""
    return shape_ops.BroadcastTo.apply(_lift(a), shape=tuple(shape))


def getitem(a: Any, index: Any) -> Tensor:
    """``a[index]``: basic slicing or integer / boolean array indexing."""
    index = tuple(data_of(i) for i in index) if isinstance(index, tuple) else data_of(index)
    return shape_ops.GetItem.apply(_lift(a), index=index)


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    items = _lift_all(tensors, "concatenate")
    return shape_ops.Concatenate.apply(*items, axis=axis)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis."""
    items = _lift_all(tensors, "stack")
    return shape_ops.Stack.apply(*items, axis=axis)


def _lift_all(tensors: Sequence[Any], op: str) -> list[Tensor]:
    if len(tensors) == 0:
        raise ShapeError(f"{op}: needs at least one tensor")
    like = next((t.data for t in tensors if isinstance(t, Tensor)), None)
    return [_lift(t, like) for t in tensors]


def pad(a: Any, pad_width: Any, value: float = 0.0) -> Tensor:
    """Pad with a constant; ``pad_width`` as in ``numpy.pad`` (per-axis ``(before, after)``)."""
    return shape_ops.Pad.apply(_lift(a), pad_width=pad_width, value=value)


def linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """``x @ weight.T + bias`` in one fused step (``weight`` is ``(out_features, in_features)``)."""
    tx = _lift(x)
    like = tx.data
    tw = _lift(weight, like)
    if bias is None:
        return linalg.Linear.apply(tx, tw)
    return linalg.Linear.apply(tx, tw, _lift(bias, like))


def softmax_cross_entropy(
    logits: Any, target: Any, reduction: str = "mean", label_smoothing: float = 0.0
) -> Tensor:
    """Cross-entropy of logits ``(N, C)`` against integer class indices ``(N,)``, fused and stable.

    ``reduction`` is ``"mean"``, ``"sum"`` or ``"none"``; ``label_smoothing`` in ``[0, 1)`` mixes
    the one-hot target with the uniform distribution.
    """
    if not 0.0 <= label_smoothing < 1.0:
        raise ConfigError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    tl = _lift(logits)
    tt = target if isinstance(target, Tensor) else Tensor(as_array(target))
    return loss.SoftmaxCrossEntropy.apply(
        tl, tt, reduction=reduction, label_smoothing=float(label_smoothing)
    )
