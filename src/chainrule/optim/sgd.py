"""SGD: stochastic gradient descent with optional (Nesterov) momentum and decoupled weight decay."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from chainrule.autodiff.blas import axpby, axpy
from chainrule.errors import ConfigError
from chainrule.optim.optimizer import Optimizer
from chainrule.validation import check_bool, check_number

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum in PyTorch's form.

    For each parameter ``w`` with gradient ``g`` (``mu`` = momentum, ``wd`` = weight_decay)::

        w <- w - lr * wd * w                          (decoupled weight decay, if wd > 0)
        v <- g                                        (first step of this parameter)
        v <- mu * v + (1 - dampening) * g             (later steps)
        w <- w - lr * v                               (momentum)
        w <- w - lr * (g + mu * v)                    (Nesterov, with the v just updated)
        w <- w - lr * g                               (momentum = 0: plain SGD)

    The first step sets ``v = g`` as PyTorch does; with ``dampening = 0`` this is the same as
    starting from ``v = 0``.

    ``weight_decay`` is **decoupled** (Loshchilov & Hutter): it shrinks the weights directly and
    never enters ``g`` or ``v``. It is *not* an L2 penalty; for that, add
    ``chainrule.regularizers.l2_penalty`` to the loss. (Without momentum the two coincide: the
    penalty ``(wd / 2) * ||w||**2`` adds ``wd * w`` to ``g``; with momentum they differ.)

    Parameters
    ----------
    params : iterable of Tensor or (name, Tensor) pairs, or a Module
        The tensors to train.
    lr : float
        Learning rate, > 0.
    momentum : float
        In [0, 1).
    nesterov : bool
        Nesterov momentum; needs ``momentum > 0`` and ``dampening == 0``.
    weight_decay : float
        Decoupled weight decay, >= 0.
    dampening : float
        In [0, 1]; scales down the new gradient entering the momentum buffer.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.optim import SGD
    >>> w = cr.tensor(np.array([1.0, -2.0]), requires_grad=True)
    >>> opt = SGD([w], lr=0.1, momentum=0.9)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w.data
    array([ 0.8, -1.6])
    """

    hyperparameter_names: ClassVar[tuple[str, ...]] = (
        "lr",
        "momentum",
        "nesterov",
        "weight_decay",
        "dampening",
    )

    momentum: float
    nesterov: bool
    weight_decay: float
    dampening: float

    def __init__(
        self,
        params: Any,
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        dampening: float = 0.0,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
            weight_decay=weight_decay,
            dampening=dampening,
        )

    def _validate(self, hp: Mapping[str, Any]) -> dict[str, Any]:
        out = super()._validate(hp)
        owner = type(self).__name__
        out["momentum"] = check_number(owner, "momentum", hp["momentum"], 0.0, 1.0, high_open=True)
        out["weight_decay"] = check_number(owner, "weight_decay", hp["weight_decay"], 0.0)
        out["dampening"] = check_number(owner, "dampening", hp["dampening"], 0.0, 1.0)
        out["nesterov"] = check_bool(owner, "nesterov", hp["nesterov"])
        if out["nesterov"] and (out["momentum"] <= 0.0 or out["dampening"] != 0.0):
            raise ConfigError(
                f"{owner}: nesterov=True needs momentum > 0 and dampening == 0, got "
                f"momentum={out['momentum']!r}, dampening={out['dampening']!r}"
            )
        return out

    def _state_names(self, hp: Mapping[str, Any]) -> tuple[str, ...]:
        return ("momentum_buffer",) if hp["momentum"] > 0.0 else ()

    def _update(self, index: int, w: Any, g: Any, state: dict[str, Any]) -> None:
        lr, mu = self._lr, self.momentum
        s = self.scratch(index, w)
        if self.weight_decay:
            np.multiply(w, 1.0 - lr * self.weight_decay, out=w)
        direction = g
        if mu:
            buf = state.get("momentum_buffer")
            if buf is None:  # PyTorch's first step: the buffer starts as the gradient itself
                buf = state["momentum_buffer"] = np.array(g, dtype=w.dtype, copy=True)
            else:  # one fused pass: buf <- (1 - dampening) * g + mu * buf
                axpby(1.0 - self.dampening, g, mu, buf, s)
            if self.nesterov:
                np.multiply(buf, mu, out=s)
                np.add(s, g, out=s)
                direction = s
            else:
                direction = buf
        axpy(-lr, direction, w, s)  # w <- w - lr * direction
