"""Anomaly mode: an operation hook that stops at the first NaN or infinity, naming the op."""

from __future__ import annotations

import traceback
from typing import Any

from chainrule.autodiff import mode
from chainrule.autodiff.hooks import OpHook, register_op_hook
from chainrule.errors import AnomalyError

__all__ = ["detect_anomaly", "is_anomaly_enabled", "check_backward", "quiet"]


def quiet() -> Any:
    """Silence NumPy's floating-point warnings while anomaly mode checks values itself."""
    import numpy as np

    return np.errstate(all="ignore")


def is_anomaly_enabled() -> bool:
    """True inside ``detect_anomaly()``."""
    return mode._state.anomaly


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


class AnomalyHook(OpHook):
    """Remember where each operation was created; raise when its forward is not finite."""

    quiet_forward = True  # our check, not NumPy's warning, reports the bad value

    def before(self, op: Any, inputs: tuple[Any, ...]) -> None:
        op.created_at = _user_frame()

    def __call__(self, op: Any, inputs: tuple[Any, ...], outputs: tuple[Any, ...]) -> None:
        for i, t in enumerate(inputs):
            kind = _nonfinite_kind(t.data)
            if kind:
                raise AnomalyError(
                    f"input {i} of '{op.name}' already contains {kind} (it was created outside "
                    f"the graph); operation created at {op.created_at}"
                )
        for t in outputs:
            kind = _nonfinite_kind(t.data)
            if kind:
                raise AnomalyError(
                    f"forward of '{op.name}' produced {kind} from finite inputs; "
                    f"operation created at {op.created_at}"
                )


def check_backward(op: Any, index: int, grad: Any) -> None:
    """Raise AnomalyError when a backward value is not finite."""
    if isinstance(grad, tuple):  # the gradients of a multi-output op's outputs, checked already
        return
    kind = _nonfinite_kind(grad)
    if kind:
        raise AnomalyError(
            f"backward of '{op.name}' produced {kind} in the gradient of input {index}; "
            f"operation created at {op.created_at}"
        )


class detect_anomaly(mode._Switch):  # noqa: N801 - named like the PyTorch context users know
    """Raise ``AnomalyError`` as soon as a forward or backward value becomes NaN or infinite.

    The error names the operation that produced the value and the line of user code that
    created it. It costs a stack capture per operation, so use it for debugging only. The
    forward check is an operation hook (``chainrule.autodiff.hooks``).

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.tensor([-1.0], requires_grad=True)
    >>> with cr.detect_anomaly():
    ...     y = x.log()  # doctest: +SKIP
    Traceback (most recent call last):
    chainrule.errors.AnomalyError: forward of 'log' produced NaN ...
    """

    _attr = "anomaly"
    _value = True

    def __enter__(self) -> None:
        super().__enter__()
        self._remove = None if self._previous else register_op_hook(AnomalyHook())

    def __exit__(self, *exc: object) -> None:
        if self._remove is not None:
            self._remove()
        super().__exit__(*exc)
