"""Per-step overhead of the training loop: a tiny network, many small batches, two checkouts.

Each round runs one fresh process per contender, alternated (A B A B ...); each process times
``Trainer.fit`` over a few epochs of a 4-16-2 network on 4096 samples in batches of 16 (256
steps an epoch, so the loop's Python work dominates) and prints its fastest epoch (the least
disturbed by other load), with one BLAS thread. The script reports each contender's median
and the median of the paired ratios new / old.

``--cpu`` times whole one-epoch ``fit`` calls in process time instead (fit's own set-up
included), the fastest of ``--epochs`` of them. Run (about a minute)::

    python benchmarks/bench_step_overhead.py --old /work/venv/bin/python \\
        --new .venv/bin/python --rounds 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

WORKER = r"""
import time, numpy as np, chainrule as cr
from chainrule import nn, optim
rng = np.random.default_rng(0)
x = rng.normal(size=(4096, 4)).astype(np.float32); y = (x[:, 0] > 0).astype(np.int64)
model = nn.Sequential(nn.Linear(4, 16, rng=rng), nn.ReLU(), nn.Linear(16, 2, rng=rng))
trainer = cr.Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.05,
                     momentum=0.9), diagnostics=DIAG)
trainer.fit(x, y, epochs=1, batch_size=16, seed=0)  # warm-up
if CPU:  # process time of one-epoch fits: less disturbed by other processes than wall time
    times = []
    for _ in range(EPOCHS):
        start = time.process_time()
        trainer.fit(x, y, epochs=1, batch_size=16, seed=0)
        times.append(time.process_time() - start)
    print(min(times))
else:
    history = trainer.fit(x, y, epochs=EPOCHS, batch_size=16, seed=0)
    print(float(np.min(history["seconds"])))
"""


def run(python: str, epochs: int, diagnostics: bool, cpu: bool) -> float:
    code = WORKER.replace("EPOCHS", str(epochs)).replace("DIAG", str(diagnostics))
    code = code.replace("CPU", str(cpu))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True, env=env)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="python of the baseline checkout")
    parser.add_argument("--new", default=sys.executable, help="python of the changed checkout")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--no-diagnostics", action="store_true")
    parser.add_argument("--cpu", action="store_true", help="process time of one-epoch fits")
    args = parser.parse_args()
    old, new, ratios = [], [], []
    for _ in range(args.rounds):
        a = run(args.old, args.epochs, not args.no_diagnostics, args.cpu)
        b = run(args.new, args.epochs, not args.no_diagnostics, args.cpu)
        old.append(a)
        new.append(b)
        ratios.append(b / a)
        print(f"old {a * 1e3:7.2f} ms  new {b * 1e3:7.2f} ms  ratio {b / a:.3f}", flush=True)
    print(
        f"median epoch: old {statistics.median(old) * 1e3:.2f} ms, new "
        f"{statistics.median(new) * 1e3:.2f} ms; median paired ratio new/old "
        f"{statistics.median(ratios):.3f} over {args.rounds} rounds"
    )


if __name__ == "__main__":
    main()
