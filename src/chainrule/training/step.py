"""One training step, the same for every loop: forward, loss, backward, reduce, clip, update.

``Trainer``, the scikit-learn estimators and the learning-rate finder all train through
``TrainingStep``, so a capability added to one stage (gradient clipping, an all-reduce of the
gradients across processes, a max-norm constraint) reaches every loop at once, as Chainer's
``StandardUpdater`` does for its trainers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from chainrule.autodiff.tensor import Tensor
from chainrule.clipping import clip_grad_norm_
from chainrule.errors import ConfigError, ShapeError
from chainrule.nn.module import Module

if TYPE_CHECKING:
    from chainrule.nn.module import Parameter
    from chainrule.training.diagnostics import GradientHealth

__all__ = ["TrainingStep", "GradientReducer"]

#: ``reducer(params)``: may replace or change in place the ``.grad`` of each parameter (an
#: all-reduce across processes averages them there); None on one process.
GradientReducer = Callable[[list[Any]], None]


def _check_clip(owner: str, value: Any) -> float | None:
    """``clip_grad_norm`` must be None or a positive finite number."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and value > 0)
    ):
        raise ConfigError(
            f"{owner}: clip_grad_norm must be a positive number or None, got {value!r}"
        )
    return float(value)


class TrainingStep:
    """One optimizer step on one batch, in explicit stages.

    The stages run in this order, each a method a subclass may override:

    1. ``forward(x)``: the model's output (training mode is the caller's business);
    2. ``objective(output, target)``: the loss plus every regularizer's penalty;
    3. ``backward(objective)``: zero the gradients, then backpropagate;
    4. ``reduce_gradients()``: hand the parameters to ``gradient_reducer`` (nothing happens
       on one process; data-parallel training plugs its all-reduce in here);
    5. ``clip()``: rescale the gradients to a global norm of at most ``clip_grad_norm``;
    6. ``update()``: ``optimizer.step()``;
    7. ``constrain()``: apply each constraint (e.g. ``MaxNorm``) to the model.

    Gradient-health diagnostics (a ``GradientHealth`` given to the call) watch the forward
    pass, read the gradient norms after the reduction and before clipping, and measure the
    optimizer's update around stage 6.

    Parameters
    ----------
    model : Module
    loss : callable
        ``loss(output, target) -> scalar Tensor``.
    optimizer : Optimizer
        Anything with ``zero_grad()`` and ``step()``; its ``params`` (else the model's) are
        what the reducer and the clipping see.
    regularizers : iterable of callable
        ``penalty(model) -> scalar Tensor`` added to the loss.
    constraints : iterable of callable
        ``constraint(model)`` applied after the update.
    clip_grad_norm : float, optional
        The largest global gradient norm (see ``clipping.clip_grad_norm_``).
    gradient_reducer : callable, optional
        ``reducer(params)`` run between backward and clipping.
    skip_nonfinite : bool
        When the loss plus penalties is NaN or infinite, return before ``backward``: no
        gradient and no update come from that batch (the caller sees the non-finite loss).
    owner : str
        The name error messages start with.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule import nn, optim
    >>> from chainrule.training.step import TrainingStep
    >>> rng = np.random.default_rng(0)
    >>> model = nn.Linear(3, 2, rng=rng)
    >>> step = TrainingStep(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
    ...                     clip_grad_norm=1.0)
    >>> x = rng.normal(size=(4, 3)).astype(np.float32)
    >>> loss, penalty, out = step(x, np.array([0, 1, 1, 0]))
    >>> out.shape, penalty
    ((4, 2), 0.0)
    """

    def __init__(
        self,
        model: Module,
        loss: Callable[[Tensor, Any], Tensor],
        optimizer: Any,
        *,
        regularizers: Iterable[Callable[[Module], Tensor]] = (),
        constraints: Iterable[Callable[[Module], Any]] = (),
        clip_grad_norm: float | None = None,
        gradient_reducer: GradientReducer | None = None,
        skip_nonfinite: bool = False,
        owner: str = "TrainingStep",
    ) -> None:
        if not isinstance(model, Module):
            raise ConfigError(
                f"{owner}: model must be a chainrule.nn.Module, got {type(model).__name__}"
            )
        if gradient_reducer is not None and not callable(gradient_reducer):
            raise ConfigError(
                f"{owner}: gradient_reducer must be callable as reducer(params) or None, got "
                f"{gradient_reducer!r}"
            )
        self.model = model
        self.loss = loss
        self.optimizer = optimizer
        self.regularizers = list(regularizers)
        self.constraints = list(constraints)
        self.clip_grad_norm = _check_clip(owner, clip_grad_norm)
        self.gradient_reducer = gradient_reducer
        self.skip_nonfinite = bool(skip_nonfinite)
        self.owner = owner
        params = getattr(optimizer, "params", None)
        self.params: list[Parameter] = list(model.parameters() if params is None else params)

    def __call__(
        self, x: Any, target: Any, health: GradientHealth | None = None
    ) -> tuple[float, float, Any]:
        """Run every stage on one batch; return (loss, penalty, output array).

        ``loss`` is the loss without penalties and ``penalty`` their sum, both as floats.
        """
        out = self.forward(x, health)
        loss, objective, penalty = self.objective(out, target)
        value = float(loss.item())
        if self.skip_nonfinite and not math.isfinite(value + penalty):
            return value, penalty, out.data
        self.backward(objective)
        self.reduce_gradients()
        self.clip(health)
        self.update(health)
        if self.constraints:
            self.constrain()
        return value, penalty, out.data

    # -- the stages, in order ----------------------------------------------------------------
    def forward(self, x: Any, health: GradientHealth | None = None) -> Tensor:
        """The model's output on ``x`` (ReLU outputs watched when ``health`` is given)."""
        if health is None:
            return self.model(Tensor(x))  # type: ignore[no-any-return]
        with health.observe():
            return self.model(Tensor(x))  # type: ignore[no-any-return]

    def objective(self, out: Tensor, target: Any) -> tuple[Tensor, Tensor, float]:
        """(loss, loss + penalties, penalty as a float) for one batch."""
        loss = self.loss(out, target)
        if not isinstance(loss, Tensor) or loss.data.size != 1:
            raise ShapeError(
                f"{self.owner}: the loss must return a scalar Tensor, got "
                f"{type(loss).__name__} of shape {getattr(loss, 'shape', ())}; "
                "hint: use a loss with reduction='mean'"
            )
        if not self.regularizers:
            return loss, loss, 0.0
        total = self.regularizers[0](self.model)
        for regularizer in self.regularizers[1:]:
            total = total + regularizer(self.model)
        return loss, loss + total, float(total.item())

    def backward(self, objective: Tensor) -> None:
        """Zero the gradients and backpropagate ``objective``."""
        self.optimizer.zero_grad()
        objective.backward()

    def reduce_gradients(self) -> None:
        """Hand the parameters to ``gradient_reducer`` (a no-op without one)."""
        if self.gradient_reducer is not None:
            self.gradient_reducer(self.params)

    def clip(self, health: GradientHealth | None = None) -> None:
        """Rescale the gradients to ``clip_grad_norm`` (after recording their health)."""
        if health is not None:
            health.after_backward()
        if self.clip_grad_norm is not None:
            clip_grad_norm_(self.params, self.clip_grad_norm)

    def update(self, health: GradientHealth | None = None) -> None:
        """``optimizer.step()``, with the update's size measured when ``health`` is given."""
        if health is None:
            self.optimizer.step()
            return
        health.before_step()
        self.optimizer.step()
        health.after_step()

    def constrain(self) -> None:
        """Apply every constraint to the model."""
        for constraint in self.constraints:
            constraint(self.model)
