"""Gradient-health diagnostics: per-layer gradient norms, update/weight ratios and dead ReLUs
(dead channels after convolutions).

Measured once per epoch, on one batch (the last full-size batch of the epoch), so the cost is
one copy of the weights, a few norms and one comparison per ReLU output, whatever the size of
the data set. ``Trainer`` runs them when built with ``diagnostics=True`` (the default).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter

__all__ = ["GradientHealth", "GradientHealthWarning", "weight_layers", "relu_modules"]


class GradientHealthWarning(UserWarning):
    """Gradients vanish or explode in a layer, or most of a layer's ReLU units are dead."""


def _display_name(name: str, module: Module) -> str:
    """A module's dotted name; the root module (name ``""``) goes by its class name."""
    return name or type(module).__name__


def weight_layers(model: Module) -> list[tuple[str, Parameter]]:
    """Every module that owns a ``weight`` Parameter, as (dotted name, weight), in model order."""
    found = []
    for name, module in model.named_modules():
        weight = vars(module).get("weight")
        if isinstance(weight, Parameter):
            found.append((_display_name(name, module), weight))
    return found


def relu_modules(model: Module) -> list[tuple[str, Module]]:
    """Every ReLU module of the model (found by class name, so subclasses count too)."""
    return [
        (_display_name(name, m), m)
        for name, m in model.named_modules()
        if any(cls.__name__ == "ReLU" for cls in type(m).__mro__)
    ]


def _norm(array: Any) -> float:
    """The Euclidean norm of an array as a Python float."""
    flat = np.asarray(array).ravel()
    value = math.sqrt(float(flat @ flat))  # in the array's dtype: no float64 copy
    if not math.isfinite(value) and np.isfinite(flat).all():
        wide = flat.astype(np.float64)  # float32 squares overflowed; the norm itself may not
        value = math.sqrt(float(wide @ wide))
    return value


class GradientHealth:
    """Measure and judge the gradient health of a model, one batch per epoch.

    For each layer that owns a ``weight`` Parameter (named by its dotted module name, the root
    module by its class name; convolutions included) it records the norm of the weight's
    gradient (before any clipping) and the update-to-weight ratio
    ``||w_after - w_before|| / ||w_before||`` of the optimizer step (healthy training sits near
    1e-3). For every ``ReLU`` module it records the fraction of dead units: output positions
    that are 0 for *every* sample of the measured batch; after a convolution (outputs
    ``(N, C, ...)``) the units are the channels, dead when 0 at every position of every sample.
    All three are measured on the last full-size batch of the epoch (a ragged last
    batch of a few samples would make live units look dead). ReLUs applied as functions
    inside a custom module's ``forward`` are not seen; use the ``nn.ReLU`` module.

    Parameters
    ----------
    vanish : float
        A layer whose gradient norm is below this has vanishing gradients.
    vanish_ratio : float
        Also vanishing: the first layer's gradient norm divided by the last layer's is below
        this (the signal dies on its way back to the input).
    explode : float
        A layer whose gradient norm is above this (or NaN/inf) has exploding gradients.
    dead : float
        A ReLU module with more than this fraction of dead units is flagged.
    warn : bool
        Whether ``Trainer`` may raise ``GradientHealthWarning`` through ``warnings.warn``
        (it only does when no attached callback shows warnings, such as ``ProgressBar``).
        The messages always go to ``logs["warnings"]`` and ``History.warnings``.

    Notes
    -----
    Each problem (kind and layer) is reported once per ``fit``, the first epoch it appears;
    one message per kind lists the layers concerned. The ratio test is skipped once the first
    layer has been reported as vanishing on its own.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.training.diagnostics import GradientHealth
    >>> trainer_option = GradientHealth(explode=1e2)  # cr.Trainer(..., diagnostics=trainer_option)
    """

    def __init__(
        self,
        vanish: float = 1e-7,
        vanish_ratio: float = 1e-4,
        explode: float = 1e3,
        dead: float = 0.9,
        warn: bool = True,
    ) -> None:
        for name, value in (("vanish", vanish), ("vanish_ratio", vanish_ratio)):
            if not (isinstance(value, (int, float)) and value >= 0):
                raise ConfigError(f"GradientHealth: {name} must be a number >= 0, got {value!r}")
        if not (isinstance(explode, (int, float)) and explode > 0):
            raise ConfigError(f"GradientHealth: explode must be a number > 0, got {explode!r}")
        if not (isinstance(dead, (int, float)) and 0 <= dead <= 1):
            raise ConfigError(f"GradientHealth: dead must be a fraction in [0, 1], got {dead!r}")
        self.vanish = float(vanish)
        self.vanish_ratio = float(vanish_ratio)
        self.explode = float(explode)
        self.dead = float(dead)
        self.warn = bool(warn)
        self._layers: list[tuple[str, Parameter]] = []
        self._relus: list[tuple[str, Module]] = []
        self._reported: set[tuple[str, str]] = set()
        self._before: list[Any] = []
        self._model: Module | None = None
        self.start_epoch()

    # -- set-up ----------------------------------------------------------------------------------
    def attach(self, model: Module) -> None:
        """Find the model's weight layers and ReLU modules and forget earlier reports."""
        self._model = model
        self._layers = weight_layers(model)
        self._relus = relu_modules(model)
        self._reported = set()
        self.start_epoch()

    def start_epoch(self) -> None:
        """Forget the previous epoch's measurements."""
        self.grad_norm: dict[str, float] = {}
        self.update_ratio: dict[str, float] = {}
        self.dead_fraction: dict[str, float] = {}
        self.output_grad_norm: float | None = None  # ||d loss / d output||, when observed

    # -- measuring (the trainer calls these around one train step) -------------------------------
    @contextmanager
    def observe(self) -> Iterator[None]:
        """Watch the outputs of every ReLU module during the forward pass inside the block.

        A forward hook on each ReLU module records its output, for the duration of the block
        only (nothing left behind, even on error).
        """
        removers = []
        try:
            if self._model is not None:
                removers.append(self._model.register_forward_hook(self._watch_output))
            for name, module in self._relus:
                removers.append(module.register_forward_hook(self._watcher(name)))
            yield
        finally:
            for remove in removers:
                remove()

    def _watch_output(self, module: Module, inputs: Any, out: Any) -> None:
        """Record the norm of the loss gradient at the model's output when backward reaches it."""
        if isinstance(out, Tensor) and out.requires_grad:

            def record(grad: Any) -> None:
                self.output_grad_norm = _norm(grad)

            out.register_hook(record)

    def _watcher(self, name: str) -> Callable[..., None]:
        """A forward hook that records the dead-unit fraction of the output (last call wins)."""

        def watch(module: Module, inputs: Any, out: Any) -> None:
            data = out.data if isinstance(out, Tensor) else np.asarray(out)
            if data.ndim >= 3 and data.shape[0] > 0:
                # feature maps (N, C, ...): a channel's filter is dead when it fires nowhere
                nonzero = data != 0
                alive = nonzero.any(axis=(0, *range(2, data.ndim)))
                self.dead_fraction[name] = float(1.0 - alive.mean()) if alive.size else 0.0
            elif data.ndim >= 1 and data.shape[0] > 0:
                units = data.reshape(data.shape[0], -1)
                alive = (units != 0).any(axis=0)
                self.dead_fraction[name] = float(1.0 - alive.mean()) if alive.size else 0.0

        return watch

    def after_backward(self) -> None:
        """Record each weight's gradient norm (call after ``backward``, before clipping)."""
        for name, weight in self._layers:
            if weight.grad is not None:  # frozen or unused weights have none: nothing to judge
                self.grad_norm[name] = _norm(weight.grad)

    def before_step(self) -> None:
        """Copy the weights so the size of the optimizer's update can be measured."""
        self._before = [w.data.copy() for _, w in self._layers]

    def after_step(self) -> None:
        """Record ``||w_after - w_before|| / ||w_before||`` per layer."""
        for (name, weight), before in zip(self._layers, self._before):
            size = _norm(before)
            change = _norm(weight.data - before)
            self.update_ratio[name] = change / size if size > 0 else math.nan
        self._before = []

    # -- judging --------------------------------------------------------------------------------
    def figures(self) -> dict[str, dict[str, float]]:
        """This epoch's measurements: ``{"grad_norm": {...}, "update_ratio": {...}, ...}``."""
        return {
            "grad_norm": {n: self.grad_norm.get(n, math.nan) for n, _ in self._layers},
            "update_ratio": {n: self.update_ratio.get(n, math.nan) for n, _ in self._layers},
            "dead_fraction": {n: self.dead_fraction.get(n, math.nan) for n, _ in self._relus},
        }

    def check(self) -> list[str]:
        """Messages for this epoch's problems: one per kind, naming layers not yet reported."""
        measured = self.grad_norm  # layers without a gradient are absent, not NaN
        explode = {n: v for n, v in measured.items() if not math.isfinite(v) or v > self.explode}
        vanish = {n: v for n, v in measured.items() if n not in explode and v < self.vanish}
        source = self.output_grad_norm
        if source is not None and source > 0:
            # Vanishing means the error signal dies on its way back: a layer's gradient tiny
            # next to the gradient at the model's output. When the output's own gradient is
            # that small, the loss is flat where the model is (it converged): no "use ReLU".
            vanish = {n: v for n, v in vanish.items() if v < self.vanish_ratio * source}
        dead = {n: f for n, f in self.dead_fraction.items() if f > self.dead}
        explode, vanish, dead = (
            self._new("explode", explode),
            self._new("vanish", vanish),
            self._new("dead", dead),
        )
        messages = []
        if explode:
            messages.append(
                f"exploding gradients in {_layers(explode, 'norm {:.3g}')}: gradient norm above "
                f"{self.explode:.3g}; hint: lower the learning rate, clip gradients "
                "(clip_grad_norm=1.0) or scale the inputs"
            )
        if vanish:
            messages.append(
                f"vanishing gradients in {_layers(vanish, 'norm {:.3g}')}: gradient norm below "
                f"{self.vanish:.3g}; hint: use ReLU activations, He/Xavier initialisation or "
                "batch normalisation"
            )
        finite = [(n, v) for n, v in measured.items() if math.isfinite(v)]
        if len(finite) >= 2 and finite[0][0] not in self._flagged("vanish"):
            (first, g_first), (last, g_last) = finite[0], finite[-1]
            ratio = g_first / g_last if g_last > 0 else math.inf
            if ratio < self.vanish_ratio and self._new("vanish_ratio", {first: ratio}):
                messages.append(
                    "vanishing gradients towards the input: the gradient norm of the first "
                    f"layer {first!r} is {ratio:.3g} times that of the last layer {last!r} "
                    f"(below {self.vanish_ratio:.3g}); hint: use ReLU activations, He/Xavier "
                    "initialisation, batch normalisation or fewer layers"
                )
        if dead:
            messages.append(
                f"dead ReLUs in {_layers(dead, '{:.0%} dead')}: units (channels, after a conv) "
                f"that output 0 for every sample of the batch (flagged above {self.dead:.0%}); "
                "hint: lower the learning rate, start biases at 0 or use LeakyReLU"
            )
        return messages

    def _new(self, kind: str, found: dict[str, float]) -> dict[str, float]:
        """The entries of ``found`` not reported before, now marked as reported."""
        fresh = {n: v for n, v in found.items() if (kind, n) not in self._reported}
        self._reported.update((kind, n) for n in fresh)
        return fresh

    def _flagged(self, kind: str) -> set[str]:
        """Layers reported for ``kind`` so far in this fit."""
        return {n for k, n in self._reported if k == kind}


def _layers(found: dict[str, float], style: str, limit: int = 6) -> str:
    """``"layer '0' (1e-09), layer '2' (3e-08)"``; long lists end with the count left out."""
    items = [f"{n!r} ({style.format(v)})" for n, v in found.items()]
    shown = ", ".join(items[:limit]) + (
        f" and {len(items) - limit} more" if len(items) > limit else ""
    )
    return ("layer " if len(items) == 1 else "layers ") + shown
