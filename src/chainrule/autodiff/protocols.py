"""Python and NumPy protocols of Tensor: iteration, ``np.asarray``, ``float``/``int``, ``t[i] = v``.

A mixin, so the idioms people bring from NumPy and PyTorch work without growing ``tensor.py``:
``for row in t``, ``list(t)``, ``np.asarray(t)``, ``float(loss)``, and item assignment under
``no_grad`` (the way initial values and masks are set in place).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.autodiff.mode import is_grad_enabled
from chainrule.errors import GradientError, ShapeError, TensorIndexError

if TYPE_CHECKING:
    from chainrule.autodiff.tensor import Tensor

__all__ = ["TensorProtocols"]


def _plain(x: Any) -> Any:
    """A tensor's array (an index or a value given as a tensor); anything else as it is."""
    return x.data if isinstance(x, TensorProtocols) else x


class TensorProtocols:
    """Iteration, the array protocol, number conversion and item assignment for Tensor."""

    __slots__ = ()  # Tensor declares the slots; the mixin adds no per-instance dict
    data: Any
    requires_grad: bool

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return int(self.data.shape[0])

    def __iter__(self: Any) -> Iterator[Tensor]:
        """The rows along the first axis, each a tensor in the graph (as ``t[i]``)."""
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """``np.asarray(t)``: the data (shared unless a dtype or copy asks otherwise)."""
        array = np.asarray(self.data, dtype=dtype)
        return array.copy() if copy else array

    def _single(self, kind: str) -> Any:
        if self.data.size != 1:
            raise ShapeError(
                f"{kind}() needs a tensor with one element, got shape {tuple(self.data.shape)}"
            )
        return self.data.item()

    def __float__(self) -> float:
        return float(self._single("float"))

    def __int__(self) -> int:
        return int(self._single("int"))

    def __index__(self) -> int:
        if not np.issubdtype(self.data.dtype, np.integer):
            raise TypeError(f"only integer tensors can be used as an index, not {self.data.dtype}")
        return int(self._single("index"))

    def __setitem__(self, index: Any, value: Any) -> None:
        """``t[index] = value`` in place: allowed when no gradient could be corrupted by it."""
        if self.requires_grad and is_grad_enabled():
            raise GradientError(
                "in-place assignment to a tensor that requires grad would corrupt its gradient; "
                "assign under `with cr.no_grad():` (as when setting initial values)"
            )
        if getattr(self, "_op", None) is not None:
            raise GradientError(
                "in-place assignment to the result of an operation would change values its "
                "backward pass needs; assign to a leaf tensor, or to t.detach()"
            )
        index = tuple(map(_plain, index)) if isinstance(index, tuple) else _plain(index)
        try:
            self.data[index] = _plain(value)
        except IndexError as err:
            raise TensorIndexError(
                f"setitem: {err} (tensor of shape {tuple(self.data.shape)})"
            ) from None
