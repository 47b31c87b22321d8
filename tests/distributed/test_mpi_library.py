"""``Trainer(distributed=True)`` under a real ``mpirun``: batch norm, local and synchronised.

Same tolerance reasoning as test_mpi_training (float32 summation order only).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
SCRIPT = str(HERE / "fit_script.py")


def _run(job, ranks: int | None, out: Path, *flags: str) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    result = job(ranks, "python", SCRIPT, str(out), "--epochs", "2", *flags)
    assert result.returncode == 0, result.output
    return dict(np.load(out / "weights.npz"))


def test_sync_batch_norm_on_three_ranks_trains_the_one_process_batch_norm_model(
    tmp_path: Path, job
) -> None:  # type: ignore[no-untyped-def]
    one = _run(job, None, tmp_path / "one", "--batch-norm")
    synced = _run(job, 3, tmp_path / "sync", "--batch-norm", "--sync-bn")
    local = _run(job, 2, tmp_path / "local", "--batch-norm")
    for name in one:  # statistics over the global batch: the single-process numbers
        np.testing.assert_allclose(synced[name], one[name], atol=2e-5, rtol=1e-4, err_msg=name)
    # Local statistics (the default) are each rank's share's: another model, still learning,
    # with the running statistics averaged over the ranks before they were saved.
    assert np.abs(local["1.running_mean"] - one["1.running_mean"]).max() > 1e-3
    history = json.loads((tmp_path / "local" / "history.json").read_text())["history"]
    assert history["val_accuracy"][-1] > 0.8


def test_early_stopping_decides_the_same_on_every_rank(tmp_path: Path, job) -> None:  # type: ignore[no-untyped-def]
    # A decision from rank 0's logs; a rank that stopped alone would leave the others waiting
    # in their next Allreduce (the job would time out instead of ending).
    result = job(2, "python", SCRIPT, str(tmp_path), "--epochs", "30", "--early-stopping")
    assert result.returncode == 0, result.output
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["stopped_early"] and len(history["epochs"]) < 30


def test_an_uncaught_exception_in_a_library_script_aborts_every_rank(tmp_path: Path, job) -> None:  # type: ignore[no-untyped-def]
    # DataParallel installs the excepthook: without it rank 0 would wait in its next
    # Allreduce until the timeout.
    result = job(2, "python", SCRIPT, str(tmp_path), "--epochs", "5", "--fail-rank", "1")
    assert result.returncode != 0 and result.seconds < 30
    assert "rank 1 of 2 failed: RuntimeError: library user's error" in result.output
