"""The closed set of primitives, grouped by family; importing this package registers them all."""

from chainrule.autodiff.ops import (
    activation,
    elementwise,
    embedding,
    linalg,
    loss,
    recurrent,
    reduce,
    shape,
)

__all__ = [
    "activation",
    "elementwise",
    "embedding",
    "linalg",
    "loss",
    "recurrent",
    "reduce",
    "shape",
]
