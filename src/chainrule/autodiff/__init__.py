"""The reverse-mode differentiation engine: Tensor, primitives, backward, gradcheck."""

from chainrule.autodiff.anomaly import detect_anomaly, is_anomaly_enabled
from chainrule.autodiff.denormals import flush_denormals
from chainrule.autodiff.functions import *  # noqa: F403
from chainrule.autodiff.functions import __all__ as _function_names
from chainrule.autodiff.gradcheck import GradcheckPrecisionWarning, gradcheck
from chainrule.autodiff.heap import retain_freed_memory
from chainrule.autodiff.mode import enable_grad, is_grad_enabled, no_grad
from chainrule.autodiff.primitive import REGISTRY, Primitive
from chainrule.autodiff.tensor import Tensor, tensor
from chainrule.autodiff.threads import get_num_threads, set_num_threads

__all__ = [
    "Tensor",
    "tensor",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "detect_anomaly",
    "is_anomaly_enabled",
    "flush_denormals",
    "retain_freed_memory",
    "set_num_threads",
    "get_num_threads",
    "gradcheck",
    "GradcheckPrecisionWarning",
    "Primitive",
    "REGISTRY",
    *_function_names,
]
