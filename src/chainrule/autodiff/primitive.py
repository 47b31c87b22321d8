"""The base of every primitive: a forward on arrays and its vector-Jacobian product, side by side.

A primitive instance is also the graph node: it remembers its input tensors and whatever its
backward rule needs, and forgets both once the backward pass has used them. A primitive may
have several outputs (``n_outputs``); each is a tensor in the graph.
"""

from __future__ import annotations

from typing import Any, ClassVar

from chainrule.autodiff import mode
from chainrule.autodiff.hooks import run_after, run_hooked
from chainrule.autodiff.registry import REGISTRY, register
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import GradientError

__all__ = ["Primitive", "REGISTRY"]


class Primitive:
    """One differentiable operation.

    Subclasses set ``name`` and implement ``forward(*arrays, **params) -> array`` and
    ``backward(grad) -> tuple`` with one gradient (or ``None``) per input. ``self.needs_grad``
    says which inputs want a gradient (``None`` when no graph is recorded), so a rule can skip
    work, and ``self.params`` holds the keyword parameters of the call. Gradients may have the
    broadcast shape of the output: the engine sums them back to each input's shape, so rules
    stay one-line formulas. Rules never modify arrays in place.

    A primitive with several outputs sets ``n_outputs``; its ``forward`` returns a tuple of
    that many arrays, its ``backward(grads)`` receives a tuple of that many gradients (``None``
    for an output that received none) and ``apply`` returns a tuple of tensors. Outputs that are
    not floating (indices) carry no gradient.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.autodiff import Primitive
    >>> class SinCos(Primitive):
    ...     n_outputs = 2
    ...     def forward(self, x):
    ...         self.x = x
    ...         return np.sin(x), np.cos(x)
    ...     def backward(self, grads):
    ...         gs, gc = grads
    ...         g = 0 * self.x
    ...         g = g + (gs * np.cos(self.x) if gs is not None else 0)
    ...         g = g - (gc * np.sin(self.x) if gc is not None else 0)
    ...         return (g,)
    >>> x = cr.tensor([0.0, 1.0], requires_grad=True)
    >>> s, c = SinCos.apply(x)
    >>> s.sum().backward()
    >>> x.grad
    array([1.       , 0.5403023], dtype=float32)
    """

    name: ClassVar[str] = ""
    n_outputs: ClassVar[int] = 1
    inputs: tuple[Tensor, ...] | None
    needs_grad: tuple[bool, ...] | None
    params: dict[str, Any]
    created_at: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            register(cls)
        if cls.n_outputs != 1 and "apply" not in cls.__dict__:
            # A separate entry point, so the single-output hot path carries no branch for it.
            cls.apply = classmethod(_apply_many)  # type: ignore[assignment, method-assign]

    def forward(self, *arrays: Any, **params: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad: Any) -> tuple[Any, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def release(self) -> None:
        """Drop inputs and saved arrays once backward no longer needs them."""
        self.__dict__.clear()
        self.inputs = None

    @classmethod
    def apply(cls, *inputs: Tensor, **params: Any) -> Tensor:
        """Run the forward on tensors and, when gradients are wanted, record the graph node."""
        # The hot path of every operation: kept flat, since its overhead is paid per op.
        state = mode._state
        op = cls.__new__(cls)
        op.params = params
        needs = tuple([t.requires_grad for t in inputs]) if state.grad_enabled else ()
        record = True in needs
        op.needs_grad = needs if record else None
        if state.op_hooks:  # the one test the hooks cost while none is installed
            return _apply_hooked(op, inputs, params, record)
        out = op.forward(*[t.data for t in inputs], **params)
        result = _new_tensor(Tensor)
        result.data = out
        result.grad = None
        result._retain = False
        result._hooks = None
        result.name = None
        if record:
            op.inputs = inputs
            result.requires_grad = True
            result._op = op
        else:
            result.requires_grad = False
            result._op = None
        return result


_new_tensor = object.__new__


class _Node:
    """The placeholder data of a multi-output op's hidden node (it holds no array)."""

    __slots__ = ()
    shape: tuple[int, ...] = ()
    dtype: Any = None


_NODE = _Node()


class _Grads(tuple):  # type: ignore[type-arg]
    """The gradients of a multi-output op's outputs, one slot per output (None when unused).

    It passes through the engine's accumulation like an array: same ``shape`` and ``dtype``
    as the hidden node's placeholder, and ``+`` adds slot by slot.
    """

    __slots__ = ()
    shape: tuple[int, ...] = ()
    dtype: Any = None

    def __add__(self, other: Any) -> _Grads:  # type: ignore[override]
        return _Grads(a if b is None else b if a is None else a + b for a, b in zip(self, other))


class _Select(Primitive):
    """Output ``index`` of a multi-output op: hands its gradient to the op's hidden node.

    Each output tensor hangs below one hidden node tensor through a selection, so the
    ordinary topological order runs the op's backward once, after every output's gradient
    (however often each output was used) is complete.
    """

    index: int
    count: int

    def backward(self, grad: Any) -> tuple[Any, ...]:
        slots: list[Any] = [None] * self.count
        slots[self.index] = grad
        return (_Grads(slots),)


def _plain(data: Any) -> Any:
    """A tensor outside the graph holding ``data``."""
    t = _new_tensor(Tensor)
    t.data = data
    t.grad = None
    t._retain = False
    t._hooks = None
    t.name = None
    t.requires_grad = False
    t._op = None
    return t


def _apply_hooked(op: Primitive, inputs: tuple[Tensor, ...], params: Any, record: bool) -> Tensor:
    """``apply`` of a single-output primitive while operation hooks are installed."""
    result = _plain(run_hooked(op, inputs, params))
    if record:
        op.inputs = inputs
        result.requires_grad = True
        result._op = op
    run_after(op, inputs, (result,))
    return result


def _apply_many(cls: type[Primitive], *inputs: Tensor, **params: Any) -> tuple[Tensor, ...]:
    """``apply`` of a multi-output primitive: a tuple of tensors, each one in the graph."""
    state = mode._state
    op = cls.__new__(cls)
    op.params = params
    needs = tuple([t.requires_grad for t in inputs]) if state.grad_enabled else ()
    record = True in needs
    op.needs_grad = needs if record else None
    hooked = bool(state.op_hooks)
    if hooked:
        out = run_hooked(op, inputs, params)
    else:
        out = op.forward(*[t.data for t in inputs], **params)
    if not isinstance(out, tuple) or len(out) != cls.n_outputs:
        got = f"a tuple of {len(out)}" if isinstance(out, tuple) else type(out).__name__
        raise GradientError(
            f"forward of '{cls.name or cls.__name__}' returned {got}; expected a tuple of "
            f"n_outputs={cls.n_outputs} arrays"
        )
    outputs = tuple(_plain(a) for a in out)
    if record:
        op.inputs = inputs
        node = _plain(_NODE)
        node.requires_grad = True
        node._op = op
        for index, t in enumerate(outputs):
            if t.data.dtype.kind not in "fc":
                continue  # integer outputs (indices) carry no gradient
            select = _Select.__new__(_Select)
            select.index, select.count = index, cls.n_outputs
            select.params = {"index": index}
            select.inputs, select.needs_grad = (node,), (True,)
            t.requires_grad = True
            t._op = select
    if hooked:
        run_after(op, inputs, outputs)
    return outputs
