"""Reading a settings file (TOML or JSON): bounded nesting, clear errors, no unknown keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chainrule.errors import ConfigError, FormatError

__all__ = ["MAX_CONFIG_DEPTH", "read_settings_file"]

#: Settings are flat; a file nested deeper than this is refused before it is used.
MAX_CONFIG_DEPTH = 8


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of parsed settings, counted without recursion and stopping past ``limit``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def read_settings_file(path: str | Path, known: list[str]) -> dict[str, Any]:
    """Read settings from a TOML or JSON file; keys may use dashes or underscores; every key
    must be one of ``known``."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file {path} is a folder; give a .toml or .json file")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json", ""):
        raise ConfigError(
            f"config file {path}: {suffix} files are not read; write the settings as "
            "TOML (.toml) or JSON (.json)"
        )
    kind = "TOML" if suffix == ".toml" else "JSON"
    text = path.read_bytes()
    try:
        if kind == "TOML":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text.decode("utf-8"))
        else:
            data = json.loads(text)
    except RecursionError:
        raise FormatError(
            f"config file {path}: nested too deeply to read; settings are flat "
            f"(at most {MAX_CONFIG_DEPTH} levels)"
        ) from None
    except (ValueError, UnicodeDecodeError) as err:
        raise FormatError(f"config file {path}: not valid {kind}: {err}") from None
    if not isinstance(data, dict):
        raise FormatError(f"config file {path}: expected a table of settings at the top level")
    if _depth(data, MAX_CONFIG_DEPTH) > MAX_CONFIG_DEPTH:
        raise FormatError(
            f"config file {path}: nested more than {MAX_CONFIG_DEPTH} levels deep; settings "
            "are flat (hidden = [256, 128] is the only list)"
        )
    settings = {str(k).replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown settings {unknown}; known: {', '.join(known)}"
        )
    return settings
