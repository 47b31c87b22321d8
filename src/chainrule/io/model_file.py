"""Model files: ``NAME.safetensors`` (weights) + ``NAME.json`` (architecture, metadata, hash)."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from chainrule.autodiff.backend import to_numpy
from chainrule.errors import (
    ChainruleError,
    ConfigError,
    DataNotFoundError,
    FormatError,
)
from chainrule.io.atomic import AtomicGroup
from chainrule.io.files import read_verified
from chainrule.io.json_doc import (
    FLOAT_DTYPES,
    check_class_names,
    check_finite,
    check_preprocessing,
    field,
    match_state,
    model_dtype,
    model_paths,
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

__all__ = ["save", "load", "LoadedModel", "model_paths", "FORMAT", "FORMAT_VERSION"]

FORMAT = "chainrule-model"
FORMAT_VERSION = 1
#: JSON documents larger than this are refused unread (a model's JSON is a few kilobytes).
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass
class LoadedModel:
    """What ``chainrule.load`` returns: the rebuilt model and everything saved alongside it.

    Attributes
    ----------
    model : Module
        The network, in evaluation mode, with the saved weights.
    class_names : list of str or None
        Names of the output classes, in output order.
    preprocessing : dict or None
        How inputs were prepared for training (e.g. ``mean``, ``std``, ``image_shape``,
        ``scale``); apply the same to new inputs.
    hyperparameters, metrics, metadata : dict or None
        As given to ``save``.
    architecture : dict
        The layer spec the model was built from.
    dtype : str
        ``"float32"`` or ``"float64"``.
    chainrule_version, created : str
        The version that wrote the file and when (ISO 8601, UTC).
    path, weights_path : Path
        The JSON file and the safetensors file.
    """

    model: Module
    class_names: list[str] | None
    preprocessing: dict[str, Any] | None
    hyperparameters: dict[str, Any] | None
    metrics: dict[str, Any] | None
    metadata: dict[str, Any] | None
    architecture: dict[str, Any]
    dtype: str
    chainrule_version: str
    created: str
    path: Path
    weights_path: Path

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the model (``loaded(x)`` is ``loaded.model(x)``)."""
        return self.model(*args, **kwargs)


# -- paths and JSON ---------------------------------------------------------------------------
def _registry() -> Any:
    """The layer registry (imported late: it pulls in every layer)."""
    from chainrule.nn import registry

    return registry


# -- save -------------------------------------------------------------------------------------
def save(
    model: Module,
    path: str | os.PathLike[str],
    *,
    metadata: Mapping[str, Any] | None = None,
    preprocessing: Mapping[str, Any] | None = None,
    class_names: list[str] | tuple[str, ...] | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    allow_nonfinite: bool = False,
    group: AtomicGroup | None = None,
) -> Path:
    """Save a model as ``NAME.safetensors`` (weights) and ``NAME.json`` (everything else).

    The weights file holds ``model.state_dict()`` under exactly its dotted names. The JSON holds
    the architecture (built from registered layer types only, so loading runs no code), the
    dtype, the optional fields below, the chainrule version, the time, and the SHA-256 of the
    weights file, so a mismatched pair is detected. Both files are staged completely and then
    renamed into place, weights first; if anything fails, the previous pair is left as it was.

    Parameters
    ----------
    model : Module
        A model made of registered layers (``chainrule.nn.registry.LAYERS``).
    path : str or PathLike
        ``NAME``, ``NAME.json`` or ``NAME.safetensors`` (all mean the same pair), or an
        existing folder (then ``folder/model.*``). Missing parent folders are created.
    metadata, hyperparameters, metrics : dict, optional
        Free-form, JSON-safe (NumPy scalars and arrays are converted; NaN and infinities are
        stored as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``).
    preprocessing : dict, optional
        How inputs were prepared, e.g. ``{"mean": [0.13], "std": [0.31], "image_shape":
        [28, 28], "scale": 1 / 255}``; those four keys are checked, others are free.
    class_names : list of str, optional
        Names of the output classes, in output order.
    allow_nonfinite : bool
        Save weights containing NaN or infinity instead of refusing.
    group : AtomicGroup, optional
        Stage both files in this group (they are renamed when it commits, with the files
        staged before them) instead of committing them now.

    Returns
    -------
    Path
        The JSON file (``load`` accepts it).

    Raises
    ------
    ConfigError
        Metadata that is not JSON-safe, mixed or unsupported dtypes, non-finite weights, or a
        layer the registry does not know (register it with ``register_layer``).

    Examples
    --------
    >>> import tempfile, chainrule as cr
    >>> from chainrule.nn.layers import Linear, ReLU, Sequential
    >>> net = Sequential(Linear(4, 8), ReLU(), Linear(8, 3))
    >>> folder = tempfile.mkdtemp()
    >>> json_path = cr.save(net, f"{folder}/net", class_names=["a", "b", "c"])
    >>> cr.load(json_path).class_names
    ['a', 'b', 'c']
    """
    if not isinstance(model, Module):
        raise ConfigError(f"save() needs a chainrule.nn.Module, got {type(model).__name__}")
    weights_path, json_path = model_paths(path)
    state = {name: to_numpy(array) for name, array in model.state_dict().items()}
    dtype = model_dtype(state)
    if not allow_nonfinite:
        check_finite(state, f"save({json_path.name})", ConfigError)
    extras: dict[str, Any] = {
        "class_names": None if class_names is None else list(class_names),
        "preprocessing": preprocessing,
        "hyperparameters": hyperparameters,
        "metrics": metrics,
        "metadata": metadata,
    }
    extras = {key: to_json_safe(value, key) for key, value in extras.items()}
    if extras["class_names"] is not None:
        check_class_names(extras["class_names"], "save()", ConfigError)
    for key in ("preprocessing", "hyperparameters", "metrics", "metadata"):
        if extras[key] is not None and not isinstance(extras[key], dict):
            raise ConfigError(f"save(): {key} must be a dict, got {type(extras[key]).__name__}")
    if extras["preprocessing"] is not None:
        check_preprocessing(extras["preprocessing"], "save()", ConfigError)
    architecture = _registry().layer_to_spec(model)

    from chainrule import __version__

    blob = encode_safetensors(state, {"format": "np", "producer": f"chainrule {__version__}"})
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "chainrule_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "architecture": architecture,
        "dtype": dtype,
        "weights": {"sha256": sha256_hex(blob), "bytes": len(blob)},
        **extras,
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    # Weights first, the JSON (which vouches for them by hash) last; see AtomicGroup.
    if group is not None:
        group.write_bytes(weights_path, blob)
        group.write_json(json_path, doc)
        return json_path
    with AtomicGroup() as own:
        own.write_bytes(weights_path, blob)
        own.write_json(json_path, doc)
    return json_path


# -- load -------------------------------------------------------------------------------------
def _missing_model(path: str | os.PathLike[str], json_path: Path, weights_path: Path) -> None:
    """Raise a DataNotFoundError that says which half of the pair is missing, with a hint."""
    if json_path.exists() and weights_path.exists():
        return
    if json_path.exists() or weights_path.exists():
        present, absent = (
            (json_path, weights_path) if json_path.exists() else (weights_path, json_path)
        )
        raise DataNotFoundError(
            f"{absent}: no such file, but {present.name} exists; a chainrule model is a pair "
            "of files written together by chainrule.save. Hint: copy both files"
        )
    hint = "Hint: pass the path given to chainrule.save (NAME, NAME.json or NAME.safetensors)"
    folder = json_path.parent
    if folder.is_dir():
        candidates = sorted(p.name for p in folder.glob("*.json"))[:10]
        if candidates:
            hint += f"; JSON files in {folder}: {candidates}"
    raise DataNotFoundError(f"{path}: no model here (looked for {json_path.name}). {hint}")


def load(path: str | os.PathLike[str], *, allow_nonfinite: bool = False) -> LoadedModel:
    """Load a model saved by ``chainrule.save``; no pickle, no code from the file is run.

    The architecture is rebuilt from registered layer types only; the weights file is checked
    against the hash in the JSON, its header is validated before any tensor is read, and its
    tensors must match the architecture's names, shapes and dtype exactly.

    Parameters
    ----------
    path : str or PathLike
        ``NAME``, ``NAME.json``, ``NAME.safetensors`` or a folder holding ``model.json``.
    allow_nonfinite : bool
        Accept weights containing NaN or infinity instead of raising.

    Returns
    -------
    LoadedModel
        ``.model`` (in evaluation mode), ``.class_names``, ``.preprocessing``,
        ``.hyperparameters``, ``.metrics``, ``.metadata`` and file details. Calling it runs
        the model.

    Raises
    ------
    DataNotFoundError
        Either file of the pair is missing.
    FormatError
        Anything corrupt, truncated, mismatched or hostile; the message names the file.

    Examples
    --------
    >>> import tempfile, numpy as np, chainrule as cr
    >>> from chainrule.nn.layers import Linear
    >>> net = Linear(3, 2)
    >>> path = cr.save(net, tempfile.mkdtemp() + "/tiny")
    >>> loaded = cr.load(path)
    >>> x = cr.tensor(np.ones((1, 3), dtype=np.float32))
    >>> bool((loaded(x).data == net(x).data).all())
    True
    """
    weights_path, json_path = model_paths(path)
    _missing_model(path, json_path, weights_path)
    doc = read_json_document(json_path, FORMAT, FORMAT_VERSION, "chainrule model")
    architecture = field(doc, "architecture", dict, json_path)
    dtype = field(doc, "dtype", str, json_path)
    if dtype not in FLOAT_DTYPES:
        raise FormatError(f"{json_path}: dtype is {dtype!r}, expected one of {FLOAT_DTYPES}")
    weights = field(doc, "weights", dict, json_path)
    digest = weights.get("sha256")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise FormatError(f"{json_path}: weights.sha256 must be 64 hex digits, got {digest!r:.80}")
    class_names = field(doc, "class_names", list, json_path, optional=True)
    if class_names is not None:
        check_class_names(class_names, str(json_path), FormatError)
    preprocessing = field(doc, "preprocessing", dict, json_path, optional=True)
    if preprocessing is not None:
        check_preprocessing(preprocessing, str(json_path), FormatError)
    extras = {
        key: field(doc, key, dict, json_path, optional=True)
        for key in ("hyperparameters", "metrics", "metadata")
    }
    version = doc.get("chainrule_version")
    created = doc.get("created")

    needed = _registry().spec_size(architecture)

    def plausible(candidate: Path) -> None:
        # Refuse before reading or allocating what a hostile file asks for; a small mismatch
        # is let through so that the tensor-by-tensor comparison below names what differs.
        stored = sum(
            math.prod(entry["shape"])
            for name, entry in read_safetensors_header(candidate).items()
            if name != "__metadata__"
        )
        if needed > 2 * stored + 1_000_000 or stored > 2 * needed + 1_000_000:
            raise FormatError(
                f"{json_path}: the architecture needs {needed:,} parameters and buffers but "
                f"{candidate.name} holds {'only ' if stored < needed else ''}{stored:,}; the two "
                "files do not belong together"
            )

    size = weights.get("bytes")
    data = read_verified(
        weights_path,
        digest,
        size if isinstance(size, int) and not isinstance(size, bool) else None,
        json_path.name,
        plausible,
    )
    try:
        model = _registry().layer_from_spec(architecture)
    except (ChainruleError, TypeError, ValueError, KeyError, RecursionError, MemoryError) as exc:
        raise FormatError(f"{json_path}: cannot build the architecture: {exc}") from exc
    if not isinstance(model, Module):  # pragma: no cover - the registry only builds modules
        raise FormatError(f"{json_path}: the architecture did not build a Module")
    model.astype(dtype)
    arrays, _ = decode_safetensors(data, str(weights_path))
    match_state(model, arrays, str(weights_path), FormatError)
    if not allow_nonfinite:
        check_finite(arrays, str(weights_path), FormatError)
    model.load_state_dict(arrays)
    model.eval()
    return LoadedModel(
        model=model,
        class_names=class_names,
        preprocessing=preprocessing,
        hyperparameters=extras["hyperparameters"],
        metrics=extras["metrics"],
        metadata=extras["metadata"],
        architecture=architecture,
        dtype=dtype,
        chainrule_version=version if isinstance(version, str) else "unknown",
        created=created if isinstance(created, str) else "unknown",
        path=json_path,
        weights_path=weights_path,
    )
