"""Adam and AdamW: adaptive moment estimation with bias correction and decoupled weight decay."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from chainrule.autodiff.blas import axpby, axpy
from chainrule.errors import ConfigError
from chainrule.optim.optimizer import Optimizer
from chainrule.validation import check_bool, check_number

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam (Kingma & Ba), with bias correction, optional AMSGrad and decoupled weight decay.

    For each parameter ``w`` with gradient ``g``, at its ``t``-th update
    (``t = 1, 2, ...``; ``m`` and ``v`` start at zero)::

        w     <- w - lr * wd * w                      (decoupled weight decay, if wd > 0)
        m     <- beta1 * m + (1 - beta1) * g
        v     <- beta2 * v + (1 - beta2) * g**2
        v_max <- max(v_max, v)                        (amsgrad only; then v_max replaces v)
        m_hat  = m / (1 - beta1**t)
        v_hat  = v / (1 - beta2**t)
        w     <- w - lr * m_hat / (sqrt(v_hat) + eps)

    ``weight_decay`` is **decoupled** (as in AdamW, Loshchilov & Hutter): it shrinks the
    weights directly and never passes through ``m`` and ``v``. Unlike ``torch.optim.Adam``,
    whose ``weight_decay`` is an L2 term added to ``g``, ``Adam`` and ``AdamW`` here differ only
    in the default of ``weight_decay``. For an L2 penalty add
    ``chainrule.regularizers.l2_penalty`` to the loss.

    Parameters
    ----------
    params : iterable of Tensor or (name, Tensor) pairs, or a Module
        The tensors to train.
    lr : float
        Learning rate, > 0.
    betas : (float, float)
        Decay rates of the first and second moment estimates, each in [0, 1).
    eps : float
        Added to the denominator for stability, > 0.
    weight_decay : float
        Decoupled weight decay, >= 0.
    amsgrad : bool
        Use the running maximum of ``v`` (Reddi et al.).

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.optim import Adam
    >>> w = cr.tensor(np.array([1.0, -2.0]), requires_grad=True)
    >>> opt = Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()  # the first step moves each weight by about lr against its gradient's sign
    >>> np.round(w.data, 6)
    array([ 0.9, -1.9])
    """

    hyperparameter_names: ClassVar[tuple[str, ...]] = (
        "lr",
        "betas",
        "eps",
        "weight_decay",
        "amsgrad",
    )

    betas: tuple[float, float]
    eps: float
    weight_decay: float
    amsgrad: bool

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad
        )

    def _validate(self, hp: Mapping[str, Any]) -> dict[str, Any]:
        out = super()._validate(hp)
        owner = type(self).__name__
        betas = hp["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ConfigError(
                f"{owner}: betas must be a pair (beta1, beta2), each in [0, 1), got {betas!r}"
            )
        out["betas"] = (
            check_number(owner, "betas[0]", betas[0], 0.0, 1.0, high_open=True),
            check_number(owner, "betas[1]", betas[1], 0.0, 1.0, high_open=True),
        )
        out["eps"] = check_number(owner, "eps", hp["eps"], 0.0, low_open=True)
        out["weight_decay"] = check_number(owner, "weight_decay", hp["weight_decay"], 0.0)
        out["amsgrad"] = check_bool(owner, "amsgrad", hp["amsgrad"])
        return out

    def _state_names(self, hp: Mapping[str, Any]) -> tuple[str, ...]:
        names = ("step", "exp_avg", "exp_avg_sq")
        return (*names, "max_exp_avg_sq") if hp["amsgrad"] else names

    def _update(self, index: int, w: Any, g: Any, state: dict[str, Any]) -> None:
        lr = self._lr
        beta1, beta2 = self.betas
        m = state.get("exp_avg")
        if m is None:
            m = state["exp_avg"] = np.zeros_like(w)
            state["exp_avg_sq"] = np.zeros_like(w)
            state["step"] = 0
        v = state["exp_avg_sq"]
        t = state["step"] = state["step"] + 1
        s = self.scratch(index, w)
        if self.weight_decay:
            np.multiply(w, 1.0 - lr * self.weight_decay, out=w)
        # Seven passes, three of them BLAS (see chainrule.autodiff.blas) instead of thirteen
        # ufuncs: the bias corrections are folded into the step size and eps, since
        # m_hat / (sqrt(v_hat) + eps) = (sqrt(c2) / c1) * m / (sqrt(v) + eps * sqrt(c2)).
        axpby(1.0 - beta1, g, beta1, m, s)  # m <- beta1 m + (1 - beta1) g
        np.multiply(g, g, out=s)
        axpby(1.0 - beta2, s, beta2, v, s)  # v <- beta2 v + (1 - beta2) g^2
        if self.amsgrad:
            v_max = state.get("max_exp_avg_sq")
            if v_max is None:
                v_max = state["max_exp_avg_sq"] = np.zeros_like(w)
            np.maximum(v_max, v, out=v_max)
            v = v_max
        # Python floats keep float32 arrays float32 (NumPy 2 scalar promotion rules).
        correction1 = 1.0 - beta1**t
        root_correction2 = math.sqrt(1.0 - beta2**t)
        np.sqrt(v, out=s)
        np.add(s, self.eps * root_correction2, out=s)
        np.divide(m, s, out=s)
        axpy(-lr * root_correction2 / correction1, s, w, s)


class AdamW(Adam):
    """Adam with decoupled weight decay on by default (``weight_decay=1e-2``).

    The update is exactly ``Adam``'s (see there), which here always decouples weight decay::

        w <- w - lr * wd * w
        w <- w - lr * m_hat / (sqrt(v_hat) + eps)

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.optim import AdamW
    >>> w = cr.tensor(np.array([1.0]), requires_grad=True)
    >>> opt = AdamW([w], lr=0.1, weight_decay=0.5)
    >>> w.grad = np.zeros(1)  # no gradient signal: only the decay acts
    >>> opt.step()
    >>> w.data
    array([0.95])
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad
        )
