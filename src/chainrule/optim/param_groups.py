"""Parameter groups: several sets of parameters in one optimizer, each with its own settings.

As in PyTorch, ``SGD([{"params": decay}, {"params": no_decay, "weight_decay": 0}], lr=0.1,
momentum=0.9)``: every group takes the optimizer's arguments as defaults and may override any
hyperparameter. Setting ``optimizer.lr`` (as the schedules do) scales every group's learning
rate by the same factor, so a group trained at ten times the base rate stays at ten times it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError

__all__ = ["ParamGroup", "collect_params", "is_group_list", "group_specs", "weight_decay_groups"]


class ParamGroup(dict):  # type: ignore[type-arg]
    """One group's ``{"params": [...], "lr": ..., ...}``; remembers being changed, so a step
    re-reads its settings only after someone (a schedule, ``group["lr"] = x``) changed them."""

    __slots__ = ("dirty",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dirty = True

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self.dirty = True

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().update(*args, **kwargs)
        self.dirty = True


def is_group_list(params: Any) -> bool:
    """True for a list or tuple of dicts (parameter groups), not of tensors."""
    return (
        isinstance(params, (list, tuple))
        and len(params) > 0
        and all(isinstance(group, Mapping) for group in params)
    )


def group_specs(
    params: Any, owner: str, names: tuple[str, ...]
) -> list[tuple[Any, dict[str, Any]]]:
    """``[(params, overrides)]``: one entry (no overrides) unless ``params`` lists groups."""
    if not is_group_list(params):
        return [(params, {})]
    specs = []
    for index, group in enumerate(params):
        if "params" not in group:
            raise ConfigError(
                f"{owner}: parameter group {index} has no 'params' key; each group is a dict "
                "such as {'params': model.parameters(), 'lr': 0.01}"
            )
        overrides = {k: v for k, v in group.items() if k != "params"}
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise ConfigError(
                f"{owner}: parameter group {index} sets {unknown}, which {owner} does not have; "
                f"a group may set {list(names)}"
            )
        specs.append((group["params"], overrides))
    return specs


def collect_params(params: Any, owner: str) -> tuple[list[Tensor], list[str | None]]:
    """The trainable tensors of ``params`` (tensors, (name, tensor) pairs or a Module), in order."""
    if isinstance(params, Tensor):
        raise ConfigError(
            f"{owner}: params must be an iterable of tensors, got a single Tensor; "
            "hint: pass model.parameters() or a list such as [w]"
        )
    if hasattr(params, "named_parameters") and callable(params.named_parameters):
        params = params.named_parameters()  # a Module: keep the names
    if not isinstance(params, Iterable):
        raise ConfigError(
            f"{owner}: params must be an iterable of tensors or (name, tensor) pairs, got "
            f"{type(params).__name__}; hint: pass model.parameters()"
        )
    tensors: list[Tensor] = []
    names: list[str | None] = []
    seen: set[int] = set()
    for position, item in enumerate(params):
        if isinstance(item, Tensor):
            name, tensor = None, item
        elif (
            isinstance(item, tuple)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], Tensor)
        ):
            name, tensor = item
        else:
            raise ConfigError(
                f"{owner}: params[{position}] is a {type(item).__name__}; expected a Tensor or "
                "a (name, Tensor) pair, as from model.parameters() or model.named_parameters()"
            )
        if not tensor.requires_grad:
            continue  # frozen tensors are not trained
        if id(tensor) in seen:
            continue  # a shared (tied) tensor is trained once, under its first name
        seen.add(id(tensor))
        tensors.append(tensor)
        names.append(name)
    if not tensors:
        raise ConfigError(
            f"{owner}: got no tensors with requires_grad=True to optimize; "
            "hint: check that the model has parameters and they are not all frozen"
        )
    return tensors, names


def weight_decay_groups(named_params: Any) -> list[dict[str, Any]]:
    """Two groups: weight matrices and kernels decay; biases and normalisation scales do not.

    Decaying a bias or a batch-norm scale pulls it towards 0 for no benefit (they do not make
    the function more complex), so the common practice is to decay only parameters with two or
    more dimensions. Pass the result as ``params`` of any optimizer with ``weight_decay``.

    Examples
    --------
    >>> from chainrule import nn, optim
    >>> model = nn.Sequential(nn.Linear(4, 3, rng=0), nn.BatchNorm1d(3))
    >>> groups = optim.weight_decay_groups(model.named_parameters())
    >>> [[name for name, _ in g["params"]] for g in groups], groups[1]["weight_decay"]
    ([['0.weight'], ['0.bias', '1.weight', '1.bias']], 0.0)
    """
    pairs = list(named_params.named_parameters() if hasattr(named_params, "named_parameters")
                 else named_params)  # fmt: skip
    decay = [(n, p) for n, p in pairs if p.data.ndim >= 2]
    plain = [(n, p) for n, p in pairs if p.data.ndim < 2]
    groups: list[dict[str, Any]] = []
    if decay:
        groups.append({"params": decay})
    if plain:
        groups.append({"params": plain, "weight_decay": 0.0})
    return groups
