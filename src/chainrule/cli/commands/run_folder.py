"""The run folder of ``chainrule train``: a collision-free new name, or a reused one cleared."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

from chainrule.errors import ConfigError

__all__ = ["new_run_dir", "prepare_run_dir", "ARTEFACTS"]

#: What a run writes into its folder; a reused folder loses exactly these (nothing else).
ARTEFACTS = (
    "model.json",
    "model.safetensors",
    "config.json",
    "history.csv",
    "history.json",
    "report.md",
    "report.html",
    "checkpoint.json",
    "checkpoint.model.safetensors",
    "checkpoint.optimizer.safetensors",
)
PLOTS = (
    "learning_curves.png",
    "confusion_matrix.png",
    "first_layer_weights.png",
    "gradient_norms.png",
)


def new_run_dir(name: str, root: Path = Path("runs")) -> Path:
    """``runs/NAME-YYYYmmdd-HHMMSS-mmm``, created now; a counter is added on a collision."""
    now = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + f"-{int(now % 1 * 1000):03d}"
    root.mkdir(parents=True, exist_ok=True)
    for count in range(1, 1000):
        candidate = root / (f"{name}-{stamp}" + (f"-{count}" if count > 1 else ""))
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise ConfigError(f"cannot find a free run folder name under {root}; pass --out RUN_DIR")


def prepare_run_dir(run_dir: Path, resuming: bool, quiet: bool) -> None:
    """Check ``--out``; in a reused folder remove the previous run's own files (only those)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"--out {run_dir}: a file of that name exists; give a folder name")
    if resuming or not run_dir.is_dir():
        return
    old = [run_dir / n for n in ARTEFACTS] + [run_dir / "plots" / n for n in PLOTS]
    found = [p for p in old if p.is_file()]
    for path in found:
        path.unlink()
    with contextlib.suppress(OSError):  # only when empty: the user's own files stay
        (run_dir / "plots").rmdir()
    if found and not quiet:
        print(
            f"chainrule train: {run_dir} held a previous run; its {len(found)} files "
            "(model, history, report, plots) were removed",
            file=sys.stderr,
        )
