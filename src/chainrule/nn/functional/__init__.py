"""Functional forms: `F.relu(x)`, `F.conv2d(x, w)`, `F.cross_entropy(logits, y)`, ... one namespace.

Activations live in `activations.py` here (composed from the primitives in
`autodiff/ops/activation.py`); convolution, pooling and batch normalization come from
`nn.conv_functional`; the losses are loaded from `chainrule.losses` on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from chainrule.nn.conv_functional import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    batch_norm,
    conv1d,
    conv2d,
    max_pool1d,
    max_pool2d,
)
from chainrule.nn.functional.activations import (
    elu,
    erf,
    gelu,
    leaky_relu,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    tanh,
)

if TYPE_CHECKING:
    from chainrule.losses import (  # noqa: F401  (re-exported lazily below)
        binary_cross_entropy,
        binary_cross_entropy_with_logits,
        cross_entropy,
        huber_loss,
        l1_loss,
        mse_loss,
        nll_loss,
    )

# The losses live in chainrule.losses, a layer above nn that imports chainrule.nn.module;
# importing them here eagerly would make `import chainrule.losses` circular.
_LOSSES = (
    "cross_entropy", "nll_loss", "binary_cross_entropy_with_logits", "binary_cross_entropy",
    "mse_loss", "l1_loss", "huber_loss",
)  # fmt: skip

__all__ = [
    "relu", "sigmoid", "tanh", "softmax", "log_softmax", "leaky_relu", "elu", "gelu", "erf",
    "conv1d", "conv2d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "batch_norm",
    *_LOSSES,
]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _LOSSES:
        raise AttributeError(f"module 'chainrule.nn.functional' has no attribute {name!r}")
    value = getattr(importlib.import_module("chainrule.losses"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
