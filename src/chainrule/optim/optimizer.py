"""Optimizer: the base class every optimizer shares (parameters, lr, step, state_dict)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from chainrule.autodiff.backend import namespace, to_numpy
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError, ShapeError
from chainrule.optim.param_groups import ParamGroup, group_specs
from chainrule.optim.param_groups import collect_params as _collect
from chainrule.validation import check_int, check_number

__all__ = ["Optimizer"]


class Optimizer:
    """Base class: holds the parameters, the learning rate, per-parameter state and the step.

    A subclass lists its hyperparameters in ``hyperparameter_names``, validates them in
    ``_validate`` and updates one parameter in ``_update(index, w, g, state)``, in place, on
    state arrays it allocates lazily (in the parameter's dtype) on the parameter's first step.

    Parameters
    ----------
    params : iterable of Tensor, iterable of (str, Tensor), or Module
        The tensors to train, e.g. ``model.parameters()``; ``model.named_parameters()`` (or the
        model itself) keeps the names. Tensors with ``requires_grad=False`` are left out, a
        tensor given twice (tied weights) is kept once, and parameters whose ``.grad`` is
        ``None`` are skipped by ``step()``.
    **hyperparameters
        Validated by the subclass; ``lr`` is always among them.

    Attributes
    ----------
    params : list of Tensor
        The trained tensors; state keys use the index in this list (``"0.momentum_buffer"``).
    param_names : list of str or None
        Their names, where given.
    lr : float
        The learning rate; schedules set it between steps (``opt.lr = 0.01``).
    step_count : int
        How many times ``step()`` has run.
    state : list of dict
        Per-parameter state: arrays (and an int ``"step"`` where the optimizer counts updates
        per parameter), empty until the parameter's first update.

    Examples
    --------
    A minimal optimizer, plain gradient descent ``w <- w - lr * g``:

    >>> import numpy as np, chainrule as cr
    >>> from chainrule.optim import Optimizer
    >>> class Descent(Optimizer):
    ...     def __init__(self, params, lr):
    ...         super().__init__(params, lr=lr)
    ...     def _update(self, index, w, g, state):
    ...         s = self.scratch(index, w)
    ...         np.multiply(g, self.lr, out=s)
    ...         np.subtract(w, s, out=w)
    >>> w = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    >>> opt = Descent([w], lr=0.5)
    >>> w.grad = np.array([1.0, 1.0])
    >>> opt.step()
    >>> w.data, opt.step_count, opt.state_dict()["type"]
    (array([0.5, 1.5]), 1, 'Descent')
    """

    hyperparameter_names: ClassVar[tuple[str, ...]] = ("lr",)

    def __init__(self, params: Any, **hyperparameters: Any) -> None:
        owner = type(self).__name__
        # A new optimizer needs lr > 0; a loaded or scheduled one may sit at 0 (see the setter).
        check_number(owner, "lr", hyperparameters.get("lr"), 0.0, low_open=True)
        self._apply_hyperparameters(self._validate(hyperparameters))
        self._initial_lr = self._lr
        self.params: list[Tensor] = []
        self.param_names: list[str | None] = []
        #: PyTorch's view: ``[{"params": [tensors], "lr": ..., ...}]``, one dict per group.
        self.param_groups: list[ParamGroup] = []
        self._group_indices: list[list[int]] = []
        seen: set[int] = set()
        for number, (group_params, overrides) in enumerate(
            group_specs(params, owner, self.hyperparameter_names)
        ):
            where = owner if not overrides and number == 0 else f"{owner} param group {number}"
            if "lr" in overrides:
                check_number(where, "lr", overrides["lr"], 0.0, low_open=True)
            hp = self._validate({**hyperparameters, **overrides})
            tensors, names = _collect(group_params, where)
            twice = [n or str(i) for i, (t, n) in enumerate(zip(tensors, names)) if id(t) in seen]
            if twice:
                raise ConfigError(f"{where}: parameters {twice} are already in an earlier group")
            seen.update(id(t) for t in tensors)
            start = len(self.params)
            self.params += tensors
            self.param_names += names
            self._group_indices.append(list(range(start, len(self.params))))
            self.param_groups.append(ParamGroup(params=tensors, **hp, initial_lr=hp["lr"]))
        self.state: list[dict[str, Any]] = [{} for _ in self.params]
        self._scratch: list[Any] = [None] * len(self.params)
        self.step_count = 0

    # -- hyperparameters ---------------------------------------------------------------------
    def _validate(self, hp: Mapping[str, Any]) -> dict[str, Any]:
        """Check the hyperparameters and return them cleaned (Python floats, tuples)."""
        return {"lr": check_number(type(self).__name__, "lr", hp["lr"], 0.0)}

    def _apply_hyperparameters(self, hp: Mapping[str, Any]) -> None:
        """Set validated hyperparameters as attributes."""
        for name in self.hyperparameter_names:
            setattr(self, name, hp[name])

    @property
    def lr(self) -> float:
        """The learning rate used by the next ``step()`` (the first group's, with groups)."""
        groups = getattr(self, "param_groups", None)
        return float(groups[0]["lr"]) if groups and len(groups) == 1 else self._lr

    @lr.setter
    def lr(self, value: Any) -> None:
        # Zero is allowed here (a schedule may end at min_lr=0), not at construction.
        self._lr = check_number(type(self).__name__, "lr", value, 0.0)
        # Every group keeps its ratio to the base rate (a schedule scales them all alike).
        groups = getattr(self, "param_groups", ())
        for group in groups:
            ratio = group["initial_lr"] / self._initial_lr
            lr = self._lr if ratio == 1.0 else ratio * self._lr
            if len(groups) == 1:  # self._lr is already it: the other attributes stay as set
                dict.__setitem__(group, "lr", lr)
            else:
                group["lr"] = lr

    def hyperparameters(self) -> dict[str, Any]:
        """The hyperparameters as a JSON-safe dict (tuples become lists)."""
        out: dict[str, Any] = {}
        for name in self.hyperparameter_names:
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    def _state_names(self, hp: Mapping[str, Any]) -> tuple[str, ...]:
        """The state arrays one updated parameter has under these hyperparameters."""
        return ()

    # -- the update ---------------------------------------------------------------------------
    def _update(self, index: int, w: Any, g: Any, state: dict[str, Any]) -> None:
        """Update the array ``w`` in place from its gradient ``g`` (never modify ``g``)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def scratch(self, index: int, w: Any) -> Any:
        """A work array shaped like ``w`` (kept between steps so no step allocates)."""
        buf = self._scratch[index]
        if buf is None or buf.shape != w.shape or buf.dtype != w.dtype:
            buf = self._scratch[index] = namespace(w).empty_like(w)
        return buf

    def step(self) -> None:
        """Update every parameter that has a gradient, in place, then count the step."""
        states, params, groups = self.state, self.params, self.param_groups
        many = len(groups) > 1
        names = self.hyperparameter_names[1:]
        base = {name: getattr(self, name) for name in names} if many else {}
        base_lr = self._lr
        try:
            for group, indices in zip(groups, self._group_indices):
                if many or group.dirty:  # the group's settings, seen by _update as attributes
                    self._lr = group["lr"]
                    for name in names:
                        setattr(self, name, group[name])
                    group.dirty = False
                for index in indices:
                    p = params[index]
                    g = p.grad
                    if g is None:
                        continue
                    w = p.data
                    if g.shape != w.shape:
                        raise ShapeError(
                            f"{type(self).__name__}.step(): parameter {self._label(index)} has "
                            f"shape {w.shape} but its gradient has shape {g.shape}"
                        )
                    self._update(index, w, g, states[index])
        finally:
            if many:  # the attributes show the defaults again
                self._lr = base_lr
                for name, value in base.items():
                    setattr(self, name, value)
        self.step_count += 1

    def zero_grad(self) -> None:
        """Forget the gradients: set every parameter's ``.grad`` to ``None``."""
        for p in self.params:
            p.grad = None

    def _label(self, index: int) -> str:
        """How error messages name a parameter."""
        name = self.param_names[index]
        return f"{index} ({name!r})" if name is not None else str(index)

    # -- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume bit-identically, with arrays copied.

        Returns ``{"type", "hyperparameters", "step", "param_names", "state"}``: the class
        name, the JSON-safe hyperparameters (``lr`` included), ``step_count``, the parameter
        names (``None`` where unnamed) and the state arrays keyed ``"<index>.<name>"`` (for
        example ``"0.momentum_buffer"``), ready for a safetensors file.
        """
        arrays: dict[str, np.ndarray] = {}
        for index, entry in enumerate(self.state):
            for name, value in entry.items():
                if isinstance(value, int):  # per-parameter step counts, as 1-element arrays
                    arrays[f"{index}.{name}"] = np.array([value], dtype=np.int64)
                else:
                    arrays[f"{index}.{name}"] = np.array(to_numpy(value), copy=True)
        out = {
            "type": type(self).__name__,
            "hyperparameters": self.hyperparameters(),
            "step": self.step_count,
            "param_names": list(self.param_names),
            "state": arrays,
        }
        if len(self.param_groups) > 1:  # JSON-safe: which parameters, and their settings
            out["param_groups"] = [
                {
                    "indices": indices,
                    **{k: list(v) if isinstance(v, tuple) else v for k, v in group.items()
                       if k != "params"},
                }
                for group, indices in zip(self.param_groups, self._group_indices)
            ]  # fmt: skip
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what ``state_dict()`` returned; nothing changes unless all of it is valid.

        Raises ``ConfigError`` for a different optimizer type, unknown or missing
        hyperparameters, unknown state keys or mismatched parameter names, and ``ShapeError``
        for a state array whose shape differs from its parameter's.
        """
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise ConfigError(f"{owner}: expected a dict from state_dict(), got {state_dict!r}")
        missing = {"type", "hyperparameters", "step", "state"} - set(state_dict)
        if missing:
            raise ConfigError(f"{owner}: the dict lacks the keys {sorted(missing)}")
        if state_dict["type"] != type(self).__name__:
            raise ConfigError(
                f"{owner}: the state is of a {state_dict['type']!r} optimizer, not "
                f"{type(self).__name__!r}; hint: build the same optimizer class before loading"
            )
        hp = dict(state_dict["hyperparameters"])
        expected = set(self.hyperparameter_names)
        if set(hp) != expected:
            raise ConfigError(
                f"{owner}: hyperparameters {sorted(hp)} do not match the expected "
                f"{sorted(expected)}"
            )
        hp = self._validate(hp)
        step = check_int(owner, "step", state_dict["step"])
        self._check_names(owner, state_dict.get("param_names"))
        groups = self._parse_groups(owner, state_dict.get("param_groups"), hp)
        names_of: list[tuple[str, ...]] = [()] * len(self.params)
        for settings, indices in zip(groups, self._group_indices):
            for index in indices:
                names_of[index] = self._state_names(settings)
        new_state = self._parse_state(owner, state_dict["state"], names_of)
        self._apply_hyperparameters(hp)
        for group, settings in zip(self.param_groups, groups):
            group.update(settings)
        self.step_count = step
        self.state = new_state

    def _parse_groups(self, owner: str, saved: Any, hp: dict[str, Any]) -> list[dict[str, Any]]:
        """Each group's settings from a state: the saved ones, or the defaults for one group."""
        if saved is None:
            if len(self.param_groups) > 1:
                raise ConfigError(
                    f"{owner}: the state has no parameter groups but this optimizer has "
                    f"{len(self.param_groups)}; hint: build it with the same groups"
                )
            return [{**hp, "initial_lr": self.param_groups[0]["initial_lr"]}]
        if not isinstance(saved, list) or len(saved) != len(self.param_groups):
            raise ConfigError(
                f"{owner}: the state describes {saved!r} parameter groups, this optimizer has "
                f"{len(self.param_groups)}; hint: build it with the same groups"
            )
        out = []
        for number, (entry, indices) in enumerate(zip(saved, self._group_indices)):
            if not isinstance(entry, Mapping) or entry.get("indices") != indices:
                raise ConfigError(
                    f"{owner}: parameter group {number} of the state holds other parameters "
                    f"than this optimizer's ({indices})"
                )
            settings = self._validate({k: entry.get(k) for k in self.hyperparameter_names})
            initial = check_number(owner, "initial_lr", entry.get("initial_lr"), 0.0)
            out.append({**settings, "initial_lr": initial})
        return out

    def _check_names(self, owner: str, names: Any) -> None:
        """Parameter names saved in the state must match ours where both sides have them."""
        if names is None:
            return
        if len(names) != len(self.params):
            raise ConfigError(
                f"{owner}: the state is for {len(names)} parameters, this optimizer has "
                f"{len(self.params)}; hint: build the optimizer over the same model"
            )
        for index, (saved, own) in enumerate(zip(names, self.param_names)):
            if saved is not None and own is not None and saved != own:
                raise ConfigError(
                    f"{owner}: parameter {index} is named {own!r} here but {saved!r} in the "
                    "state; hint: the model's parameters are in a different order"
                )

    def _parse_state(
        self, owner: str, arrays: Mapping[str, Any], names_of: list[tuple[str, ...]]
    ) -> list[dict[str, Any]]:
        """Check state arrays (keys, completeness, shapes) and copy them into the params' dtype."""
        new_state: list[dict[str, Any]] = [{} for _ in self.params]
        for key, value in arrays.items():
            index_text, _, name = str(key).partition(".")
            index = int(index_text) if index_text.isdigit() else -1
            names = names_of[index] if 0 <= index < len(names_of) else names_of[0]
            if index < 0 or name not in names:
                raise ConfigError(
                    f"{owner}: unexpected state key {key!r}; expected '<index>.<name>' with a "
                    f"name in {list(names)}"
                )
            if index >= len(self.params):
                raise ConfigError(
                    f"{owner}: state key {key!r} refers to parameter {index}, but there are "
                    f"only {len(self.params)} parameters"
                )
            w = self.params[index].data
            array = np.asarray(to_numpy(value))
            if name == "step":  # saved with shape (1,); a 0-d array is accepted too
                if (
                    array.shape not in ((), (1,))
                    or array.dtype.kind not in "iu"
                    or (array < 0).any()
                ):
                    raise ShapeError(
                        f"{owner}: state {key!r} must be one integer >= 0 (shape (1,)), got "
                        f"shape {array.shape} and dtype {array.dtype}"
                    )
                new_state[index][name] = int(array.reshape(()))
                continue
            if array.shape != w.shape:
                raise ShapeError(
                    f"{owner}: state {key!r} has shape {array.shape} but parameter "
                    f"{self._label(index)} has shape {w.shape}"
                )
            new_state[index][name] = namespace(w).asarray(np.array(array, dtype=w.dtype))
        for index, entry in enumerate(new_state):
            if entry and set(entry) != set(names_of[index]):
                raise ConfigError(
                    f"{owner}: parameter {self._label(index)} has state {sorted(entry)}, "
                    f"expected all of {sorted(names_of[index])}"
                )
        return new_state

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({len(self.params)} parameters, {args})"
