"""Adagrad: per-coordinate learning rates from the accumulated squared gradients."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from chainrule.optim.optimizer import Optimizer
from chainrule.validation import check_number

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan & Singer), with decoupled weight decay.

    For each parameter ``w`` with gradient ``g`` (the accumulator ``G`` starts at
    ``initial_accumulator_value``)::

        w <- w - lr * wd * w                          (decoupled weight decay, if wd > 0)
        G <- G + g**2
        w <- w - lr * g / (sqrt(G) + eps)

    ``weight_decay`` is **decoupled**: it shrinks the weights directly and is not an L2 term
    in ``g`` (add ``chainrule.regularizers.l2_penalty`` to the loss for that).

    Parameters
    ----------
    params : iterable of Tensor or (name, Tensor) pairs, or a Module
        The tensors to train.
    lr : float
        Learning rate, > 0.
    eps : float
        Added to the denominator, > 0.
    weight_decay : float
        Decoupled weight decay, >= 0.
    initial_accumulator_value : float
        Starting value of ``G``, >= 0.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.optim import Adagrad
    >>> w = cr.tensor(np.array([1.0]), requires_grad=True)
    >>> opt = Adagrad([w], lr=0.5)
    >>> w.grad = np.array([3.0])
    >>> opt.step()  # G = 9, so w <- 1 - 0.5 * 3 / 3
    >>> np.round(w.data, 6)
    array([0.5])
    """

    hyperparameter_names: ClassVar[tuple[str, ...]] = (
        "lr",
        "eps",
        "weight_decay",
        "initial_accumulator_value",
    )

    eps: float
    weight_decay: float
    initial_accumulator_value: float

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        eps: float = 1e-10,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            eps=eps,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
        )

    def _validate(self, hp: Mapping[str, Any]) -> dict[str, Any]:
        out = super()._validate(hp)
        owner = type(self).__name__
        out["eps"] = check_number(owner, "eps", hp["eps"], 0.0, low_open=True)
        out["weight_decay"] = check_number(owner, "weight_decay", hp["weight_decay"], 0.0)
        out["initial_accumulator_value"] = check_number(
            owner, "initial_accumulator_value", hp["initial_accumulator_value"], 0.0
        )
        return out

    def _state_names(self, hp: Mapping[str, Any]) -> tuple[str, ...]:
        return ("sum",)

    def _update(self, index: int, w: Any, g: Any, state: dict[str, Any]) -> None:
        lr = self._lr
        accumulator = state.get("sum")
        if accumulator is None:
            accumulator = state["sum"] = np.full_like(w, self.initial_accumulator_value)
        s = self.scratch(index, w)
        if self.weight_decay:
            np.multiply(w, 1.0 - lr * self.weight_decay, out=w)
        np.multiply(g, g, out=s)  # G <- G + g^2
        np.add(accumulator, s, out=accumulator)
        np.sqrt(accumulator, out=s)
        np.add(s, self.eps, out=s)
        np.divide(g, s, out=s)
        np.multiply(s, lr, out=s)
        np.subtract(w, s, out=w)
