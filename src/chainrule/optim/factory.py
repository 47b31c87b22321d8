"""Build an optimizer from its name, as the command line and the scikit-learn face need.

The names are not written out here: every public ``Optimizer`` subclass of ``chainrule.optim``
is one, under its lower-case class name (``SGD`` -> ``"sgd"``), so a new optimizer class is
a new name without touching this file.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from typing import Any

from chainrule.errors import ConfigError
from chainrule.optim.optimizer import Optimizer

__all__ = ["create", "OPTIMIZERS", "optimizer_classes"]


def _subclasses(cls: type[Any]) -> Iterator[type[Any]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def optimizer_classes() -> dict[str, type[Optimizer]]:
    """The library's optimizers by name, in the order of ``chainrule.optim.__all__``.

    Examples
    --------
    >>> from chainrule.optim import optimizer_classes
    >>> list(optimizer_classes())
    ['sgd', 'adam', 'adamw', 'rmsprop', 'adagrad']
    """
    import chainrule.optim as package  # the package imports this module: look it up late

    public = list(package.__all__)
    found = [
        cls
        for cls in _subclasses(Optimizer)
        if cls.__module__.startswith("chainrule.optim.") and not cls.__name__.startswith("_")
    ]
    found.sort(key=lambda c: public.index(c.__name__) if c.__name__ in public else len(public))
    return {cls.__name__.lower(): cls for cls in found}


class _Names(Mapping[str, type[Optimizer]]):
    """A live, read-only view of ``optimizer_classes()`` (``", ".join(OPTIMIZERS)`` names them)."""

    def __getitem__(self, name: str) -> type[Optimizer]:
        return optimizer_classes()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(optimizer_classes())

    def __len__(self) -> int:
        return len(optimizer_classes())

    def __repr__(self) -> str:
        return f"OPTIMIZERS({list(self)})"


#: The optimizer names ``create`` accepts, derived from the classes (a mapping name -> class).
OPTIMIZERS: Mapping[str, type[Optimizer]] = _Names()


def create(
    name: str,
    params: Any,
    lr: float,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> Optimizer:
    """The optimizer called ``name`` over ``params``, with each one's other settings at default.

    ``momentum`` and ``nesterov`` go to the optimizers that take them (SGD; RMSprop takes
    momentum); ``weight_decay`` is decoupled for every optimizer (see each class for its exact
    update).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule import optim
    >>> from chainrule.nn import Parameter
    >>> w = Parameter(np.zeros(3, dtype=np.float32))
    >>> optim.create("sgd", [w], lr=0.1, momentum=0.9)
    SGD(1 parameters, lr=0.1, momentum=0.9, nesterov=False, weight_decay=0.0, dampening=0.0)
    """
    classes = optimizer_classes()
    if name not in classes:
        raise ConfigError(f"optimizer must be one of {', '.join(classes)}, got {name!r}")
    cls = classes[name]
    accepted = inspect.signature(cls).parameters
    kwargs: dict[str, Any] = {"lr": lr, "weight_decay": weight_decay}
    for key, value in (("momentum", momentum), ("nesterov", nesterov)):
        if key in accepted:
            kwargs[key] = value
    return cls(params, **kwargs)
