"""The matrix products of one training step, one by one: NumPy's BLAS against PyTorch's.

Usage::

    /work/venv/bin/python benchmarks/bench_gemm.py                     # ~1.5 minutes
    /work/venv/bin/python benchmarks/bench_gemm.py --rounds 2 --calls 50 --out /tmp/gemm

``bench_mlp.py`` says how far an epoch is from its GEMM floor; this script says how far that
floor is from PyTorch's, product by product: for every layer of the three benchmark networks
at batch 128 it times the forward product ``h @ W.T``, the weight gradient ``g.T @ h`` and the
input gradient ``g @ W`` (not for the first layer, whose input needs none), in float32 on
``--threads`` threads, exactly as the ``gemm-floor`` and ``torch-gemm-floor`` contenders issue
them. Each round runs one fresh NumPy process and one fresh PyTorch process (PyTorch from its
own virtualenv, found as in bench_mlp.py; without one, only NumPy's column is filled); a
process times each product as the median of 7 blocks of ``--calls`` calls after a warm-up.
The figures are the medians over rounds, and the ratio is the median of the per-round ratios.
Results go to ``--out`` as ``gemm.md`` and ``gemm.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

NETWORKS = ("784-256-10", "784-800-10", "784-512-256-128-10")
#: (label, shape of the left operand, shape of the right operand, how they are combined)
Product = tuple[str, tuple[int, int], tuple[int, int], str]


def products(sizes: list[int], batch: int) -> list[Product]:
    """The products of one step of an MLP, in the order a step issues them."""
    out: list[Product] = []
    layers = list(zip(sizes[:-1], sizes[1:]))
    for n_in, n_out in layers:
        out.append(
            (f"forward {batch}x{n_in} @ ({n_out}x{n_in}).T", (batch, n_in), (n_out, n_in), "a@b.T")
        )
    for index in range(len(layers) - 1, -1, -1):
        n_in, n_out = layers[index]
        out.append(
            (
                f"weight grad ({batch}x{n_out}).T @ {batch}x{n_in}",
                (batch, n_out),
                (batch, n_in),
                "a.T@b",
            )
        )
        if index > 0:
            out.append(
                (
                    f"input grad {batch}x{n_out} @ {n_out}x{n_in}",
                    (batch, n_out),
                    (n_out, n_in),
                    "a@b",
                )
            )
    return out


def _time(call: Any, calls: int) -> float:
    """Seconds per call: median of 7 blocks of ``calls`` calls, after a warm-up block."""
    for _ in range(max(calls // 4, 5)):
        call()
    blocks = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(calls):
            call()
        blocks.append((time.perf_counter() - t0) / calls)
    return statistics.median(blocks)


def worker(
    library: str, networks: list[str], batch: int, calls: int, threads: int
) -> dict[str, Any]:
    """Time every product of every network in this process, with NumPy or PyTorch."""
    import numpy as np

    rng = np.random.default_rng(0)
    version = np.__version__
    if library == "torch":
        import torch

        torch.set_num_threads(threads)
        version = torch.__version__
    seconds: dict[str, dict[str, float]] = {}
    for net in networks:
        seconds[net] = {}
        for label, shape_a, shape_b, kind in products([int(s) for s in net.split("-")], batch):
            a = rng.standard_normal(shape_a).astype(np.float32)
            b = rng.standard_normal(shape_b).astype(np.float32)
            if kind == "a@b.T":
                left, right = a, b.T
            elif kind == "a.T@b":
                left, right = a.T, b
            else:
                left, right = a, b
            out = np.empty((left.shape[0], right.shape[1]), np.float32)
            if library == "torch":
                tl, tr, to = (torch.from_numpy(np.ascontiguousarray(v)) for v in (a, b, out))
                tl = tl.t() if kind == "a.T@b" else tl
                tr = tr.t() if kind == "a@b.T" else tr
                call = lambda tl=tl, tr=tr, to=to: torch.matmul(tl, tr, out=to)  # noqa: E731
            else:
                call = lambda left=left, right=right, out=out: np.matmul(left, right, out=out)  # noqa: E731
            seconds[net][label] = _time(call, calls)
    return {"library": library, "version": version, "seconds": seconds}


def run_worker(
    python: str, args: argparse.Namespace, library: str, env: dict[str, str]
) -> dict[str, Any]:
    """One fresh process; its last stdout line is its JSON record."""
    cmd = [python, str(Path(__file__).resolve()), "--worker", library, "--networks", args.networks,
           "--batch-size", str(args.batch_size), "--calls", str(args.calls),
           "--threads", str(args.threads)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{library} worker failed: {proc.stderr.strip()[-1500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarize(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Per network and product: median seconds per library, median per-round torch/numpy ratio."""
    per_network: dict[str, Any] = {}
    first = rounds[0]["numpy"]["seconds"]
    for net, labels in first.items():
        rows = []
        for label in labels:
            np_s = [r["numpy"]["seconds"][net][label] for r in rounds]
            torch_s = [r["torch"]["seconds"][net][label] for r in rounds if "torch" in r]
            ratios = [r["torch"]["seconds"][net][label] / r["numpy"]["seconds"][net][label]
                      for r in rounds if "torch" in r]  # fmt: skip
            rows.append({
                "product": label,
                "numpy_us": statistics.median(np_s) * 1e6,
                "torch_us": statistics.median(torch_s) * 1e6 if torch_s else None,
                "torch_over_numpy": statistics.median(ratios) if ratios else None,
            })  # fmt: skip
        totals_np = [sum(r["numpy"]["seconds"][net].values()) for r in rounds]
        totals_torch = [sum(r["torch"]["seconds"][net].values()) for r in rounds if "torch" in r]
        step = {
            "numpy_us": statistics.median(totals_np) * 1e6,
            "torch_us": statistics.median(totals_torch) * 1e6 if totals_torch else None,
            "torch_over_numpy": statistics.median([t / n for t, n in zip(totals_torch, totals_np)])
            if totals_torch
            else None,
        }
        per_network[net] = {"products": rows, "step": step}
    return per_network


def markdown(summary: dict[str, Any], meta: dict[str, Any]) -> str:
    """The results page."""
    lines = [
        f"Measured {meta['date']} on {meta['machine']}, {meta['threads']} threads, float32, batch "
        f"{meta['batch_size']}; {meta['rounds']} rounds, each a fresh NumPy and a fresh PyTorch "
        f"process; per product the median of 7 blocks of {meta['calls']} calls.",
        f"Libraries: {meta['libraries']}.",
        "",
    ]
    for net, stats in summary.items():
        lines += [f"### {net}", "", "| product | NumPy us | PyTorch us | PyTorch / NumPy |",
                  "|---|---:|---:|---:|"]  # fmt: skip
        for row in stats["products"] + [dict(stats["step"], product="**one step, all products**")]:
            torch_us = "-" if row["torch_us"] is None else f"{row['torch_us']:.0f}"
            ratio = "-" if row["torch_over_numpy"] is None else f"{row['torch_over_numpy']:.2f}"
            lines.append(f"| {row['product']} | {row['numpy_us']:.0f} | {torch_us} | {ratio} |")
        lines.append("")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--networks", default=",".join(NETWORKS), help="layer sizes, comma-separated")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=200, help="calls per timed block")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--torch-python", default=None, help="interpreter with torch installed")
    p.add_argument("--no-torch", action="store_true", help="time NumPy's products only")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--worker", choices=("numpy", "torch"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name in ("rounds", "calls", "batch_size", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    networks = [n for n in args.networks.split(",") if n]
    if args.worker:
        record = worker(args.worker, networks, args.batch_size, args.calls, args.threads)
        print(json.dumps(record))
        return 0
    import _report
    from bench_mlp import find_torch_python, log, worker_env

    torch_python, found = (
        (None, "--no-torch") if args.no_torch else find_torch_python(args.torch_python)
    )
    log(found)
    env = worker_env(args.threads)
    rounds = []
    for rnd in range(args.rounds):
        record = {"numpy": run_worker(sys.executable, args, "numpy", env)}
        if torch_python:
            record["torch"] = run_worker(torch_python, args, "torch", env)
        rounds.append(record)
        log(f"round {rnd + 1}/{args.rounds} done")
    summary = summarize(rounds)
    libraries = f"NumPy {rounds[0]['numpy']['version']} (its bundled OpenBLAS)"
    libraries += (
        f", PyTorch {rounds[0]['torch']['version']} (MKL)"
        if torch_python
        else "; no PyTorch: " + found
    )
    meta = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": _report.machine(),
        "threads": args.threads,
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "calls": args.calls,
        "libraries": libraries,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    page = markdown(summary, meta)
    (args.out / "gemm.json").write_text(
        json.dumps({"meta": meta, "summary": summary, "rounds": rounds}, indent=1)
    )
    (args.out / "gemm.md").write_text(page)
    print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
