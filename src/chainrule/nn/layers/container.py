"""Structural layers: Sequential (a chain of layers), Flatten and Identity."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from chainrule.autodiff import functions as F
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, FormatError, ShapeError
from chainrule.nn.layers.fusion import fusion
from chainrule.nn.module import Module
from chainrule.nn.registry import layer_from_spec, layer_to_spec, register_layer

__all__ = ["Sequential", "Flatten", "Identity"]


@register_layer
class Sequential(Module):
    """Layers applied one after another; the output of each is the input of the next.

    The layers are attributes named ``"0"``, ``"1"``, ... so parameter names read
    ``"0.weight"``. Supports ``len``, iteration, indexing (a slice gives a new Sequential
    sharing the layers) and ``append``.

    Parameters
    ----------
    *modules : Module
        The layers, in order.
    layers : list of dict, optional
        Instead of modules: layer specs ``{"type": ..., "config": ...}`` as produced by
        ``get_config()``, built through ``chainrule.nn.registry`` (used when loading files).

    Examples
    --------
    >>> from chainrule.nn import Linear, ReLU, Sequential
    >>> model = Sequential(Linear(4, 8, rng=0), ReLU(), Linear(8, 2, rng=1))
    >>> len(model), [name for name, _ in model.named_parameters()][:2]
    (3, ['0.weight', '0.bias'])
    >>> rebuilt = Sequential(**model.get_config())
    >>> rebuilt[0]
    Linear(4 -> 8, bias=True)
    """

    def __init__(self, *modules: Module, layers: list[dict[str, Any]] | None = None) -> None:
        super().__init__()
        if layers is not None:
            if modules:
                raise ConfigError("Sequential: give either modules or layers=specs, not both")
            modules = tuple(self._build(layers))
        for module in modules:
            self.append(module)

    @staticmethod
    def _build(layers: Any) -> Iterator[Module]:
        """Build each layer spec through the registry, naming the position of a bad one."""
        if not isinstance(layers, list):
            raise FormatError(f"Sequential: layers must be a list of specs, got {layers!r:.80}")
        for i, spec in enumerate(layers):
            try:
                yield layer_from_spec(spec)
            except FormatError as err:
                raise FormatError(f"Sequential layer {i}: {err}") from None

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end and return this Sequential."""
        if not isinstance(module, Module):
            raise ConfigError(
                f"Sequential takes Module instances, got {type(module).__name__} at position "
                f"{len(self)}; did you forget the parentheses, e.g. ReLU() instead of ReLU?"
            )
        setattr(self, str(len(self)), module)
        return self

    def __len__(self) -> int:
        return sum(1 for _ in self.named_children())

    def __iter__(self) -> Iterator[Module]:
        return self.children()

    def __getitem__(self, index: int | slice) -> Any:
        layers = list(self.children())
        if isinstance(index, slice):
            return Sequential(*layers[index])
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"Sequential indices must be ints or slices, got {index!r}")
        index = int(index)
        if not -len(layers) <= index < len(layers):
            raise IndexError(f"Sequential index {index} is out of range for {len(layers)} layers")
        return layers[index]

    def forward(self, x: Any) -> Any:
        layers = list(self.children())
        i = 0
        while i < len(layers):
            fused = fusion(layers, i)
            if fused is not None:
                # conv [-> ReLU] -> 2x2 max pool, or ReLU -> max pool, as one primitive (the
                # same output and gradients; see chainrule.nn.layers.fusion)
                run, count = fused
                x = run(x)
                i += count
            else:
                x = layers[i](x)
                i += 1
        return x

    def get_config(self) -> dict[str, Any]:
        """``{"layers": [{"type": ..., "config": {...}}, ...]}``: ``Sequential(**config)``."""
        return {"layers": [layer_to_spec(m) for m in self.children()]}


@register_layer
class Flatten(Module):
    """Merge the axes ``start_dim`` to ``end_dim`` into one (images to vectors).

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import Flatten
    >>> Flatten()(np.zeros((2, 1, 28, 28), np.float32)).shape
    (2, 784)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        for what, value in (("start_dim", start_dim), ("end_dim", end_dim)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"Flatten: {what} must be an int, got {value!r}")
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        nd = x.ndim
        start, end = self.start_dim % max(nd, 1), self.end_dim % max(nd, 1)
        if not (-nd <= self.start_dim < nd and -nd <= self.end_dim < nd) or start > end:
            raise ShapeError(
                f"{self!r} got input of shape {x.shape}: axes {self.start_dim} to "
                f"{self.end_dim} do not exist or are in the wrong order for {nd} dimensions"
            )
        merged = 1
        for size in x.shape[start : end + 1]:
            merged *= size
        return F.reshape(x, (*x.shape[:start], merged, *x.shape[end + 1 :]))

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this layer."""
        return {"start_dim": self.start_dim, "end_dim": self.end_dim}

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


@register_layer(activation="identity")
class Identity(Module):
    """Return the input unchanged (a placeholder layer).

    Examples
    --------
    >>> from chainrule.nn import Identity
    >>> Identity()(3)
    3
    """

    def forward(self, x: Any) -> Any:
        return x

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (none)."""
        return {}
