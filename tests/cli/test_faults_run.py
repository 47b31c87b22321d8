"""The run folder under faults, reproduced the way they were found (issue 12): injected
``OSError``s at the system-call boundary, SIGINT sent to a running ``chainrule``, a second run
into a locked folder, a config.json that does not belong to the checkpoint, a closed pipe."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.numpy

from chainrule.cli import main
from chainrule.cli.commands.run_folder import deferred_interrupt, held_locks, lock_run_dir

from .conftest import COMMAND, run_cli

SMALL = ("--hidden", "8", "--quiet")
LINUX = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc (Linux)")


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def strict(path: Path) -> Any:
    def refuse(name: str) -> None:
        raise ValueError(name)

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("small") / "run"
    result = run_cli("train", *SMALL, "--epochs", "1", "--out", str(run))
    assert result.returncode == 0, result.stderr
    return run


# -- item 5: every OSError at the edge is one line with the path, exit 2 ------------------------
def test_out_below_a_file_is_one_line_enotdir(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "afile").write_text("x")
    assert main(["train", *SMALL, "--no-plots", "--out", str(tmp_path / "afile" / "run")]) == 2
    line = one_line(capsys.readouterr().err)
    assert "afile" in line and "Not a directory" in line


def test_out_naming_a_file_is_one_line(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "afile").write_text("x")
    assert main(["train", *SMALL, "--no-plots", "--out", str(tmp_path / "afile")]) == 2
    assert "a file of that name exists" in one_line(capsys.readouterr().err)


def contents(run: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(run)): p.read_bytes()
        for p in sorted(run.rglob("*"))
        if p.is_file() and not p.name.startswith("checkpoint") and p.name != "config.json"
    }


@LINUX
@pytest.mark.parametrize(
    ("call", "code", "target"),
    [
        ("fsync", errno.ENOSPC, "model.safetensors"),
        ("fsync", errno.EIO, "history.json"),
        ("fsync", errno.ENOSPC, ".png"),  # inside plotting
        ("replace", errno.EROFS, "model.json"),  # the last rename of the final commit
    ],
)
def test_a_failing_final_write_keeps_the_previous_complete_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, call: str, code: int, target: str
) -> None:
    run = tmp_path / "run"
    assert main(["train", *SMALL, "--epochs", "1", "--out", str(run)]) == 0
    before = contents(run)
    assert "report.md" in before and "plots/learning_curves.png" in before
    capsys.readouterr()

    real = getattr(os, call)

    def failing(*args: Any, **kwargs: Any) -> Any:
        if call == "fsync":
            name = os.readlink(f"/proc/self/fd/{args[0]}")
            hit = "staged-outputs" in name and (target in name)
        else:
            hit = "staged-outputs" in str(args[0]) and str(args[1]).endswith(target)
        if hit:
            raise OSError(code, os.strerror(code))
        return real(*args, **kwargs)

    monkeypatch.setattr(os, call, failing)
    assert main(["train", "--resume", str(run), "--epochs", "2", "--quiet"]) == 2
    line = one_line(capsys.readouterr().err)
    assert os.strerror(code) in line and errno.errorcode[code] in line
    assert f"{run}{os.sep}" in line and "staged-outputs" not in line  # the run's own file
    assert contents(run) == before  # model, history, plots and report of the previous session
    assert not [p for p in run.iterdir() if "staged-outputs" in p.name]


# -- items 3 and 4: stale temporaries, the lock ------------------------------------------------
def test_opening_a_run_folder_removes_our_stale_temporaries_only(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert (
        run_cli("train", *SMALL, "--epochs", "1", "--no-plots", "--out", str(run)).returncode == 0
    )
    ours = [".model.safetensors.k3j_x9a2.tmp", ".checkpoint.json.0123456789ab.bak"]
    ours.append(".staged-outputs.ab12cd34.tmp")
    mine = [".mine.k3j_x9a2.tmp", "notes.0123456789ab.bak"]
    for name in ours[:2] + mine:
        (run / name).write_bytes(b"\0" * 1000)
    (run / ours[2]).mkdir()
    resumed = run_cli("train", "--resume", str(run), "--epochs", "2")
    assert resumed.returncode == 0, resumed.stderr
    left = {p.name for p in run.iterdir()}
    assert not left & set(ours) and set(mine) <= left


def test_a_second_run_into_a_locked_folder_refuses_naming_the_holder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    with held_locks():
        lock = lock_run_dir(run)
        assert lock is not None
        try:
            refused = run_cli("train", *SMALL, "--epochs", "1", "--no-plots", "--out", str(run))
        finally:
            lock.close()
    assert refused.returncode == 2
    assert f"another chainrule train (pid {os.getpid()})" in one_line(refused.stderr)
    assert not (run / "model.json").exists()
    later = run_cli("train", *SMALL, "--epochs", "1", "--no-plots", "--out", str(run))
    assert later.returncode == 0, later.stderr  # the lock went with its holder


# -- item 2: a checkpoint is bound to its settings ----------------------------------------------
def test_resume_refuses_a_config_json_from_another_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert (
        run_cli("train", *SMALL, "--epochs", "1", "--no-plots", "--out", str(run)).returncode == 0
    )
    settings = json.loads((run / "config.json").read_text())
    settings["lr"], settings["seed"] = 0.5, 7  # what a new run killed before its checkpoint left
    (run / "config.json").write_text(json.dumps(settings))
    resumed = run_cli("train", "--resume", str(run), "--epochs", "2")
    assert resumed.returncode == 2
    line = one_line(resumed.stderr)
    assert "does not hold the settings the checkpoint was made with" in line
    assert "lr, seed" in line


# -- item 6: a closed pipe ------------------------------------------------------------------------
def test_evaluate_into_a_closed_pipe_exits_quietly_with_141(small_run: Path) -> None:
    process = subprocess.Popen(
        [*COMMAND, "evaluate", str(small_run / "model")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()  # the reader is gone before the first line, as after `| head -0`
    _, err = process.communicate(timeout=120)
    assert process.returncode == 141
    assert err == ""


# -- items 7, 8: divergence and Ctrl-C ------------------------------------------------------------
def test_divergence_ends_with_the_report_exit_3_and_strict_json(tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = run_cli("train", "--lr", "100", "--epochs", "3", "--hidden", "16", "--out", str(run))
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert "chainrule train: stopped: the training loss diverged" in result.stderr
    assert "test accuracy" in result.stdout
    history = strict(run / "history.json")
    assert history["ended_by"] == "diverged"
    assert (run / "report.md").is_file() and (run / "history.csv").is_file()
    model = strict(run / "model.json")
    assert model["metadata"]["stop_reason"].startswith("the training loss diverged")
    if (run / "checkpoint.json").exists():  # only epochs that ended well are checkpointed
        assert strict(run / "checkpoint.json")["epoch"] in history["epochs"]


def interruptible(*args: str) -> subprocess.Popen[str]:
    """``chainrule ARGS`` with SIGINT at its default action (a parent may ignore it)."""
    restore = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    restore += "os.execv(sys.argv[1], sys.argv[1:])"
    return subprocess.Popen(
        [sys.executable, "-c", restore, *COMMAND, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )


def wait_for(condition: Any, process: subprocess.Popen[str], limit: float = 120) -> None:
    end = time.monotonic() + limit
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < end
        time.sleep(0.001)


def tensors(path: Path) -> dict[str, np.ndarray]:
    return safetensors.numpy.load(path.read_bytes())


def test_ctrl_c_during_training_exits_130_with_the_last_complete_epoch(tmp_path: Path) -> None:
    run = tmp_path / "run"
    process = interruptible("train", *SMALL, "--epochs", "100000", "--no-plots", "--out", str(run))
    wait_for((run / "checkpoint.json").exists, process)
    time.sleep(0.05)  # somewhere inside a later epoch
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "interrupted by Ctrl-C" in err
    epoch = strict(run / "checkpoint.json")["epoch"]
    assert f"the weights of the end of epoch {epoch + 1}" in err
    saved, checkpoint = (
        tensors(run / "model.safetensors"),
        tensors(run / "checkpoint.model.safetensors"),
    )
    assert all(np.array_equal(saved[k], checkpoint[k]) for k in checkpoint)
    assert strict(run / "history.json")["kept_epoch"] == epoch


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc (Linux)")
def test_ctrl_c_while_the_library_is_imported_is_one_line_130(tmp_path: Path) -> None:
    process = interruptible("train", "--out", str(tmp_path / "run"))

    def importing_numpy() -> bool:
        try:
            return "numpy" in Path(f"/proc/{process.pid}/maps").read_text()
        except OSError:
            return False

    wait_for(importing_numpy, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert one_line(err) == "chainrule: interrupted"


def test_ctrl_c_is_held_back_while_the_final_files_are_written() -> None:
    with deferred_interrupt() as held:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)  # the handler runs; nothing is raised inside the block
    assert held


# -- item 9: the weights file is byte-identical across identical runs ----------------------------
def test_identical_runs_write_identical_weight_files(tmp_path: Path) -> None:
    runs = []
    for i in range(2):
        runs.append(tmp_path / f"run{i}")
        result = run_cli("train", *SMALL, "--epochs", "2", "--no-plots", "--out", str(runs[-1]))
        assert result.returncode == 0, result.stderr
    for name in ("model.safetensors", "checkpoint.model.safetensors"):
        assert (runs[0] / name).read_bytes() == (runs[1] / name).read_bytes(), name
    first, second = (strict(r / "history.json") for r in runs)
    first["history"].pop("seconds"), second["history"].pop("seconds")
    assert first == second  # everything but the wall-clock seconds
