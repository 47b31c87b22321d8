"""Run real ``mpirun`` jobs (MPICH from the ``test`` extra) as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = BIN / name if (BIN / name).exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found; the test extra installs it: pip install -e '.[test]'")
    return str(found)


def job_env() -> dict[str, str]:
    """One BLAS thread per rank (ranks share the cores), no launcher variables inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    return env


class Job:
    """A finished command: exit status, output and wall time."""

    def __init__(self, result: subprocess.CompletedProcess[str], seconds: float) -> None:
        self.returncode, self.stdout, self.stderr = result.returncode, result.stdout, result.stderr
        self.seconds = seconds

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def job_argv(ranks: int | None, *command: str) -> list[str]:
    """``mpirun -n RANKS COMMAND`` as an argument list (``chainrule``/``python`` resolved)."""
    argv = list(command)
    if argv[0] in ("chainrule", "python"):
        argv[0] = sys.executable if argv[0] == "python" else _tool("chainrule")
    if ranks is not None:
        argv = [_tool("mpirun"), "-n", str(ranks), *argv]
    return argv


def run_job(ranks: int | None, *command: str, cwd: Path | None = None, timeout: float = 60) -> Job:
    """``mpirun -n RANKS COMMAND`` (plain ``COMMAND`` when ``ranks`` is None)."""
    argv = job_argv(ranks, *command)
    start = time.perf_counter()
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=job_env(), check=False
    )
    return Job(result, time.perf_counter() - start)


@pytest.fixture(scope="session")
def job():  # type: ignore[no-untyped-def]
    """The function that runs ``mpirun -n N COMMAND...``."""
    return run_job


@pytest.fixture(scope="session")
def spawn():  # type: ignore[no-untyped-def]
    """The function that starts ``mpirun -n N COMMAND...`` in its own session (a Popen)."""

    def start(ranks: int | None, *command: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            job_argv(ranks, *command),
            env=job_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # the SIGINT goes to mpirun alone, never to pytest
        )

    return start
