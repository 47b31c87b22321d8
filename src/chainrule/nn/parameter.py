"""Parameter (trained) and Buffer (saved, not trained): the tensor kinds a Module finds by type."""

from __future__ import annotations

from typing import Any

from chainrule.autodiff.tensor import Tensor

__all__ = ["Parameter", "Buffer"]


class Parameter(Tensor):
    """A tensor an optimizer trains: ``requires_grad`` is on by default.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import Parameter
    >>> w = Parameter(np.zeros((2, 3), dtype=np.float32))
    >>> w.requires_grad
    True
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


class Buffer(Tensor):
    """State a module saves and loads but does not train (e.g. batch-norm running statistics)."""

    __slots__ = ()

    def __init__(self, data: Any, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=False, dtype=dtype)

    def __repr__(self) -> str:
        return f"Buffer(shape={self.shape}, dtype={self.dtype})"
