"""The table of primitive classes by name: filled as each primitive is defined, read by Tensor.

It sits below both ``tensor.py`` and ``primitive.py`` so that Tensor's operators reach the
primitives (``REGISTRY["add"]``) without importing them, and primitives build Tensors without
a back-door: the modules import in one direction only.
"""

from __future__ import annotations

from typing import Any

from chainrule.errors import ConfigError

__all__ = ["REGISTRY", "register"]

#: Every primitive class by its ``name``; the test suite checks each one has sample inputs.
REGISTRY: dict[str, Any] = {}


def register(cls: Any) -> None:
    """Enter a primitive class under its ``name``; refuse a name another primitive holds."""
    previous = REGISTRY.get(cls.name)
    if previous is not None and _where(previous) != _where(cls):
        raise ConfigError(
            f"a primitive named {cls.name!r} already exists ({_where(previous)}); got another "
            f"one from {_where(cls)}; hint: give the new primitive a name of its own"
        )
    REGISTRY[cls.name] = cls  # the same class defined again (a reload) replaces the old one


def _where(cls: Any) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
