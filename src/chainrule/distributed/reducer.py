"""Gradient averaging across ranks: one contiguous buffer, one in-place ``Allreduce`` per step.

``GradientAllreduce`` is a ``gradient_reducer`` for the *reduce gradients* stage of
``training.step.TrainingStep`` (as ChainerMN's multi-node optimizer and Horovod's
``DistributedOptimizer`` reduce before the update): every gradient is copied into one flat
buffer, the buffer is summed over the ranks in place (in buckets of at most ``bucket_bytes``,
so MPI's own temporaries stay bounded), and each gradient comes back divided by the world
size, before clipping and the optimizer step see it. ``DataParallelStep`` is the training
step ``Trainer(distributed=True)`` uses: it also carries the batch loss in the same buffer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.distributed.communicator import Communicator, init
from chainrule.training.step import TrainingStep

__all__ = ["GradientAllreduce", "DataParallelStep", "BUCKET_BYTES"]

#: Largest single Allreduce: 16 MiB (4 M float32 gradients); bigger models go in several.
BUCKET_BYTES = 16 * 2**20


class GradientAllreduce:
    """Average the parameters' gradients over the ranks, in place, with one buffer per step.

    Parameters
    ----------
    comm : Communicator, optional
        Default: the job's (``distributed.init()``).
    bucket_bytes : int
        The largest piece of the buffer reduced in one ``Allreduce``.

    Notes
    -----
    Called as ``reducer(params)`` (the ``TrainingStep`` hook) every rank weighs the same.
    ``reduce(params, weight, riders)`` lets a rank weigh its gradients (by its share of an
    unevenly split batch) and sends extra numbers (the batch loss) in the same ``Allreduce``.
    A parameter without a gradient on this rank sends zeros, so every rank packs the same
    layout. ``seconds`` accumulates the time spent inside ``Allreduce`` (for benchmarks).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule import nn
    >>> from chainrule.distributed import GradientAllreduce
    >>> layer = nn.Linear(2, 1, rng=np.random.default_rng(0))
    >>> layer.weight.grad = np.ones((1, 2), np.float32)
    >>> GradientAllreduce()(layer.parameters())  # one rank: the average is the gradient
    >>> layer.weight.grad
    array([[1., 1.]], dtype=float32)
    """

    def __init__(self, comm: Communicator | None = None, bucket_bytes: int = BUCKET_BYTES) -> None:
        self.comm = comm or init()
        self.bucket_bytes = max(int(bucket_bytes), 1024)
        self.seconds = 0.0
        self._buffer: np.ndarray | None = None

    def __call__(self, params: Sequence[Any]) -> None:
        self.reduce(params)

    def reduce(
        self, params: Sequence[Any], weight: float = 1.0, riders: Sequence[float] = ()
    ) -> list[float]:
        """Replace each ``grad`` by ``sum over ranks (weight * grad) / world_size``; return the
        riders summed the same way (also divided by the world size)."""
        size = self.comm.size
        if size == 1 and weight == 1.0:
            return [float(r) for r in riders]
        shapes = [tuple(p.data.shape) for p in params]
        counts = [int(np.prod(s)) for s in shapes]
        dtype = np.result_type(*[p.data.dtype for p in params]) if params else np.float32
        total = sum(counts)
        buffer = self._flat(total + len(riders), dtype)
        offset = 0
        for p, count in zip(params, counts):
            view = buffer[offset : offset + count]
            if p.grad is None:
                view.fill(0)
            elif weight == 1.0:
                np.copyto(view, np.reshape(p.grad, -1))
            else:
                np.multiply(np.reshape(p.grad, -1), weight, out=view, casting="unsafe")
            offset += count
        buffer[total:] = [weight * float(r) for r in riders]
        self._all_reduce(buffer)
        scale = 1.0 / size
        offset = 0
        for p, count, shape in zip(params, counts, shapes):
            p.grad = (buffer[offset : offset + count] * scale).reshape(shape)
            offset += count
        return [float(v) * scale for v in buffer[total:]]

    def _flat(self, n: int, dtype: Any) -> np.ndarray:
        """The step buffer, allocated once and reused while the layout stays the same."""
        if self._buffer is None or self._buffer.size != n or self._buffer.dtype != dtype:
            self._buffer = np.empty(n, dtype)
        return self._buffer

    def _all_reduce(self, buffer: np.ndarray) -> None:
        import time

        start = time.perf_counter()
        step = max(self.bucket_bytes // buffer.itemsize, 1)
        for begin in range(0, buffer.size, step):
            self.comm.all_reduce(buffer[begin : begin + step])
        self.seconds += time.perf_counter() - start


class DataParallelStep(TrainingStep):
    """``TrainingStep`` whose reduce stage averages gradients and the batch loss over ranks.

    Rank ``r`` holds ``b_r`` rows of a global batch of ``B``; its gradient of the mean loss is
    weighted by ``b_r * world_size / B`` (1 when the batch splits evenly) before the sum over
    ranks and the division by the world size, which gives the gradient of the mean loss over
    the whole global batch, exactly what one process computes. The loss it returns is that
    global batch's, so every rank sees the same number (per-batch callbacks, divergence
    checks and ``TerminateOnNaN`` agree).
    """

    def __init__(
        self,
        *args: Any,
        reducer: GradientAllreduce,
        batch_rows: Callable[[], int],
        **kwargs: Any,
    ) -> None:
        kwargs["skip_nonfinite"] = False  # a rank skipping its Allreduce would stall the rest
        super().__init__(*args, **kwargs)
        self.reducer = reducer
        self.batch_rows = batch_rows
        self._rows = 0
        self._loss = 0.0

    def __call__(self, x: Any, target: Any, health: Any = None) -> tuple[float, float, Any]:
        self._rows = len(x)
        _, penalty, out = super().__call__(x, target, health)
        return self._loss, penalty, out

    def objective(self, out: Any, target: Any) -> Any:
        loss, total, penalty = super().objective(out, target)
        self._loss = float(loss.item())
        return loss, total, penalty

    def reduce_gradients(self) -> None:
        weight = self._rows * self.reducer.comm.size / max(self.batch_rows(), 1)
        (self._loss,) = self.reducer.reduce(self.params, weight, (self._loss,))
