"""The base of every primitive: a forward on arrays and its vector-Jacobian product, side by side.

A primitive instance is also the graph node: it remembers its input tensors and whatever its
backward rule needs, and forgets both once the backward pass has used them.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Any, ClassVar

from chainrule.autodiff import mode
from chainrule.errors import AnomalyError

if TYPE_CHECKING:
    from chainrule.autodiff.tensor import Tensor

__all__ = ["Primitive", "REGISTRY", "check_backward", "quiet"]

#: Every primitive class by its ``name``; the test suite checks each one has sample inputs.
REGISTRY: dict[str, type[Primitive]] = {}


class Primitive:
    """One differentiable operation.

    Subclasses set ``name`` and implement ``forward(*arrays, **params) -> array`` and
    ``backward(grad) -> tuple`` with one gradient (or ``None``) per input. ``self.needs_grad``
    says which inputs want a gradient (``None`` when no graph is recorded), so a rule can skip
    work. Gradients may have the broadcast shape of the output: the engine sums them back to
    each input's shape, so rules stay one-line formulas. Rules never modify arrays in place.
    """

    name: ClassVar[str] = ""
    inputs: tuple[Tensor, ...] | None
    needs_grad: tuple[bool, ...] | None
    created_at: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            REGISTRY[cls.name] = cls

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
        needs = tuple([t.requires_grad for t in inputs]) if state.grad_enabled else ()
        record = True in needs
        op.needs_grad = needs if record else None
        if state.anomaly:
            op.created_at = _user_frame()
            with quiet():  # our check, not NumPy's warning, reports the bad value
                out = op.forward(*[t.data for t in inputs], **params)
            _check_forward(op, inputs, out)
        else:
            out = op.forward(*[t.data for t in inputs], **params)
        result = _new_tensor(_tensor_class)
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
_tensor_class: Any = None  # set by chainrule.autodiff.tensor once Tensor exists (import cycle)


def quiet() -> Any:
    """Silence NumPy's floating-point warnings while anomaly mode checks values itself."""
    import numpy as np

    return np.errstate(all="ignore")


def _user_frame() -> str:
    """The innermost stack frame outside chainrule's engine, as 'file:line in func: code'."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if "/chainrule/autodiff/" not in frame.filename.replace("\\", "/"):
            return f"{frame.filename}:{frame.lineno} in {frame.name}: {frame.line}"
    return "<unknown>"


def _nonfinite_kind(array: Any) -> str | None:
    """'NaN' or 'inf' when the array holds such a value, else None."""
    from chainrule.autodiff.backend import namespace

    xp = namespace(array)
    if not xp.issubdtype(array.dtype, xp.inexact):
        return None
    if xp.isnan(array).any():
        return "NaN"
    if xp.isinf(array).any():
        return "inf"
    return None


def _check_forward(op: Primitive, inputs: tuple[Tensor, ...], out: Any) -> None:
    """Raise AnomalyError when a forward value is not finite, naming the op and the user line."""
    for i, t in enumerate(inputs):
        kind = _nonfinite_kind(t.data)
        if kind:
            raise AnomalyError(
                f"input {i} of '{op.name}' already contains {kind} (it was created outside "
                f"the graph); operation created at {op.created_at}"
            )
    kind = _nonfinite_kind(out)
    if kind:
        raise AnomalyError(
            f"forward of '{op.name}' produced {kind} from finite inputs; "
            f"operation created at {op.created_at}"
        )


def check_backward(op: Primitive, index: int, grad: Any) -> None:
    """Raise AnomalyError when a backward value is not finite."""
    kind = _nonfinite_kind(grad)
    if kind:
        raise AnomalyError(
            f"backward of '{op.name}' produced {kind} in the gradient of input {index}; "
            f"operation created at {op.created_at}"
        )
