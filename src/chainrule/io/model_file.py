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

import numpy as np

from chainrule.autodiff.backend import to_numpy
from chainrule.errors import (
    ChainruleError,
    ConfigError,
    DataNotFoundError,
    FormatError,
)
from chainrule.io.atomic import AtomicGroup
from chainrule.io.files import open_regular, read_verified
from chainrule.io.safetensors_file import (
    decode_safetensors,
    encode_safetensors,
    loads_strict,
    read_safetensors_header,
    sha256_hex,
)
from chainrule.nn.module import Module

__all__ = ["save", "load", "LoadedModel", "model_paths", "FORMAT", "FORMAT_VERSION"]

FORMAT = "chainrule-model"
FORMAT_VERSION = 1
#: JSON documents larger than this are refused unread (a model's JSON is a few kilobytes).
MAX_JSON_BYTES = 64 * 2**20
_FLOAT_DTYPES = ("float32", "float64")
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
def model_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The (weights, JSON) pair a model path names.

    ``"m"``, ``"m.json"`` and ``"m.safetensors"`` all name ``m.safetensors`` + ``m.json``; an
    existing folder names ``folder/model.safetensors`` + ``folder/model.json``.

    Examples
    --------
    >>> [p.name for p in model_paths("runs/mnist.json")]
    ['mnist.safetensors', 'mnist.json']
    """
    stem = Path(path)
    if stem.is_dir():
        stem = stem / "model"
    elif stem.suffix in (".json", ".safetensors"):
        stem = stem.with_suffix("")
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def to_json_safe(value: Any, where: str) -> Any:
    """A strict-JSON copy of ``value`` (NumPy scalars and arrays, tuples become plain values).

    NaN and infinities, which strict JSON cannot hold, become the strings ``"NaN"``,
    ``"Infinity"`` and ``"-Infinity"`` (``float()`` reads them back), so a diverged metric or
    history entry does not block saving. Raises ``ConfigError`` naming ``where`` for anything
    else JSON cannot hold: other objects and non-string keys.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        value = value.item()
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return value if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(f"{where} has the key {key!r}; JSON keys must be strings")
            out[key] = to_json_safe(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [to_json_safe(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise ConfigError(
        f"{where} is a {type(value).__name__}, which cannot be saved; use numbers, strings, "
        "booleans, None, lists and dicts"
    )


def read_json_document(path: Path, kind: str, version: int, what: str) -> dict[str, Any]:
    """Read a chainrule JSON document; check its ``format`` is ``kind`` and its version known."""
    with open_regular(path, f"the JSON of a {what}") as handle:
        raw = handle.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise FormatError(f"{path}: larger than {MAX_JSON_BYTES} bytes; not the JSON of a {what}")
    try:
        doc = loads_strict(raw)
    except (ValueError, RecursionError) as exc:
        raise FormatError(f"{path}: not valid JSON ({exc}); expected the JSON of a {what}") from exc
    if not isinstance(doc, dict):
        raise FormatError(f"{path}: expected a JSON object, got {type(doc).__name__}")
    found = doc.get("format")
    if found != kind:
        raise FormatError(
            f"{path}: the format is {found!r:.80}, expected {kind!r}; this is not the JSON of "
            f"a {what}"
        )
    found_version = doc.get("format_version")
    if not isinstance(found_version, int) or isinstance(found_version, bool) or found_version < 1:
        raise FormatError(
            f"{path}: format_version is {found_version!r:.80}, expected a positive integer"
        )
    if found_version > version:
        raise FormatError(
            f"{path}: format_version {found_version} was written by a newer chainrule; this "
            f"version reads format_version {version}. Hint: upgrade chainrule"
        )
    return doc


def field(doc: Mapping[str, Any], key: str, kinds: Any, path: Path, optional: bool = False) -> Any:
    """``doc[key]``, checked to be one of ``kinds`` (``None`` allowed if ``optional``)."""
    if key not in doc:
        raise FormatError(f"{path}: the field {key!r} is missing")
    value = doc[key]
    if value is None and optional:
        return None
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in _as_tuple(kinds)):
        names = " or ".join(k.__name__ for k in _as_tuple(kinds))
        raise FormatError(f"{path}: the field {key!r} must be {names}, got {value!r:.80}")
    return value


def _as_tuple(kinds: Any) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


# -- checks shared by model files and checkpoints ---------------------------------------------
def check_finite(arrays: Mapping[str, np.ndarray], where: str, error: type[Exception]) -> None:
    """Refuse NaN or infinite values in floating arrays, naming the tensors."""
    bad = [
        name
        for name, array in arrays.items()
        if array.dtype.kind == "f" and not np.isfinite(array).all()
    ]
    if bad:
        raise error(
            f"{where}: tensors {sorted(bad)} contain NaN or infinity; training probably "
            "diverged. Hint: pass allow_nonfinite=True to keep them anyway"
        )


def match_state(
    module: Module, arrays: Mapping[str, np.ndarray], where: str, error: type[Exception]
) -> None:
    """Check that ``arrays`` has exactly the module's tensor names, shapes and dtypes."""
    own = module.state_dict()
    missing = sorted(set(own) - set(arrays))
    unexpected = sorted(set(arrays) - set(own))
    if missing or unexpected:
        raise error(
            f"{where}: the tensors do not match the architecture: missing {missing}, "
            f"unexpected {unexpected}"
        )
    for name, expected in own.items():
        got = arrays[name]
        if got.shape != expected.shape:
            raise error(
                f"{where}: tensor {name!r} has shape {got.shape}, but the architecture needs "
                f"{expected.shape}"
            )
        if got.dtype != expected.dtype:
            raise error(
                f"{where}: tensor {name!r} has dtype {got.dtype}, but the model's is "
                f"{expected.dtype}"
            )


def _check_preprocessing(pre: Mapping[str, Any], where: str, error: type[Exception]) -> None:
    """The keys the command line acts on must have usable values; other keys are free."""

    def number(x: Any) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)

    for key in ("mean", "std"):
        if key not in pre:
            continue
        value = pre[key]
        values: list[Any] = value if isinstance(value, list) else [value]
        if not (values and all(map(number, values))):
            raise error(f"{where}: preprocessing[{key!r}] must be a number or list of numbers")
        if key == "std" and any(v <= 0 for v in values):
            raise error(f"{where}: preprocessing['std'] must be positive, got {value!r}")
    shape = pre.get("image_shape")
    if "image_shape" in pre and not (
        isinstance(shape, list)
        and shape
        and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
    ):
        raise error(f"{where}: preprocessing['image_shape'] must be a list of positive integers")
    if "scale" in pre and not (number(pre["scale"]) and pre["scale"] > 0):
        raise error(f"{where}: preprocessing['scale'] must be a positive number")


def _check_class_names(names: Any, where: str, error: type[Exception]) -> None:
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise error(f"{where}: class_names must be a list of strings, got {names!r:.80}")


def _model_dtype(state: Mapping[str, np.ndarray]) -> str:
    """The one floating dtype of the model (float32 when it has no floating tensors)."""
    kinds = sorted({str(a.dtype) for a in state.values() if a.dtype.kind == "f"})
    if len(kinds) > 1 or (kinds and kinds[0] not in _FLOAT_DTYPES):
        raise ConfigError(
            f"the model's floating tensors have dtypes {kinds}; a model file holds one of "
            f"{list(_FLOAT_DTYPES)}. Hint: call model.astype('float32') before saving"
        )
    return kinds[0] if kinds else "float32"


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
    dtype = _model_dtype(state)
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
        _check_class_names(extras["class_names"], "save()", ConfigError)
    for key in ("preprocessing", "hyperparameters", "metrics", "metadata"):
        if extras[key] is not None and not isinstance(extras[key], dict):
            raise ConfigError(f"save(): {key} must be a dict, got {type(extras[key]).__name__}")
    if extras["preprocessing"] is not None:
        _check_preprocessing(extras["preprocessing"], "save()", ConfigError)
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
    if dtype not in _FLOAT_DTYPES:
        raise FormatError(f"{json_path}: dtype is {dtype!r}, expected one of {_FLOAT_DTYPES}")
    weights = field(doc, "weights", dict, json_path)
    digest = weights.get("sha256")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise FormatError(f"{json_path}: weights.sha256 must be 64 hex digits, got {digest!r:.80}")
    class_names = field(doc, "class_names", list, json_path, optional=True)
    if class_names is not None:
        _check_class_names(class_names, str(json_path), FormatError)
    preprocessing = field(doc, "preprocessing", dict, json_path, optional=True)
    if preprocessing is not None:
        _check_preprocessing(preprocessing, str(json_path), FormatError)
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
