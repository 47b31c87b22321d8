"""Run the real ``chainrule`` executable, as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

_SCRIPT = Path(sys.executable).with_name("chainrule")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [shutil.which("chainrule") or "chainrule"]


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``chainrule ARGS...`` with captured output; plots use the non-interactive backend."""
    env = {**os.environ, "MPLBACKEND": "Agg", "CHAINRULE_DATA": str(cwd or Path.cwd())}
    return subprocess.run(
        [*COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
        check=False,
    )


@pytest.fixture(scope="session")
def cli():  # type: ignore[no-untyped-def]
    """The function that runs ``chainrule ARGS...``."""
    return run_cli


@pytest.fixture(scope="session")
def digits_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One default ``chainrule train`` on the bundled digits, shared by the tests that read it."""
    run_dir = tmp_path_factory.mktemp("digits") / "run"
    result = run_cli("train", "--out", str(run_dir))
    assert result.returncode == 0, result.stderr
    return run_dir, result
