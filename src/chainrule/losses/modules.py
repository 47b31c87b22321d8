"""Loss Modules: the functional losses as layers that hold their settings."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, ShapeError
from chainrule.losses.functional import (
    _array,
    _check_reduction,
    _check_smoothing,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
)
from chainrule.nn.module import Module
from chainrule.nn.parameter import Buffer

__all__ = [
    "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "BCELoss", "MSELoss", "L1Loss",
    "HuberLoss", "LOSSES",
]  # fmt: skip


class _Loss(Module):
    """A loss Module: validated options, ``forward(input, target)``, ``get_config``."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        _check_reduction(reduction, type(self).__name__)
        self.reduction = reduction

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this loss."""
        return {"reduction": self.reduction}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())


class _WeightedLoss(_Loss):
    """A loss with optional per-class weights, kept as a Buffer (saved, converted by astype)."""

    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.weight = None if weight is None else Buffer(np.asarray(_array(weight), np.float32))
        if self.weight is not None and self.weight.ndim != 1:
            name, shape = type(self).__name__, self.weight.shape
            raise ShapeError(f"{name}: weight must be 1-D (one per class), got shape {shape}")

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this loss."""
        weight = None if self.weight is None else self.weight.data.tolist()
        return {"weight": weight, "reduction": self.reduction}


class CrossEntropyLoss(_WeightedLoss):
    """``cross_entropy`` as a Module: logits (N, C) or (N, C, T), indices or probabilities.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import CrossEntropyLoss
    >>> loss = CrossEntropyLoss(label_smoothing=0.1)
    >>> round(loss(np.zeros((2, 4), np.float32), np.array([0, 3])).item(), 4)
    1.3863
    """

    def __init__(
        self,
        weight: Any = None,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
        ignore_index: int = -100,
        class_axis: int = 1,
    ) -> None:
        super().__init__(weight, reduction)
        _check_smoothing(label_smoothing, "CrossEntropyLoss")
        self.label_smoothing = float(label_smoothing)
        for name, value in (("ignore_index", ignore_index), ("class_axis", class_axis)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ConfigError(f"CrossEntropyLoss: {name} must be an int, got {value!r}")
        self.ignore_index, self.class_axis = int(ignore_index), int(class_axis)

    def forward(self, logits: Any, target: Any) -> Tensor:
        return cross_entropy(
            logits, target, self.weight, self.label_smoothing, self.reduction,
            self.ignore_index, self.class_axis,
        )  # fmt: skip

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this loss."""
        config = {**super().get_config(), "label_smoothing": self.label_smoothing}
        if self.ignore_index != -100:  # the defaults are left out: older files stay identical
            config["ignore_index"] = self.ignore_index
        if self.class_axis != 1:
            config["class_axis"] = self.class_axis
        return config


class NLLLoss(_WeightedLoss):
    """``nll_loss`` as a Module (pair it with a ``LogSoftmax`` layer).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import NLLLoss
    >>> round(NLLLoss()(np.log(np.full((1, 2), 0.5)), np.array([1])).item(), 4)  # log(2)
    0.6931
    """

    def forward(self, log_probs: Any, target: Any) -> Tensor:
        return nll_loss(log_probs, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """``binary_cross_entropy_with_logits`` as a Module.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import BCEWithLogitsLoss
    >>> round(BCEWithLogitsLoss()(np.zeros((2, 1)), np.ones((2, 1))).item(), 4)
    0.6931
    """

    def __init__(self, pos_weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.pos_weight = (
            None if pos_weight is None else Buffer(np.asarray(_array(pos_weight), np.float32))
        )

    def forward(self, logits: Any, target: Any) -> Tensor:
        return binary_cross_entropy_with_logits(logits, target, self.pos_weight, self.reduction)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this loss."""
        pos = None if self.pos_weight is None else self.pos_weight.data.tolist()
        return {"pos_weight": pos, "reduction": self.reduction}


class BCELoss(_Loss):
    """``binary_cross_entropy`` (on probabilities) as a Module.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import BCELoss
    >>> round(BCELoss()(np.full(2, 0.5), np.array([0.0, 1.0])).item(), 4)
    0.6931
    """

    def forward(self, probs: Any, target: Any) -> Tensor:
        return binary_cross_entropy(probs, target, self.reduction)


class MSELoss(_Loss):
    """``mse_loss`` as a Module.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import MSELoss
    >>> MSELoss()(np.array([1.0, 3.0]), np.array([0.0, 1.0])).item()
    2.5
    """

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """``l1_loss`` as a Module.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import L1Loss
    >>> L1Loss(reduction="sum")(np.array([1.0, 3.0]), np.array([0.0, 1.0])).item()
    3.0
    """

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return l1_loss(input, target, self.reduction)


class HuberLoss(_Loss):
    """``huber_loss`` as a Module.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import HuberLoss
    >>> HuberLoss(delta=1.0)(np.array([3.0]), np.array([0.0])).item()
    2.5
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not delta > 0:
            raise ConfigError(f"HuberLoss: delta must be a positive number, got {delta!r}")
        self.delta = float(delta)

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return huber_loss(input, target, self.reduction, self.delta)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this loss."""
        return {"reduction": self.reduction, "delta": self.delta}


#: Loss Modules by class name, for configuration files (``type(loss)(**loss.get_config())``).
LOSSES: dict[str, type[Module]] = {
    cls.__name__: cls
    for cls in (
        CrossEntropyLoss, NLLLoss, BCEWithLogitsLoss, BCELoss, MSELoss, L1Loss, HuberLoss,
    )
}  # fmt: skip
