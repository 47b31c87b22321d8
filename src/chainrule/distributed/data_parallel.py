"""DataParallel: what ``Trainer(distributed=True)`` asks of the job at each point of ``fit``.

Everything that decides or writes goes through here: the ranks start from rank 0's weights
and shuffling state, train on disjoint shares of each global batch, average their gradients
in the reduce stage, sum the epoch's figures, average batch-norm running statistics, and then
take rank 0's logs, so early stopping, schedules and checkpoints decide the same on every rank
and no rank is left waiting in a collective.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.distributed.communicator import Communicator, broadcast_parameters, init
from chainrule.distributed.faults import install_excepthook
from chainrule.distributed.reducer import BUCKET_BYTES, DataParallelStep, GradientAllreduce
from chainrule.distributed.sampler import DistributedSampler
from chainrule.nn.module import Module

__all__ = ["DataParallel"]


class DataParallel:
    """Data-parallel training over the ranks of an MPI job, for ``Trainer(distributed=...)``.

    Parameters
    ----------
    comm : Communicator, optional
        Default: the job's (``distributed.init()``; one rank without ``mpirun``).
    bucket_bytes : int
        The largest single gradient ``Allreduce`` (see ``GradientAllreduce``).
    abort_on_exception : bool
        Install ``install_excepthook`` (with several ranks): an uncaught exception on one rank
        aborts the job, naming the rank, instead of leaving the others waiting forever in
        their next ``Allreduce``.

    Notes
    -----
    ``batch_size`` given to ``fit`` is the **global** batch, split over the ranks; with the
    same seed, data and batch size, ``N`` ranks train the model one process would, up to
    float32 summation order. Attach callbacks that print or write files on rank 0 only
    (``distributed.is_main()``); those that decide (``EarlyStopping``, schedules) on every rank.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule import nn, optim
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(64, 2)).astype(np.float32); y = (x[:, 0] > 0).astype(np.int64)
    >>> model = nn.Sequential(nn.Linear(2, 8, rng=rng), nn.ReLU(), nn.Linear(8, 2, rng=rng))
    >>> trainer = cr.Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
    ...                      distributed=True)  # under mpirun: every rank, a share of each batch
    >>> history = trainer.fit(x, y, epochs=2, batch_size=16, seed=0)
    >>> len(history)
    2
    """

    def __init__(
        self,
        comm: Communicator | None = None,
        bucket_bytes: int = BUCKET_BYTES,
        abort_on_exception: bool = True,
    ) -> None:
        self.comm = comm or init()
        if abort_on_exception:
            install_excepthook(self.comm)
        self.reducer = GradientAllreduce(self.comm, bucket_bytes)
        self.sampler: DistributedSampler | None = None

    @property
    def rank(self) -> int:
        return self.comm.rank

    @property
    def world_size(self) -> int:
        return self.comm.size

    @property
    def is_main(self) -> bool:
        return self.comm.is_main

    def agree_seed(self, seed: int | np.random.Generator | None) -> Any:
        """The seed every rank shuffles and splits with: rank 0's (drawn there when None).

        A Generator takes rank 0's state in place, so the caller's generator (a checkpoint
        saves its state) stays the one that shuffles.
        """
        if self.world_size == 1:
            return seed
        if isinstance(seed, np.random.Generator):
            seed.bit_generator.state = self.comm.broadcast_object(seed.bit_generator.state)
            return seed
        if seed is None and self.is_main:
            seed = int(np.random.SeedSequence().entropy % 2**63)  # type: ignore[operator]
        return self.comm.broadcast_object(seed)

    def start(self, model: Module) -> None:
        """Give every rank rank 0's weights and buffers before the first step, and each rank
        its own stream for the layers that draw randomness while training (dropout)."""
        broadcast_parameters(model, comm=self.comm)
        if self.world_size > 1:  # dropout: one stream of masks per rank, not the same masks
            for module in model.modules():
                rng = getattr(module, "rng", None)
                if isinstance(rng, np.random.Generator):
                    stream = np.random.default_rng([int(rng.integers(2**62)), self.rank])
                    setattr(module, "rng", stream)  # noqa: B010  (not every Module has one)

    def loader(
        self, x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool, seed: Any
    ) -> DistributedSampler:
        """This rank's share of every global batch (``batch_size`` rows summed over ranks)."""
        self.sampler = DistributedSampler(
            (x, y), batch_size, self.rank, self.world_size, shuffle=shuffle, seed=seed
        )
        return self.sampler

    def training_step(self, *args: Any, **kwargs: Any) -> DataParallelStep:
        """The step ``fit`` trains with (``TrainingStep``'s arguments)."""
        kwargs.pop("gradient_reducer", None)
        return DataParallelStep(*args, reducer=self.reducer, batch_rows=self._rows, **kwargs)

    def _rows(self) -> int:
        return 0 if self.sampler is None else self.sampler.batch_rows

    def sum_epoch(self, values: list[float]) -> list[float]:
        """Sums over the ranks of this epoch's running totals (one float64 ``Allreduce``)."""
        if self.world_size == 1:
            return values
        return [float(v) for v in self.comm.all_reduce(np.array(values, np.float64))]

    def end_epoch(self, model: Module) -> None:
        """Average the floating buffers (batch-norm running statistics) over the ranks, so
        validation, checkpoints and the saved model see one set of statistics."""
        if self.world_size == 1:
            return
        for _, buffer in model.named_buffers():
            data = buffer.data
            if isinstance(data, np.ndarray) and data.dtype.kind == "f":
                summed = self.comm.all_reduce(np.ascontiguousarray(data).copy())
                buffer.data = (summed / self.world_size).astype(data.dtype)

    def agree(self, logs: dict[str, Any]) -> dict[str, Any]:
        """Rank 0's epoch logs on every rank: one set of numbers decides for the job."""
        return logs if self.world_size == 1 else self.comm.broadcast_object(logs)

    def __repr__(self) -> str:
        return f"DataParallel(rank={self.rank}, world_size={self.world_size})"
