"""Module: the base of every layer; finds Parameters and Buffers by type, with dotted names."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, ShapeError
from chainrule.nn.parameter import Buffer, Parameter

__all__ = ["Module"]


class Module:
    """Base class of layers and models.

    A subclass assigns ``Parameter``, ``Buffer`` and ``Module`` attributes in ``__init__`` and
    defines ``forward``; calling the module calls ``forward``. Parameters and buffers are found
    by type, with dotted names (``"0.weight"``, ``"encoder.bias"``); ``state_dict`` keys are
    exactly these names. Modules and tensors held in plain lists, tuples and dicts (string
    keys) are found too, named by position or key (``"blocks.0.weight"``), so a model that
    keeps its layers in a list trains them. ``train()`` / ``eval()`` set the mode of the whole
    tree. Forward hooks (``register_forward_hook``) see every call's inputs and output.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import Module, Parameter
    >>> class Scale(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.factor = Parameter(np.ones(1, dtype=np.float32))
    ...     def forward(self, x):
    ...         return x * self.factor
    >>> [name for name, _ in Scale().named_parameters()]
    ['factor']
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_pre_hooks", [])
        object.__setattr__(self, "_post_hooks", [])

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: the attributes Module.__init__ sets are
        # missing when a subclass forgot to call it, which deserves more than AttributeError.
        if name in ("training", "_pre_hooks", "_post_hooks"):
            raise ConfigError(
                f"{type(self).__name__}.__init__ did not call super().__init__(): add "
                "super().__init__() as the first line of it (Module sets up its state there)"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def forward(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._pre_hooks or self._post_hooks:  # the one test hooks cost when there are none
            return self._call_hooked(args, kwargs)
        return self.forward(*args, **kwargs)

    def _call_hooked(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``__call__`` with forward hooks: pre-hooks may replace the inputs, hooks the output."""
        for hook in list(self._pre_hooks):
            replaced = hook(self, args)
            if replaced is not None:
                args = replaced if isinstance(replaced, tuple) else (replaced,)
        out = self.forward(*args, **kwargs)
        for hook in list(self._post_hooks):
            replaced = hook(self, args, out)
            if replaced is not None:
                out = replaced
        return out

    # -- hooks ------------------------------------------------------------------------------
    def register_forward_hook(self, hook: Callable[..., Any]) -> Callable[[], None]:
        """Call ``hook(module, inputs, output)`` after every forward; returns a remover.

        ``inputs`` is the tuple of positional arguments; a hook that returns something other
        than ``None`` replaces the output (as in PyTorch).

        Examples
        --------
        >>> import numpy as np
        >>> from chainrule import nn
        >>> layer, shapes = nn.ReLU(), []
        >>> remove = layer.register_forward_hook(lambda m, inputs, out: shapes.append(out.shape))
        >>> _ = layer(np.ones((2, 3), np.float32)); remove(); _ = layer(np.ones((4, 3), np.float32))
        >>> shapes
        [(2, 3)]
        """
        return _add_hook(self._post_hooks, hook)

    def register_forward_pre_hook(self, hook: Callable[..., Any]) -> Callable[[], None]:
        """Call ``hook(module, inputs)`` before every forward (a non-None result replaces the
        inputs); returns a remover."""
        return _add_hook(self._pre_hooks, hook)

    # -- tree walking -----------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct submodules with their attribute names, in assignment order.

        Modules inside list, tuple and dict attributes count as children too, named
        ``"attribute.position"`` or ``"attribute.key"``.
        """
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple, dict)) and not name.startswith("_"):
                for key, item in _held(name, value):
                    if isinstance(item, Module):
                        yield key, item

    def children(self) -> Iterator[Module]:
        """Direct submodules."""
        for _, child in self.named_children():
            yield child

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every descendant, with dotted names (this one is ``""``)."""
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        """This module and every descendant."""
        for _, module in self.named_modules():
            yield module

    def _named_tensors(self, kind: type) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()  # a shared (tied) tensor is listed once, under its first name
        for prefix, module in self.named_modules():
            for name, value in vars(module).items():
                if isinstance(value, (list, tuple, dict)) and not name.startswith("_"):
                    members: Any = _held(name, value)
                else:
                    members = ((name, value),)
                for key, item in members:
                    if isinstance(item, kind) and id(item) not in seen:
                        seen.add(id(item))
                        yield (f"{prefix}.{key}" if prefix else key), item  # type: ignore[misc]

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """Every trainable Parameter in the tree, with its dotted name."""
        yield from self._named_tensors(Parameter)  # type: ignore[misc]

    def parameters(self) -> list[Parameter]:
        """Every trainable Parameter in the tree, in a stable order."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self) -> Iterator[tuple[str, Buffer]]:
        """Every Buffer (saved, not trained) in the tree, with its dotted name."""
        yield from self._named_tensors(Buffer)  # type: ignore[misc]

    def num_parameters(self, trainable_only: bool = True) -> int:
        """The number of scalar parameters."""
        return sum(p.size for p in self.parameters() if p.requires_grad or not trainable_only)

    # -- modes and gradients ----------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active, batch statistics) on the whole tree."""
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (dropout off, running statistics) on the whole tree."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget the accumulated gradients of every parameter."""
        for p in self.parameters():
            p.grad = None

    def astype(self, dtype: Any) -> Module:
        """Convert every parameter and floating buffer to ``dtype`` in place (e.g. float64)."""
        for _, t in [*self.named_parameters(), *self.named_buffers()]:
            if t.data.dtype.kind == "f":
                t.data = t.data.astype(dtype)
                t.grad = None
        return self

    # -- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer array, keyed by dotted name."""
        state = {name: p.data.copy() for name, p in self.named_parameters()}
        state.update({name: b.data.copy() for name, b in self.named_buffers()})
        return state

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> None:
        """Copy arrays into the parameters and buffers of the same names.

        With ``strict`` (the default), missing or unexpected names raise a ``ShapeError`` that
        lists them; a wrongly shaped entry always raises. Arrays are cast to each tensor's dtype.
        """
        own: dict[str, Tensor] = dict(self.named_parameters())
        own.update(self.named_buffers())
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        wrong = [
            f"{name}: expected {own[name].shape}, got {tuple(np.shape(state[name]))}"
            for name in own
            if name in state and tuple(np.shape(state[name])) != own[name].shape
        ]
        problems = []
        if strict and missing:
            problems.append(f"missing keys {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys {unexpected}")
        if wrong:
            problems.append("wrong shapes: " + "; ".join(wrong))
        if problems:
            raise ShapeError(f"load_state_dict into {type(self).__name__}: " + ", ".join(problems))
        for name, t in own.items():
            if name in state:
                value = state[name].data if isinstance(state[name], Tensor) else state[name]
                t.data = np.array(value, dtype=t.data.dtype, copy=True)
                t.grad = None

    # -- display ----------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The arguments shown in ``repr`` (override in layers)."""
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not children:
            return head + ")"
        lines = [head]
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


# Containers nested deeper than this inside one attribute are not searched (nor cyclic ones).
_MAX_HELD_DEPTH = 8


def _held(name: str, value: Any, depth: int = 0) -> Iterator[tuple[str, Any]]:
    """The items of a list/tuple/dict attribute, recursively, with dotted names."""
    if depth >= _MAX_HELD_DEPTH:
        return
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if isinstance(value, dict) and not isinstance(key, str):
            continue  # only string keys make names
        child = f"{name}.{key}"
        if isinstance(item, (list, tuple, dict)):
            yield from _held(child, item, depth + 1)
        else:
            yield child, item


def _add_hook(hooks: list[Callable[..., Any]], hook: Callable[..., Any]) -> Callable[[], None]:
    """Append ``hook`` and return the function that removes it again."""
    if not callable(hook):
        raise ConfigError(f"a hook must be callable, got {hook!r}")
    hooks.append(hook)

    def remove() -> None:
        if hook in hooks:
            hooks.remove(hook)

    return remove
