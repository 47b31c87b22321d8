"""When one rank fails, end the whole job within seconds instead of leaving the others hanging.

A rank that raises stops taking part in the collectives; without help the other ranks wait in
their next ``Allreduce`` forever. ``install_excepthook`` (as ChainerMN's ``global_except_hook``)
makes an uncaught exception print which rank failed and why, then call ``MPI_Abort``, which
ends every rank; ``abort_on_error`` does the same for errors a caller would otherwise catch
and turn into an exit status (the command line does). Checkpoints are written atomically, so
the last one stays intact and ``--resume`` restarts the job from it.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from chainrule.distributed.communicator import Communicator, init

__all__ = ["install_excepthook", "abort_on_error", "report_and_abort"]


def report_and_abort(comm: Communicator, error: BaseException, code: int = 1) -> None:
    """Print ``rank R of N failed: Type: message`` with the traceback, then abort the job.

    Ctrl-C (``KeyboardInterrupt``) is reported in one line and exits with status 130: the
    launcher delivers it to every rank, each at its own point of the step, so a rank that
    finished cleanly would leave another waiting in an ``Allreduce``; the job is aborted and
    the last epoch's checkpoint (written atomically) is what ``--resume`` continues from.
    """
    if isinstance(error, KeyboardInterrupt):
        header = (
            f"chainrule: rank {comm.rank} of {comm.size} interrupted (Ctrl-C); aborting every "
            "rank (MPI_Abort); the last epoch's checkpoint is intact (--resume continues)"
        )
        details, code = "", 130
    else:
        header = (
            f"chainrule: rank {comm.rank} of {comm.size} failed: {type(error).__name__}: "
            f"{error}; aborting every rank (MPI_Abort)"
        )
        details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    try:
        sys.stderr.write(f"{details}{header}\n")
        sys.stderr.flush()
        sys.stdout.flush()
    finally:
        comm.abort(code)


def install_excepthook(comm: Communicator | None = None) -> None:
    """Make an uncaught exception on any rank abort the whole job (only with several ranks).

    Examples
    --------
    >>> from chainrule import distributed
    >>> distributed.install_excepthook()  # one rank: the default hook stays
    """
    comm = comm or init()
    if comm.size == 1 or getattr(sys.excepthook, "_chainrule_abort", False):
        return

    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        report_and_abort(comm, error.with_traceback(tb))

    hook._chainrule_abort = True  # type: ignore[attr-defined]
    sys.excepthook = hook


@contextlib.contextmanager
def abort_on_error(comm: Communicator | None = None, code: int = 1) -> Iterator[Any]:
    """Inside the block, an exception on any rank (several ranks only) aborts the job."""
    comm = comm or init()
    try:
        yield comm
    except SystemExit:
        raise
    except BaseException as error:  # KeyboardInterrupt too: see report_and_abort
        if comm.size == 1:
            raise
        report_and_abort(comm, error, code)
        raise
