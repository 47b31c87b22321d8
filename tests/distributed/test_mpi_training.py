"""``mpirun -n N chainrule train``: the same model as one process, one run folder, clean faults.

Tolerance: the ranks' gradients are summed in another order than one process sums them
(each rank's share through its own matrix products, then the ``Allreduce``), so every
averaged gradient differs from the single-process one by a few float32 ulps (eps = 1.2e-7,
relative). Over the ~70 SGD steps of these runs such differences stay of order 1e-7..1e-6 on
weights of order 0.1-1 (measured: at most 6e-7); ``atol=2e-5, rtol=1e-4`` leaves room for
that and still fails for every real mistake (a gradient not divided by the world size,
overlapping or missing shares, ranks starting from different weights: differences of 1e-2
and more). Measured over nine seeds of this set-up: at most 3.6e-7. The runs are kept short
on purpose: over long runs the trajectories of ReLU networks drift apart (a pre-activation
within rounding of zero flips its gradient), by ~1e-2 after one Fashion-MNIST epoch of
784-800-10, exactly as one process with 1 and with 2 BLAS threads drifts apart.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

HERE = Path(__file__).parent
TOLERANCE = {"atol": 2e-5, "rtol": 1e-4}
# No dropout (its masks would differ by rank), three epochs on the bundled digits: 1294
# training rows in global batches of 64 (a ragged last batch of 14, split unevenly on 4 ranks).
FLAGS = ("--quiet", "--no-plots", "--epochs", "3", "--dropout", "0", "--hidden", "64")


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory, job) -> Path:  # type: ignore[no-untyped-def]
    """The reference: one plain process, no launcher."""
    out = tmp_path_factory.mktemp("single") / "run"
    result = job(None, "chainrule", "train", *FLAGS, "--out", str(out))
    assert result.returncode == 0, result.output
    return out


def _weights(run_dir: Path) -> dict[str, np.ndarray]:
    return load_file(str(run_dir / "model.safetensors"))


def _history(run_dir: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((run_dir / "history.json").read_text())


def _same_model(run_dir: Path, reference: Path) -> None:
    got, want = _weights(run_dir), _weights(reference)
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], **TOLERANCE, err_msg=name)
    h, r = _history(run_dir), _history(reference)
    assert sorted(h["history"]) == sorted(r["history"])
    assert h["epochs"] == r["epochs"] == [0, 1, 2]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(h["history"][key], r["history"][key], rtol=1e-4, err_msg=key)


def test_two_ranks_train_the_single_process_model_and_rank_0_writes_one_folder(
    single: Path, tmp_path: Path, job
) -> None:  # type: ignore[no-untyped-def]
    result = job(2, "chainrule", "train", *FLAGS, cwd=tmp_path)
    assert result.returncode == 0, result.output
    folders = list((tmp_path / "runs").iterdir())
    assert len(folders) == 1, folders  # named by rank 0, written by rank 0 alone
    assert result.stdout.count("test accuracy") == 1  # one report, not one per rank
    _same_model(folders[0], single)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


def test_four_ranks_oversubscribed_train_the_single_process_model(
    single: Path, tmp_path: Path, job
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "run"
    result = job(4, "chainrule", "train", *FLAGS, "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.output
    _same_model(out, single)


def _fails_then_resumes(how: str, tmp_path: Path, single: Path, job) -> str:  # type: ignore[no-untyped-def]
    """Rank 1 fails in epoch 2: the job ends, epoch 1's checkpoint resumes to the same model."""
    out = tmp_path / "run"
    failed = job(2, "python", str(HERE / "cli_fault.py"), "1", "1", how, *FLAGS, "--out", str(out))
    assert failed.returncode != 0, failed.output
    assert failed.seconds < 30, failed.seconds
    assert json.loads((out / "checkpoint.json").read_text())["epoch"] == 0
    assert not (out / "model.safetensors").exists()
    resumed = job(2, "chainrule", "train", "--resume", str(out), "--quiet", "--no-plots")
    assert resumed.returncode == 0, resumed.output
    _same_model(out, single)
    return failed.output


def test_a_rank_that_raises_aborts_the_job_naming_it_and_the_run_resumes(
    single: Path, tmp_path: Path, job
) -> None:  # type: ignore[no-untyped-def]
    output = _fails_then_resumes("raise", tmp_path, single, job)
    assert "rank 1 of 2 failed: RuntimeError: injected failure in epoch 2" in output


def test_a_rank_killed_with_sigkill_ends_the_job_and_the_run_resumes(
    single: Path, tmp_path: Path, job
) -> None:  # type: ignore[no-untyped-def]
    output = _fails_then_resumes("kill", tmp_path, single, job)
    assert "signal 9" in output  # MPICH's launcher names the killed process and the signal


def test_ctrl_c_ends_every_rank_and_the_checkpoint_resumes(tmp_path: Path, job, spawn) -> None:  # type: ignore[no-untyped-def]
    # Ranks interrupted at different points of a step would wait on each other forever (seen
    # in 1 of 3 tries before the fix); under MPI Ctrl-C aborts the job instead.
    out = tmp_path / "run"
    flags = ("--quiet", "--no-plots", "--dropout", "0", "--hidden", "64")
    with spawn(2, "chainrule", "train", *flags, "--epochs", "200", "--out", str(out)) as proc:
        deadline = time.monotonic() + 60
        while not (out / "checkpoint.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)  # somewhere inside a later epoch
        proc.send_signal(signal.SIGINT)  # what the terminal sends mpirun on Ctrl-C
        started = time.monotonic()
        output, _ = proc.communicate(timeout=30)
        assert time.monotonic() - started < 30
    assert proc.returncode != 0, output
    assert "interrupted (Ctrl-C); aborting every rank" in output
    epoch = json.loads((out / "checkpoint.json").read_text())["epoch"]
    resumed = job(
        2,
        "chainrule",
        "train",
        "--resume",
        str(out),
        "--epochs",
        str(epoch + 3),
        "--quiet",
        "--no-plots",
    )
    assert resumed.returncode == 0, resumed.output
    assert len(_history(out)["epochs"]) == epoch + 3


def test_text_training_under_mpirun_is_refused_with_one_message(tmp_path: Path, job) -> None:  # type: ignore[no-untyped-def]
    """Text runs are one process: several ranks would write one run folder, so they refuse."""
    for label, words in (("a", "good fine nice"), ("b", "bad awful poor")):
        (tmp_path / "texts" / label).mkdir(parents=True)
        for i in range(8):
            (tmp_path / "texts" / label / f"{i}.txt").write_text(f"{words} {i}\n")
    done = job(2, "chainrule", "train", "--text-dir", str(tmp_path / "texts"), "--epochs", "1",
                  "--quiet", "--no-plots", "--out", str(tmp_path / "run"))  # fmt: skip
    assert done.returncode != 0
    assert "text training runs as one process" in done.output
    assert not (tmp_path / "run" / "model.json").exists()
