"""Data-parallel scaling over MPI: 1 and 2 ranks (1 BLAS thread each) against 1 process with 2.

Trains 784-800-10 on Fashion-MNIST (global batch 128, SGD 0.05, momentum 0.9) with
``Trainer(distributed=True)``, each contender in fresh processes, alternated round by round:

- ``mpi-1``: ``mpirun -n 1``, one BLAS thread;
- ``mpi-2``: ``mpirun -n 2``, one BLAS thread per rank, 64 rows of every batch each;
- ``threads-2``: plain ``python``, one process, two BLAS threads.

Each record: seconds per epoch (the first is a warm-up, left out), the share of the epoch
rank 0 spent inside ``Allreduce`` (the transfer *and* the wait for the slower rank), test
accuracy, and for ``mpi-2`` a bandwidth probe (Allreduce of the gradient buffer, back to back).
Then a model on paper for N machines: bytes per step = parameters x 4, a ring Allreduce's time
from a bandwidth (measured here over shared memory, and typical networks), and the batch size
from which the computation of a step outweighs its communication.

    python benchmarks/bench_mpi.py                 # ~4 min on a quiet 2-core machine
    python benchmarks/bench_mpi.py --quick --synthetic 2000 --out /tmp/mpi   # smoke, ~15 s

Results: ``--out`` (default benchmarks/results) ``mpi.md`` and ``mpi.json``. The machine these
figures come from is shared: read medians and ratios of runs taken side by side, not absolutes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CONTENDERS = {"mpi-1": (1, 1), "mpi-2": (2, 1), "threads-2": (None, 2)}  # (ranks, BLAS threads)
NETWORKS = {  # bytes/s and per-message latency of typical cluster links (nominal, not measured)
    "10 GbE": (1.25e9, 30e-6),
    "25 GbE": (3.1e9, 20e-6),
    "100 Gb/s InfiniBand": (12.5e9, 2e-6),
}
MACHINES = (2, 4, 8, 16, 64)


# -- the worker: one run, under mpirun or not ---------------------------------------------------
def worker(args: argparse.Namespace) -> None:
    import chainrule as cr
    from chainrule import distributed, nn, optim
    from chainrule.callbacks import Callback

    data = Path(args.data)
    x, y = np.load(data / "x_train.npy"), np.load(data / "y_train.npy")
    xt, yt = np.load(data / "x_test.npy"), np.load(data / "y_test.npy")
    rng = np.random.default_rng(args.seed)
    model = nn.Sequential(nn.Linear(784, 800, rng=rng), nn.ReLU(), nn.Linear(800, 10, rng=rng))
    dp = distributed.DataParallel()
    epoch_seconds: list[float] = []
    allreduce_seconds: list[float] = []

    class Clock(Callback):
        def on_epoch_begin(self, trainer: Any, epoch: int, logs: Any) -> None:
            self.start, self.inside = time.perf_counter(), dp.reducer.seconds

        def on_epoch_end(self, trainer: Any, epoch: int, logs: Any) -> None:
            epoch_seconds.append(time.perf_counter() - self.start)
            allreduce_seconds.append(dp.reducer.seconds - self.inside)

    trainer = cr.Trainer(
        model,
        nn.CrossEntropyLoss(),
        optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
        metrics=(),
        callbacks=[Clock()],
        diagnostics=False,
        distributed=dp,
    )
    trainer.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
    probe = _probe(dp, sum(p.size for p in model.parameters())) if dp.world_size > 1 else None
    if dp.is_main:
        accuracy = float((trainer.predict(xt).argmax(axis=1) == yt).mean())
        record = {
            "ranks": dp.world_size,
            "threads": int(os.environ.get("OPENBLAS_NUM_THREADS", "0")),
            "epoch_seconds": epoch_seconds,
            "allreduce_seconds": allreduce_seconds,
            "test_accuracy": accuracy,
            "parameters": int(sum(p.size for p in model.parameters())),
            "steps_per_epoch": len(dp.sampler) if dp.sampler is not None else None,
            "probe": probe,
        }
        print(json.dumps(record))


def _probe(dp: Any, n: int, repeats: int = 30) -> dict[str, float]:
    """Median time of an in-place Allreduce of ``n`` float32 (the gradient buffer)."""
    buffer = np.ones(n, np.float32)
    times = []
    for _ in range(repeats):
        dp.comm.barrier()
        start = time.perf_counter()
        dp.comm.all_reduce(buffer)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {"floats": n, "seconds": seconds, "bytes_per_second": 4 * n / seconds}


# -- the orchestrator ---------------------------------------------------------------------------
def run_one(name: str, args: argparse.Namespace, data: Path) -> dict[str, Any]:
    ranks, threads = CONTENDERS[name]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    env.update(OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    env["MKL_NUM_THREADS"] = str(threads)
    command = [sys.executable, __file__, "--worker", "--data", str(data)]
    command += ["--epochs", str(args.epochs), "--batch-size", str(args.batch_size)]
    if ranks is not None:
        mpirun = Path(sys.executable).with_name("mpirun")
        command = [str(mpirun if mpirun.exists() else "mpirun"), "-n", str(ranks), *command]
    load = os.getloadavg()[0]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        return {"contender": name, "error": proc.stderr[-2000:]}
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    timed = slice(1, None) if len(record["epoch_seconds"]) > 1 else slice(None)
    epoch = statistics.median(record["epoch_seconds"][timed])
    inside = statistics.median(record["allreduce_seconds"][timed])
    record.update(contender=name, load_before=load, epoch_median=epoch)
    record["allreduce_share"] = inside / epoch if epoch > 0 else 0.0
    return record


def on_paper(parameters: int, step_seconds_per_row: float, measured_bps: float | None) -> Any:
    """Ring-Allreduce model for N machines: time per step and the batch that outweighs it."""
    size = 4 * parameters
    links = dict(NETWORKS)
    if measured_bps:
        links = {"measured here (shared memory)": (measured_bps, 0.0), **links}
    rows = []
    for link, (bandwidth, latency) in links.items():
        for n in MACHINES:
            # A ring sends 2 (N-1)/N of the buffer through each link, in 2 (N-1) messages.
            seconds = 2 * (n - 1) / n * size / bandwidth + 2 * (n - 1) * latency
            # No overlap here (the Allreduce follows the backward pass): per-rank compute of
            # b rows takes b * t_row, so b = T / t_row rows make it half the step, 9 T / t_row
            # make communication 10 %.
            half = seconds / step_seconds_per_row
            rows.append(
                {
                    "link": link,
                    "machines": n,
                    "allreduce_ms": 1e3 * seconds,
                    "rows_per_rank_50": half,
                    "rows_per_rank_90": 9 * half,
                    "global_batch_90": 9 * half * n,
                }
            )
    return {"bytes_per_step": size, "seconds_per_row": step_seconds_per_row, "rows": rows}


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in records if "error" not in r]
    out: dict[str, Any] = {}
    for name in CONTENDERS:
        mine = [r for r in ok if r["contender"] == name]
        if mine:
            out[name] = {
                "epoch_median": statistics.median(r["epoch_median"] for r in mine),
                "allreduce_share": statistics.median(r["allreduce_share"] for r in mine),
                "test_accuracy": statistics.median(r["test_accuracy"] for r in mine),
                "runs": len(mine),
            }
    rounds: dict[int, dict[str, float]] = {}
    for r in ok:
        rounds.setdefault(r["round"], {})[r["contender"]] = r["epoch_median"]
    for a, b in (("mpi-2", "mpi-1"), ("mpi-2", "threads-2"), ("threads-2", "mpi-1")):
        ratios = [t[a] / t[b] for t in rounds.values() if a in t and b in t]
        if ratios:
            out[f"{a} / {b}"] = statistics.median(ratios)
    return out


def markdown(summary: dict[str, Any], paper: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = [
        "# Data-parallel training over MPI: measured side by side",
        "",
        f"{meta['machine']}; {meta['data']}; 784-800-10, global batch {meta['batch_size']}, "
        f"{meta['epochs']} epochs per run (first left out), {meta['rounds']} rounds alternated. "
        "The machine is shared with other jobs: figures are noisy, read the paired ratios.",
        "",
        "| contender | epoch (s, median) | share in Allreduce | test accuracy | runs |",
        "|---|---|---|---|---|",
    ]
    for name in CONTENDERS:
        s = summary.get(name)
        if s:
            lines.append(
                f"| {name} | {s['epoch_median']:.2f} | {100 * s['allreduce_share']:.1f} % | "
                f"{s['test_accuracy']:.4f} | {s['runs']} |"
            )
    lines.append("")
    for key, value in summary.items():
        if "/" in key:
            lines.append(f"- epoch time {key}: {value:.2f} (median of paired rounds)")
    lines += [
        "",
        f"## On paper: N machines, {paper['bytes_per_step'] / 1e6:.2f} MB of gradients a step",
        "",
        f"Compute per row (one rank, one BLAS thread, measured): "
        f"{1e6 * paper['seconds_per_row']:.1f} us. Ring Allreduce: 2 (N-1)/N x bytes / bandwidth "
        "+ 2 (N-1) x latency; no overlap with the backward pass.",
        "",
        "| link | N | Allreduce (ms) | rows/rank for 50 % compute | for 90 % | global batch 90 % |",
        "|---|---|---|---|---|---|",
    ]
    for row in paper["rows"]:
        lines.append(
            f"| {row['link']} | {row['machines']} | {row['allreduce_ms']:.2f} | "
            f"{row['rows_per_rank_50']:.0f} | {row['rows_per_rank_90']:.0f} | "
            f"{row['global_batch_90']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--synthetic", type=int, default=0, help="N synthetic rows instead")
    parser.add_argument("--quick", action="store_true", help="1 round, 2 epochs")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    if args.quick:
        args.rounds, args.epochs = 1, 2
    from _data import prepare_data
    from _report import machine

    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        data_desc, _ = prepare_data(args, Path(tmp))
        for round_ in range(args.rounds):
            for name in CONTENDERS:
                record = run_one(name, args, Path(tmp))
                record["round"] = round_
                records.append(record)
                print(f"round {round_ + 1} {name}: {record.get('epoch_median')}", file=sys.stderr)
    failed = [r for r in records if "error" in r]
    summary = summarize(records)
    one = [r for r in records if r.get("contender") == "mpi-1" and "error" not in r]
    probes = [r["probe"]["bytes_per_second"] for r in records if r.get("probe")]
    paper = None
    if one:
        r = one[0]
        per_row = summary["mpi-1"]["epoch_median"] / (r["steps_per_epoch"] * args.batch_size)
        paper = on_paper(r["parameters"], per_row, statistics.median(probes) if probes else None)
    meta = {
        "machine": machine(),
        "data": data_desc,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "rounds": args.rounds,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"meta": meta, "summary": summary, "paper": paper, "records": records}
    (out / "mpi.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    if paper is not None:
        (out / "mpi.md").write_text(markdown(summary, paper, meta), encoding="utf-8")
    for r in failed:
        print(f"{r['contender']} failed:\n{r['error']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
