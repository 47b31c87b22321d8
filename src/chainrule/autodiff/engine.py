"""The backward pass: an iterative walk of the graph in reverse topological order.

No recursion, so a chain of 100,000 operations is fine. Gradients are summed back to each
input's shape here, once, so that no gradient rule deals with broadcasting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chainrule.autodiff import mode
from chainrule.autodiff.anomaly import check_backward, quiet
from chainrule.errors import GradientError, ShapeError

if TYPE_CHECKING:
    from chainrule.autodiff.tensor import Tensor

__all__ = ["backward", "unbroadcast"]

_FREED = (
    "the graph behind this tensor was freed by an earlier backward(); "
    "call backward(retain_graph=True) the first time to backpropagate through it again"
)


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum a gradient of a broadcast result back to the shape of the input that was broadcast."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0:
        raise ShapeError(f"cannot sum a gradient of shape {grad.shape} back to shape {shape}")
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
    )
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def _topological_order(root: Tensor) -> list[Tensor]:
    """Tensors that need a gradient, inputs before the outputs computed from them."""
    # Tensors hash by identity, so they key sets and dicts directly.
    order: list[Tensor] = []
    seen: set[Tensor] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if t in seen:
            continue
        seen.add(t)
        op = t._op
        if op is None:  # a leaf: nothing below it
            order.append(t)
            continue
        inputs = op.inputs
        if inputs is None:
            raise GradientError(_FREED)
        stack.append((t, True))
        for inp, need in zip(inputs, op.needs_grad):
            if need and inp not in seen:
                stack.append((inp, False))
    return order


def _own(grad: Any, handed: set[int]) -> Any:
    """A gradient array that nobody else holds, so users may change ``.grad`` in place."""
    if grad.base is not None or id(grad) in handed or not grad.flags.writeable:
        grad = grad.copy()
    handed.add(id(grad))
    return grad


def _accumulate(t: Tensor, grad: Any, handed: set[int]) -> None:
    """Add ``grad`` into ``t.grad`` (gradients accumulate across backward calls)."""
    if t.grad is None:
        t.grad = _own(grad, handed)
    else:
        t.grad = t.grad + grad
        handed.add(id(t.grad))


def backward(root: Tensor, grad: Any, retain_graph: bool = False) -> None:
    """Propagate ``grad`` (d loss / d root) to every leaf that requires a gradient."""
    order = _topological_order(root)
    anomaly = mode._state.anomaly
    grads: dict[Tensor, Any] = {root: grad}
    handed: set[int] = set()
    pop, get = grads.pop, grads.get
    for position in range(len(order) - 1, -1, -1):
        t = order[position]
        order[position] = None  # type: ignore[call-overload]  # release as soon as done
        g = pop(t, None)
        if g is None:
            continue
        if t._hooks:
            for hook in t._hooks:
                replaced = hook(g)
                if replaced is not None:
                    g = _hooked(replaced, g)
        op = t._op
        if op is None:
            _accumulate(t, g, handed)
            continue
        if t._retain:
            _accumulate(t, g, handed)
        inputs = op.inputs
        if inputs is None:
            raise GradientError(_FREED)
        if anomaly:
            with quiet():
                in_grads = op.backward(g)
        else:
            in_grads = op.backward(g)
        for index, (inp, need, ig) in enumerate(zip(inputs, op.needs_grad, in_grads)):
            if ig is None or not need:
                continue
            data = inp.data
            if ig.shape != data.shape:
                ig = unbroadcast(ig, data.shape)
            if ig.dtype != data.dtype:
                ig = ig.astype(data.dtype)
            if anomaly:
                check_backward(op, index, ig)
            previous = get(inp)
            grads[inp] = ig if previous is None else previous + ig
        if not retain_graph:
            op.release()


def _hooked(replaced: Any, original: Any) -> Any:
    """Validate the gradient a hook returned: same shape as the one it replaces."""
    from chainrule.autodiff.tensor import Tensor

    if isinstance(replaced, Tensor):
        replaced = replaced.data
    if getattr(replaced, "shape", None) != original.shape:
        raise ShapeError(
            f"a gradient hook returned shape {getattr(replaced, 'shape', type(replaced))}, "
            f"expected the gradient's shape {original.shape}"
        )
    return replaced
