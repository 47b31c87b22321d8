"""The MPI scaling benchmark runs end to end on tiny synthetic data (no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def test_bench_mpi_quick_writes_every_contender_and_the_model_on_paper(tmp_path: Path) -> None:
    cmd = [sys.executable, str(BENCH / "bench_mpi.py"), "--quick", "--synthetic", "600",
           "--out", str(tmp_path)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "mpi.json").read_text(encoding="utf-8"))
    records = {r["contender"]: r for r in result["records"]}
    assert sorted(records) == ["mpi-1", "mpi-2", "threads-2"]
    assert [records[n]["ranks"] for n in ("mpi-1", "mpi-2", "threads-2")] == [1, 2, 1]
    assert [records[n]["threads"] for n in ("mpi-1", "mpi-2", "threads-2")] == [1, 1, 2]
    for record in records.values():
        assert len(record["epoch_seconds"]) == len(record["allreduce_seconds"]) == 2
        assert 0 <= record["allreduce_share"] < 1
        assert record["parameters"] == 784 * 800 + 800 + 800 * 10 + 10
    # Same seed, same global batch: the ranks train the one-process model (the weights agree
    # to float32 summation order, so at most a borderline test image may change its class).
    accuracies = [r["test_accuracy"] for r in records.values()]
    assert max(accuracies) - min(accuracies) <= 0.02
    assert records["mpi-2"]["probe"]["bytes_per_second"] > 0
    paper = result["paper"]
    assert paper["bytes_per_step"] == 4 * records["mpi-1"]["parameters"]
    assert {row["machines"] for row in paper["rows"]} == {2, 4, 8, 16, 64}
    assert "## On paper" in (tmp_path / "mpi.md").read_text(encoding="utf-8")
