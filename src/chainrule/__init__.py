"""chainrule: train and understand neural networks by backpropagation, with NumPy as the engine.

The engine (``Tensor``, primitives, ``backward``, ``gradcheck``) is imported eagerly and is light;
the training loop, data sets and model files load on first use so the command line starts fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from chainrule import errors
from chainrule.autodiff import (
    GradcheckPrecisionWarning,
    Tensor,
    detect_anomaly,
    enable_grad,
    flush_denormals,
    get_num_threads,
    gradcheck,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
    retain_freed_memory,
    set_num_threads,
    tensor,
)
from chainrule.autodiff.functions import *  # noqa: F403 - every primitive's function form
from chainrule.autodiff.functions import __all__ as _function_names

__version__ = "0.1.0"

# Public names that live in heavier subpackages, imported on first access.
_LAZY = {
    "nn": "chainrule.nn",
    "optim": "chainrule.optim",
    "data": "chainrule.data",
    "metrics": "chainrule.metrics",
    "callbacks": "chainrule.callbacks",
    "regularizers": "chainrule.regularizers",
    "Trainer": "chainrule.training",
    "History": "chainrule.training",
    "lr_find": "chainrule.training",
    "losses": "chainrule.losses",
    "report": "chainrule.report",
    "save": "chainrule.io",
    "load": "chainrule.io",
    "onnx": "chainrule.onnx",
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'chainrule' has no attribute {name!r}")
    module = importlib.import_module(target)
    value = module if target.endswith("." + name) else getattr(module, name)
    globals()[name] = value
    return value


__all__ = [
    "Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "detect_anomaly",
    "is_anomaly_enabled", "flush_denormals", "retain_freed_memory", "gradcheck",
    "set_num_threads", "get_num_threads", "GradcheckPrecisionWarning", "errors",
    "__version__",
    *_function_names,
    *_LAZY,
]  # fmt: skip
