"""The closed set of primitives, grouped by family; importing this package registers them all."""

from chainrule.autodiff.ops import (
    activation,
    conv,
    conv_pool,
    elementwise,
    embedding,
    linalg,
    loss,
    normalization,
    pool,
    recurrent,
    reduce,
    shape,
)

__all__ = [
    "activation",
    "conv",
    "conv_pool",
    "elementwise",
    "embedding",
    "linalg",
    "loss",
    "normalization",
    "pool",
    "recurrent",
    "reduce",
    "shape",
]
