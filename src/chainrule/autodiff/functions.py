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
from chainrule.autodiff.tensor import Tensor, as_array, check_broadcast, lift, lift_pair
from chainrule.errors import ConfigError, ShapeError

__all__ = [
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "tanh", "sigmoid",
    "relu", "leaky_relu", "maximum", "minimum", "where", "clip", "matmul", "sum", "mean", "max",
    "min", "logsumexp", "log_softmax", "softmax", "reshape", "transpose", "permute",
    "broadcast_to", "getitem", "concatenate", "stack", "pad", "linear", "softmax_cross_entropy",
]  # fmt: skip


def _binary(primitive: type[Primitive], name: str, a: Any, b: Any) -> Tensor:
    ta, tb = lift_pair(a, b)
    check_broadcast(name, ta, tb)
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
    return ew.Neg.apply(lift(a))


def exp(a: Any) -> Tensor:
    """``e ** a``."""
    return ew.Exp.apply(lift(a))


def log(a: Any) -> Tensor:
    """Natural logarithm."""
    return ew.Log.apply(lift(a))


def sqrt(a: Any) -> Tensor:
    """Square root."""
    return ew.Sqrt.apply(lift(a))


def abs(a: Any) -> Tensor:  # noqa: A001
    """Absolute value."""
    return ew.Abs.apply(lift(a))


def tanh(a: Any) -> Tensor:
    """Hyperbolic tangent."""
    return act.Tanh.apply(lift(a))


def sigmoid(a: Any) -> Tensor:
    """Logistic sigmoid ``1 / (1 + exp(-a))``, stable for large ``|a|``."""
    return act.Sigmoid.apply(lift(a))


def relu(a: Any) -> Tensor:
    """``max(a, 0)``."""
    return act.ReLU.apply(lift(a))


def leaky_relu(a: Any, negative_slope: float = 0.01) -> Tensor:
    """``a`` where positive, ``negative_slope * a`` elsewhere."""
    return act.LeakyReLU.apply(lift(a), slope=negative_slope)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Pick ``a`` where ``condition`` holds, else ``b`` (broadcasting all three)."""
    cond = lift(condition)
    if cond.dtype.kind != "b":
        cond = Tensor(cond.data.astype(bool))
    ta, tb = lift_pair(a, b)
    check_broadcast("where", ta, tb)
    check_broadcast("where", cond, ta)
    return ew.Where.apply(cond, ta, tb)


def clip(a: Any, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """Clamp values into ``[min, max]`` (either bound may be ``None``)."""
    return lift(a).clip(min, max)


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product ``a @ b``: 2-D, batched (leading axes broadcast) and vector cases."""
    ta, tb = lift_pair(a, b)
    return linalg.MatMul.apply(ta, tb)


def sum(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (an int, a tuple, or ``None`` for all)."""
    return reduce.Sum.apply(lift(a), axis=axis, keepdims=keepdims)


def mean(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis``."""
    return reduce.Mean.apply(lift(a), axis=axis, keepdims=keepdims)


def max(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Maximum over ``axis``; ties share the gradient equally."""
    return reduce.Max.apply(lift(a), axis=axis, keepdims=keepdims)


def min(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Minimum over ``axis``; ties share the gradient equally."""
    return reduce.Min.apply(lift(a), axis=axis, keepdims=keepdims)


def logsumexp(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """``log(sum(exp(a)))`` over ``axis`` without overflow."""
    return reduce.LogSumExp.apply(lift(a), axis=axis, keepdims=keepdims)


def softmax(a: Any, axis: int = -1) -> Tensor:
    """Softmax along ``axis`` (stable: shifted by the maximum)."""
    return act.Softmax.apply(lift(a), axis=axis)


def log_softmax(a: Any, axis: int = -1) -> Tensor:
    """Log-softmax along ``axis``; stable for logits as large as 1000."""
    return act.LogSoftmax.apply(lift(a), axis=axis)


def reshape(a: Any, shape: int | Sequence[int]) -> Tensor:
    """The same values in a new shape (one axis may be -1)."""
    return lift(a).reshape(shape)


def transpose(a: Any, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes; ``None`` reverses them."""
    return shape_ops.Transpose.apply(lift(a), axes=None if axes is None else tuple(axes))


def permute(a: Any, axes: Sequence[int]) -> Tensor:
    """Reorder the axes (PyTorch's name for ``transpose`` with explicit axes)."""
    return transpose(a, axes)


def broadcast_to(a: Any, shape: Sequence[int]) -> Tensor:
    """Repeat along size-1 and new leading axes to reach ``shape``."""
    return shape_ops.BroadcastTo.apply(lift(a), shape=tuple(shape))


def getitem(a: Any, index: Any) -> Tensor:
    """``a[index]``: basic slicing or integer / boolean array indexing."""
    return lift(a)[index]


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
    return [lift(t, like) for t in tensors]


def pad(a: Any, pad_width: Any, value: float = 0.0) -> Tensor:
    """Pad with a constant; ``pad_width`` as in ``numpy.pad`` (per-axis ``(before, after)``)."""
    return shape_ops.Pad.apply(lift(a), pad_width=pad_width, value=value)


def linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """``x @ weight.T + bias`` in one fused step (``weight`` is ``(out_features, in_features)``)."""
    tx = lift(x)
    like = tx.data
    tw = lift(weight, like)
    if bias is None:
        return linalg.Linear.apply(tx, tw)
    return linalg.Linear.apply(tx, tw, lift(bias, like))


def softmax_cross_entropy(
    logits: Any, target: Any, reduction: str = "mean", label_smoothing: float = 0.0
) -> Tensor:
    """Cross-entropy of logits ``(N, C)`` against integer class indices ``(N,)``, fused and stable.

    ``reduction`` is ``"mean"``, ``"sum"`` or ``"none"``; ``label_smoothing`` in ``[0, 1)`` mixes
    the one-hot target with the uniform distribution.
    """
    if not 0.0 <= label_smoothing < 1.0:
        raise ConfigError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    tl = lift(logits)
    tt = target if isinstance(target, Tensor) else Tensor(as_array(target))
    return loss.SoftmaxCrossEntropy.apply(
        tl, tt, reduction=reduction, label_smoothing=float(label_smoothing)
    )
