"""Train the issue-14 CNN with chainrule, PyTorch (eager, compiled) and plain NumPy, side by side.

Usage::

    .venv/bin/python benchmarks/bench_cnn.py                            # Fashion-MNIST, 3 rounds
    .venv/bin/python benchmarks/bench_cnn.py --train-size 6400 --rounds 3 --epochs 3
    .venv/bin/python benchmarks/bench_cnn.py --quick --out /tmp/bench-cnn   # smoke test

Each run is a fresh process (``_cnn_workers.py``); contenders alternate within every round
(the order rotates from round to round), and ratios are medians of per-round pairs. The first
epoch of every run is a warm-up (``torch.compile`` compiles there) and is left out. Besides wall
time, every epoch's CPU time of the worker process is recorded: on a shared machine it is the
steadier figure. Results: ``--out``/``cnn-latest.json`` (raw records) and ``cnn-latest.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _data import prepare_data  # noqa: E402  (benchmarks/ is not a package)

WORKER = HERE / "_cnn_workers.py"
CONTENDERS = ("chainrule-trainer", "chainrule-loop", "torch-eager", "torch-compile",
              "numpy-hand", "gemm-floor")  # fmt: skip
TORCH_PYTHON = Path("/work/torchvenv/bin/python")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_worker(name: str, args: argparse.Namespace, data: Path) -> dict[str, Any]:
    """One contender in a fresh process; its JSON line, or an error record."""
    python = str(args.torch_python) if name.startswith("torch") else sys.executable
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    env["PYTHONPATH"] = str(HERE.parent / "src") + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [python, str(WORKER), name, "--data", str(data), "--epochs", str(args.epochs),
           "--threads", str(args.threads), "--train-size", str(args.train_size)]  # fmt: skip
    load = os.getloadavg()[0]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        return {"contender": name, "error": proc.stderr[-800:] or f"exit {proc.returncode}"}
    record = json.loads(lines[-1])
    record["load_before"] = load
    return record


def summarize(records: list[dict[str, Any]], contenders: list[str]) -> dict[str, Any]:
    """Medians per contender and medians of per-round ratios against PyTorch."""
    by: dict[str, list[dict[str, Any]]] = {c: [] for c in contenders}
    for r in records:
        if "error" not in r:
            by[r["contender"]].append(r)
    out: dict[str, Any] = {}
    for c, runs in by.items():
        if not runs:
            continue
        timed = [statistics.median(r["epoch_seconds"][1:] or r["epoch_seconds"]) for r in runs]
        cpu = [statistics.median(r["epoch_cpu_seconds"][1:] or r["epoch_cpu_seconds"])
               for r in runs]  # fmt: skip
        out[c] = {"epoch_median": statistics.median(timed),
                  "epoch_cpu_median": statistics.median(cpu),
                  "inference_median": statistics.median(r["inference_seconds"] for r in runs),
                  "peak_rss_mib": statistics.median(r["peak_rss_kib"] for r in runs) / 1024,
                  "accuracy": runs[-1]["test_accuracy"][-1], "runs": len(runs),
                  "per_run": timed}  # fmt: skip
    for base in ("torch-eager", "torch-compile"):
        if base not in out:
            continue
        for c in out:
            pairs = [(a, b) for a, b in zip(out[c]["per_run"], out[base]["per_run"])]
            if pairs:
                out[c][f"ratio_to_{base}"] = statistics.median(a / b for a, b in pairs)
            key = "inference_median"
            out[c][f"inference_ratio_to_{base}"] = out[c][key] / out[base][key]
            out[c][f"memory_ratio_to_{base}"] = out[c]["peak_rss_mib"] / out[base]["peak_rss_mib"]
    return out


def _cell(s: dict[str, Any]) -> Any:
    """A formatter of one contender's figures: '-' where a figure is missing."""

    def f(key: str, fmt: str = "{:.2f}") -> str:
        return fmt.format(s[key]) if key in s else "-"

    return f


def render(summary: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = [
        "# CNN benchmark (issue 14)", "",
        f"{meta['cpu']}, {meta['threads']} threads, {meta['data']}; {meta['rounds']} rounds x "
        f"{meta['epochs']} epochs (the first left out), batch 128, SGD 0.05 momentum 0.9, "
        f"float32. Load average before the runs: {meta['load']:.1f} (a shared machine: noisy).",
        "",
        "| contender | s/epoch (median) | CPU s/epoch | x torch eager | x torch.compile | "
        "inference s | x eager (inf.) | peak RSS MiB | x eager (mem.) | test acc. |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for c, s in summary.items():
        f = _cell(s)
        lines.append(
            f"| {c} | {f('epoch_median')} | {f('epoch_cpu_median')} | "
            f"{f('ratio_to_torch-eager')} | {f('ratio_to_torch-compile')} | "
            f"{f('inference_median', '{:.3f}')} | {f('inference_ratio_to_torch-eager')} | "
            f"{f('peak_rss_mib', '{:.0f}')} | {f('memory_ratio_to_torch-eager')} | "
            f"{f('accuracy', '{:.3f}')} |"
        )
    for r in meta.get("errors", []):
        lines.append(f"\n{r['contender']} failed: `{r['error'][-300:]}`")
    return "\n".join(lines) + "\n"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f" ({os.cpu_count()} vCPU)"
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--contenders", default=",".join(CONTENDERS))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--train-size", type=int, default=0, help="first N training images (0: all)")
    p.add_argument("--synthetic", type=int, default=0, help="synthetic data of N images")
    p.add_argument("--torch-python", type=Path, default=TORCH_PYTHON)
    p.add_argument("--timeout", type=int, default=7200)
    p.add_argument("--quick", action="store_true", help="1 round, 2 epochs, 640 synthetic images")
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.epochs, args.synthetic = 1, 2, args.synthetic or 640
    contenders = [c for c in args.contenders.split(",") if c]
    if not args.torch_python.exists():
        log(f"no PyTorch interpreter at {args.torch_python}: the torch columns are left out")
        contenders = [c for c in contenders if not c.startswith("torch")]
    args.out.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        desc, _ = prepare_data(args, Path(tmp))
        log(desc)
        load = os.getloadavg()[0]
        for round_ in range(args.rounds):
            shift = round_ % len(contenders)
            for name in contenders[shift:] + contenders[:shift]:
                log(f"round {round_ + 1}/{args.rounds}: {name}")
                record = run_worker(name, args, Path(tmp))
                record["round"] = round_
                records.append(record)
                if "error" in record:
                    log(f"{name} failed: {record['error'][-300:]}")
    summary = summarize(records, contenders)
    meta = {"cpu": cpu_name(), "threads": args.threads, "data": desc, "rounds": args.rounds,
            "epochs": args.epochs, "load": load,
            "errors": [r for r in records if "error" in r]}  # fmt: skip
    (args.out / "cnn-latest.json").write_text(
        json.dumps({"meta": meta, "summary": summary, "records": records}, indent=1)
    )
    (args.out / "cnn-latest.md").write_text(render(summary, meta))
    print(render(summary, meta))
    return (
        1 if any(not c.startswith("torch") for c in (r["contender"] for r in meta["errors"])) else 0
    )


if __name__ == "__main__":
    sys.exit(main())
