"""The per-product GEMM benchmark: which products it times, and its output files (no timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_gemm  # noqa: E402  (benchmarks/ is not a package)


def test_a_step_has_a_forward_and_a_weight_gradient_per_layer_and_no_input_gradient_first() -> None:
    labels = [label for label, *_ in bench_gemm.products([784, 512, 256, 10], 128)]
    assert len(labels) == 3 + 3 + 2
    assert labels[:3] == [
        "forward 128x784 @ (512x784).T",
        "forward 128x512 @ (256x512).T",
        "forward 128x256 @ (10x256).T",
    ]
    assert labels[3] == "weight grad (128x10).T @ 128x256"
    assert not any(label.startswith("input grad") and "x784" in label for label in labels)


def test_summary_takes_medians_and_per_round_ratios() -> None:
    def rec(numpy_s: float, torch_s: float) -> dict:
        return {"numpy": {"seconds": {"n": {"p": numpy_s, "q": 1.0}}},
                "torch": {"seconds": {"n": {"p": torch_s, "q": 0.5}}}}  # fmt: skip

    summary = bench_gemm.summarize([rec(1.0, 0.5), rec(2.0, 2.0), rec(4.0, 1.0)])
    p = summary["n"]["products"][0]
    assert p["numpy_us"] == pytest.approx(2e6) and p["torch_us"] == pytest.approx(1e6)
    assert p["torch_over_numpy"] == pytest.approx(0.5)  # median of 0.5, 1.0, 0.25
    assert summary["n"]["step"]["numpy_us"] == pytest.approx(3e6)


def test_runs_end_to_end_without_torch(tmp_path: Path) -> None:
    cmd = [sys.executable, str(BENCH / "bench_gemm.py"), "--no-torch", "--rounds", "2",
           "--calls", "2", "--networks", "784-32-10", "--out", str(tmp_path)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "gemm.json").read_text(encoding="utf-8"))
    rows = result["summary"]["784-32-10"]["products"]
    assert len(rows) == 5 and all(r["numpy_us"] > 0 and r["torch_us"] is None for r in rows)
    assert len(result["rounds"]) == 2 and "no PyTorch" in result["meta"]["libraries"]
    assert "| **one step, all products** |" in (tmp_path / "gemm.md").read_text(encoding="utf-8")


def test_bad_counts_are_refused() -> None:
    with pytest.raises(SystemExit):
        bench_gemm.parse_args(["--rounds", "0"])
