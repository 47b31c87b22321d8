"""The per-operation overhead benchmark runs end to end on a tiny size (no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_overhead  # noqa: E402  (benchmarks/ is not a package)


def test_runs_two_contenders_alternated_and_writes_results(tmp_path: Path) -> None:
    cmd = [sys.executable, str(BENCH / "bench_overhead.py"), "--rounds", "2", "--calls", "3",
           "--batches", "2", "--size", "4", "--contender", f"a={sys.executable}",
           "--contender", f"b={sys.executable}", "--out", str(tmp_path)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "overhead.json").read_text(encoding="utf-8"))
    assert len(result["rounds"]) == 2
    summary = result["summary"]
    assert "MLP SGD step" in summary and "a @ w, backward" in summary
    assert all(row["a_us"] > 0 and row["b_over_a"] > 0 for row in summary.values())
    assert "| MLP SGD step |" in (tmp_path / "overhead.md").read_text(encoding="utf-8")


def test_summary_is_the_median_of_paired_ratios() -> None:
    rounds = [{"a": {"t": 1.0}, "b": {"t": 2.0}}, {"a": {"t": 4.0}, "b": {"t": 2.0}},
              {"a": {"t": 2.0}, "b": {"t": 2.0}}]  # fmt: skip
    row = bench_overhead.summarize(["a", "b"], rounds)["t"]
    assert row["a_us"] == 2.0 and row["b_us"] == 2.0
    assert row["b_over_a"] == pytest.approx(1.0)  # median of 2.0, 0.5, 1.0


def test_bad_counts_are_refused() -> None:
    with pytest.raises(SystemExit):
        bench_overhead.parse_args(["--rounds", "0"])
