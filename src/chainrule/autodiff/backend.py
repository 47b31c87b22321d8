"""The one seam between the engine and the array library: every rule asks here for its namespace.

NumPy is the engine today. A GPU array library with the NumPy API (CuPy) can slot in by being
recognised here; the gradient rules never name ``numpy`` directly.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["namespace", "is_array", "to_numpy"]


def namespace(*arrays: Any) -> ModuleType:
    """Return the array module (``numpy`` or a compatible one) that owns ``arrays``."""
    for a in arrays:
        module = type(a).__module__
        if module.startswith("cupy"):  # pragma: no cover - no GPU on the test machines
            import cupy

            return cupy
    return np


def is_array(value: Any) -> bool:
    """True for an ndarray of any supported backend."""
    return isinstance(value, np.ndarray) or type(value).__module__.startswith("cupy")


def to_numpy(array: Any) -> np.ndarray:
    """Bring an array of any backend to host NumPy memory."""
    if isinstance(array, np.ndarray):
        return array
    get = getattr(array, "get", None)
    return np.asarray(get() if get is not None else array)
