"""Synchronised batch normalisation: batch statistics over the whole global batch, every rank.

By default each rank normalises with its own share's statistics (as PyTorch's DDP does), which
is cheap and usually enough; with small shares the statistics get noisy, and
``sync_batch_norm(model)`` makes every ``BatchNorm1d`` compute mean and variance over the
global batch instead: the statistics a single process would compute on the same batch. The
layers stay ``BatchNorm1d`` (the model file is unchanged and loads in one process).

The sums cross ranks through ``AllreduceSum``, a primitive whose backward is an all-reduce of
the incoming gradients too, each rank's weighted by its share of the batch, matching how
``DataParallelStep`` weighs the ranks' gradients.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.primitive import Primitive
from chainrule.autodiff.tensor import Tensor
from chainrule.distributed.communicator import Communicator, init
from chainrule.nn.layers.batchnorm import BatchNorm1d
from chainrule.nn.module import Module

__all__ = ["AllreduceSum", "SyncMoments", "sync_batch_norm"]


class AllreduceSum(Primitive):
    """``y = sum over ranks of x`` (every rank gets ``y``).

    Rank ``r``'s loss enters the job's objective with weight ``share_r``, and its parameter
    gradients are later multiplied by that weight (``DataParallelStep``), so the gradient that
    flows back to ``x`` on rank ``r`` is ``sum_s share_s * g_s / share_r``: with equal shares,
    the plain sum of the ranks' incoming gradients. On one rank it is the identity.
    """

    name = "allreduce_sum"

    def forward(self, x: Any, comm: Any = None, share: float = 1.0) -> Any:
        self.comm, self.share = comm, share
        out = np.array(x, copy=True, order="C")
        return out if comm is None else comm.all_reduce(out)

    def backward(self, g: Any) -> tuple[Any, ...]:
        if self.comm is None or self.comm.size == 1:
            return (g,)
        summed = self.comm.all_reduce(np.ascontiguousarray(g * self.share))
        return (summed / self.share,)


class SyncMoments:
    """``BatchNorm1d.batch_moments`` over the global batch: mean and biased variance from
    all-reduced sums (two passes: the mean first, then the centred squares, for accuracy)."""

    def __init__(self, comm: Communicator | None = None) -> None:
        self.comm = comm or init()

    def __call__(self, x: Tensor, axes: tuple[int, ...]) -> tuple[Tensor, Tensor, Tensor, int]:
        local = x.size // x.shape[1]
        counts = self.comm.all_reduce(np.array([local], np.float64))
        n = int(counts[0])
        share = local * self.comm.size / n
        mean = AllreduceSum.apply(x.sum(axis=axes, keepdims=True), comm=self.comm, share=share) / n
        centered = x - mean
        squares = (centered * centered).sum(axis=axes, keepdims=True)
        var = AllreduceSum.apply(squares, comm=self.comm, share=share) / n
        return mean, centered, var, n


def sync_batch_norm(model: Module, comm: Communicator | None = None) -> Module:
    """Make every ``BatchNorm1d`` in ``model`` normalise over the global batch; returns it.

    Examples
    --------
    >>> from chainrule import distributed, nn
    >>> model = distributed.sync_batch_norm(nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)))
    >>> type(model[1].batch_moments).__name__
    'SyncMoments'
    """
    moments = SyncMoments(comm)
    for module in model.modules():
        if isinstance(module, BatchNorm1d):
            module.batch_moments = moments
    return model
