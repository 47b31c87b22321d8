"""Build an optimizer from its name, as the command line and the scikit-learn face need."""

from __future__ import annotations

from typing import Any

from chainrule.errors import ConfigError
from chainrule.optim.adagrad import Adagrad
from chainrule.optim.adam import Adam, AdamW
from chainrule.optim.optimizer import Optimizer
from chainrule.optim.rmsprop import RMSprop
from chainrule.optim.sgd import SGD

__all__ = ["create", "OPTIMIZERS"]

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")


def create(
    name: str,
    params: Any,
    lr: float,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> Optimizer:
    """The optimizer called ``name`` over ``params``, with each one's other settings at default.

    ``momentum`` applies to SGD and RMSprop, ``nesterov`` to SGD; ``weight_decay`` is decoupled
    for every optimizer (see each class for its exact update).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule import optim
    >>> from chainrule.nn import Parameter
    >>> w = Parameter(np.zeros(3, dtype=np.float32))
    >>> optim.create("sgd", [w], lr=0.1, momentum=0.9)
    SGD(1 parameters, lr=0.1, momentum=0.9, nesterov=False, weight_decay=0.0, dampening=0.0)
    """
    if name == "sgd":
        return SGD(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    if name == "rmsprop":
        return RMSprop(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    others: dict[str, type[Optimizer]] = {"adam": Adam, "adamw": AdamW, "adagrad": Adagrad}
    if name not in others:
        raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    return others[name](params, lr=lr, weight_decay=weight_decay)
