"""Per-operation overhead of the engine: tiny tensors, so the time is the framework's, not BLAS's.

Usage::

    python benchmarks/bench_overhead.py --contender old=/work/venv/bin/python \\
        --contender new=.venv/bin/python --rounds 7 --out benchmarks/results/overhead

Each contender is an interpreter with chainrule installed (two checkouts: before and after a
change). Every round runs each contender once in a fresh process, in alternating order; a
worker times each task as the median of several batches of calls. The summary gives, per task,
each contender's median microseconds per call and the median of the per-round ratios to the
first contender (below 1: faster than it). See /work/shared/MEASURING.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def build_tasks(size: int) -> dict[str, Callable[[], Any]]:
    """The calls to time, on float32 tensors of ``size x size`` (a worker's side)."""
    import numpy as np

    import chainrule as cr
    from chainrule import nn, optim
    from chainrule.losses import cross_entropy

    rng = np.random.default_rng(0)

    def leaf(*shape: int) -> Any:
        return cr.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)

    a, b, w = leaf(size, size), leaf(size, size), leaf(size, size)
    seed = np.ones((size, size), dtype=np.float32)
    model = nn.Sequential(nn.Linear(size, size, rng=rng), nn.ReLU(), nn.Linear(size, 3, rng=rng))
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = cr.tensor(rng.standard_normal((size, size)).astype(np.float32))
    y = rng.integers(0, 3, size)

    def step() -> None:
        opt.zero_grad()
        cross_entropy(model(x), y).backward()
        opt.step()

    def backward(fn: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            fn().backward(seed)

        return run

    return {
        "a + b (forward)": lambda: a + b,
        "a @ w (forward)": lambda: a @ w,
        "relu(a) (forward)": lambda: a.relu(),
        "a + b, backward": backward(lambda: a + b),
        "a @ w, backward": backward(lambda: a @ w),
        "relu(a), backward": backward(lambda: a.relu()),
        "MLP SGD step": step,
    }


def worker(size: int, calls: int, batches: int) -> dict[str, float]:
    """Median microseconds per call of every task, in this process."""
    result: dict[str, float] = {}
    for name, fn in build_tasks(size).items():
        for _ in range(max(1, calls // 10)):  # warm up caches and lazy imports
            fn()
        times = []
        for _ in range(batches):
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            times.append((time.perf_counter() - start) / calls * 1e6)
        result[name] = statistics.median(times)
    return result


def run_worker(python: str, size: int, calls: int, batches: int) -> dict[str, float]:
    """One contender's figures from a fresh process."""
    cmd = [python, str(Path(__file__).resolve()), "--worker", "--size", str(size),
           "--calls", str(calls), "--batches", str(batches)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"worker {python} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def summarize(names: list[str], rounds: list[dict[str, dict[str, float]]]) -> dict[str, Any]:
    """Per task: each contender's median microseconds and its median paired ratio to the first."""
    base = names[0]
    summary: dict[str, Any] = {}
    for task in rounds[0][base]:
        row: dict[str, Any] = {}
        for name in names:
            row[f"{name}_us"] = statistics.median(r[name][task] for r in rounds)
            if name != base:
                row[f"{name}_over_{base}"] = statistics.median(
                    r[name][task] / r[base][task] for r in rounds
                )
        summary[task] = row
    return summary


def markdown(names: list[str], summary: dict[str, Any], meta: dict[str, Any]) -> str:
    """The summary as a Markdown table with the conditions of the run."""
    base = names[0]
    head = ["task", *(f"{n} µs" for n in names), *(f"{n}/{base}" for n in names[1:])]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for task, row in summary.items():
        cells = [task, *(f"{row[f'{n}_us']:.2f}" for n in names)]
        cells += [f"{row[f'{n}_over_{base}']:.3f}" for n in names[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"{meta['rounds']} rounds, alternated, fresh process each; {meta['calls']} calls x "
        f"{meta['batches']} batches per task; tensors {meta['size']}x{meta['size']} float32; "
        f"CPU: {meta['cpu']}."
    )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--contender",
        action="append",
        default=[],
        metavar="NAME=PYTHON",
        help="an interpreter to time (repeat; the first is the baseline)",
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--size", type=int, default=8)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.rounds, args.size, args.calls, args.batches) < 1:
        parser.error("--rounds, --size, --calls and --batches must be positive")
    return args


def _cpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return platform.processor() or "unknown"
    for line in out.splitlines():
        if line.startswith("Model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.size, args.calls, args.batches)))
        return 0
    contenders = [c.split("=", 1) for c in args.contender] or [["current", sys.executable]]
    if any(len(c) != 2 for c in contenders):
        raise SystemExit("--contender takes NAME=PYTHON")
    names = [name for name, _ in contenders]
    rounds: list[dict[str, dict[str, float]]] = []
    for r in range(args.rounds):
        order = contenders if r % 2 == 0 else contenders[::-1]
        record = {name: run_worker(py, args.size, args.calls, args.batches) for name, py in order}
        rounds.append(record)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    meta = {"rounds": args.rounds, "size": args.size, "calls": args.calls,
            "batches": args.batches, "cpu": _cpu(), "contenders": dict(contenders)}  # fmt: skip
    summary = summarize(names, rounds)
    table = markdown(names, summary, meta)
    print(table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        data = {"meta": meta, "rounds": rounds, "summary": summary}
        (args.out / "overhead.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
        (args.out / "overhead.md").write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
