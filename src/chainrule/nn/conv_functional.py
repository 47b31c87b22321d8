"""Functional convolution, pooling and batch normalization (PyTorch's names and arguments).

``conv1d`` and the 1-D pools are the 2-D primitives on inputs with a height of one; adaptive
average pooling and batch normalization are composed from primitives.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autodiff import functions as AF
from chainrule.autodiff.backend import namespace
from chainrule.autodiff.ops.conv import Conv2d
from chainrule.autodiff.ops.normalization import BatchNorm
from chainrule.autodiff.ops.pool import AvgPool2d, MaxPool2d
from chainrule.autodiff.tensor import Tensor, lift
from chainrule.errors import ConfigError, ShapeError

__all__ = [
    "conv1d", "conv2d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "batch_norm", "as_tuple", "conv_padding",
]  # fmt: skip


def as_tuple(value: Any, n: int, what: str, minimum: int = 1) -> tuple[int, ...]:
    """An int or a sequence of ``n`` ints, each at least ``minimum``, as a tuple of ``n`` ints."""
    items = (value,) * n if isinstance(value, (int, np.integer)) else value
    try:
        items = tuple(items)
    except TypeError:
        items = ()
    ok = len(items) == n and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum for v in items
    )
    if not ok:
        bound = "positive" if minimum == 1 else "non-negative"
        raise ConfigError(
            f"{what} must be a {bound} int or a tuple of {n} such ints, got {value!r}"
        )
    return tuple(int(v) for v in items)


def conv_padding(padding: Any, kernel: tuple[int, ...], stride: tuple[int, ...],
                 dilation: tuple[int, ...], what: str) -> tuple[tuple[int, int], ...]:  # fmt: skip
    """Per-axis ``(before, after)`` padding from an int, a tuple, ``"valid"`` or ``"same"``.

    ``"same"`` (stride 1 only, as in PyTorch) pads ``d * (k - 1)`` in total per axis, the odd
    one after: the output has the input's size.
    """
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ConfigError(
                    f"{what}: padding='same' needs stride 1, got stride {stride}; give the "
                    "padding as numbers for strided convolutions"
                )
            totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise ConfigError(f"{what}: padding must be 'same', 'valid' or ints, got {padding!r}")
    pads = as_tuple(padding, n, f"{what}: padding", minimum=0)
    return tuple((p, p) for p in pads)


def _weight_like(x: Tensor, value: Any) -> Any:
    return None if value is None else lift(value, x.data)


def conv2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:  # fmt: skip  # noqa: A002
    """2-D cross-correlation of ``input (N, C, H, W)`` with ``weight (O, C/g, kh, kw)``.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import functional as F
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> F.conv2d(x, np.ones((1, 1, 2, 2), np.float32)).data[0, 0]
    array([[10., 14., 18.],
           [26., 30., 34.],
           [42., 46., 50.]], dtype=float32)
    >>> F.conv2d(x, np.ones((2, 1, 3, 3), np.float32), padding="same").shape
    (1, 2, 4, 4)
    """
    x = lift(input)
    w = _weight_like(x, weight)
    if w.ndim != 4:
        raise ShapeError(f"conv2d: weight must be (O, C // groups, kh, kw), got {w.shape}")
    s = as_tuple(stride, 2, "conv2d: stride")
    d = as_tuple(dilation, 2, "conv2d: dilation")
    pads = conv_padding(padding, w.shape[2:], s, d, "conv2d")
    g = as_tuple(groups, 1, "conv2d: groups")[0]
    args = (x, w) if bias is None else (x, w, _weight_like(x, bias))
    return Conv2d.apply(*args, stride=s, padding=pads, dilation=d, groups=g)


def _as_2d(x: Tensor, what: str) -> Tensor:
    if x.ndim != 3:
        raise ShapeError(f"{what}: expected input (N, C, L), got shape {x.shape}")
    n, c, length = x.shape
    return x.reshape(n, c, 1, length)


def _from_2d(y: Tensor) -> Tensor:
    n, c, _, length = y.shape
    return y.reshape(n, c, length)


def conv1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:  # fmt: skip  # noqa: A002
    """1-D convolution of ``input (N, C, L)`` with ``weight (O, C/g, k)`` (a 2-D one of height 1).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import functional as F
    >>> x = np.array([[[1.0, 2.0, 3.0, 4.0]]], np.float32)
    >>> F.conv1d(x, np.array([[[1.0, -1.0]]], np.float32)).data
    array([[[-1., -1., -1.]]], dtype=float32)
    """
    x = lift(input)
    w = _weight_like(x, weight)
    if w.ndim != 3:
        raise ShapeError(f"conv1d: weight must be (O, C // groups, k), got {w.shape}")
    s = as_tuple(stride, 1, "conv1d: stride")
    d = as_tuple(dilation, 1, "conv1d: dilation")
    pads = conv_padding(padding, w.shape[2:], s, d, "conv1d")
    g = as_tuple(groups, 1, "conv1d: groups")[0]
    w4 = w.reshape(w.shape[0], w.shape[1], 1, w.shape[2])
    args = (_as_2d(x, "conv1d"), w4) if bias is None else (_as_2d(x, "conv1d"), w4,
                                                            _weight_like(x, bias))  # fmt: skip
    out = Conv2d.apply(*args, stride=(1, s[0]), padding=((0, 0), pads[0]), dilation=(1, d[0]),
                       groups=g)  # fmt: skip
    return _from_2d(out)


def _pool_args(n: int, kernel_size: Any, stride: Any, padding: Any, what: str) -> tuple[Any, ...]:
    k = as_tuple(kernel_size, n, f"{what}: kernel_size")
    s = k if stride is None else as_tuple(stride, n, f"{what}: stride")
    p = as_tuple(padding, n, f"{what}: padding", minimum=0)
    return k, s, p


def _no_ceil(ceil_mode: Any, what: str) -> None:
    if ceil_mode:
        raise ConfigError(f"{what}: ceil_mode=True is not supported; pad the input instead")


def max_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, *,
               relu: bool = False) -> Tensor:  # fmt: skip  # noqa: A002
    """Maximum over windows of ``input (N, C, H, W)``; ``stride`` defaults to the kernel size.

    ``relu=True`` (not in PyTorch) gives ``max_pool2d(relu(input))`` exactly, output and
    gradient, in one primitive that clips the pooled map: what ``Sequential`` runs for a
    ``ReLU`` followed by a ``MaxPool2d``.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import functional as F
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> F.max_pool2d(x, 2).data[0, 0]
    array([[ 5.,  7.],
           [13., 15.]], dtype=float32)
    """
    _no_ceil(ceil_mode, "max_pool2d")
    k, s, p = _pool_args(2, kernel_size, stride, padding, "max_pool2d")
    d = as_tuple(dilation, 2, "max_pool2d: dilation")
    return MaxPool2d.apply(lift(input), kernel=k, stride=s, padding=p, dilation=d, relu=relu)


def max_pool1d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, *,
               relu: bool = False) -> Tensor:  # fmt: skip  # noqa: A002
    """Maximum over windows of ``input (N, C, L)``; ``relu`` as in ``max_pool2d``."""
    _no_ceil(ceil_mode, "max_pool1d")
    k, s, p = _pool_args(1, kernel_size, stride, padding, "max_pool1d")
    d = as_tuple(dilation, 1, "max_pool1d: dilation")
    x = _as_2d(lift(input), "max_pool1d")
    out = MaxPool2d.apply(x, kernel=(1, k[0]), stride=(1, s[0]), padding=(0, p[0]),
                          dilation=(1, d[0]), relu=relu)  # fmt: skip
    return _from_2d(out)


def avg_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:  # fmt: skip  # noqa: A002
    """Mean over windows of ``input (N, C, H, W)``; ``stride`` defaults to the kernel size.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import functional as F
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> F.avg_pool2d(x, 2).data[0, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]], dtype=float32)
    """
    _no_ceil(ceil_mode, "avg_pool2d")
    k, s, p = _pool_args(2, kernel_size, stride, padding, "avg_pool2d")
    return AvgPool2d.apply(lift(input), kernel=k, stride=s, padding=p,
                           count_include_pad=bool(count_include_pad))  # fmt: skip


def avg_pool1d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:  # fmt: skip  # noqa: A002
    """Mean over windows of ``input (N, C, L)``."""
    _no_ceil(ceil_mode, "avg_pool1d")
    k, s, p = _pool_args(1, kernel_size, stride, padding, "avg_pool1d")
    x = _as_2d(lift(input), "avg_pool1d")
    out = AvgPool2d.apply(x, kernel=(1, k[0]), stride=(1, s[0]), padding=(0, p[0]),
                          count_include_pad=bool(count_include_pad))  # fmt: skip
    return _from_2d(out)


def _adaptive_matrix(size: int, out: int, dtype: Any) -> np.ndarray:
    """(out, size) averaging matrix of the adaptive windows [floor(i*s/o), ceil((i+1)*s/o))."""
    m = np.zeros((out, size), dtype=dtype)
    for i in range(out):
        start, stop = (i * size) // out, math.ceil((i + 1) * size / out)
        m[i, start:stop] = 1.0 / (stop - start)
    return m


def adaptive_avg_pool2d(input: Any, output_size: Any) -> Tensor:  # noqa: A002
    """Average over the adaptive windows that give an ``output_size`` (Ho, Wo) output.

    ``output_size=1`` is global average pooling. Composed from primitives: a mean for the
    global case, otherwise two products with constant averaging matrices.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import functional as F
    >>> x = np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2)
    >>> F.adaptive_avg_pool2d(x, 1).data.ravel()
    array([1.5, 5.5], dtype=float32)
    """
    x = lift(input)
    if x.ndim != 4:
        raise ShapeError(f"adaptive_avg_pool2d: expected input (N, C, H, W), got {x.shape}")
    ho, wo = as_tuple(output_size, 2, "adaptive_avg_pool2d: output_size")
    h, w = x.shape[2:]
    if (ho, wo) == (1, 1):
        return x.mean(axis=(2, 3), keepdims=True)
    if ho > h or wo > w:
        raise ShapeError(f"adaptive_avg_pool2d: output {(ho, wo)} larger than input {(h, w)}")
    rows = Tensor(_adaptive_matrix(h, ho, x.dtype))
    cols = Tensor(_adaptive_matrix(w, wo, x.dtype).T.copy())
    return AF.matmul(rows, AF.matmul(x, cols))


def adaptive_avg_pool1d(input: Any, output_size: Any) -> Tensor:  # noqa: A002
    """Average over the adaptive windows that give an ``output_size`` long output."""
    (lo,) = as_tuple(output_size, 1, "adaptive_avg_pool1d: output_size")
    return _from_2d(adaptive_avg_pool2d(_as_2d(lift(input), "adaptive_avg_pool1d"), (1, lo)))


def batch_norm(input: Any, running_mean: Any, running_var: Any, weight: Any = None,
               bias: Any = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5, moments: Any = None) -> Tensor:  # fmt: skip  # noqa: A002
    """Normalize each channel (axis 1) over every other axis, then scale and shift.

    Training: batch mean and **biased** variance normalize, and the running statistics
    (arrays or Buffers, may be None) move by ``momentum`` towards the batch mean and the
    **unbiased** variance, as in PyTorch. Otherwise the running statistics normalize.
    ``moments(x, axes) -> (mean, x - mean, var, n)`` replaces the batch's own statistics in
    training (``distributed.sync_batch_norm`` passes one that spans every process). With the
    batch's own statistics, training mode runs as one fused primitive
    (``chainrule.autodiff.ops.normalization.BatchNorm``: six passes backward instead of the
    composed graph's fifteen or so); otherwise it is composed of elementwise operations.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import functional as F
    >>> x = np.array([[1.0, 10.0], [3.0, 30.0]], np.float32)
    >>> mean, var = np.zeros(2, np.float32), np.ones(2, np.float32)
    >>> F.batch_norm(x, mean, var, training=True).data.round(3)
    array([[-1., -1.],
           [ 1.,  1.]], dtype=float32)
    >>> mean
    array([0.2, 2. ], dtype=float32)
    """
    x = lift(input)
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: expected input (N, C, ...), got shape {x.shape}")
    c = x.shape[1]
    axes = (0, *range(2, x.ndim))
    stat_shape = (1, c) + (1,) * (x.ndim - 2)
    if training and moments is not None:
        mean, centered, var, n = moments(x, axes)
    elif training:
        n = x.size // max(c, 1)
        if n < 2:
            raise ShapeError(
                f"batch_norm needs more than one value per channel in training mode, got input "
                f"of shape {x.shape}"
            )
        return _fused_training(x, running_mean, running_var, weight, bias, momentum, eps, n)
    if training:
        _move(running_mean, mean.data.reshape(-1), momentum)
        _move(running_var, var.data.reshape(-1) * (n / (n - 1)), momentum)
        x_hat = centered / (var + eps).sqrt()
    else:
        if running_mean is None or running_var is None:
            raise ConfigError("batch_norm: running_mean and running_var are needed unless training")
        xp = namespace(x.data)
        mean_c = _data(running_mean).reshape(stat_shape)
        scale = 1.0 / xp.sqrt(_data(running_var).reshape(stat_shape) + eps)
        x_hat = (x - mean_c.astype(x.dtype)) * scale.astype(x.dtype)
    if weight is not None:
        x_hat = x_hat * lift(weight, x.data).reshape(stat_shape)
    if bias is not None:
        x_hat = x_hat + lift(bias, x.data).reshape(stat_shape)
    return x_hat


def _fused_training(x: Tensor, running_mean: Any, running_var: Any, weight: Any, bias: Any,
                    momentum: float, eps: float, n: int) -> Tensor:  # fmt: skip
    """Training mode with the batch's own statistics: one fused primitive (ops/normalization)."""
    xp = namespace(x.data)
    c = x.shape[1]
    w = lift(weight, x.data) if weight is not None else Tensor(xp.ones(c, dtype=x.dtype))
    b = lift(bias, x.data) if bias is not None else Tensor(xp.zeros(c, dtype=x.dtype))
    y, mean, var = BatchNorm.apply(x, w, b, eps=eps)
    _move(running_mean, mean.data, momentum)
    _move(running_var, var.data * (n / (n - 1)), momentum)
    return y


def _data(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


def _move(running: Any, batch: Any, momentum: float) -> None:
    """``running = (1 - m) * running + m * batch``: a Buffer gets a new array, an array in place."""
    if running is None:
        return
    new = ((1 - momentum) * _data(running) + momentum * batch).astype(_data(running).dtype)
    if isinstance(running, Tensor):
        running.data = new
    else:
        running[...] = new
