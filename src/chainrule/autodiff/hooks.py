"""Operation hooks: functions called around the forward of every primitive while installed.

Hooks see each operation as it runs (its name, keyword parameters, input and output tensors),
so tracing, debugging and diagnostics need no patching of modules: anomaly mode is one such
hook. Hooks are per thread, like ``no_grad``: installing one in a thread affects only the
operations that thread runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from chainrule.autodiff import mode

__all__ = ["OpHook", "register_op_hook", "op_hooks", "installed_op_hooks"]

OpHookFn = Callable[[Any, tuple[Any, ...], tuple[Any, ...]], Any]


class OpHook:
    """A hook with an optional step before the forward, for hooks that need one.

    A plain function ``fn(op, inputs, outputs)`` is a complete hook; subclass this when the
    hook also wants ``before(op, inputs)`` (called before the forward runs) or needs the
    forward to run with NumPy's floating-point warnings silenced (``quiet_forward``) because
    it checks the values itself.
    """

    quiet_forward: bool = False

    def before(self, op: Any, inputs: tuple[Any, ...]) -> None:
        """Called before ``op.forward`` with the input tensors."""

    def __call__(self, op: Any, inputs: tuple[Any, ...], outputs: tuple[Any, ...]) -> None:
        """Called after ``op.forward`` with the input tensors and the tuple of output tensors."""


def register_op_hook(fn: OpHookFn) -> Callable[[], None]:
    """Call ``fn(op, inputs, outputs)`` after the forward of every operation this thread runs.

    ``op`` is the primitive (``op.name``, ``op.params`` holds the keyword parameters),
    ``inputs`` the tuple of input tensors and ``outputs`` the tuple of output tensors (one
    element for single-output operations). Returns a function that removes the hook.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.autodiff.hooks import register_op_hook
    >>> seen = []
    >>> remove = register_op_hook(lambda op, inputs, outputs: seen.append(op.name))
    >>> _ = cr.tensor([1.0, -2.0]).relu().sum()
    >>> remove()
    >>> seen
    ['relu', 'sum']
    """
    if not callable(fn):
        raise TypeError(f"an operation hook must be callable, got {type(fn).__name__}")
    state = mode._state
    state.op_hooks = (*state.op_hooks, fn)

    def remove() -> None:
        hooks = list(state.op_hooks)
        for i, h in enumerate(hooks):
            if h is fn:
                del hooks[i]
                state.op_hooks = tuple(hooks)
                return

    return remove


@contextlib.contextmanager
def op_hooks(*fns: OpHookFn) -> Iterator[None]:
    """Install operation hooks for the duration of a ``with`` block (see ``register_op_hook``).

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.autodiff.hooks import op_hooks
    >>> names = []
    >>> with op_hooks(lambda op, inputs, outputs: names.append((op.name, op.params))):
    ...     _ = cr.tensor([[1.0, 2.0]]).sum(axis=1)
    >>> names
    [('sum', {'axis': 1, 'keepdims': False})]
    """
    removers = [register_op_hook(fn) for fn in fns]
    try:
        yield
    finally:
        for remove in reversed(removers):
            remove()


def installed_op_hooks() -> tuple[OpHookFn, ...]:
    """The hooks installed in this thread, in the order they run."""
    return tuple(mode._state.op_hooks)


def run_hooked(op: Any, inputs: tuple[Any, ...], params: dict[str, Any]) -> Any:
    """Run ``op.forward`` on the inputs' arrays with the ``before`` steps of the hooks first."""
    hooks = mode._state.op_hooks
    quiet = False
    for hook in hooks:
        before = getattr(hook, "before", None)
        if before is not None:
            before(op, inputs)
        quiet = quiet or getattr(hook, "quiet_forward", False)
    arrays = [t.data for t in inputs]
    if quiet:
        import numpy as np

        with np.errstate(all="ignore"):
            return op.forward(*arrays, **params)
    return op.forward(*arrays, **params)


def run_after(op: Any, inputs: tuple[Any, ...], outputs: tuple[Any, ...]) -> None:
    """Call every installed hook after the forward."""
    for hook in mode._state.op_hooks:
        hook(op, inputs, outputs)
