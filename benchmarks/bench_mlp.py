"""Train multilayer networks with chainrule, PyTorch, scikit-learn and plain NumPy, side by side.

Usage::

    /work/venv/bin/python benchmarks/bench_mlp.py                      # the full benchmark
    /work/venv/bin/python benchmarks/bench_mlp.py --quick              # smoke test, ~1 minute
    /work/venv/bin/python benchmarks/bench_mlp.py --networks 784-256-10 --rounds 3 \\
        --contenders chainrule-loop,torch-eager,gemm-floor --phases main

Fashion-MNIST is loaded once here and written as .npy files that every worker loads, so data
loading is outside the timing and identical for all. Each run is a fresh process; contenders
alternate within every round (A B C ... A B C ...), and ratios are medians of per-round pairs.
See benchmarks/README.md for what is measured and /work/shared/MEASURING.md for why.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _profile  # noqa: E402  (benchmarks/ is not a package)
import _report  # noqa: E402
from _contenders import ADAM_CONTENDERS  # noqa: E402
from _data import prepare_data  # noqa: E402

WORKER = HERE / "_workers.py"
CONTENDERS = (
    "chainrule-trainer",
    "chainrule-loop",
    "torch-eager",
    "torch-eager-ftz",
    "torch-dataloader",
    "sklearn",
    "numpy-hand",
    "gemm-floor",
    "torch-gemm-floor",
)
TORCH_CONTENDERS = ("torch-eager", "torch-eager-ftz", "torch-dataloader", "torch-gemm-floor")
MEMORY_CONTENDERS = ("chainrule-trainer", "chainrule-loop", "torch-eager", "numpy-hand")
TTA_CONTENDERS = ("chainrule-trainer", "torch-eager")
#: Contenders with an epoch function of their own, run under this interpreter (pyinstrument).
PROFILABLE = ("chainrule-loop", "numpy-hand", "sklearn", "gemm-floor")
PHASES = ("main", "memory", "tta", "help")
#: Other processes using more than this many cores (on average) before a run: wait.
QUIET_CORES = 0.3
#: ... and during a run: the run counts as disturbed and is retried (--retries).
DISTURBED_CORES = _report.DISTURBED_CORES
#: Where this project's PyTorch virtualenv lives when neither the flag nor the variable says.
DEFAULT_TORCH_PYTHON = Path("/work/torchvenv/bin/python")


def log(message: str) -> None:
    """Progress goes to stderr, stamped with the wall-clock time."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- workers ----------------------------------------------------------------------------------
def find_torch_python(flag: str | None) -> tuple[str | None, str]:
    """The interpreter for the PyTorch workers, and a line saying what was found."""
    candidates = [flag, os.environ.get("CHAINRULE_BENCH_TORCH_PYTHON"), str(DEFAULT_TORCH_PYTHON)]
    for cand in candidates:
        if not cand or not Path(cand).exists():
            continue
        probe = subprocess.run(
            [cand, "-c", "import torch; print(torch.__version__)"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if probe.returncode == 0:
            return cand, f"torch {probe.stdout.strip()} under {cand}"
        return None, f"{cand} cannot import torch: {probe.stderr.strip().splitlines()[-1:]}"
    return None, "no PyTorch interpreter (--torch-python / $CHAINRULE_BENCH_TORCH_PYTHON)"


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat; 0 where absent)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
    except OSError:
        return 0.0
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """User + system CPU seconds of the finished child processes of this orchestrator."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def others_cores(seconds: float) -> float:
    """Average cores other processes used over ``seconds`` of our own idleness."""
    busy = busy_cpu_seconds()
    time.sleep(seconds)
    return (busy_cpu_seconds() - busy) / seconds


def wait_for_quiet(limit: float) -> float:
    """Wait (at most ``limit`` s) until other processes use under QUIET_CORES; return the wait."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit and others_cores(1.0) > QUIET_CORES:
        time.sleep(2.0)
    return time.perf_counter() - t0


def run_worker(
    python: str, job: dict[str, Any], args: argparse.Namespace, data: Path, env: dict[str, str]
) -> dict[str, Any]:
    """One fresh process; its last stdout line is the JSON record (or an error record).

    The record also says how many cores other processes used on average while it ran
    (``others_cores``: machine-wide busy CPU time minus the worker's own, over the wall time).
    """
    options = {
        "contender": job["contender"],
        "network": job["network"],
        "epochs": job["epochs"],
        "seed": job["seed"],
        "data": data,
        "threads": args.threads,
        "batch-size": args.batch_size,
        "lr": args.lr,
        "momentum": args.momentum,
        "optimizer": args.optimizer,
    }
    cmd = [python, str(WORKER)] + [x for k, v in options.items() for x in (f"--{k}", str(v))]
    info = {"contender": job["contender"], "network": job["network"], "load": os.getloadavg()[0]}
    busy0, own0, t0 = busy_cpu_seconds(), children_cpu_seconds(), time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=args.worker_timeout
        )
    except subprocess.TimeoutExpired:
        return info | {"error": "timed out"}
    wall = time.perf_counter() - t0
    others = max(0.0, (busy_cpu_seconds() - busy0) - (children_cpu_seconds() - own0)) / wall
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = proc.stderr.strip().splitlines()[-6:]
        return info | {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
    return json.loads(lines[-1]) | info | {"wall_seconds": wall, "others_cores": others}


def _describe(record: dict[str, Any]) -> str:
    """One progress line for a finished run."""
    if "error" in record:
        return f"{record['contender']:<18} {record['network']:<20} ERROR {record['error']}"
    acc = record["test_accuracy"][-1]
    acc_s = "" if acc is None else f" acc {acc:.4f}"
    epochs = " ".join(f"{t:.3f}" for t in record["epoch_seconds"])
    return (
        f"{record['contender']:<18} {record['network']:<20} "
        f"{record['epoch_median']:.3f} s/epoch{acc_s} rss {record['peak_rss_kib'] / 1024:.0f} MiB"
        f" (others {record['others_cores']:.2f} cores; epochs {epochs})"
    )


def time_help(runs: int) -> tuple[list[float], str]:
    """Wall seconds of ``chainrule --help`` (the installed console script), each a fresh process."""
    exe = Path(sys.executable).parent / "chainrule"
    path = str(exe) if exe.exists() else shutil.which("chainrule")
    if path is None:
        return [], "no chainrule console script found"
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run([path, "--help"], capture_output=True)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            return times, f"{path} --help exited {proc.returncode}"
    return times, path


# -- main -------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; --quick rewrites the defaults for a smoke test."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--networks", default="784-256-10,784-800-10,784-512-256-128-10")
    p.add_argument(
        "--contenders",
        default=None,
        help=f"comma-separated subset of {', '.join(CONTENDERS)} (default: all that can run "
        "--optimizer)",
    )
    p.add_argument("--phases", default=",".join(PHASES), help="subset of main,memory,tta,help")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=6, help="per run; the first is a warm-up")
    p.add_argument("--memory-epochs", type=int, default=10)
    p.add_argument("--tta-epochs", type=int, default=15)
    p.add_argument("--tta-rounds", type=int, default=3)
    p.add_argument("--help-runs", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument(
        "--optimizer",
        choices=("sgd", "adam"),
        default="sgd",
        help="sgd (with --momentum; issue 5's set-up) or adam (default betas; no numpy-hand, "
        "no sklearn)",
    )
    p.add_argument("--lr", type=float, default=None, help="default 0.05 for sgd, 0.001 for adam")
    p.add_argument("--momentum", type=float, default=0.9, help="sgd only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--synthetic",
        type=int,
        default=0,
        metavar="N",
        help="use N synthetic training samples instead of Fashion-MNIST",
    )
    p.add_argument(
        "--quick", action="store_true", help="1 network, 2 rounds, 3 epochs, synthetic 6000 samples"
    )
    p.add_argument(
        "--torch-python",
        default=None,
        help="interpreter with torch (default $CHAINRULE_BENCH_TORCH_PYTHON)",
    )
    p.add_argument("--worker-timeout", type=float, default=3600.0)
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each run, wait up to this many seconds for other jobs to idle",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=1,
        help="rerun a run disturbed by other processes up to this many times",
    )
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument(
        "--profile",
        metavar="CONTENDER",
        default=None,
        help="only profile this contender on the first network (py-spy with native frames "
        "if $CHAINRULE_BENCH_PYSPY or py-spy on PATH, else pyinstrument on epoch 2); "
        "writes profile-CONTENDER-NETWORK-Nt.* to --out",
    )
    p.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="JSON",
        help="only rewrite latest.md/.json in --out from a saved latest.json",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.networks = args.networks.split(",")[0]
        args.rounds, args.epochs = min(args.rounds, 2), min(args.epochs, 3)
        args.memory_epochs, args.tta_epochs = min(args.memory_epochs, 3), min(args.tta_epochs, 3)
        args.tta_rounds, args.help_runs = 1, min(args.help_runs, 2)
        args.synthetic = args.synthetic or 6000
        args.quiet_wait, args.retries = 0.0, 0
    allowed = CONTENDERS if args.optimizer == "sgd" else ADAM_CONTENDERS
    if args.lr is None:
        args.lr = 0.05 if args.optimizer == "sgd" else 0.001
    if args.contenders is None:
        args.contenders = ",".join(allowed)
    for name in args.contenders.split(","):
        if name not in CONTENDERS:
            p.error(f"unknown contender {name!r}; choose from {', '.join(CONTENDERS)}")
        if name not in allowed:
            p.error(f"contender {name!r} trains with SGD only; drop it for --optimizer adam")
    if args.profile and args.profile not in PROFILABLE:
        p.error(f"--profile takes one of {', '.join(PROFILABLE)}, got {args.profile!r}")
    for name in args.phases.split(","):
        if name not in PHASES:
            p.error(f"unknown phase {name!r}; choose from {', '.join(PHASES)}")
    return args


def worker_env(threads: int) -> dict[str, str]:
    """This environment with the thread pins; OPENBLAS_CORETYPE and friends are left alone."""
    pins = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    return os.environ.copy() | {k: str(threads) for k in pins}


def main(argv: list[str] | None = None) -> int:
    """Run the phases, then write results/latest.json and results/latest.md."""
    args = parse_args(argv)
    # A plain `kill` should still remove the temporary data folder: turn SIGTERM into SystemExit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.render:
        return render(args.render, args.out)
    env = worker_env(args.threads)
    if args.profile:
        return profile(args, env)
    networks = args.networks.split(",")
    phases = args.phases.split(",")
    contenders = args.contenders.split(",")
    notes: list[str] = []
    torch_python, torch_line = (None, "not needed")
    if any(c in TORCH_CONTENDERS for c in contenders):
        torch_python, torch_line = find_torch_python(args.torch_python)
        log(torch_line)
        if torch_python is None:
            contenders = [c for c in contenders if c not in TORCH_CONTENDERS]
            notes.append(f"PyTorch columns omitted: {torch_line}.")
    records: list[dict[str, Any]] = []

    def job(phase: str, rnd: int, contender: str, network: str, epochs: int) -> None:
        """Run one worker; rerun it (up to --retries) if other processes disturbed it."""
        python = torch_python if contender in TORCH_CONTENDERS else sys.executable
        assert python is not None  # torch contenders were dropped above when it is missing
        spec = {
            "contender": contender,
            "network": network,
            "epochs": epochs,
            "seed": args.seed + rnd,
        }
        best: dict[str, Any] | None = None
        waited = 0.0
        for attempt in range(args.retries + 1):
            waited += wait_for_quiet(args.quiet_wait) if args.quiet_wait > 0 else 0.0
            rec = run_worker(python, spec, args, data, env)
            rec.update(phase=phase, round=rnd, attempt=attempt + 1)
            log(f"{phase} r{rnd} {_describe(rec)}")
            if best is None or rec.get("others_cores", 9.0) < best.get("others_cores", 9.0):
                best = rec
            if "error" in rec or rec["others_cores"] <= DISTURBED_CORES:
                break
        assert best is not None
        best.update(attempts=attempt + 1, waited_seconds=waited)
        records.append(best)

    started = time.time()
    with tempfile.TemporaryDirectory(prefix="chainrule-bench-") as tmp:
        data = Path(tmp)
        data_desc, real = prepare_data(args, data)
        log(f"data: {data_desc}")
        if "main" in phases:
            for rnd in range(args.rounds):
                for net in networks:
                    for c in contenders:
                        job("main", rnd, c, net, args.epochs)
        focus = _report.FOCUS if _report.FOCUS in networks else networks[0]
        if "memory" in phases:
            for c in (c for c in MEMORY_CONTENDERS if c in contenders):
                job("memory", 0, c, focus, args.memory_epochs)
        if "tta" in phases:
            if not real:
                notes.append("Time to accuracy skipped: synthetic data.")
            else:
                for rnd in range(args.tta_rounds):
                    for c in (c for c in TTA_CONTENDERS if c in contenders):
                        job("tta", rnd, c, focus, args.tta_epochs)
    help_times: list[float] = []
    if "help" in phases:
        help_times, help_line = time_help(args.help_runs)
        log(f"--help: {help_line}: {[round(t, 3) for t in help_times]}")
    summary = _report.summarize(records, help_times)
    errors = [r for r in records if "error" in r]
    notes += [f"{r['contender']} {r['network']} failed: {r['error']}" for r in errors]
    ok = [r for r in records if "error" not in r]
    others = [r["others_cores"] for r in ok] or [0.0]
    meta = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": _report.machine(),
        "threads": args.threads,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "momentum": args.momentum,
        "optimizer": args.optimizer,
        "data": data_desc,
        "rounds": args.rounds,
        "epochs": args.epochs,
        "torch": torch_line,
        "versions": _report.versions(ok),
        "blas": _report.blas(ok),
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
        "others_cores_median": statistics.median(others),
        "others_cores_max": max(others),
        "disturbed_runs": sum(o > DISTURBED_CORES for o in others),
        "runs": len(ok),
        "retried_runs": sum(r.get("attempts", 1) > 1 for r in records),
        "waited_minutes": round(sum(r.get("waited_seconds", 0.0) for r in records) / 60, 1),
        "minutes": round((time.time() - started) / 60, 1),
        "notes": notes,
        "argv": sys.argv[1:] if argv is None else argv,
    }
    write_results(args.out, meta, summary, records)
    log(f"done in {meta['minutes']} min; wrote {args.out / 'latest.md'} and latest.json")
    return 1 if errors else 0


def write_results(
    out: Path, meta: dict[str, Any], summary: dict[str, Any], records: list[dict[str, Any]]
) -> None:
    """latest.md, latest.json, and the table plus PASS/FAIL lines on stdout."""
    out.mkdir(parents=True, exist_ok=True)
    md = _report.markdown(summary, meta)
    (out / "latest.md").write_text(md, encoding="utf-8")
    payload = {"meta": meta, "summary": summary, "records": records}
    (out / "latest.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
    print(md)
    for t in summary["targets"]:
        measured = _report._fmt(t["measured"])
        print(f"{t['verdict']:>4}  {t['target']}: {measured} {t['op']} {t['limit']}")


def render(path: Path, out: Path) -> int:
    """Recompute the summary and the page from a saved latest.json (no new measurements)."""
    payload = json.loads(path.read_text(encoding="utf-8"))
    records, meta = payload["records"], payload["meta"]
    ok = [r for r in records if "error" not in r]
    meta.update(versions=_report.versions(ok), blas=_report.blas(ok))
    summary = _report.summarize(records, payload["summary"].get("help_runs", []))
    write_results(out, meta, summary, records)
    return 0


def profile(args: argparse.Namespace, env: dict[str, str]) -> int:
    """Profile a worker (--epochs, at least 3): py-spy over all its epochs, else pyinstrument on
    epoch 2."""
    network = args.networks.split(",")[0]
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"profile-{args.profile}-{network}-{args.threads}t"
    pyspy = _profile.find_pyspy()
    with tempfile.TemporaryDirectory(prefix="chainrule-bench-") as tmp:
        desc, _ = prepare_data(args, Path(tmp))
        log(
            f"data: {desc}; profiling {args.profile} on {network} with "
            f"{'py-spy' if pyspy else 'pyinstrument'}, {args.threads} thread(s)"
        )
        options = {
            "contender": args.profile,
            "data": tmp,
            "network": network,
            "epochs": max(args.epochs, 3),
            "threads": args.threads,
            "batch-size": args.batch_size,
        }
        cmd = [sys.executable, str(WORKER)] + [
            x for k, v in options.items() for x in (f"--{k}", str(v))
        ]
        if pyspy:
            # py-spy stops the process for every sample (native unwinding): ~10 % slower at
            # 100 Hz, 2x at 1000 Hz, so sample slowly and run more epochs (--epochs 20).
            stdout = _profile.record(pyspy, cmd, stem.with_suffix(".folded"), env, rate=100)
        else:
            cmd += ["--profile-epoch", "2", "--profile-out", str(stem.with_suffix(".txt"))]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                log(proc.stderr[-2000:])
                return 1
            stdout = proc.stdout
    # py-spy adds its own lines after the worker's: take the last JSON line.
    record = json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])
    log(f"epochs {[round(t, 3) for t in record['epoch_seconds']]}")
    if pyspy:
        title = (
            f"Profile of `{args.profile}` on {network}, {args.threads} thread(s), "
            f"{record['epochs']} epochs sampled by py-spy --native at 100 Hz "
            f"({datetime.datetime.now():%Y-%m-%d %H:%M}; "
            f"epoch median {record['epoch_median']:.3f} s while profiled)."
        )
        result = _profile.analyse(stem.with_suffix(".folded"))
        text = title + "\n\n" + _profile.markdown(result, record["epoch_median"])
        stem.with_suffix(".md").write_text(text, encoding="utf-8")
    else:
        text = stem.with_suffix(".txt").read_text(encoding="utf-8")
    print(text)
    log(f"wrote {stem}.*")
    return 0


if __name__ == "__main__":
    sys.exit(main())
