"""Convolution layers: Conv1d and Conv2d, with PyTorch's arguments, shapes and initialisation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autodiff.ops.conv import Conv2d as Conv2dOp
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, ShapeError
from chainrule.nn import init as nn_init
from chainrule.nn.conv_functional import as_tuple, conv_padding
from chainrule.nn.layers.inputs import layer_input
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.registry import register_layer
from chainrule.validation import check_positive_int

__all__ = ["Conv1d", "Conv2d"]


def _spec_ints(value: Any, n: int) -> tuple[int, ...] | None:
    """``value`` as ``n`` positive ints, else None (the constructor rejects it)."""
    items = (value,) * n if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(items, (list, tuple)) or len(items) != n:
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in items):
        return None
    return tuple(items)


class _ConvNd(Module):
    """Shared frame of Conv1d and Conv2d: arguments, parameters, checks and config."""

    dims = 2
    axes = "H, W"

    @classmethod
    def spec_size(cls, config: dict[str, Any]) -> int:
        """Scalars the layer a config describes would allocate (checked before building it)."""
        c_in, c_out = config.get("in_channels"), config.get("out_channels")
        groups = config.get("groups", 1)
        kernel = _spec_ints(config.get("kernel_size"), cls.dims)
        if kernel is None or _spec_ints([c_in, c_out, groups], 3) is None:
            return 0  # the constructor itself rejects such a config
        per_group = max(c_in // groups, 1)  # type: ignore[operator]
        return c_out * per_group * math.prod(kernel) + (c_out if config.get("bias", True) else 0)  # type: ignore[operator]

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] | str = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        rng: nn_init.RNG = None,
    ) -> None:
        super().__init__()
        cls = type(self).__name__
        self.in_channels = check_positive_int(in_channels, f"{cls}: in_channels")
        self.out_channels = check_positive_int(out_channels, f"{cls}: out_channels")
        self.groups = check_positive_int(groups, f"{cls}: groups")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ConfigError(
                f"{cls}: in_channels ({in_channels}) and out_channels ({out_channels}) must "
                f"both be divisible by groups ({groups})"
            )
        self.kernel_size = as_tuple(kernel_size, self.dims, f"{cls}: kernel_size")
        self.stride = as_tuple(stride, self.dims, f"{cls}: stride")
        self.dilation = as_tuple(dilation, self.dims, f"{cls}: dilation")
        self.padding = padding if isinstance(padding, str) else as_tuple(
            padding, self.dims, f"{cls}: padding", minimum=0
        )  # fmt: skip
        self._pads = conv_padding(padding, self.kernel_size, self.stride, self.dilation, cls)
        if padding_mode != "zeros":
            raise ConfigError(f"{cls}: padding_mode must be 'zeros' (the only one), got "
                              f"{padding_mode!r}")  # fmt: skip
        if not isinstance(bias, (bool, np.bool_)):
            raise ConfigError(f"{cls}: bias must be True or False, got {bias!r}")
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight = Parameter(np.zeros(shape, np.float32))
        self.bias = Parameter(np.zeros(self.out_channels, np.float32)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng: nn_init.RNG = None) -> None:
        """PyTorch's default: weight ``kaiming_uniform(a=sqrt(5))``, i.e. ``U(-b, b)`` with
        ``b = 1 / sqrt(fan_in)``, and the bias ``U(-b, b)`` too (``fan_in = C/g * prod(k)``)."""
        gen = nn_init.as_generator(rng)
        dtype = self.weight.dtype
        fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
        bound = 1.0 / math.sqrt(fan_in)
        self.weight.data = nn_init.uniform(self.weight.shape, -bound, bound, rng=gen, dtype=dtype)
        self.weight.grad = None
        if self.bias is not None:
            self.bias.data = nn_init.uniform(self.out_channels, -bound, bound, rng=gen,
                                             dtype=dtype)  # fmt: skip
            self.bias.grad = None

    def _name(self) -> str:
        k = self.kernel_size
        kernel = k[0] if len(set(k)) == 1 else k
        return f"{type(self).__name__}({self.in_channels}, {self.out_channels}, {kernel})"

    def _input(self, x: Any) -> tuple[Tensor, bool]:
        """The input as a batched tensor, and whether it came unbatched (without N)."""
        x = layer_input(x, self.weight.dtype, self._name())
        rank = self.dims + 2
        unbatched = x.ndim == rank - 1 and x.shape[0] == self.in_channels
        if unbatched:
            x = x.reshape(1, *x.shape)
        if x.ndim != rank or x.shape[1] != self.in_channels:
            raise ShapeError(
                f"{self._name()}: expected input (N, {self.in_channels}, {self.axes}), got "
                f"{x.shape}"
                + ("; a Flatten() layer before it? images must keep their shape"
                   if x.ndim == 2 else "")
            )  # fmt: skip
        return x, unbatched

    def _apply(self, x: Tensor, stride: Any, pads: Any, dilation: Any, weight: Any) -> Tensor:
        args = (x, weight) if self.bias is None else (x, weight, self.bias)
        try:
            return Conv2dOp.apply(*args, stride=stride, padding=pads, dilation=dilation,
                                  groups=self.groups)  # fmt: skip
        except ShapeError as err:
            raise ShapeError(f"{self._name()} got input of shape {x.shape}: {err}") from None

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this layer."""
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": self.padding if isinstance(self.padding, str) else list(self.padding),
            "dilation": list(self.dilation),
            "groups": self.groups,
            "bias": self.bias is not None,
        }

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        text += f", stride={self.stride}"
        if self.padding != "valid" and self.padding != (0,) * self.dims:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * self.dims:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + ("" if self.bias is not None else ", bias=False")


@register_layer
class Conv2d(_ConvNd):
    """2-D convolution over ``(N, C, H, W)`` images (PyTorch's cross-correlation).

    ``y[n, o] = bias[o] + sum_c weight[o, c] * x[n, group(o) + c]``, sliding ``kernel_size``
    windows with ``stride``, zero ``padding`` (an int, a pair, ``"valid"`` or ``"same"`` for
    stride 1), ``dilation`` and ``groups``. ``weight`` has shape
    ``(out_channels, in_channels // groups, kh, kw)`` and ``bias`` ``(out_channels,)``, both
    initialised as in PyTorch (``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``). One fused primitive
    (im2col and BLAS; see ``chainrule.autodiff.ops.conv``). An unbatched ``(C, H, W)`` input
    gives an unbatched output.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import Conv2d
    >>> conv = Conv2d(1, 32, 3, padding=1, rng=0)
    >>> conv.weight.shape, conv(np.zeros((8, 1, 28, 28))).shape
    ((32, 1, 3, 3), (8, 32, 28, 28))
    """

    def forward(self, x: Any) -> Tensor:
        x, unbatched = self._input(x)
        out = self._apply(x, self.stride, self._pads, self.dilation, self.weight)
        return out.reshape(out.shape[1:]) if unbatched else out


@register_layer
class Conv1d(_ConvNd):
    """1-D convolution over ``(N, C, L)`` sequences; ``weight`` is ``(out, in // groups, k)``.

    Arguments and initialisation as ``Conv2d``, with ints (or 1-tuples) for the sizes; it runs
    as a 2-D convolution of height 1.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import Conv1d
    >>> conv = Conv1d(4, 8, 5, stride=2, rng=0)
    >>> conv.weight.shape, conv(np.zeros((2, 4, 50))).shape
    ((8, 4, 5), (2, 8, 23))
    """

    dims = 1
    axes = "L"

    def forward(self, x: Any) -> Tensor:
        x, unbatched = self._input(x)
        n, c, length = x.shape
        w = self.weight
        w4 = w.reshape(w.shape[0], w.shape[1], 1, w.shape[2])
        out = self._apply(x.reshape(n, c, 1, length), (1, self.stride[0]),
                          ((0, 0), self._pads[0]), (1, self.dilation[0]), w4)  # fmt: skip
        out = out.reshape(n, self.out_channels, out.shape[3])
        return out.reshape(out.shape[1:]) if unbatched else out
