"""Per-thread engine switches: whether graphs are recorded, anomalies hunted, ops hooked."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["no_grad", "enable_grad", "is_grad_enabled"]

F = TypeVar("F", bound=Callable[..., Any])


class _State(threading.local):
    """Thread-local flags: one thread's ``no_grad`` never leaks into another's training."""

    def __init__(self) -> None:
        self.grad_enabled = True
        self.anomaly = False
        # The operation hooks of this thread; empty, so Primitive.apply's one test is cheap.
        self.op_hooks: tuple[Any, ...] = ()


_state = _State()


def is_grad_enabled() -> bool:
    """True when operations record the graph needed for ``backward()``."""
    return _state.grad_enabled


class _Switch:
    """A context manager (and decorator) that sets one flag and restores it on exit."""

    _attr = ""
    _value = True

    def __enter__(self) -> None:
        self._previous = getattr(_state, self._attr)
        setattr(_state, self._attr, self._value)

    def __exit__(self, *exc: object) -> None:
        setattr(_state, self._attr, self._previous)

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(_Switch):  # noqa: N801 - named like the PyTorch context users know
    """Run operations without recording a graph (inference, weight updates).

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> with cr.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """

    _attr = "grad_enabled"
    _value = False


class enable_grad(_Switch):  # noqa: N801
    """Record graphs again inside a ``no_grad`` block."""

    _attr = "grad_enabled"
    _value = True
