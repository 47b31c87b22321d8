"""The run folder of ``chainrule train``: named, locked, recovered after a kill, cleared, and
switched to the finished run's files in one commit at the end."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from chainrule.errors import ConfigError

__all__ = [
    "new_run_dir",
    "prepare_run_dir",
    "lock_run_dir",
    "held_locks",
    "settings_digest",
    "check_bound",
    "staged_outputs",
    "deferred_interrupt",
    "ARTEFACTS",
    "LOCK_NAME",
]

#: What a run writes into its folder; a reused folder loses exactly these (nothing else). The
#: checkpoint's JSON comes first: removed first, a kill midway leaves no checkpoint that
#: vouches for files already gone.
ARTEFACTS = (
    "checkpoint.json",
    "checkpoint.model.safetensors",
    "checkpoint.optimizer.safetensors",
    "model.json",
    "model.safetensors",
    "config.json",
    "history.csv",
    "history.json",
    "report.md",
    "report.html",
)
#: The advisory lock file a running ``train`` holds (``flock``); it records the holder's pid.
LOCK_NAME = ".chainrule.lock"
_STAGING = "staged-outputs"
_HELD: list[IO[bytes]] = []  # locks taken by prepare_run_dir, released by held_locks
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


def lock_run_dir(run_dir: Path) -> IO[bytes] | None:
    """Take the run folder's advisory lock for as long as the returned file stays open.

    Another process holding it (a second ``train`` into the same folder) makes this raise a
    ConfigError naming that process. The lock is ``fcntl.flock`` on ``LOCK_NAME``: the kernel
    releases it when the holder exits, however it exits. None where ``fcntl`` is missing.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    handle = open(run_dir / LOCK_NAME, "a+b")  # noqa: SIM115 - held open for the whole run
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read(32).decode("ascii", "replace").strip() or "unknown"
        handle.close()
        raise ConfigError(
            f"{run_dir}: another chainrule train (pid {holder}) is writing to this run folder; "
            "wait for it to end, or pass another --out"
        ) from None
    except BaseException:
        handle.close()
        raise
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n".encode("ascii"))
    handle.flush()
    return handle


@contextlib.contextmanager
def held_locks() -> Iterator[None]:
    """Release, when the block ends, the run-folder locks ``prepare_run_dir`` took inside it."""
    depth = len(_HELD)
    try:
        yield
    finally:
        while len(_HELD) > depth:
            _HELD.pop().close()


def prepare_run_dir(run_dir: Path, resuming: bool, quiet: bool) -> None:
    """Check ``--out``, lock the folder (until the enclosing ``held_locks`` block ends) and
    recover it from a killed save (``io.recovery``); in a reused folder then remove the
    previous run's own files (only those)."""
    from chainrule.io.recovery import recover_folder

    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"--out {run_dir}: a file of that name exists; give a folder name")
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = lock_run_dir(run_dir)
    if lock is not None:
        _HELD.append(lock)
    recover_folder(run_dir, (*ARTEFACTS, _STAGING))
    if (run_dir / "plots").is_dir():
        recover_folder(run_dir / "plots", PLOTS)
    if not resuming:
        _clear(run_dir, quiet)


def _clear(run_dir: Path, quiet: bool) -> None:
    """Remove the previous run's own files from a reused folder."""
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


def settings_digest(settings: Mapping[str, Any]) -> str:
    """The SHA-256 of ``settings`` as canonical JSON (sorted keys): binds a checkpoint to them."""
    text = json.dumps(dict(settings), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_bound(run_dir: Path, extra: Any, bound: dict[str, Any]) -> None:
    """Refuse to resume when config.json is not the settings the checkpoint was made with."""
    recorded = extra.get("settings_sha256")
    if recorded is None or recorded == settings_digest(bound):
        return  # checkpoints written before settings were bound carry no digest
    saved = extra.get("settings") if isinstance(extra.get("settings"), dict) else {}
    differ = sorted(k for k in {*saved, *bound} if saved.get(k) != bound.get(k))
    raise ConfigError(
        f"--resume {run_dir}: config.json does not hold the settings the checkpoint was made "
        f"with (they differ in: {', '.join(differ) or 'unknown keys'}); the folder mixes two "
        "runs, e.g. a new run started into it was stopped before its first checkpoint. Hint: "
        "start a new run with --out"
    )


@contextlib.contextmanager
def staged_outputs(run_dir: Path) -> Iterator[Path]:
    """A staging folder inside ``run_dir``; on a clean exit its files replace the run's own
    in one ``AtomicGroup`` commit (plots and report first, the history, then the model pair,
    ``model.json`` last), so a full disk or an I/O error while writing them leaves the folder's
    previous complete state. On an error the staging folder is removed."""
    from chainrule.io.atomic import AtomicGroup

    staging = Path(tempfile.mkdtemp(dir=run_dir, prefix=f".{_STAGING}.", suffix=".tmp"))
    try:
        yield staging
        files = sorted(p for p in staging.rglob("*") if p.is_file() and not p.name.startswith("."))
        last = {"model.safetensors": 1, "model.json": 2}
        files.sort(key=lambda p: (p.parent == staging and last.get(p.name, 0), str(p)))
        for folder in {p.parent for p in files}:
            (run_dir / folder.relative_to(staging)).mkdir(parents=True, exist_ok=True)
        with AtomicGroup() as group:
            for path in files:
                group.adopt(path, run_dir / path.relative_to(staging))
    except OSError as err:  # name the run's file, not its staged copy
        name = err.filename
        if err.errno is None or not isinstance(name, str) or not name.startswith(str(staging)):
            raise
        raise OSError(err.errno, err.strerror, str(run_dir) + name[len(str(staging)) :]) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[list[int]]:
    """Hold Ctrl-C (SIGINT) back while the block runs, so the final files are written whole
    instead of not at all; the list yielded is non-empty afterwards when Ctrl-C came. Only in
    the main thread; elsewhere Ctrl-C is not held back."""
    caught: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda number, frame: caught.append(number))
    except ValueError:  # not the main thread
        yield caught
        return
    try:
        yield caught
    finally:
        signal.signal(signal.SIGINT, previous)
