"""The CNN benchmark runs end to end on tiny synthetic data and writes its results (no timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
CONTENDERS = ["chainrule-trainer", "chainrule-loop", "numpy-hand", "gemm-floor"]


def test_the_cnn_benchmark_runs_and_reports_every_contender(tmp_path: Path) -> None:
    cmd = [sys.executable, str(BENCH / "bench_cnn.py"), "--quick", "--synthetic", "300",
           "--threads", "1", "--contenders", ",".join(CONTENDERS),
           "--torch-python", str(tmp_path / "no-torch"), "--out", str(tmp_path)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "cnn-latest.json").read_text(encoding="utf-8"))
    records = result["records"]
    assert sorted(r["contender"] for r in records) == sorted(CONTENDERS)
    for r in records:
        assert "error" not in r, r
        assert len(r["epoch_seconds"]) == len(r["epoch_cpu_seconds"]) == r["epochs"] == 2
        assert all(t > 0 for t in r["epoch_seconds"])
        assert r["threads"] == 1 and r["n_train"] == 300
        assert r["peak_rss_kib"] >= r["peak_rss_train_kib"] > 0
        assert len(r["inference_runs"]) == 3 and len(r["test_accuracy"]) == 2
    assert set(result["summary"]) == set(CONTENDERS)
    page = (tmp_path / "cnn-latest.md").read_text(encoding="utf-8")
    assert "| chainrule-loop |" in page and "threads" in page
    assert "no PyTorch interpreter" in proc.stderr  # the torch columns are left out, said so
