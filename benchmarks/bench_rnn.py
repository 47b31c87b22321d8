"""Recurrent benchmark: an LSTM / GRU text classifier step, chainrule against PyTorch eager.

Usage::

    .venv/bin/python benchmarks/bench_rnn.py                 # 5 rounds, LSTM and GRU
    .venv/bin/python benchmarks/bench_rnn.py --rounds 3 --arch lstm --batches 20

The model (issue 15): token ids of a 10,000-word vocabulary -> Embedding(64) -> one LSTM or
GRU layer of 128 -> Linear(128, 2) on the last step; batches of 64 sequences of 50 tokens;
one step = forward, cross-entropy, backward and an Adam update (PyTorch: its own fused
recurrent kernels, ``torch.nn.LSTM``). Each measurement is a fresh process running one
contender; contenders alternate within every round and the ratio is the median of the
per-round ratios. A worker times ``--batches`` steps after 5 warm-up steps and reports the
median time per batch (wall clock, and the process's CPU time summed over its threads: on a
machine shared with other jobs the CPU time is the steadier figure, with one thread at least)
and its peak resident memory (VmHWM). Both use the same threads
(``--threads``, default 2). Batches are drawn once from a fixed seed, identical for both.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

VOCAB, EMBED, HIDDEN, BATCH, STEPS, CLASSES = 10_000, 64, 128, 64, 50, 2
WARMUP = 5
DEFAULT_TORCH_PYTHON = "/work/torchvenv/bin/python"
SRC = Path(__file__).resolve().parent.parent / "src"


def _batches(count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [
        (rng.integers(0, VOCAB, size=(BATCH, STEPS)), rng.integers(0, CLASSES, size=BATCH))
        for _ in range(count)
    ]


def _peak_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _chainrule_steps(arch: str, data: list[Any]) -> list[tuple[float, float]]:
    import chainrule as cr
    from chainrule import nn

    rnn_cls = nn.LSTM if arch == "lstm" else nn.GRU
    emb, rnn, head = (
        nn.Embedding(VOCAB, EMBED, rng=0),
        rnn_cls(EMBED, HIDDEN, rng=1),
        nn.Linear(HIDDEN, CLASSES, rng=2),
    )
    params = emb.parameters() + rnn.parameters() + head.parameters()
    opt = cr.optim.Adam(params, lr=1e-3)
    times = []
    cr.retain_freed_memory()  # as Trainer.fit does
    with cr.flush_denormals():
        for ids, labels in data:
            start = _clock()
            out, _ = rnn(emb(ids.T))
            loss = nn.functional.cross_entropy(head(out[-1]), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            end = _clock()
            times.append((end[0] - start[0], end[1] - start[1]))
    return times


def _torch_steps(arch: str, data: list[Any]) -> list[tuple[float, float]]:
    import torch

    torch.manual_seed(0)
    rnn_cls = torch.nn.LSTM if arch == "lstm" else torch.nn.GRU
    emb, rnn, head = (
        torch.nn.Embedding(VOCAB, EMBED),
        rnn_cls(EMBED, HIDDEN),
        torch.nn.Linear(HIDDEN, CLASSES),
    )
    params = [*emb.parameters(), *rnn.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    times = []
    for ids, labels in data:
        start = _clock()
        x, y = torch.from_numpy(ids.T.copy()), torch.from_numpy(labels)
        out, _ = rnn(emb(x))
        loss = torch.nn.functional.cross_entropy(head(out[-1]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        end = _clock()
        times.append((end[0] - start[0], end[1] - start[1]))
    return times


def worker(contender: str, arch: str, batches: int, threads: int) -> None:
    """Run one contender in this process and print one JSON line."""
    data = _batches(WARMUP + batches)
    if contender == "torch":
        import torch

        torch.set_num_threads(threads)
        times = _torch_steps(arch, data)
    else:
        times = _chainrule_steps(arch, data)
    timed = times[WARMUP:]
    print(json.dumps({"contender": contender, "arch": arch,
                      "median_s": statistics.median(t[0] for t in timed),
                      "median_cpu_s": statistics.median(t[1] for t in timed),
                      "peak_rss_kib": _peak_kib()}))  # fmt: skip


def _run(python: str, contender: str, arch: str, batches: int, threads: int) -> dict[str, Any]:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), PYTHONPATH=str(SRC))  # fmt: skip
    cmd = [python, __file__, "--worker", contender, "--arch", arch, "--batches", str(batches),
           "--threads", str(threads)]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{contender} worker failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=["chainrule", "torch"])
    parser.add_argument("--arch", choices=["lstm", "gru", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--torch-python", default=DEFAULT_TORCH_PYTHON)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.arch, args.batches, args.threads)
        return 0
    archs = ["lstm", "gru"] if args.arch == "both" else [args.arch]
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "unknown CPU")  # fmt: skip
    print(f"CPU: {cpu}; {os.cpu_count()} logical CPUs; threads {args.threads}; load average "
          f"{os.getloadavg()[0]:.1f} at start")  # fmt: skip
    for arch in archs:
        ratios, ours, theirs, mem_ours, mem_theirs, cpu_ratios = [], [], [], [], [], []
        for r in range(args.rounds):
            order = ["chainrule", "torch"] if r % 2 == 0 else ["torch", "chainrule"]
            res = {c: _run(sys.executable if c == "chainrule" else args.torch_python, c, arch,
                           args.batches, args.threads) for c in order}  # fmt: skip
            ours.append(res["chainrule"]["median_s"])
            theirs.append(res["torch"]["median_s"])
            mem_ours.append(res["chainrule"]["peak_rss_kib"])
            mem_theirs.append(res["torch"]["peak_rss_kib"])
            ratios.append(ours[-1] / theirs[-1])
            cpu_ratios.append(res["chainrule"]["median_cpu_s"] / res["torch"]["median_cpu_s"])
            print(f"  {arch} round {r + 1}: chainrule {ours[-1] * 1e3:.1f} ms, PyTorch "
                  f"{theirs[-1] * 1e3:.1f} ms per batch (ratio {ratios[-1]:.2f}; CPU time "
                  f"{res['chainrule']['median_cpu_s'] * 1e3:.1f} vs "
                  f"{res['torch']['median_cpu_s'] * 1e3:.1f} ms, ratio {cpu_ratios[-1]:.2f})",
                  flush=True)  # fmt: skip
        print(f"{arch.upper()}: chainrule {statistics.median(ours) * 1e3:.1f} ms, PyTorch "
              f"{statistics.median(theirs) * 1e3:.1f} ms per batch; median paired ratio "
              f"{statistics.median(ratios):.2f}x (CPU time {statistics.median(cpu_ratios):.2f}x); "
              f"peak RSS chainrule "
              f"{statistics.median(mem_ours) / 1024:.0f} MiB, PyTorch "
              f"{statistics.median(mem_theirs) / 1024:.0f} MiB; load average "
              f"{os.getloadavg()[0]:.1f} at end", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
