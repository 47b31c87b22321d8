"""Opening a folder after a killed save: finish or roll back the commit, remove the leftovers."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from chainrule.errors import ChainruleError
from chainrule.io.files import BACKUP_NAME, backups_of, open_regular

__all__ = ["recover_folder", "TEMP_NAME"]

#: Temporaries chainrule writes: ``.NAME.<8 random>.tmp`` (``atomic_write``, ``AtomicGroup``),
#: ``.NAME.<12 hex>.tmp.EXT`` (``callbacks.checkpoint.atomic_save``) and staging folders.
TEMP_NAME = re.compile(r"\.(?P<name>.+)\.(?:[a-z0-9_]{8}|[0-9a-f]{12})\.tmp(?:\.[A-Za-z0-9]+)?")
_MAX_MANIFEST = 64 * 2**20


def _manifest(json_path: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The files a model or checkpoint JSON vouches for, with their records ([] if unreadable)."""
    from chainrule.io.safetensors_file import loads_strict

    try:
        with open_regular(json_path, "a JSON file") as handle:
            doc = loads_strict(handle.read(_MAX_MANIFEST))
    except (OSError, ValueError, RecursionError, ChainruleError):
        return []
    if not isinstance(doc, dict):
        return []
    stem = json_path.name[: -len(".json")]
    if doc.get("format") == "chainrule-model":
        parts = {f"{stem}.safetensors": doc.get("weights")}
    elif doc.get("format") == "chainrule-checkpoint":
        files = doc.get("files")
        files = files if isinstance(files, dict) else {}
        parts = {f"{stem}.{part}.safetensors": files.get(part) for part in ("model", "optimizer")}
    else:
        return []
    return [
        (json_path.with_name(name), record)
        for name, record in parts.items()
        if isinstance(record, dict) and isinstance(record.get("sha256"), str)
    ]


def _matches(path: Path, record: dict[str, Any]) -> bool:
    """Whether ``path`` is a regular file with the recorded size and SHA-256."""
    try:
        if not path.is_file() or (
            isinstance(record.get("bytes"), int) and path.stat().st_size != record["bytes"]
        ):
            return False
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(2**20), b""):
                digest.update(chunk)
    except OSError:
        return False
    return digest.hexdigest() == record["sha256"]


def recover_folder(folder: str | os.PathLike[str], names: Iterable[str]) -> list[str]:
    """Undo what a save killed halfway left in ``folder``; return what was done, in words.

    For each ``NAME.json`` among ``names`` that is a model or checkpoint: a file it vouches for
    that does not match its record, while a backup of the previous content (``.FILE.<hex>.bak``)
    does, gets that backup back, so the set is again the one the JSON describes. Then the
    temporaries and backups of ``names`` (only files named by chainrule's own patterns) and
    staging folders are removed. Nothing else in the folder is touched.
    """
    folder = Path(folder)
    wanted = set(names)
    done: list[str] = []
    for name in sorted(n for n in wanted if n.endswith(".json")):
        for path, record in _manifest(folder / name):
            if _matches(path, record):
                continue
            for backup in backups_of(path):
                if _matches(backup, record):
                    os.replace(backup, path)
                    done.append(f"restored {path.name} from an interrupted save")
                    break
    try:
        entries = sorted(os.listdir(folder))
    except OSError:
        return done
    for entry in entries:
        match = TEMP_NAME.fullmatch(entry) or BACKUP_NAME.fullmatch(entry)
        if match is None or match["name"] not in wanted:
            continue
        path = folder / entry
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except OSError:
            continue
        done.append(f"removed {entry}")
    return done
