"""Training checkpoints: model and optimizer state plus progress, to resume a run exactly."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.autodiff.backend import to_numpy
from chainrule.errors import ChainruleError, ConfigError, DataNotFoundError, FormatError
from chainrule.io.atomic import AtomicGroup
from chainrule.io.files import read_verified
from chainrule.io.json_doc import (
    check_finite,
    field,
    match_state,
    read_json_document,
    to_json_safe,
)
from chainrule.io.safetensors_file import (
    decode_safetensors,
    encode_safetensors,
    read_safetensors_header,
    sha256_hex,
)
from chainrule.nn.module import Module

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "checkpoint_paths",
    "generator_state",
    "restore_generator",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
]

CHECKPOINT_FORMAT = "chainrule-checkpoint"
CHECKPOINT_VERSION = 1
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def checkpoint_paths(run_dir: str | os.PathLike[str], name: str = "checkpoint") -> dict[str, Path]:
    """The three files of a checkpoint: ``"json"``, ``"model"`` and ``"optimizer"``.

    Examples
    --------
    >>> sorted(p.name for p in checkpoint_paths("runs/a").values())
    ['checkpoint.json', 'checkpoint.model.safetensors', 'checkpoint.optimizer.safetensors']
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            f"checkpoint name must be a plain file name (letters, digits, '_', '-', '.'), "
            f"got {name!r}"
        )
    folder = Path(run_dir)
    return {
        "json": folder / f"{name}.json",
        "model": folder / f"{name}.model.safetensors",
        "optimizer": folder / f"{name}.optimizer.safetensors",
    }


def generator_state(generator: np.random.Generator) -> dict[str, Any]:
    """The JSON-safe state of a NumPy Generator, for ``extra`` (see ``restore_generator``)."""
    if not isinstance(generator, np.random.Generator):
        raise ConfigError(f"expected a numpy.random.Generator, got {type(generator).__name__}")
    state: dict[str, Any] = to_json_safe(generator.bit_generator.state, "generator state")
    return state


def restore_generator(generator: np.random.Generator, state: Mapping[str, Any]) -> None:
    """Put ``generator`` back in ``state`` (from ``generator_state``), so it draws the same numbers.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> saved = generator_state(rng)
    >>> first = rng.random()
    >>> restore_generator(rng, saved)
    >>> rng.random() == first
    True
    """
    kind = type(generator.bit_generator).__name__
    if not isinstance(state, Mapping) or state.get("bit_generator") != kind:
        found = state.get("bit_generator") if isinstance(state, Mapping) else state
        raise FormatError(
            f"the saved random state is for bit generator {found!r:.80}, but this generator "
            f"uses {kind!r}; hint: build the generator the same way as in the saved run"
        )
    try:
        generator.bit_generator.state = dict(state)
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise FormatError(f"the saved {kind} random state is invalid: {exc}") from exc


def _module_generators(model: Module) -> dict[str, np.random.Generator]:
    """The random generators layers hold (e.g. ``Dropout.rng``), by dotted attribute name."""
    found = {}
    for prefix, module in model.named_modules():
        for attr, value in vars(module).items():
            if isinstance(value, np.random.Generator):
                found[f"{prefix}.{attr}" if prefix else attr] = value
    return found


def _restore_module_generators(model: Module, saved: Any, json_path: Path) -> list[Any]:
    """Check the saved layer generator states against the model; return the assignments to do."""
    own = _module_generators(model)
    if not isinstance(saved, dict) or sorted(saved) != sorted(own):
        found = sorted(saved) if isinstance(saved, dict) else saved
        raise FormatError(
            f"{json_path}: the checkpoint has random generators for the layers {found!r:.200}, "
            f"but this model's layers hold {sorted(own)}; hint: build the same model"
        )
    todo = []
    for name, generator in own.items():
        trial = np.random.Generator(type(generator.bit_generator)())
        try:  # on a throwaway generator first, so a bad state changes nothing
            restore_generator(trial, saved[name])
        except FormatError as exc:
            raise FormatError(f"{json_path}: layer generator {name!r}: {exc}") from exc
        todo.append((generator, saved[name]))
    return todo


def _history_dict(history: Any) -> Any:
    """Accept a plain dict or an object with ``to_dict()`` (such as ``History``)."""
    to_dict = getattr(history, "to_dict", None)
    return to_dict() if callable(to_dict) else history


def save_checkpoint(
    run_dir: str | os.PathLike[str],
    model: Module,
    optimizer: Any,
    epoch: int,
    history_dict: Any,
    extra: Mapping[str, Any] | None = None,
    *,
    name: str = "checkpoint",
    allow_nonfinite: bool = False,
) -> Path:
    """Write a checkpoint to ``run_dir``, replacing the previous one only once all of it is written.

    Three files: ``NAME.model.safetensors`` (the model's ``state_dict``),
    ``NAME.optimizer.safetensors`` (the optimizer's state arrays) and ``NAME.json`` (epoch,
    optimizer type, hyperparameters and step count, history, ``extra``, the state of the random
    generators the model's layers hold (such as ``Dropout.rng``) and the SHA-256 of both
    weight files). They are staged completely, then renamed into place with the JSON last;
    a failure leaves the previous checkpoint loadable.

    Parameters
    ----------
    run_dir : str or PathLike
        The run folder (created if missing).
    model : Module
        The model being trained.
    optimizer : Optimizer
        Anything with ``state_dict()`` returning ``{"type", "hyperparameters", "step",
        "state": {name: array}, ...}`` and ``load_state_dict``.
    epoch : int
        The number of completed epochs.
    history_dict : dict or History
        The history so far (JSON-safe; NaN is kept as the string ``"NaN"``).
    extra : dict, optional
        Anything else needed to resume exactly and JSON-safe: the run's configuration, and
        the data loader's random state from ``generator_state(rng)``.
    name : str
        Base name of the files (e.g. ``"checkpoint"``, ``"best"``).
    allow_nonfinite : bool
        Save weights containing NaN or infinity instead of refusing.

    Returns
    -------
    Path
        The checkpoint's JSON file.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from chainrule.nn.layers import Linear
    >>> from chainrule.optim import SGD
    >>> net = Linear(2, 1)
    >>> opt = SGD(net.parameters(), lr=0.1, momentum=0.9)
    >>> run = tempfile.mkdtemp()
    >>> _ = save_checkpoint(run, net, opt, epoch=3, history_dict={"loss": [1.0, 0.5, 0.2]})
    >>> epoch, history, extra = load_checkpoint(run, net, opt)
    >>> epoch, history["loss"]
    (3, [1.0, 0.5, 0.2])
    """
    paths = checkpoint_paths(run_dir, name)
    if not isinstance(model, Module):
        raise ConfigError(f"save_checkpoint() needs a Module, got {type(model).__name__}")
    if not isinstance(epoch, (int, np.integer)) or isinstance(epoch, bool) or epoch < 0:
        raise ConfigError(f"save_checkpoint(): epoch must be an integer >= 0, got {epoch!r}")
    history = to_json_safe(_history_dict(history_dict), "history")
    if not isinstance(history, dict):
        raise ConfigError(f"save_checkpoint(): history must be a dict, got {history_dict!r:.80}")
    extra_json = None if extra is None else to_json_safe(extra, "extra")
    if extra_json is not None and not isinstance(extra_json, dict):
        raise ConfigError(f"save_checkpoint(): extra must be a dict, got {extra!r:.80}")
    opt_state = optimizer.state_dict()
    if not isinstance(opt_state, Mapping) or not isinstance(opt_state.get("state"), Mapping):
        raise ConfigError(
            "save_checkpoint(): optimizer.state_dict() must return a dict with a 'state' dict "
            "of arrays"
        )
    model_arrays = {k: to_numpy(v) for k, v in model.state_dict().items()}
    opt_arrays = {k: to_numpy(v) for k, v in opt_state["state"].items()}
    if not allow_nonfinite:
        check_finite(model_arrays, "save_checkpoint(): the model", ConfigError)
        check_finite(opt_arrays, "save_checkpoint(): the optimizer state", ConfigError)
    opt_json = to_json_safe({k: v for k, v in opt_state.items() if k != "state"}, "optimizer")

    from chainrule import __version__

    model_blob = encode_safetensors(model_arrays, {"format": "np"})
    opt_blob = encode_safetensors(opt_arrays, {"format": "np"})
    doc = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "chainrule_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "epoch": int(epoch),
        "optimizer": opt_json,
        "history": history,
        "extra": extra_json,
        "generators": {k: generator_state(g) for k, g in _module_generators(model).items()},
        "files": {
            "model": {"sha256": sha256_hex(model_blob), "bytes": len(model_blob)},
            "optimizer": {"sha256": sha256_hex(opt_blob), "bytes": len(opt_blob)},
        },
    }
    paths["json"].parent.mkdir(parents=True, exist_ok=True)
    with AtomicGroup() as group:
        group.write_bytes(paths["model"], model_blob)
        group.write_bytes(paths["optimizer"], opt_blob)
        group.write_json(paths["json"], doc)
    return paths["json"]


def _read_arrays(path: Path, record: Any, json_path: Path) -> dict[str, np.ndarray]:
    """Read one safetensors file of the checkpoint, checking it against its recorded hash."""
    digest = record.get("sha256")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise FormatError(f"{json_path}: the hash of {path.name} must be 64 hex digits")
    size = record.get("bytes")
    try:
        data = read_verified(
            path,
            digest,
            size if isinstance(size, int) and not isinstance(size, bool) else None,
            json_path.name,
            read_safetensors_header,
        )
    except DataNotFoundError:
        raise DataNotFoundError(
            f"{path}: no such file, but {json_path.name} refers to it; the checkpoint is incomplete"
        ) from None
    arrays, _ = decode_safetensors(data, str(path))
    return arrays


def load_checkpoint(
    run_dir: str | os.PathLike[str],
    model: Module,
    optimizer: Any,
    *,
    name: str = "checkpoint",
    allow_nonfinite: bool = False,
) -> tuple[int, dict[str, Any], dict[str, Any] | None]:
    """Restore ``model`` and ``optimizer`` from a checkpoint; return (epoch, history, extra).

    Build the model and optimizer as for the original run, then call this. Everything is
    checked before anything changes: the hashes, the safetensors headers, the model's tensor
    names, shapes and dtypes, the optimizer's type and state, and the layers' random generator
    states (restored too). Restore other generators, such as the data loader's, from ``extra``
    with ``restore_generator``.

    Raises
    ------
    DataNotFoundError
        No checkpoint in ``run_dir``, or one of its files is missing.
    FormatError
        Corrupt or mismatched files, or a checkpoint that does not fit this model or
        optimizer; the message names the file.

    Examples
    --------
    See ``save_checkpoint``.
    """
    paths = checkpoint_paths(run_dir, name)
    json_path = paths["json"]
    if not json_path.exists():
        raise DataNotFoundError(
            f"{json_path}: no such file; there is no checkpoint named {name!r} in {run_dir}. "
            "Hint: checkpoints are written by save_checkpoint (chainrule train writes one "
            "per epoch)"
        )
    doc = read_json_document(json_path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, "checkpoint")
    epoch = field(doc, "epoch", int, json_path)
    if epoch < 0:
        raise FormatError(f"{json_path}: epoch must be >= 0, got {epoch}")
    history = field(doc, "history", dict, json_path)
    extra = field(doc, "extra", dict, json_path, optional=True)
    opt_json = field(doc, "optimizer", dict, json_path)
    files = field(doc, "files", dict, json_path)
    records = {}
    for part in ("model", "optimizer"):
        record = files.get(part)
        if not isinstance(record, dict):
            raise FormatError(f"{json_path}: files.{part} must be an object with a sha256")
        records[part] = record

    model_arrays = _read_arrays(paths["model"], records["model"], json_path)
    opt_arrays = _read_arrays(paths["optimizer"], records["optimizer"], json_path)
    match_state(model, model_arrays, str(paths["model"]), FormatError)
    if not allow_nonfinite:
        check_finite(model_arrays, str(paths["model"]), FormatError)
        check_finite(opt_arrays, str(paths["optimizer"]), FormatError)
    generators = _restore_module_generators(model, doc.get("generators", {}), json_path)
    saved_type = opt_json.get("type")
    own_type = type(optimizer).__name__
    if saved_type != own_type:
        raise FormatError(
            f"{json_path}: the checkpoint holds the state of a {saved_type!r:.80} optimizer, "
            f"but resuming with {own_type!r}; hint: resume with the run's own configuration"
        )
    # The optimizer checks everything before changing anything, and the model's arrays were
    # matched above, so a failure here leaves both as they were.
    try:
        optimizer.load_state_dict({**opt_json, "state": opt_arrays})
    except (ChainruleError, TypeError, ValueError, KeyError) as exc:
        raise FormatError(
            f"{paths['optimizer']}: the optimizer state does not fit this optimizer: {exc}"
        ) from exc
    model.load_state_dict(model_arrays)
    for generator, state in generators:
        restore_generator(generator, state)
    return epoch, history, extra
