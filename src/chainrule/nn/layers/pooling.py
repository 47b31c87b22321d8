"""Pooling layers: max and average pooling in 1-D and 2-D, and adaptive (global) average pooling."""

from __future__ import annotations

from typing import Any

from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, ShapeError
from chainrule.nn import conv_functional as CF
from chainrule.nn.module import Module
from chainrule.nn.registry import register_layer

__all__ = [
    "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
]  # fmt: skip


def _check_rank(layer: Module, x: Any, rank: int, axes: str) -> Tensor:
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim != rank:
        raise ShapeError(f"{layer!r}: expected input (N, C, {axes}), got {x.shape}")
    return x


class _Pool(Module):
    """Shared frame: kernel, stride (defaults to the kernel) and padding, checked up front."""

    dims = 2
    axes = "H, W"
    has_dilation = True

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 ceil_mode: bool = False) -> None:  # fmt: skip
        super().__init__()
        cls = type(self).__name__
        if ceil_mode:
            raise ConfigError(f"{cls}: ceil_mode=True is not supported; pad the input instead")
        self.kernel_size = CF.as_tuple(kernel_size, self.dims, f"{cls}: kernel_size")
        self.stride = self.kernel_size if stride is None else CF.as_tuple(
            stride, self.dims, f"{cls}: stride"
        )  # fmt: skip
        self.padding = CF.as_tuple(padding, self.dims, f"{cls}: padding", minimum=0)
        self.dilation = CF.as_tuple(dilation, self.dims, f"{cls}: dilation")
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel_size)):
            raise ConfigError(
                f"{cls}: padding {self.padding} must be at most half the kernel {self.kernel_size}"
            )

    def _forward(self, x: Any) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: Any) -> Tensor:
        return self._checked(self._forward, x)

    def _checked(self, pool: Any, x: Any) -> Tensor:
        """``pool(x)`` with the rank checked and shape errors naming this layer."""
        x = _check_rank(self, x, self.dims + 2, self.axes)
        try:
            return pool(x)
        except ShapeError as err:
            raise ShapeError(f"{self!r} got input of shape {x.shape}: {err}") from None

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this layer."""
        config: dict[str, Any] = {
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": list(self.padding),
        }
        if self.has_dilation:
            config["dilation"] = list(self.dilation)
        return config

    def _short(self, value: tuple[int, ...]) -> Any:
        return value[0] if len(set(value)) == 1 else value

    def extra_repr(self) -> str:
        text = f"kernel_size={self._short(self.kernel_size)}, stride={self._short(self.stride)}"
        if any(self.padding):
            text += f", padding={self._short(self.padding)}"
        if self.dilation != (1,) * self.dims:
            text += f", dilation={self._short(self.dilation)}"
        return text


@register_layer
class MaxPool2d(_Pool):
    """Maximum over ``kernel_size`` windows of ``(N, C, H, W)`` inputs (stride: the kernel).

    Padding counts as -inf; the gradient goes to each window's maximum (the first one on
    ties, as in PyTorch), through the argmax kept by the primitive.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import MaxPool2d
    >>> MaxPool2d(2)(np.zeros((8, 32, 26, 26))).shape
    (8, 32, 13, 13)
    """

    def _forward(self, x: Tensor, relu: bool = False) -> Tensor:
        return CF.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                             relu=relu)  # fmt: skip

    def rectified(self, x: Any) -> Tensor:
        """``self(relu(x))`` in one primitive (see ``chainrule.nn.layers.fusion``)."""
        return self._checked(lambda t: self._forward(t, relu=True), x)


@register_layer
class MaxPool1d(_Pool):
    """Maximum over ``kernel_size`` windows of ``(N, C, L)`` inputs.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import MaxPool1d
    >>> MaxPool1d(3, stride=2)(np.zeros((2, 4, 11))).shape
    (2, 4, 5)
    """

    dims = 1
    axes = "L"

    def _forward(self, x: Tensor, relu: bool = False) -> Tensor:
        return CF.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                             relu=relu)  # fmt: skip

    def rectified(self, x: Any) -> Tensor:
        """``self(relu(x))`` in one primitive (see ``chainrule.nn.layers.fusion``)."""
        return self._checked(lambda t: self._forward(t, relu=True), x)


class _AvgPool(_Pool):
    has_dilation = False

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:  # fmt: skip
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        if not isinstance(count_include_pad, bool):
            raise ConfigError(f"{type(self).__name__}: count_include_pad must be True or False")
        self.count_include_pad = count_include_pad

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this layer."""
        return {**super().get_config(), "count_include_pad": self.count_include_pad}


@register_layer
class AvgPool2d(_AvgPool):
    """Mean over ``kernel_size`` windows of ``(N, C, H, W)`` inputs (stride: the kernel).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import AvgPool2d
    >>> AvgPool2d(2)(np.ones((1, 1, 4, 4), np.float32)).data[0, 0]
    array([[1., 1.],
           [1., 1.]], dtype=float32)
    """

    def _forward(self, x: Tensor) -> Tensor:
        return CF.avg_pool2d(x, self.kernel_size, self.stride, self.padding,
                             count_include_pad=self.count_include_pad)  # fmt: skip


@register_layer
class AvgPool1d(_AvgPool):
    """Mean over ``kernel_size`` windows of ``(N, C, L)`` inputs."""

    dims = 1
    axes = "L"

    def _forward(self, x: Tensor) -> Tensor:
        return CF.avg_pool1d(x, self.kernel_size, self.stride, self.padding,
                             count_include_pad=self.count_include_pad)  # fmt: skip


@register_layer
class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed ``output_size``; ``AdaptiveAvgPool2d(1)`` is global pooling.

    Windows as PyTorch's: output ``i`` of an axis of length ``s`` averages
    ``[floor(i*s/o), ceil((i+1)*s/o))``.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import AdaptiveAvgPool2d
    >>> AdaptiveAvgPool2d(1)(np.ones((2, 64, 7, 7))).shape
    (2, 64, 1, 1)
    """

    dims = 2
    axes = "H, W"

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        name = f"{type(self).__name__}: output_size"
        self.output_size = CF.as_tuple(output_size, self.dims, name)

    def forward(self, x: Any) -> Tensor:
        x = _check_rank(self, x, self.dims + 2, self.axes)
        if self.dims == 1:
            return CF.adaptive_avg_pool1d(x, self.output_size)
        return CF.adaptive_avg_pool2d(x, self.output_size)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this layer."""
        return {"output_size": list(self.output_size)}

    def extra_repr(self) -> str:
        size = self.output_size
        return f"output_size={size[0] if len(set(size)) == 1 else size}"


@register_layer
class AdaptiveAvgPool1d(AdaptiveAvgPool2d):
    """Average pooling of ``(N, C, L)`` inputs to a fixed ``output_size`` length."""

    dims = 1
    axes = "L"
