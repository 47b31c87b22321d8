"""Data-parallel training over MPI (``mpirun -n 4 chainrule train ...``), through ``mpi4py``.

Every rank holds the whole model and trains on its share of each global batch; gradients are
averaged in the *reduce gradients* stage of the training step with one in-place ``Allreduce``.
Plain ``python`` is a job of one rank, and ``mpi4py`` is only imported under a launcher
(``pip install 'chainrule[mpi]'``).

Examples
--------
>>> from chainrule import distributed
>>> distributed.rank(), distributed.world_size(), distributed.is_main()
(0, 1, True)
"""

from chainrule.distributed.communicator import (
    Communicator,
    all_reduce,
    barrier,
    broadcast_parameters,
    init,
    is_main,
    launched_by_mpi,
    rank,
    world_size,
)
from chainrule.distributed.data_parallel import DataParallel
from chainrule.distributed.faults import abort_on_error, install_excepthook
from chainrule.distributed.reducer import DataParallelStep, GradientAllreduce
from chainrule.distributed.sampler import DistributedSampler
from chainrule.distributed.syncbn import sync_batch_norm

__all__ = [
    "Communicator",
    "init",
    "launched_by_mpi",
    "rank",
    "world_size",
    "is_main",
    "barrier",
    "all_reduce",
    "broadcast_parameters",
    "DataParallel",
    "DataParallelStep",
    "GradientAllreduce",
    "DistributedSampler",
    "sync_batch_norm",
    "install_excepthook",
    "abort_on_error",
]
