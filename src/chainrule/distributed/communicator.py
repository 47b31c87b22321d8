"""The processes of a job: ``init()``, rank and world size, and the collectives training needs.

Under ``mpirun`` (or ``srun``) every process is one *rank* of an MPI job, reached through
``mpi4py``; without a launcher, plain ``python`` is a job of one rank and ``mpi4py`` is never
imported. The launcher is recognised by the environment variables it sets (``PMI_RANK``,
``PMI_SIZE``, ``PMIX_RANK``, ``OMPI_COMM_WORLD_RANK``...), so looking costs nothing.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from chainrule.errors import ConfigError
from chainrule.nn.module import Module

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
]

#: Set by the MPI launchers in every process they start (MPICH/Hydra and Intel MPI: PMI_*;
#: Open MPI: OMPI_COMM_WORLD_*; Slurm srun with PMIx: PMIX_RANK; MVAPICH: MV2_*).
LAUNCH_VARIABLES = (
    "PMI_RANK",
    "PMI_SIZE",
    "PMIX_RANK",
    "OMPI_COMM_WORLD_RANK",
    "OMPI_COMM_WORLD_SIZE",
    "MV2_COMM_WORLD_RANK",
)

INSTALL_HINT = (
    "hint: pip install 'chainrule[mpi]' (mpi4py and MPICH from PyPI), or on a cluster "
    "pip install mpi4py built against the site's MPI"
)


def launched_by_mpi() -> bool:
    """Whether this process was started by an MPI launcher (``mpirun``, ``mpiexec``, ``srun``)."""
    return any(name in os.environ for name in LAUNCH_VARIABLES)


class Communicator:
    """A group of ranks and the collectives over it (an ``mpi4py`` communicator, or none).

    With ``comm=None`` it is the job of one rank: every collective returns its input
    unchanged, so code written for several ranks runs as it is in one process.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, optional
        The communicator to use (``MPI.COMM_WORLD`` for the whole job).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.distributed import Communicator
    >>> one = Communicator()
    >>> one.rank, one.size, one.all_reduce(np.ones(3, np.float32))
    (0, 1, array([1., 1., 1.], dtype=float32))
    """

    def __init__(self, comm: Any = None) -> None:
        self.comm = comm
        self.rank = 0 if comm is None else int(comm.Get_rank())
        self.size = 1 if comm is None else int(comm.Get_size())

    @property
    def is_main(self) -> bool:
        """True on rank 0, the rank that writes files and prints."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait until every rank has arrived here."""
        if self.comm is not None:
            self.comm.Barrier()

    def all_reduce(self, array: np.ndarray) -> np.ndarray:
        """Sum ``array`` element-wise over the ranks, in place (it must be contiguous and
        writable); returns it."""
        if self.size == 1:
            return array
        _check_buffer(array, "all_reduce")
        from mpi4py import MPI

        self.comm.Allreduce(MPI.IN_PLACE, array, op=MPI.SUM)
        return array

    def broadcast(self, array: np.ndarray, root: int = 0) -> np.ndarray:
        """Overwrite ``array`` (contiguous, writable) with rank ``root``'s; returns it."""
        if self.size > 1:
            _check_buffer(array, "broadcast")
            self.comm.Bcast(array, root=root)
        return array

    def broadcast_object(self, value: Any, root: int = 0) -> Any:
        """Rank ``root``'s ``value`` on every rank (small Python values: seeds, log dicts)."""
        return value if self.size == 1 else self.comm.bcast(value, root=root)

    def abort(self, code: int = 1) -> None:
        """End every rank of the job now (``MPI_Abort``); on one rank, exit the process."""
        if self.comm is None:
            os._exit(code)
        self.comm.Abort(code)

    def __repr__(self) -> str:
        return f"Communicator(rank={self.rank}, size={self.size})"


def _check_buffer(array: Any, what: str) -> None:
    if (
        not isinstance(array, np.ndarray)
        or not array.flags.c_contiguous
        or not array.flags.writeable
    ):
        raise ConfigError(
            f"{what}: expected a C-contiguous, writable NumPy array (collectives work in place), "
            f"got {type(array).__name__}; hint: np.ascontiguousarray(x) first"
        )


_world: Communicator | None = None


def init(force: bool = False) -> Communicator:
    """The job's communicator, set up on first use (later calls return the same one).

    Under an MPI launcher (or with ``force=True``) it wraps ``mpi4py``'s ``COMM_WORLD``, which
    starts MPI; otherwise it is the job of one rank and ``mpi4py`` is not imported. The other
    functions of this module call it implicitly.

    Raises
    ------
    ConfigError
        Under a launcher without ``mpi4py`` installed (with the install hint).
    """
    global _world
    if _world is not None and (_world.comm is not None or not force):
        return _world
    if not (force or launched_by_mpi()):
        _world = Communicator()
        return _world
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ConfigError(
            f"this process runs under an MPI launcher, but mpi4py is not installed ({error}); "
            + INSTALL_HINT
        ) from None
    _world = Communicator(MPI.COMM_WORLD)
    return _world


def rank() -> int:
    """This process's rank, 0 .. world_size() - 1 (0 without a launcher)."""
    return init().rank


def world_size() -> int:
    """The number of ranks in the job (1 without a launcher)."""
    return init().size


def is_main() -> bool:
    """True on rank 0: the one rank that prints and writes the run folder."""
    return init().is_main


def barrier() -> None:
    """Wait until every rank has arrived here."""
    init().barrier()


def all_reduce(array: np.ndarray) -> np.ndarray:
    """Element-wise sum of ``array`` over the ranks, in place; returns it.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule import distributed
    >>> distributed.all_reduce(np.arange(3.0))  # one rank: unchanged
    array([0., 1., 2.])
    """
    return init().all_reduce(array)


def broadcast_parameters(model: Module, root: int = 0, comm: Communicator | None = None) -> None:
    """Give every rank rank ``root``'s parameters and buffers (the same starting point).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule import distributed, nn
    >>> model = nn.Linear(2, 2, rng=np.random.default_rng(0))
    >>> distributed.broadcast_parameters(model)  # one rank: nothing changes
    """
    comm = comm or init()
    if comm.size == 1:
        return
    for _, tensor in [*model.named_parameters(), *model.named_buffers()]:
        data = tensor.data
        if not (isinstance(data, np.ndarray) and data.flags.c_contiguous and data.flags.writeable):
            data = np.ascontiguousarray(data).copy()
        comm.broadcast(data, root)
        tensor.data = data
