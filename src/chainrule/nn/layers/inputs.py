"""The input check every layer shares: an array or tensor turned into the layer's dtype."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.tensor import Tensor, as_array
from chainrule.errors import DtypeError

__all__ = ["layer_input"]


def layer_input(x: Any, dtype: Any, layer: str) -> Tensor:
    """``x`` as a tensor of the layer's dtype.

    Inputs that carry no gradient (arrays, lists, data tensors) are cast, so float64 or uint8
    data can feed a float32 model. An input that requires grad is never cast (a cast would cut
    it from the graph): a dtype mismatch there raises DtypeError naming both dtypes.
    """
    if isinstance(x, Tensor):
        if x.dtype == dtype:
            return x
        if x.requires_grad:
            raise DtypeError(
                f"{layer} has {np.dtype(dtype)} parameters but got a {x.dtype} input that "
                f"requires grad; convert the model with .astype(np.{x.dtype}) or build the "
                f"input in {np.dtype(dtype)}"
            )
        return Tensor(x.data.astype(dtype))
    return Tensor(as_array(x, dtype=dtype))
