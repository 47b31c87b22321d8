"""The JSON half of model files and checkpoints: reading it safely, and checking what it says.

``model_file`` and ``checkpoint`` both store a JSON document beside safetensors weights; the
checks they share live here: the document's size, kind and version, its fields' types, JSON-safe
values, finite arrays, and whether a state matches the architecture it claims.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, FormatError
from chainrule.io.files import open_regular
from chainrule.io.safetensors_file import loads_strict
from chainrule.nn.module import Module

__all__ = [
    "MAX_JSON_BYTES", "model_paths", "to_json_safe", "read_json_document", "field",
    "check_finite", "match_state",
]  # fmt: skip

#: A model or checkpoint JSON larger than this is refused before it is parsed.
MAX_JSON_BYTES = 64 * 2**20
FLOAT_DTYPES = ("float32", "float64")


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


def check_preprocessing(pre: Mapping[str, Any], where: str, error: type[Exception]) -> None:
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


def check_class_names(names: Any, where: str, error: type[Exception]) -> None:
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise error(f"{where}: class_names must be a list of strings, got {names!r:.80}")


def model_dtype(state: Mapping[str, np.ndarray]) -> str:
    """The one floating dtype of the model (float32 when it has no floating tensors)."""
    kinds = sorted({str(a.dtype) for a in state.values() if a.dtype.kind == "f"})
    if len(kinds) > 1 or (kinds and kinds[0] not in FLOAT_DTYPES):
        raise ConfigError(
            f"the model's floating tensors have dtypes {kinds}; a model file holds one of "
            f"{list(FLOAT_DTYPES)}. Hint: call model.astype('float32') before saving"
        )
    return kinds[0] if kinds else "float32"
