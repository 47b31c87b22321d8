"""Loss functions (predictions first, numerically stable) and their Module forms.

Every loss takes the model output first and the target second, refuses a target whose shape
differs from what it expects (nothing is broadcast silently) and reduces with ``reduction``:
``"mean"`` (default), ``"sum"`` or ``"none"`` (one loss per sample or element). Targets and
class weights are constants: they receive no gradient.
"""

from chainrule.losses.functional import (
    REDUCTIONS,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
)
from chainrule.losses.modules import (
    LOSSES,
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
)

__all__ = [
    "cross_entropy", "nll_loss", "binary_cross_entropy_with_logits", "binary_cross_entropy",
    "mse_loss", "l1_loss", "huber_loss", "REDUCTIONS",
    "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "BCELoss", "MSELoss", "L1Loss",
    "HuberLoss", "LOSSES",
]  # fmt: skip
