"""Batch normalization over the batch axis, composed from primitives."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, ShapeError
from chainrule.nn.conv_functional import batch_norm
from chainrule.nn.layers.inputs import layer_input
from chainrule.nn.module import Module
from chainrule.nn.parameter import Buffer, Parameter
from chainrule.nn.registry import register_layer
from chainrule.validation import check_positive_int

__all__ = ["BatchNorm1d", "BatchNorm2d"]


@register_layer
class BatchNorm1d(Module):
    """Normalize each feature over the batch, then scale and shift: ``y = x_hat * weight + bias``.

    While training, ``x_hat = (x - mean) / sqrt(var + eps)`` with the batch mean and the
    **biased** batch variance; the gradient flows through both statistics (the layer is
    composed from primitives). The running statistics are updated as in PyTorch::

        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var  = (1 - momentum) * running_var  + momentum * var * n / (n - 1)

    (the **unbiased** variance; ``n`` values per feature). With ``momentum=None`` they are the
    cumulative average over the ``num_batches_tracked`` batches seen. In eval mode the running
    statistics replace the batch ones.

    Parameters
    ----------
    num_features : int
        ``C`` in inputs of shape ``(N, C)`` or ``(N, C, L)``.
    eps : float
        Added to the variance before the square root.
    momentum : float or None
        Weight of the newest batch in the running statistics.
    affine : bool
        Learn ``weight`` (ones) and ``bias`` (zeros); otherwise ``y = x_hat``.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import BatchNorm1d
    >>> bn = BatchNorm1d(2)
    >>> y = bn(np.array([[1.0, 10.0], [3.0, 30.0]], np.float32))
    >>> y.data.round(3)
    array([[-1., -1.],
           [ 1.,  1.]], dtype=float32)
    >>> bn.running_mean.data
    array([0.2, 2. ], dtype=float32)
    """

    @staticmethod
    def spec_size(config: dict[str, Any]) -> int:
        """Scalars the layer a config describes would allocate (checked before building it)."""
        n = config.get("num_features")
        return 4 * n + 1 if isinstance(n, int) else 0

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
    ) -> None:
        super().__init__()
        self.num_features = check_positive_int(num_features, f"{type(self).__name__}: num_features")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ConfigError(f"{type(self).__name__}: eps must be a positive number, got {eps!r}")
        if momentum is not None and (
            isinstance(momentum, bool)
            or not isinstance(momentum, (int, float))
            or not 0 <= momentum <= 1
        ):
            raise ConfigError(
                f"{type(self).__name__}: momentum must be a number in [0, 1] or None (cumulative "
                f"average), got {momentum!r}"
            )
        if not isinstance(affine, (bool, np.bool_)):
            raise ConfigError(
                f"{type(self).__name__}: affine must be True or False, got {affine!r}"
            )
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        c = self.num_features
        self.weight = Parameter(np.ones(c, np.float32)) if affine else None
        self.bias = Parameter(np.zeros(c, np.float32)) if affine else None
        self.running_mean = Buffer(np.zeros(c, np.float32))
        self.running_var = Buffer(np.ones(c, np.float32))
        self.num_batches_tracked = Buffer(np.array(0, dtype=np.int64))
        #: ``moments(x, axes) -> (mean, x - mean, var, n)`` of a training batch; None: this
        #: batch's own. ``distributed.sync_batch_norm`` sets one that spans every rank.
        self.batch_moments: Any = None

    def _name(self) -> str:
        return f"{type(self).__name__}({self.num_features})"

    #: Input ranks the layer accepts, and how its error message spells them.
    ranks: tuple[int, ...] = (2, 3)
    expected = "(N, {c}) or (N, {c}, L)"

    def forward(self, x: Any) -> Tensor:
        x = layer_input(x, self.running_mean.dtype, self._name())
        if x.ndim not in self.ranks or x.shape[1] != self.num_features:
            raise ShapeError(
                f"{self._name()} got input of shape {x.shape}; expected "
                f"{self.expected.format(c=self.num_features)} (features on axis 1)"
            )
        if self.training:
            if self.batch_moments is None and x.size // self.num_features < 2:
                raise ShapeError(
                    f"{self._name()} needs more than one value per feature in training mode, "
                    f"got input of shape {x.shape}; use a batch larger than 1 or call .eval()"
                )
            self.num_batches_tracked.data = self.num_batches_tracked.data + 1
        m = self.momentum
        if m is None:  # cumulative moving average
            m = 1.0 / float(max(int(self.num_batches_tracked.data), 1))
        return batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias,
            training=self.training, momentum=m, eps=self.eps, moments=self.batch_moments,
        )  # fmt: skip

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this layer."""
        return {
            "num_features": self.num_features,
            "eps": self.eps,
            "momentum": self.momentum,
            "affine": self.weight is not None,
        }

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.weight is not None}"
        )


@register_layer
class BatchNorm2d(BatchNorm1d):
    """Batch normalization of images ``(N, C, H, W)``: each channel over the batch and the pixels.

    The same statistics, running averages (PyTorch's momentum rule, unbiased running variance)
    and parameters as ``BatchNorm1d``, with ``num_features = C``.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import BatchNorm2d
    >>> bn = BatchNorm2d(3)
    >>> y = bn(np.random.default_rng(0).normal(2.0, 3.0, (4, 3, 5, 5)))
    >>> bool(abs(float(y.data.mean())) < 1e-5), y.shape
    (True, (4, 3, 5, 5))
    """

    ranks = (4,)
    expected = "(N, {c}, H, W)"
