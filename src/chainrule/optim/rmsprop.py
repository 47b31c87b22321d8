"""RMSprop: scale the gradient by a running root mean square (optionally centered, momentum)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from chainrule.autodiff.blas import axpby, axpy
from chainrule.optim.optimizer import Optimizer
from chainrule.validation import check_bool, check_number

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop (Hinton), in PyTorch's form, with decoupled weight decay.

    For each parameter ``w`` with gradient ``g`` (``s``, ``a`` and ``b`` start at zero)::

        w <- w - lr * wd * w                          (decoupled weight decay, if wd > 0)
        s <- alpha * s + (1 - alpha) * g**2           (square_avg)
        a <- alpha * a + (1 - alpha) * g              (grad_avg, centered only)
        d  = sqrt(s) + eps                            (not centered)
        d  = sqrt(max(s - a**2, 0)) + eps             (centered: a running standard deviation)
        b <- mu * b + g / d;  w <- w - lr * b         (momentum mu > 0)
        w <- w - lr * g / d                           (momentum = 0)

    The ``max(., 0)`` only guards against rounding: ``s >= a**2`` holds in exact arithmetic.
    ``weight_decay`` is **decoupled**: it shrinks the weights directly and is not an L2 term
    in ``g`` (add ``chainrule.regularizers.l2_penalty`` to the loss for that).

    Parameters
    ----------
    params : iterable of Tensor or (name, Tensor) pairs, or a Module
        The tensors to train.
    lr : float
        Learning rate, > 0.
    alpha : float
        Decay rate of the running averages, in [0, 1).
    eps : float
        Added to the denominator, > 0.
    momentum : float
        In [0, 1).
    weight_decay : float
        Decoupled weight decay, >= 0.
    centered : bool
        Normalize by the running variance of the gradient instead of its second moment.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.optim import RMSprop
    >>> w = cr.tensor(np.array([1.0]), requires_grad=True)
    >>> opt = RMSprop([w], lr=0.01, alpha=0.75)
    >>> w.grad = np.array([2.0])
    >>> opt.step()  # s = 0.25 * 4 = 1, so w <- 1 - 0.01 * 2 / (1 + 1e-8)
    >>> np.round(w.data, 6)
    array([0.98])
    """

    hyperparameter_names: ClassVar[tuple[str, ...]] = (
        "lr",
        "alpha",
        "eps",
        "momentum",
        "weight_decay",
        "centered",
    )

    alpha: float
    eps: float
    momentum: float
    weight_decay: float
    centered: bool

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            alpha=alpha,
            eps=eps,
            momentum=momentum,
            weight_decay=weight_decay,
            centered=centered,
        )

    def _validate(self, hp: Mapping[str, Any]) -> dict[str, Any]:
        out = super()._validate(hp)
        owner = type(self).__name__
        out["alpha"] = check_number(owner, "alpha", hp["alpha"], 0.0, 1.0, high_open=True)
        out["eps"] = check_number(owner, "eps", hp["eps"], 0.0, low_open=True)
        out["momentum"] = check_number(owner, "momentum", hp["momentum"], 0.0, 1.0, high_open=True)
        out["weight_decay"] = check_number(owner, "weight_decay", hp["weight_decay"], 0.0)
        out["centered"] = check_bool(owner, "centered", hp["centered"])
        return out

    def _state_names(self, hp: Mapping[str, Any]) -> tuple[str, ...]:
        names: tuple[str, ...] = ("square_avg",)
        if hp["centered"]:
            names += ("grad_avg",)
        if hp["momentum"] > 0.0:
            names += ("momentum_buffer",)
        return names

    def _buffer(self, state: dict[str, Any], name: str, w: Any) -> Any:
        """The state array ``name``, allocated as zeros on first use."""
        buf = state.get(name)
        if buf is None:
            buf = state[name] = np.zeros_like(w)
        return buf

    def _update(self, index: int, w: Any, g: Any, state: dict[str, Any]) -> None:
        lr, alpha = self._lr, self.alpha
        square_avg = self._buffer(state, "square_avg", w)
        s = self.scratch(index, w)
        if self.weight_decay:
            np.multiply(w, 1.0 - lr * self.weight_decay, out=w)
        # The running averages and the step go through BLAS (chainrule.autodiff.blas).
        np.multiply(g, g, out=s)
        axpby(1.0 - alpha, s, alpha, square_avg, s)  # s <- alpha s + (1 - alpha) g^2
        if self.centered:
            grad_avg = self._buffer(state, "grad_avg", w)
            axpby(1.0 - alpha, g, alpha, grad_avg, s)  # a <- alpha a + (1 - alpha) g
            np.multiply(grad_avg, grad_avg, out=s)
            np.subtract(square_avg, s, out=s)
            np.maximum(s, 0.0, out=s)
            np.sqrt(s, out=s)
        else:
            np.sqrt(square_avg, out=s)
        np.add(s, self.eps, out=s)
        np.divide(g, s, out=s)  # g / d
        if self.momentum:
            buf = self._buffer(state, "momentum_buffer", w)
            axpby(1.0, s, self.momentum, buf)  # b <- mu b + g / d
            axpy(-lr, buf, w, s)
        else:
            axpy(-lr, s, w, s)
