"""Benchmark workers: train one contender on one network in this fresh process, print one JSON line.

Run by ``bench_mlp.py``; each contender runs in its own interpreter (the PyTorch ones under the
PyTorch virtualenv), so nothing one contender imports or warms up helps another. Only NumPy is
imported at module level: a chainrule worker never imports torch and a torch worker never
imports chainrule or scikit-learn.

What is timed: each epoch from the permutation of the training set to the last optimizer step
(shuffle, index gather, forward, loss, backward, update). Test accuracy is evaluated after each
epoch outside the timed region. Inference: logits for the 10,000 test images (one call, or
``trainer.predict``'s own batches) plus argmax, median of 3, after training. The contenders
themselves are in ``_contenders.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _contenders import PLANS, Config, EpochFn, PredictFn  # noqa: E402


def _status_kib(field: str) -> int | None:
    """A size field of /proc/self/status (``VmRSS``, ``VmHWM``) in KiB; None without /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _rss_kib() -> int:
    """Peak resident set size of this process so far, in KiB.

    VmHWM, not ``ru_maxrss``: Linux carries ``ru_maxrss`` over ``exec`` from the forked parent,
    so every worker would report at least the orchestrator's own size (it held the data set).
    """
    peak = _status_kib("VmHWM")
    return peak if peak is not None else int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _current_rss_kib() -> int:
    """Resident set size now (VmRSS), falling back to the peak where /proc is absent."""
    now = _status_kib("VmRSS")
    return now if now is not None else _rss_kib()


def _accuracy(predict: PredictFn, x: np.ndarray, y: np.ndarray) -> float:
    """Share of test images whose predicted class is right."""
    out = np.asarray(predict(x))
    labels = out.argmax(axis=1) if out.ndim == 2 else out
    return float(np.mean(labels == y))


def _blas_info() -> dict[str, Any]:
    """The BLAS/OpenMP pools NumPy (and torch, if loaded) use: threadpoolctl, else show_config."""
    try:
        from threadpoolctl import threadpool_info

        return {
            "source": "threadpoolctl",
            "pools": [
                {k: p.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
                | {"library": os.path.basename(str(p.get("filepath", "")))}
                for p in threadpool_info()
            ],
        }
    except ImportError:
        cfg = np.show_config(mode="dicts")  # type: ignore[func-returns-value]
        blas = cfg.get("Build Dependencies", {}).get("blas", {}) if isinstance(cfg, dict) else {}
        return {"source": "numpy.show_config", "blas": {k: str(v) for k, v in blas.items()}}


def _profiled(train_epoch: EpochFn, epoch_no: int, out: Path) -> EpochFn:
    """Wrap ``train_epoch`` so that epoch ``epoch_no`` (1-based) runs under pyinstrument."""

    def wrapped(epoch: int) -> None:
        if epoch + 1 != epoch_no:
            train_epoch(epoch)
            return
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        with profiler:
            train_epoch(epoch)
        out.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
        out.with_suffix(".html").write_text(profiler.output_html())

    return wrapped


def run(cfg: Config, profile: tuple[int, Path] | None = None) -> dict[str, Any]:
    """Build the contender, train ``cfg.epochs`` epochs, then time inference; return the record."""
    rss_loaded = _current_rss_kib()  # interpreter + NumPy + data, before the framework loads
    plan = PLANS[cfg.contender](cfg)
    if profile is not None:
        if plan.fit_all is not None:
            raise SystemExit(f"--profile-epoch is not supported for {cfg.contender}")
        plan.train_epoch = _profiled(plan.train_epoch, *profile)
    accuracy: list[float | None] = []
    scored = not cfg.contender.endswith("gemm-floor") and plan.predict is not None

    train_peak: list[int] = []

    def after_epoch() -> None:
        if not train_peak:  # before the first evaluation: the peak of training alone
            train_peak.append(_rss_kib())
        accuracy.append(_accuracy(plan.predict, cfg.x_test, cfg.y_test) if scored else None)  # type: ignore[arg-type]
        print(f"  {cfg.contender} epoch {len(accuracy)} done", file=sys.stderr)

    if plan.fit_all is not None:
        seconds = plan.fit_all(cfg.epochs, after_epoch)
    else:
        seconds = []
        for epoch in range(cfg.epochs):
            t0 = time.perf_counter()
            plan.train_epoch(epoch)
            seconds.append(time.perf_counter() - t0)
            after_epoch()
    inference: list[float] = []
    if plan.predict is not None:
        for _ in range(3):
            t0 = time.perf_counter()
            np.asarray(plan.predict(cfg.x_test)).argmax(axis=-1)
            inference.append(time.perf_counter() - t0)
    timed = seconds[1:] if len(seconds) > 1 else seconds  # the first epoch is the warm-up
    return {
        "contender": cfg.contender,
        "network": "-".join(map(str, cfg.sizes)),
        "epochs": cfg.epochs,
        "epoch_seconds": seconds,
        "epoch_median": float(np.median(timed)),
        # max / min of the timed epochs: far above 1 means something disturbed the run.
        "epoch_spread": float(max(timed) / min(timed)),
        "test_accuracy": accuracy,
        "inference_seconds": float(np.median(inference)) if inference else None,
        "inference_runs": inference,
        "peak_rss_kib": _rss_kib(),
        # ru_maxrss at the end of epoch 1, before any full-test-set evaluation or inference.
        "peak_rss_train_kib": train_peak[0] if train_peak else None,
        "rss_after_data_kib": rss_loaded,
        "import_seconds": plan.import_seconds,
        "threads": cfg.threads,
        "batch_size": cfg.batch_size,
        "lr": cfg.lr,
        "momentum": cfg.momentum,
        "optimizer": cfg.optimizer,
        "seed": cfg.seed,
        "n_train": len(cfg.x),
        "n_test": len(cfg.x_test),
        "versions": plan.versions | {"python": platform.python_version()},
        "executable": sys.executable,
        "blas": _blas_info(),
        "env": {k: os.environ.get(k) for k in ENV_KEYS},
        "notes": plan.notes,
    }


#: Environment variables recorded with every figure (the thread pins and OpenBLAS's core type).
ENV_KEYS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
)


def main(argv: list[str] | None = None) -> int:
    """Parse the job, load the .npy files, run, print the JSON record as the last stdout line."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--contender", required=True, choices=sorted(PLANS))
    p.add_argument("--data", required=True, type=Path, help="folder of x_train.npy etc.")
    p.add_argument("--network", required=True, help="layer sizes, e.g. 784-256-10")
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    p.add_argument("--profile-epoch", type=int, default=0, help="run this epoch under pyinstrument")
    p.add_argument("--profile-out", type=Path, default=Path("profile.txt"))
    a = p.parse_args(argv)
    arrays = {k: np.load(a.data / f"{k}.npy") for k in ("x_train", "y_train", "x_test", "y_test")}
    cfg = Config(
        a.contender,
        [int(s) for s in a.network.split("-")],
        a.epochs,
        a.seed,
        a.threads,
        a.batch_size,
        a.lr,
        a.momentum,
        arrays["x_train"],
        arrays["y_train"],
        arrays["x_test"],
        arrays["y_test"],
        a.optimizer,
    )
    record = run(cfg, (a.profile_epoch, a.profile_out) if a.profile_epoch else None)
    sys.stdout.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
