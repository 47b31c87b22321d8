"""The layers that may be built from a file, and conversion between layers and JSON specs.

A spec is ``{"type": "Linear", "config": {...}}`` where ``config`` is the layer's
``get_config()``. Only classes registered in ``LAYERS`` (with the ``@register_layer``
decorator, which every library layer carries in its own module) are ever built from a spec,
with keyword arguments checked against the constructor, so a model file cannot run arbitrary
code: a type name is looked up, never imported.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from chainrule.errors import ChainruleError, ConfigError, FormatError
from chainrule.nn.module import Module

__all__ = [
    "LAYERS",
    "ACTIVATIONS",
    "register_layer",
    "layer_to_spec",
    "layer_from_spec",
    "spec_size",
]

#: Layer classes by type name: the only classes a spec (a model file) can build. Each layer
#: module fills it with the ``@register_layer`` decorator; this module imports no layer.
LAYERS: dict[str, type[Module]] = {}

# Deeper specs are refused before building (a hostile file must not exhaust the stack).
MAX_DEPTH = 64


#: Hidden-layer activations by name (``"relu"``, ...), filled by
#: ``@register_layer(activation=...)``: ``nn.mlp`` and the command line take their choices here.
ACTIVATIONS: dict[str, type[Module]] = {}


def register_layer(
    cls: type[Module] | None = None,
    name: str | None = None,
    activation: str | tuple[str, ...] | None = None,
) -> Any:
    """Allow ``cls`` (a Module with ``get_config``) in specs; a class decorator.

    ``@register_layer`` registers the class under its own name; ``@register_layer(name=...)``
    under another; ``activation="relu"`` (or a tuple of names) also lists a layer built without
    arguments as a hidden-layer activation for ``nn.mlp`` and the command line.

    Examples
    --------
    >>> from chainrule.nn import Module
    >>> from chainrule.nn.registry import LAYERS, register_layer
    >>> @register_layer
    ... class Double(Module):
    ...     def forward(self, x):
    ...         return x * 2
    ...     def get_config(self):
    ...         return {}
    >>> LAYERS.pop("Double").__name__
    'Double'
    """
    if cls is None:
        return lambda klass: register_layer(klass, name=name, activation=activation)
    if not (isinstance(cls, type) and issubclass(cls, Module)):
        raise ConfigError(f"register_layer takes a Module subclass, got {cls!r}")
    if not callable(getattr(cls, "get_config", None)):
        raise ConfigError(f"register_layer: {cls.__name__} must define get_config()")
    key = name or cls.__name__
    if key in LAYERS and LAYERS[key] is not cls:
        raise ConfigError(f"register_layer: the name {key!r} is already taken by {LAYERS[key]}")
    names = (activation,) if isinstance(activation, str) else tuple(activation or ())
    for act in names:
        if act in ACTIVATIONS and ACTIVATIONS[act] is not cls:
            raise ConfigError(
                f"register_layer: the activation name {act!r} is already taken by "
                f"{ACTIVATIONS[act].__name__}"
            )
    LAYERS[key] = cls
    for act in names:
        ACTIVATIONS[act] = cls
    return cls


def activation_names() -> tuple[str, ...]:
    """One name per registered activation (its first, e.g. ``"sigmoid"``, not ``"logistic"``).

    Examples
    --------
    >>> from chainrule.nn.registry import activation_names
    >>> activation_names()[:3]
    ('relu', 'leaky_relu', 'elu')
    """
    seen: set[type[Module]] = set()
    names = []
    for name, cls in ACTIVATIONS.items():
        if cls not in seen:
            seen.add(cls)
            names.append(name)
    return tuple(names)


def layer_to_spec(module: Module) -> dict[str, Any]:
    """``{"type": name, "config": module.get_config()}`` for a registered layer.

    Examples
    --------
    >>> from chainrule.nn import Linear
    >>> from chainrule.nn.registry import layer_to_spec
    >>> layer_to_spec(Linear(3, 2, bias=False, rng=0))["config"]
    {'in_features': 3, 'out_features': 2, 'bias': False, 'init': 'auto'}
    """
    name = type(module).__name__
    if LAYERS.get(name) is not type(module):  # registered under another name, or not at all
        name = next((key for key, cls in LAYERS.items() if cls is type(module)), name)
    if LAYERS.get(name) is not type(module):
        raise ConfigError(
            f"cannot describe a {name} layer: only registered layers can be saved "
            f"({sorted(LAYERS)}); register yours with chainrule.nn.registry.register_layer"
        )
    get_config = getattr(module, "get_config", None)
    if not callable(get_config):
        raise ConfigError(f"cannot describe a {name} layer: it has no get_config() method")
    config = get_config()
    try:
        json.dumps(config, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{name}.get_config() is not JSON-safe: {err}") from None
    return {"type": name, "config": config}


def _depth(spec: Any) -> int:
    """Nesting depth of dicts and lists, counted without recursion."""
    deepest, stack = 0, [(spec, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        )
        stack.extend((child, level + 1) for child in children)
    return deepest


def spec_size(spec: Any) -> int:
    """Scalars (parameters and buffers) the layers of a spec would allocate, without building them.

    Lets a model file be checked against its weights before any memory is spent on a hostile
    architecture. Layers that declare no ``spec_size`` count as 0.
    """
    total, stack = 0, [spec]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict) or not isinstance(node.get("config"), dict):
            continue
        config = node["config"]
        if isinstance(config.get("layers"), list):
            stack.extend(config["layers"])
        size = getattr(LAYERS.get(node.get("type")), "spec_size", None)  # type: ignore[arg-type]
        if size is not None:
            total += max(0, int(size(config)))
    return total


def layer_from_spec(spec: Any) -> Module:
    """Build the layer a spec describes, refusing unknown types and bad arguments.

    Raises ``FormatError`` naming the problem (unknown type, missing or unexpected keys,
    arguments the constructor rejects).

    Examples
    --------
    >>> from chainrule.nn.registry import layer_from_spec
    >>> layer_from_spec({"type": "Dropout", "config": {"p": 0.2}})
    Dropout(p=0.2)
    """
    if not isinstance(spec, dict) or set(spec) != {"type", "config"}:
        keys = sorted(spec) if isinstance(spec, dict) else type(spec).__name__
        raise FormatError(
            f"a layer spec must be a dict with exactly the keys 'type' and 'config', got {keys}"
        )
    name, config = spec["type"], spec["config"]
    if not isinstance(name, str) or name not in LAYERS:
        raise FormatError(
            f"unknown layer type {name!r:.80}; known types are {sorted(LAYERS)} (register "
            "custom layers with chainrule.nn.registry.register_layer before loading)"
        )
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise FormatError(f"the config of a {name} layer must be a dict of named arguments")
    if _depth(config) > MAX_DEPTH:
        raise FormatError(f"the {name} spec is nested more than {MAX_DEPTH} levels deep")
    cls = LAYERS[name]
    try:
        inspect.signature(cls).bind(**config)
    except TypeError as err:
        raise FormatError(f"bad config for a {name} layer: {err}") from None
    try:
        return cls(**config)
    except FormatError:
        raise
    except (ChainruleError, TypeError, ValueError) as err:
        raise FormatError(f"bad config for a {name} layer: {err}") from None
