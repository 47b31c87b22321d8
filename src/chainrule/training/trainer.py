"""Trainer: the fit / evaluate / predict loop around a model, a loss and an optimizer."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from chainrule.autodiff.denormals import flush_denormals
from chainrule.autodiff.heap import retain_freed_memory
from chainrule.autodiff.mode import no_grad
from chainrule.autodiff.tensor import Tensor
from chainrule.callbacks.base import Callback, CallbackList
from chainrule.errors import ConfigError
from chainrule.nn.module import Module
from chainrule.training.diagnostics import GradientHealth
from chainrule.training.guard import check_divergence_factor
from chainrule.training.history import History
from chainrule.training.inputs import (
    check_count,
    check_initial_epoch,
    check_x,
    check_xy,
    fit_data,
    float_dtype,
    is_labels,
)
from chainrule.training.loop import EVAL_BATCH_SIZE, eval_batch_size, fit_loop
from chainrule.training.metric_specs import Metric, resolve_metrics
from chainrule.training.modes import module_modes, restore_modes
from chainrule.training.step import GradientReducer, TrainingStep, _check_clip

__all__ = ["Trainer", "EVAL_BATCH_SIZE"]


class Trainer:
    """Train a model with mini-batch gradient descent, evaluate it and predict with it.

    One training step (``training.step.TrainingStep``) is the plain loop a PyTorch user writes
    by hand::

        model.train(); out = model(xb); loss = loss_fn(out, yb) + sum(penalties)
        optimizer.zero_grad(); loss.backward(); [reduce]; [clip]; optimizer.step(); [constraints]

    The loop never prints: attach ``callbacks.ProgressBar()`` to watch it.

    Parameters
    ----------
    model : Module
    loss : callable
        ``loss(output, target) -> scalar Tensor``, e.g. ``nn.CrossEntropyLoss()`` or
        ``losses.mse_loss``. Reported losses assume it averages over the batch.
    optimizer : Optimizer
        Over the model's parameters; its ``lr`` is read for the history and set by schedules.
    metrics : sequence of str, callable or (name, callable)
        ``metric(y_true, scores) -> float`` on NumPy arrays. Names are looked up in
        ``chainrule.metrics`` (``"accuracy"``, ``"top_k_accuracy"``, ``"log_loss"``); these are
        classification metrics, so they are left out when the targets are not 1-D integer class
        labels (e.g. regression), which lets the default ``("accuracy",)`` stay harmless.
        ``scores`` are the model's raw outputs: ``"log_loss"`` applies a softmax to them first
        (``metric_specs.log_loss_of_scores``; outputs that are already probabilities are used
        as they are).
    callbacks : sequence of Callback
    regularizers : sequence of callable
        ``penalty(model) -> scalar Tensor`` added to the loss (e.g. ``regularizers.L2(1e-4)``);
        their mean per epoch is logged as ``"penalty"``, separate from ``"loss"``.
    constraints : sequence of callable
        ``constraint(model)`` applied after every optimizer step (e.g. ``MaxNorm(3.0)``).
    clip_grad_norm : float, optional
        Rescale the gradients so their global norm is at most this, before each step.
    diagnostics : bool or GradientHealth
        Measure gradient health once per epoch (see ``training.diagnostics``); pass a
        ``GradientHealth`` to change its thresholds, ``False`` to switch it off.
    flush_denormals : bool
        Train with denormal floats flushed to zero (see ``chainrule.flush_denormals``):
        otherwise decaying momentum buffers slow every optimizer step on x86 CPUs. ``fit``
        restores the previous mode when it returns; a no-op where the platform lacks it.
    gradient_reducer : callable, optional
        ``reducer(params)`` called between backward and clipping in every step (the reduce
        stage of ``training.step.TrainingStep``); data-parallel training averages the
        gradients across processes there. None (one process) does nothing.
    distributed : bool or DataParallel
        Train data-parallel over the ranks of an MPI job (``mpirun -n 4 python train.py``; see
        ``chainrule.distributed``): ``fit``'s ``batch_size`` is then the global batch, each
        rank trains on its share, gradients and figures are averaged across ranks. True builds
        a ``DataParallel()``; on one process it changes nothing.
    divergence_factor : float or None
        Stop when the running mean of the batch loss (smoothed over about 50 batches, judged
        after min(200, 3 epochs of) batches) exceeds this multiple of the first batch's loss:
        a loss growing by orders of magnitude is a run going nowhere. None: never.

    Notes
    -----
    Training figures (``"loss"`` and metrics) are averages over the epoch's batches, weighted
    by batch size, computed from outputs the step already produced (in training mode, with
    weights changing during the epoch), as Keras reports them; validation figures are computed
    at the end of the epoch in evaluation mode.

    Gradient-health warnings (see ``GradientHealth``) are listed in ``logs["warnings"]`` and
    ``history.warnings``; they are raised as ``GradientHealthWarning`` through ``warnings.warn``
    only when no attached callback shows them (a ``ProgressBar`` prints them instead).

    The weights at the end of every complete epoch are kept aside (a copy of the model and
    the optimizer state), and the run falls back on them when it cannot go on:

    - Ctrl-C (``KeyboardInterrupt``) during ``fit`` ends training cleanly: the partial epoch
      is dropped, the weights of the last complete epoch come back (or the initial ones),
      every callback's ``on_train_end`` still runs (so ``EarlyStopping`` restores the best
      weights instead and ``ProgressBar`` says training was interrupted) and ``fit`` returns
      the history with ``history.interrupted = True``; ``history.stop_reason`` says which
      weights were kept.
    - An epoch whose loss is NaN or infinite ends the run with the weights of the last good
      epoch (``TerminateOnNaN`` does the same as soon as a batch goes bad); so does a loss
      that diverges (see ``divergence_factor``), with the weights of the epoch with the
      lowest loss. The failed epoch stays in the history (its figures non-finite) but
      ``on_epoch_end`` is not called for it, so checkpoints describe the last good epoch.

    ``history.ended_by`` says how the run ended, ``history.kept_epoch`` which epoch's weights
    the model holds (also after early stopping with ``restore_best_weights``) and
    ``trainer.final_logs`` that epoch's figures: report those as the model's, not the last
    epoch's.

    A last batch of one sample is merged into the batch before it while training (batch norm
    cannot normalise a single sample); ``history.params["last_batch_merged"]`` is then True.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule import nn, optim
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(64, 2)).astype(np.float32); y = (x[:, 0] > 0).astype(np.int64)
    >>> model = nn.Sequential(nn.Linear(2, 8, rng=rng), nn.ReLU(), nn.Linear(8, 2, rng=rng))
    >>> trainer = cr.Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1))
    >>> history = trainer.fit(x, y, epochs=3, batch_size=16, seed=0)
    >>> sorted(history.keys())
    ['accuracy', 'loss', 'lr', 'seconds']
    """

    def __init__(
        self,
        model: Module,
        loss: Callable[[Tensor, Any], Tensor],
        optimizer: Any,
        metrics: Sequence[str | Metric | tuple[str, Metric]] = ("accuracy",),
        callbacks: Iterable[Callback] = (),
        regularizers: Iterable[Callable[[Module], Tensor]] = (),
        constraints: Iterable[Callable[[Module], Any]] = (),
        clip_grad_norm: float | None = None,
        diagnostics: bool | GradientHealth = True,
        flush_denormals: bool = True,
        gradient_reducer: GradientReducer | None = None,
        divergence_factor: float | None = 1e3,
        distributed: Any = False,
    ) -> None:
        if not isinstance(model, Module):
            raise ConfigError(
                f"Trainer: model must be a chainrule.nn.Module, got {type(model).__name__}"
            )
        if not callable(loss):
            raise ConfigError(
                f"Trainer: loss must be callable as loss(output, target), got {loss!r}; "
                "hint: nn.CrossEntropyLoss() or losses.mse_loss"
            )
        for attr in ("step", "zero_grad", "lr"):
            if not hasattr(optimizer, attr):
                raise ConfigError(
                    f"Trainer: optimizer must have step(), zero_grad() and lr, got "
                    f"{type(optimizer).__name__}; hint: optim.SGD(model.parameters(), lr=0.1)"
                )
        self.model = model
        self.loss = loss
        self.optimizer = optimizer
        self.metrics = resolve_metrics(metrics)
        self.callbacks = CallbackList(callbacks)
        self.regularizers = _callables(regularizers, "regularizers", "penalty(model)")
        self.constraints = _callables(constraints, "constraints", "constraint(model)")
        self.clip_grad_norm = _check_clip("Trainer", clip_grad_norm)
        self.gradient_reducer = gradient_reducer
        self.distributed = _data_parallel(distributed, gradient_reducer)
        if isinstance(diagnostics, GradientHealth):
            self.health: GradientHealth | None = diagnostics
        elif isinstance(diagnostics, bool):
            self.health = GradientHealth() if diagnostics else None
        else:
            raise ConfigError(
                f"Trainer: diagnostics must be True, False or a GradientHealth, got {diagnostics!r}"
            )
        if not isinstance(flush_denormals, bool):
            raise ConfigError(
                f"Trainer: flush_denormals must be True or False, got {flush_denormals!r}"
            )
        self.flush_denormals = flush_denormals
        self.history = History()
        self.params: dict[str, Any] = {}
        self.stop_training = False
        self.stop_reason: str | None = None
        self.epoch = 0
        self.divergence_factor = check_divergence_factor("Trainer", divergence_factor)
        self.kept_epoch: int | None = None
        self.kept = "the start of training"
        #: The step ``fit`` trains with, rebuilt at each ``fit`` from the settings above.
        self.training_step = self._training_step()

    def request_stop(self, reason: str) -> None:
        """Ask the loop to stop after the current batch and say why (for callbacks)."""
        self.stop_training = True
        self.stop_reason = reason

    def weights_restored(self, epoch: int | None, where: str) -> None:
        """Note that the model now holds other weights (for callbacks that restore some).

        ``epoch`` is the (0-based) epoch at whose end they were taken, None when they are not
        those of an epoch's end; ``where`` says it in words ("the best epoch (3)").
        """
        self.kept_epoch, self.kept = epoch, where

    @property
    def final_logs(self) -> dict[str, float]:
        """The figures of the epoch whose weights the model holds (see ``History.final_logs``)."""
        return self.history.final_logs()

    # -- fit ---------------------------------------------------------------------------------------
    def fit(
        self,
        x: Any,
        y: Any,
        epochs: int = 10,
        batch_size: int = 32,
        validation_data: tuple[Any, Any] | None = None,
        validation_split: float = 0.0,
        shuffle: bool = True,
        seed: int | np.random.Generator | None = None,
        initial_epoch: int = 0,
    ) -> History:
        """Train for ``epochs`` passes over ``(x, y)`` and return the ``History``.

        Parameters
        ----------
        x, y : array_like
            Inputs and targets with the same first dimension (samples).
        epochs, batch_size : int
            At least 1. The last batch of an epoch may be smaller; a last batch of one
            sample is merged into the one before (``history.params["last_batch_merged"]``).
        validation_data : (x_val, y_val), optional
            Evaluated after every epoch, giving ``"val_loss"`` and ``"val_"`` + metric.
        validation_split : float
            Alternatively, hold out this fraction of ``(x, y)`` (stratified for class labels).
        shuffle : bool
            Visit the samples in a new order each epoch.
        seed : int, Generator or None
            Randomness of the shuffling and the split; an int makes the run reproducible.
        initial_epoch : int
            Resume at this (0-based) epoch: epochs ``initial_epoch .. epochs - 1`` run, so
            schedules and the history see the absolute epoch numbers (as in Keras).
        """
        check_count("epochs", epochs)
        check_count("batch_size", batch_size)
        check_initial_epoch(initial_epoch, epochs)
        dist = self.distributed
        if dist is not None:  # every rank: rank 0's weights and shuffling state
            seed = dist.agree_seed(seed)
            dist.start(self.model)
        x, y, val = fit_data(x, y, float_dtype(self.model), validation_data, validation_split, seed)
        from chainrule.data import DataLoader

        if dist is not None:
            loader: Any = dist.loader(x, y, int(batch_size), shuffle, seed)
        else:
            loader = DataLoader(
                (x, y), batch_size=batch_size, shuffle=shuffle, seed=seed, merge_single=True
            )
        retain_freed_memory()  # batches reuse freed arrays instead of faulting in new pages
        with flush_denormals(self.flush_denormals):
            return fit_loop(
                self, loader, int(epochs), int(batch_size), len(x), val, is_labels(y), initial_epoch
            )

    def _step(
        self, xb: np.ndarray, yb: np.ndarray, health: GradientHealth | None
    ) -> tuple[float, float, Any]:
        """One optimizer step; returns the batch loss, the penalty and the output array."""
        return self.training_step(xb, yb, health)

    def _training_step(self) -> TrainingStep:
        """The step of this fit, from the trainer's current settings."""
        make = TrainingStep if self.distributed is None else self.distributed.training_step
        return make(
            self.model,
            self.loss,
            self.optimizer,
            regularizers=self.regularizers,
            constraints=self.constraints,
            clip_grad_norm=self.clip_grad_norm,
            gradient_reducer=self.gradient_reducer,
            owner="Trainer",
        )

    # -- evaluate and predict ----------------------------------------------------------------------
    def evaluate(self, x: Any, y: Any, batch_size: int | None = None) -> dict[str, float]:
        """The loss and metrics on ``(x, y)``, in evaluation mode, without building a graph.

        ``batch_size`` None: ``EVAL_BATCH_SIZE`` (2048) rows, or ``EVAL_IMAGE_BATCH_SIZE`` (512)
        samples with more than one axis (images), as :meth:`predict`.

        Examples
        --------
        >>> trainer.evaluate(x_test, y_test)  # doctest: +SKIP
        {'loss': 0.12, 'accuracy': 0.97}
        """
        x, y = check_xy(x, y, float_dtype(self.model))
        return self._evaluate_arrays(x, y, self._eval_batch(x, batch_size))

    def _evaluate_arrays(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> dict[str, float]:
        out = self._predict_arrays(x, batch_size)
        with no_grad():
            results = {"loss": float(self.loss(Tensor(out), y).item())}
        labels = is_labels(y)
        finite = bool(np.isfinite(out).all())
        for name, fn, named in self.metrics:
            if named is False or labels:
                results[name] = float(fn(y, out)) if finite else math.nan
        return results

    def predict(self, x: Any, batch_size: int | None = None) -> np.ndarray:
        """The model's outputs for ``x`` as a NumPy array, batch by batch.

        Runs in evaluation mode (dropout off, batch-norm running statistics) under
        ``no_grad`` (no graph is built), and puts every module back in the mode it was in.
        Batches of ``EVAL_BATCH_SIZE`` (2048) rows keep the matrix products efficient while the
        activations of a batch stay a few MiB; images (samples with more than one axis) go
        ``EVAL_IMAGE_BATCH_SIZE`` (512) at a time, since a convolution's activations are tens
        of times its input. ``batch_size`` overrides both.
        """
        x = check_x(x, float_dtype(self.model))
        return self._predict_arrays(x, self._eval_batch(x, batch_size))

    @staticmethod
    def _eval_batch(x: np.ndarray, batch_size: int | None) -> int:
        if batch_size is None:
            return eval_batch_size(x)
        check_count("batch_size", batch_size)
        return int(batch_size)

    def _predict_arrays(self, x: np.ndarray, batch_size: int) -> np.ndarray:
        modes = module_modes(self.model)
        self.model.eval()
        try:
            with no_grad():
                outs = [
                    self.model(Tensor(x[i : i + batch_size])).data
                    for i in range(0, len(x), batch_size)
                ]
        finally:
            restore_modes(modes)
        return outs[0] if len(outs) == 1 else np.concatenate(outs)

    def __repr__(self) -> str:
        names = [name for name, _, _ in self.metrics]
        return (
            f"Trainer(model={type(self.model).__name__}, "
            f"optimizer={type(self.optimizer).__name__}, metrics={names}, "
            f"callbacks={[type(c).__name__ for c in self.callbacks]})"
        )


def _callables(items: Iterable[Any], what: str, form: str) -> list[Callable[..., Any]]:
    found = list(items)
    for position, item in enumerate(found):
        if not callable(item):
            raise ConfigError(
                f"Trainer: {what}[{position}] must be callable as {form}, got {item!r}"
            )
    return found


def _data_parallel(value: Any, reducer: GradientReducer | None) -> Any:
    """None (one process), or the ``DataParallel`` that ``distributed=`` asks for."""
    if value is False or value is None:
        return None
    if reducer is not None:
        raise ConfigError(
            "Trainer: distributed training averages the gradients itself; pass "
            "gradient_reducer or distributed, not both"
        )
    if value is True:
        from chainrule.distributed import DataParallel

        return DataParallel()
    if not hasattr(value, "training_step"):
        raise ConfigError(
            f"Trainer: distributed must be True, False or a chainrule.distributed.DataParallel, "
            f"got {value!r}"
        )
    return value
