"""ModuleList and ModuleDict: modules held in a list or by name, found like attributes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, FormatError
from chainrule.nn.module import Module
from chainrule.nn.registry import layer_from_spec, layer_to_spec, register_layer

__all__ = ["ModuleList", "ModuleDict"]


def _module(value: Any, where: str) -> Module:
    if not isinstance(value, Module):
        raise ConfigError(
            f"{where} takes Module instances, got {type(value).__name__}; did you forget the "
            "parentheses, e.g. ReLU() instead of ReLU?"
        )
    return value


@register_layer
class ModuleList(Module):
    """A list of modules whose parameters the parent finds (names ``"0.weight"``, ...).

    It has no ``forward``: the module that holds it decides how to call its items.

    Examples
    --------
    >>> from chainrule import nn
    >>> blocks = nn.ModuleList([nn.Linear(4, 4, rng=i) for i in range(3)])
    >>> blocks.append(nn.ReLU())
    ModuleList(...)
    >>> len(blocks), [name for name, _ in blocks.named_parameters()][:2]
    (4, ['0.weight', '0.bias'])
    """

    def __init__(
        self, modules: Iterable[Module] = (), *, layers: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__()
        if layers is not None:
            if not isinstance(layers, list):
                raise FormatError(f"ModuleList: layers must be a list of specs, got {layers!r:.80}")
            modules = [layer_from_spec(spec) for spec in layers]
        self.extend(modules)

    def _items(self) -> list[Module]:
        return [m for _, m in self.named_children()]

    def _reset(self, items: list[Module]) -> None:
        for name, _ in list(self.named_children()):
            delattr(self, name)
        for i, item in enumerate(items):
            setattr(self, str(i), item)

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end and return this list."""
        setattr(self, str(len(self)), _module(module, "ModuleList.append"))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Append every module of ``modules``."""
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index``."""
        items = self._items()
        items.insert(index, _module(module, "ModuleList.insert"))
        self._reset(items)

    def _index(self, index: Any) -> int:
        n = len(self)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"ModuleList indices must be ints or slices, got {index!r}")
        if not -n <= int(index) < n:
            raise IndexError(f"ModuleList index {index} is out of range for {n} modules")
        return int(index) % n

    def __getitem__(self, index: int | slice) -> Any:
        items = self._items()
        if isinstance(index, slice):
            return ModuleList(items[index])
        return items[self._index(index)]

    def __setitem__(self, index: int, module: Module) -> None:
        setattr(self, str(self._index(index)), _module(module, "ModuleList"))

    def __delitem__(self, index: int) -> None:
        items = self._items()
        del items[self._index(index)]
        self._reset(items)

    def __len__(self) -> int:
        return sum(1 for _ in self.named_children())

    def __iter__(self) -> Iterator[Module]:
        return iter(self._items())

    def get_config(self) -> dict[str, Any]:
        """``{"layers": [spec, ...]}``: ``ModuleList(**config)`` rebuilds it."""
        return {"layers": [layer_to_spec(m) for m in self._items()]}


@register_layer
class ModuleDict(Module):
    """Modules by name, found by the parent as ``"name.weight"``; keeps insertion order.

    Examples
    --------
    >>> from chainrule import nn
    >>> heads = nn.ModuleDict({"digit": nn.Linear(8, 10, rng=0), "parity": nn.Linear(8, 2, rng=1)})
    >>> list(heads), heads["parity"]
    (['digit', 'parity'], Linear(8 -> 2, bias=True))
    """

    def __init__(
        self,
        modules: Mapping[str, Module] | None = None,
        *,
        layers: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        if layers is not None:
            if not isinstance(layers, dict):
                raise FormatError(f"ModuleDict: layers must be a dict of specs, got {layers!r:.80}")
            modules = {key: layer_from_spec(spec) for key, spec in layers.items()}
        for key, module in (modules or {}).items():
            self[key] = module

    @staticmethod
    def _key(key: Any) -> str:
        if not isinstance(key, str) or not key or "." in key or not key.isidentifier():
            raise ConfigError(
                f"ModuleDict keys must be identifiers without dots (they become parameter "
                f"names), got {key!r}"
            )
        if key in ("training", "forward") or key.startswith("_"):
            raise ConfigError(f"ModuleDict: the key {key!r} is reserved")
        return key

    def __setitem__(self, key: str, module: Module) -> None:
        setattr(self, self._key(key), _module(module, "ModuleDict"))

    def __getitem__(self, key: str) -> Module:
        children = dict(self.named_children())
        if key not in children:
            raise KeyError(f"ModuleDict has no module {key!r}; it has {list(children)}")
        return children[key]

    def __delitem__(self, key: str) -> None:
        self[key]  # noqa: B018 - raises KeyError naming the keys
        delattr(self, key)

    def __contains__(self, key: object) -> bool:
        return any(name == key for name, _ in self.named_children())

    def __len__(self) -> int:
        return sum(1 for _ in self.named_children())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def keys(self) -> list[str]:
        """The names, in insertion order."""
        return [name for name, _ in self.named_children()]

    def values(self) -> list[Module]:
        """The modules, in insertion order."""
        return [m for _, m in self.named_children()]

    def items(self) -> list[tuple[str, Module]]:
        """``(name, module)`` pairs, in insertion order."""
        return list(self.named_children())

    def get_config(self) -> dict[str, Any]:
        """``{"layers": {name: spec}}``: ``ModuleDict(**config)`` rebuilds it."""
        return {"layers": {key: layer_to_spec(m) for key, m in self.named_children()}}
