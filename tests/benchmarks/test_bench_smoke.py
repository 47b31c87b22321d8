"""The MLP benchmark runs end to end on tiny synthetic data and writes its results (no timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import _report  # noqa: E402  (benchmarks/ is not a package)

CONTENDERS = ["numpy-hand", "gemm-floor", "chainrule-loop"]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Run the orchestrator once in quick mode: 2 rounds x 3 contenders + 2 memory runs."""
    out = tmp_path_factory.mktemp("bench")
    cmd = [sys.executable, str(BENCH / "bench_mlp.py"), "--quick", "--synthetic", "1200",
           "--contenders", ",".join(CONTENDERS), "--phases", "main,memory",
           "--out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "latest.md").exists()
    return json.loads((out / "latest.json").read_text(encoding="utf-8"))


def test_every_run_has_the_expected_fields(results: dict) -> None:
    main = [r for r in results["records"] if r["phase"] == "main"]
    assert sorted(r["contender"] for r in main) == sorted(CONTENDERS * 2)
    for r in main:
        assert "error" not in r
        assert len(r["epoch_seconds"]) == r["epochs"] == 3
        assert all(t > 0 for t in r["epoch_seconds"])
        timed = r["epoch_seconds"][1:]  # the warm-up epoch is excluded
        assert r["epoch_median"] == pytest.approx((timed[0] + timed[1]) / 2)
        assert len(r["test_accuracy"]) == 3
        assert r["peak_rss_kib"] >= r["peak_rss_train_kib"] > 0
        assert r["peak_rss_kib"] >= r["rss_after_data_kib"] > 0
        assert r["inference_seconds"] > 0 and len(r["inference_runs"]) == 3
        assert r["threads"] == 2 and r["env"]["OPENBLAS_NUM_THREADS"] == "2"
        assert r["n_train"] == 1200 and r["network"] == "784-256-10"
        assert r["blas"]["source"] in ("threadpoolctl", "numpy.show_config")
        assert "torch" not in r["versions"]


def test_accuracy_is_measured_except_for_the_floor(results: dict) -> None:
    for r in results["records"]:
        accs = r["test_accuracy"]
        if r["contender"] == "gemm-floor":
            assert accs == [None] * len(accs)
        else:
            assert all(0.0 <= a <= 1.0 for a in accs)
            assert max(accs) > 0.2  # 10 teacher classes: above chance after a few epochs


def test_summary_pairs_rounds_and_checks_targets(results: dict) -> None:
    stats = results["summary"]["per_network"]["784-256-10"]
    assert set(stats) == set(CONTENDERS)
    assert stats["gemm-floor"]["floor_fraction"] == pytest.approx(1.0)
    assert stats["chainrule-loop"]["vs_torch_eager"] is None  # torch was not run
    mem = results["summary"]["memory"]
    assert set(mem) == {"chainrule-loop", "numpy-hand"} and mem["numpy-hand"]["epochs"] == 3
    verdicts = {t["target"]: t["verdict"] for t in results["summary"]["targets"]}
    assert verdicts["chainrule-loop epoch / torch-eager epoch, 784-256-10"] == "n/a"
    assert verdicts["chainrule-loop GEMM floor / epoch, 784-256-10"] in ("PASS", "FAIL")
    assert results["meta"]["data"].startswith("synthetic")
    assert "Time to accuracy" not in " ".join(results["meta"]["notes"])  # tta phase not asked


def _record(contender: str, rnd: int, seconds: float, accs: list[float]) -> dict:
    """A hand-made worker record."""
    return {"phase": "tta", "round": rnd, "contender": contender, "network": "784-256-10",
            "epochs": len(accs), "epoch_seconds": [seconds] * len(accs),
            "test_accuracy": accs}  # fmt: skip


def test_time_to_accuracy_counts_every_epoch_up_to_the_first_crossing() -> None:
    rec = _record("torch-eager", 0, 2.0, [0.80, 0.87, 0.881, 0.86])
    assert _report.time_to_accuracy(rec) == pytest.approx(6.0)
    assert _report.time_to_accuracy(_record("x", 0, 1.0, [0.5, 0.6])) is None


def test_paired_ratios_take_the_median_of_rounds() -> None:
    records = []
    # Round 2 is disturbed for torch (10x slower): the median of pairs ignores it.
    for rnd, (ours, theirs) in enumerate([(1.0, 2.0), (1.2, 2.0), (1.0, 20.0)]):
        for name, t in (("chainrule-loop", ours), ("torch-eager", theirs), ("gemm-floor", 0.5)):
            records.append({"phase": "main", "round": rnd, "contender": name,
                            "network": "784-256-10", "epoch_median": t, "epoch_spread": 1.0,
                            "test_accuracy": [0.9], "inference_seconds": t / 10,
                            "peak_rss_kib": 1024, "import_seconds": 0.1})  # fmt: skip
    summary = _report.summarize(records, [0.2, 0.4, 0.25])
    loop = summary["per_network"]["784-256-10"]["chainrule-loop"]
    assert loop["vs_torch_eager"] == pytest.approx(0.5)  # pairs 0.5, 0.6, 0.05
    assert loop["floor_fraction"] == pytest.approx(0.5)  # pairs 0.5, 0.4167, 0.5
    assert loop["epoch_seconds"] == pytest.approx(1.0)
    verdicts = {t["target"]: t["verdict"] for t in summary["targets"]}
    assert verdicts["chainrule-loop epoch / torch-eager epoch, 784-256-10"] == "PASS"
    assert verdicts["chainrule-loop GEMM floor / epoch, 784-256-10"] == "FAIL"
    assert verdicts["`chainrule --help` seconds"] == "PASS"  # median 0.25 <= 0.3


def test_adam_runs_for_the_contenders_that_support_it(tmp_path: Path) -> None:
    cmd = [sys.executable, str(BENCH / "bench_mlp.py"), "--quick", "--synthetic", "1200",
           "--optimizer", "adam", "--contenders", "chainrule-loop,gemm-floor", "--phases", "main",
           "--out", str(tmp_path)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    loop = [r for r in result["records"] if r["contender"] == "chainrule-loop"]
    assert loop and all(r["optimizer"] == "adam" and r["lr"] == 0.001 for r in loop)
    assert max(loop[0]["test_accuracy"]) > 0.2
    page = (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert "Adam lr 0.001" in page and "this run used Adam" in page


def test_adam_refuses_the_sgd_only_contenders() -> None:
    import bench_mlp

    with pytest.raises(SystemExit):
        bench_mlp.parse_args(["--optimizer", "adam", "--contenders", "numpy-hand"])
    assert "sklearn" not in bench_mlp.parse_args(["--optimizer", "adam"]).contenders
    assert bench_mlp.parse_args([]).lr == 0.05
