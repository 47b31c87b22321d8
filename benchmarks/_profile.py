"""Where a training epoch's time goes: py-spy samples (with native frames) grouped by cause.

py-spy samples the worker's main thread, native frames included, so a sample inside OpenBLAS is
told apart from one inside a NumPy elementwise loop and from one in Python or NumPy's call
machinery. Only samples under the worker's ``train_epoch`` count (data loading, evaluation and
imports are left out). pyinstrument cannot do this split: it sees only Python frames, and a
matrix product written ``a @ b`` does not even show up as a call.

Caveat measured here: with 2 BLAS threads, stopping the process for a sample stalls the BLAS
thread pair, so the BLAS share comes out too high (0.32 s of a 0.37 s epoch whose products take
0.23 s unprofiled). Profile with ``--threads 1`` for shares that add up; the time outside the
matrix products is single-threaded NumPy and Python work either way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

#: The three causes a sample is put under, by its innermost (leaf) frame.
BLAS, LOOPS, OVERHEAD = "matrix products (BLAS)", "elementwise loops", "interpreter + dispatch"
_BLAS_HINTS = ("openblas", "sgemm", "dgemm", "gemv", "mkl_", "libblas")
_LOOP_PREFIXES = ("FLOAT_", "DOUBLE_", "BOOL_", "LONG_", "HALF_", "_aligned_", "_contig_",
                  "npy_", "_strided_", "_cast_")  # fmt: skip


def find_pyspy() -> str | None:
    """``$CHAINRULE_BENCH_PYSPY``, else py-spy on the PATH, else None."""
    return os.environ.get("CHAINRULE_BENCH_PYSPY") or shutil.which("py-spy")


def record(pyspy: str, cmd: list[str], out: Path, env: dict[str, str], rate: int = 100) -> str:
    """Run ``cmd`` under ``py-spy record --native``; return the command's stdout."""
    spy = [pyspy, "record", "--native", "--rate", str(rate), "--format", "raw", "-o", str(out)]
    proc = subprocess.run([*spy, "--", *cmd], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"py-spy failed (exit {proc.returncode}): {proc.stderr[-1500:]}")
    return proc.stdout


def _kind(leaf: str) -> str:
    """The cause of a sample, from its leaf frame."""
    lower = leaf.lower()
    if any(h in lower for h in _BLAS_HINTS):
        return BLAS
    name = leaf.split(" (", 1)[0]
    if ".py:" not in leaf and (name.startswith(_LOOP_PREFIXES) or "libc.so" in leaf):
        # libc leaves are memcpy/memset of array copies and allocation: array work, not Python.
        return LOOPS
    return OVERHEAD


def _owner(frames: list[str]) -> str:
    """The innermost chainrule (or benchmark-loop) function on the stack: who asked for the work."""
    for frame in reversed(frames):
        if ".py:" in frame and ("_contenders.py" in frame or "_workers.py" in frame):
            return "benchmark loop (permutation, np.take gather)"
        if ".py:" in frame and "chainrule/" in frame:
            name, where = frame.rsplit(" (", 1)
            module = where.split("chainrule/")[-1].rsplit(":", 1)[0]
            return f"{name} ({module})"
    return "(outside chainrule)"


def analyse(folded: Path, marker: str = "train_epoch") -> dict[str, object]:
    """Shares of the samples under ``marker``: by cause, and by owning function and cause."""
    kinds: Counter[str] = Counter()
    owners: Counter[tuple[str, str]] = Counter()
    total = 0
    for line in folded.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not count.isdigit() or not any(f.split(" (", 1)[0].endswith(marker) for f in frames):
            continue
        n = int(count)
        total += n
        kind = _kind(frames[-1])
        kinds[kind] += n
        owners[(_owner(frames), kind)] += n
    return {"samples": total, "kinds": dict(kinds), "owners": dict(owners)}


def markdown(result: dict[str, object], epoch_seconds: float, top: int = 15) -> str:
    """Tables: the split by cause, then the functions that own the time outside BLAS."""
    total = int(result["samples"])  # type: ignore[call-overload]
    if total == 0:
        return "No samples under train_epoch.\n"
    kinds: dict[str, int] = result["kinds"]  # type: ignore[assignment]
    owners: dict[tuple[str, str], int] = result["owners"]  # type: ignore[assignment]
    lines = [f"{total} samples in training epochs; median epoch {epoch_seconds:.3f} s.", "",
             "| where | % of epoch | s per epoch |", "|---|---:|---:|"]  # fmt: skip
    for kind in (BLAS, LOOPS, OVERHEAD):
        share = kinds.get(kind, 0) / total
        lines.append(f"| {kind} | {100 * share:.1f} | {share * epoch_seconds:.3f} |")
    per_owner: Counter[str] = Counter()
    for (owner, kind), n in owners.items():
        if kind != BLAS:
            per_owner[owner] += n
    lines += ["", "Time outside matrix products, by the chainrule function it is spent under:", "",
              f"| function | % of epoch | of which {LOOPS} | of which {OVERHEAD} |",
              "|---|---:|---:|---:|"]  # fmt: skip
    for owner, n in per_owner.most_common(top):
        loops = owners.get((owner, LOOPS), 0)
        over = owners.get((owner, OVERHEAD), 0)
        lines.append(f"| `{owner}` | {100 * n / total:.1f} | {100 * loops / total:.1f} "
                     f"| {100 * over / total:.1f} |")  # fmt: skip
    return "\n".join(lines) + "\n"
