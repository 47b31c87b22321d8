"""Trainer: the fit / evaluate / predict loop around a model, a loss and an optimizer."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from chainrule.autodiff.denormals import flush_denormals
from chainrule.autodiff.mode import no_grad
from chainrule.autodiff.tensor import Tensor
from chainrule.callbacks.base import Callback, CallbackList
from chainrule.errors import ConfigError, DtypeError, ShapeError
from chainrule.nn.module import Module
from chainrule.training.diagnostics import GradientHealth, GradientHealthWarning
from chainrule.training.history import History
from chainrule.training.step import GradientReducer, TrainingStep, _check_clip

__all__ = ["Trainer"]

#: Rows per batch when predicting or evaluating (no graph, so memory is only the activations):
#: 10,000 Fashion-MNIST images through 784-256-10 take 33 ms in batches of 2048 against 44 ms
#: in batches of 256, measured here, while a batch's activations stay a few MiB.
EVAL_BATCH_SIZE = 2048

Metric = Callable[[np.ndarray, np.ndarray], float]


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

    Notes
    -----
    Training figures (``"loss"`` and metrics) are averages over the epoch's batches, weighted
    by batch size, computed from outputs the step already produced (in training mode, with
    weights changing during the epoch), as Keras reports them; validation figures are computed
    at the end of the epoch in evaluation mode.

    Gradient-health warnings (see ``GradientHealth``) are listed in ``logs["warnings"]`` and
    ``history.warnings``; they are raised as ``GradientHealthWarning`` through ``warnings.warn``
    only when no attached callback shows them (a ``ProgressBar`` prints them instead).

    Ctrl-C (``KeyboardInterrupt``) during ``fit`` ends training cleanly: the partial epoch is
    dropped, every callback's ``on_train_end`` still runs (so ``EarlyStopping`` restores the
    best weights and ``ProgressBar`` says training was interrupted) and ``fit`` returns the
    history with ``history.interrupted = True``. Check that flag if you need to know.

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
        self.metrics = _resolve_metrics(metrics)
        self.callbacks = CallbackList(callbacks)
        self.regularizers = _callables(regularizers, "regularizers", "penalty(model)")
        self.constraints = _callables(constraints, "constraints", "constraint(model)")
        self.clip_grad_norm = _check_clip("Trainer", clip_grad_norm)
        self.gradient_reducer = gradient_reducer
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

    def request_stop(self, reason: str) -> None:
        """Ask the loop to stop after the current batch and say why (for callbacks)."""
        self.stop_training = True
        self.stop_reason = reason

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
            At least 1. The last batch of an epoch may be smaller.
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
        _check_int("epochs", epochs)
        _check_int("batch_size", batch_size)
        if (
            isinstance(initial_epoch, bool)
            or not isinstance(initial_epoch, int)
            or not (0 <= initial_epoch < epochs)
        ):
            raise ConfigError(
                f"fit: initial_epoch must be an int in [0, epochs={epochs}), got {initial_epoch!r}"
            )
        if isinstance(validation_split, bool) or not (
            isinstance(validation_split, (int, float)) and 0.0 <= validation_split < 1.0
        ):
            raise ConfigError(
                f"fit: validation_split must be a fraction in [0, 1), got {validation_split!r}; "
                "hint: 0.1 holds out a tenth of the data"
            )
        dtype = _float_dtype(self.model)
        x, y = check_xy(x, y, dtype)
        val: tuple[np.ndarray, np.ndarray] | None = None
        if validation_data is not None:
            if validation_split:
                raise ConfigError("fit: give validation_data or validation_split, not both")
            if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
                raise ConfigError(
                    "fit: validation_data must be a pair (x_val, y_val), got "
                    f"{type(validation_data).__name__}"
                )
            val = check_xy(validation_data[0], validation_data[1], dtype, "x_val", "y_val")
        elif validation_split:
            from chainrule.data import train_val_split

            stratify = y if _is_labels(y) else None
            (x, y), (x_val, y_val) = train_val_split(
                x, y, val_fraction=validation_split, stratify=stratify, seed=seed
            )
            val = (x_val, y_val)
        from chainrule.data import DataLoader

        loader = DataLoader((x, y), batch_size=batch_size, shuffle=shuffle, seed=seed)
        with flush_denormals(self.flush_denormals):
            return self._fit(
                loader, int(epochs), int(batch_size), len(x), val, _is_labels(y), initial_epoch
            )

    def _fit(
        self,
        loader: Any,
        epochs: int,
        batch_size: int,
        n: int,
        val: tuple[Any, Any] | None,
        labels: bool,
        initial_epoch: int = 0,
    ) -> History:
        """The epoch loop, with the Ctrl-C handling."""
        self.history = history = History()
        self.stop_training, self.stop_reason = False, None
        self.training_step = self._training_step()
        steps = len(loader)
        self.params = {"epochs": epochs, "batch_size": batch_size, "steps": steps, "samples": n}
        history.params = dict(self.params)
        if self.health is not None:
            self.health.attach(self.model)
        # The measured batch is the last full-size one (a ragged last batch would look dead).
        diag_batch = max(n // batch_size, 1) - 1
        modes = _modes(self.model)
        # Named metrics are classification metrics: left out for other targets.
        active = [not named or labels for _, _, named in self.metrics]
        logs: dict[str, Any] = {}
        epoch = initial_epoch
        try:
            try:
                self.callbacks.on_train_begin(self, {})
                for epoch in range(initial_epoch, epochs):
                    self.epoch = epoch
                    self.callbacks.on_epoch_begin(self, epoch, {})
                    if self.stop_training:  # asked for before this epoch started
                        break
                    logs = self._run_epoch(loader, epoch, diag_batch, val, active)
                    self.callbacks.on_epoch_end(self, epoch, logs)
                    if self.stop_training:
                        break
            except KeyboardInterrupt:
                # Not swallowed silently: recorded, callbacks finish (weights restored,
                # progress bar says so) and the caller sees history.interrupted.
                history.interrupted = True
                history.stop_reason = (
                    f"interrupted (KeyboardInterrupt) during epoch {epoch + 1}; "
                    f"{len(history)} complete epoch(s) recorded"
                )
            if self.stop_training and not history.interrupted:
                history.stopped_early = True
                history.stop_reason = self.stop_reason or "a callback set trainer.stop_training"
            self.callbacks.on_train_end(self, logs)
        finally:
            _restore_modes(modes)
        return history

    def _run_epoch(
        self,
        loader: Any,
        epoch: int,
        diag_batch: int,
        val: tuple[Any, Any] | None,
        active: list[bool],
    ) -> dict[str, Any]:
        """Train one epoch, validate, record the history; return the epoch's logs."""
        start = time.perf_counter()
        health = self.health
        if health is not None:
            health.start_epoch()
        lr = float(self.optimizer.lr)
        metrics = self.metrics
        total = penalty_total = 0.0
        seen = 0
        sums = [0.0] * len(metrics)
        batch_logs: dict[str, Any] = {"loss": 0.0, "size": 0}
        batch_callbacks = self.callbacks.batch_callbacks
        self.model.train()  # once per epoch (and after batch callbacks), not per step
        for index, (xb, yb) in enumerate(loader):
            size = len(xb)
            loss, penalty, out = self._step(xb, yb, health if index == diag_batch else None)
            seen += size
            total += loss * size
            penalty_total += penalty * size
            finite = math.isfinite(loss)
            for k, (_, fn, _named) in enumerate(metrics):
                if active[k]:
                    sums[k] += (float(fn(yb, out)) if finite else math.nan) * size
            if batch_callbacks:
                batch_logs["loss"] = loss
                batch_logs["size"] = size
                if self.regularizers:
                    batch_logs["penalty"] = penalty
                for cb in batch_callbacks:
                    cb.on_batch_end(self, index, batch_logs)
                self.model.train()  # a batch callback may have switched a module to eval
            if self.stop_training:
                break
        seen = max(seen, 1)
        logs: dict[str, Any] = {"loss": total / seen}
        for k, (name, _, _) in enumerate(metrics):
            if active[k]:
                logs[name] = sums[k] / seen
        if self.regularizers:
            logs["penalty"] = penalty_total / seen
        if val is not None:
            for key, value in self._evaluate_arrays(
                val[0], val[1], max(loader.batch_size, EVAL_BATCH_SIZE)
            ).items():
                logs["val_" + key] = value
        logs["lr"] = lr
        logs["seconds"] = time.perf_counter() - start
        self.history.record(epoch, logs)
        logs["warnings"] = self._health_report(epoch) if health is not None else []
        return logs

    def _step(
        self, xb: np.ndarray, yb: np.ndarray, health: GradientHealth | None
    ) -> tuple[float, float, Any]:
        """One optimizer step; returns the batch loss, the penalty and the output array."""
        return self.training_step(xb, yb, health)

    def _training_step(self) -> TrainingStep:
        """The step of this fit, from the trainer's current settings."""
        return TrainingStep(
            self.model,
            self.loss,
            self.optimizer,
            regularizers=self.regularizers,
            constraints=self.constraints,
            clip_grad_norm=self.clip_grad_norm,
            gradient_reducer=self.gradient_reducer,
            owner="Trainer",
        )

    def _health_report(self, epoch: int) -> list[str]:
        """Record the epoch's gradient-health figures and deliver new warnings."""
        health = self.health
        assert health is not None  # only called with diagnostics on
        self.history.record_diagnostics(health.figures())
        messages = health.check()
        self.history.warnings.extend(f"epoch {epoch + 1}: {m}" for m in messages)
        if health.warn and not self.callbacks.shows_warnings:
            for message in messages:
                warnings.warn(message, GradientHealthWarning, stacklevel=5)
        return messages

    # -- evaluate and predict ----------------------------------------------------------------------
    def evaluate(self, x: Any, y: Any, batch_size: int = EVAL_BATCH_SIZE) -> dict[str, float]:
        """The loss and metrics on ``(x, y)``, in evaluation mode, without building a graph.

        Examples
        --------
        >>> trainer.evaluate(x_test, y_test)  # doctest: +SKIP
        {'loss': 0.12, 'accuracy': 0.97}
        """
        _check_int("batch_size", batch_size)
        x, y = check_xy(x, y, _float_dtype(self.model))
        return self._evaluate_arrays(x, y, int(batch_size))

    def _evaluate_arrays(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> dict[str, float]:
        out = self._predict_arrays(x, batch_size)
        with no_grad():
            results = {"loss": float(self.loss(Tensor(out), y).item())}
        labels = _is_labels(y)
        finite = bool(np.isfinite(out).all())
        for name, fn, named in self.metrics:
            if named is False or labels:
                results[name] = float(fn(y, out)) if finite else math.nan
        return results

    def predict(self, x: Any, batch_size: int = EVAL_BATCH_SIZE) -> np.ndarray:
        """The model's outputs for ``x`` as a NumPy array, batch by batch.

        Runs in evaluation mode (dropout off, batch-norm running statistics) under
        ``no_grad`` (no graph is built), and puts every module back in the mode it was in.
        Batches of ``EVAL_BATCH_SIZE`` (2048) rows keep the matrix products efficient while the
        activations of a batch stay a few MiB.
        """
        _check_int("batch_size", batch_size)
        return self._predict_arrays(check_x(x, _float_dtype(self.model)), int(batch_size))

    def _predict_arrays(self, x: np.ndarray, batch_size: int) -> np.ndarray:
        modes = _modes(self.model)
        self.model.eval()
        try:
            with no_grad():
                outs = [
                    self.model(Tensor(x[i : i + batch_size])).data
                    for i in range(0, len(x), batch_size)
                ]
        finally:
            _restore_modes(modes)
        return outs[0] if len(outs) == 1 else np.concatenate(outs)

    def __repr__(self) -> str:
        names = [name for name, _, _ in self.metrics]
        return (
            f"Trainer(model={type(self.model).__name__}, "
            f"optimizer={type(self.optimizer).__name__}, metrics={names}, "
            f"callbacks={[type(c).__name__ for c in self.callbacks]})"
        )


# -- helpers ---------------------------------------------------------------------------------------
def _check_int(name: str, value: Any) -> None:
    """A count like epochs or batch_size must be an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")


def _callables(items: Iterable[Any], what: str, form: str) -> list[Callable[..., Any]]:
    found = list(items)
    for position, item in enumerate(found):
        if not callable(item):
            raise ConfigError(
                f"Trainer: {what}[{position}] must be callable as {form}, got {item!r}"
            )
    return found


def _resolve_metrics(metrics: Any) -> list[tuple[str, Metric, bool]]:
    """(name, function, looked up by name) for each metric; names must be unique."""
    if isinstance(metrics, str) or callable(metrics):
        metrics = [metrics]
    resolved: list[tuple[str, Metric, bool]] = []
    for item in metrics:
        if isinstance(item, str):
            from chainrule import metrics as library

            key = {"acc": "accuracy"}.get(item, item)
            fn = getattr(library, key, None) if key in library.__all__ else None
            if fn is None or not callable(fn) or key in ("confusion_matrix", "ClassScores"):
                raise ConfigError(
                    f"Trainer: unknown metric {item!r}; known names are 'accuracy', "
                    "'top_k_accuracy' and 'log_loss', or pass a function (y_true, scores) -> float"
                )
            resolved.append((item, fn, True))
        elif (
            isinstance(item, tuple)
            and len(item) == 2
            and isinstance(item[0], str)
            and callable(item[1])
        ):
            resolved.append((item[0], item[1], False))
        elif callable(item):
            resolved.append((getattr(item, "__name__", type(item).__name__), item, False))
        else:
            raise ConfigError(
                f"Trainer: a metric must be a name, a function (y_true, scores) -> float or a "
                f"(name, function) pair, got {item!r}"
            )
    names = [name for name, _, _ in resolved]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"Trainer: metric names must be unique, {duplicates} appear twice")
    reserved = {"loss", "lr", "seconds", "penalty", "warnings"} & set(names)
    if reserved:
        raise ConfigError(f"Trainer: metric names {sorted(reserved)} are reserved for the loop")
    return resolved


def _is_labels(y: np.ndarray) -> bool:
    """Whether targets are 1-D integer class labels (what the named metrics expect)."""
    return y.ndim == 1 and y.dtype.kind in "iu"


def _float_dtype(model: Module) -> Any:
    """The dtype of the model's floating parameters (inputs are converted to it once)."""
    for p in model.parameters():
        if p.data.dtype.kind == "f":
            return p.data.dtype
    return np.dtype(np.float32)


def _modes(model: Module) -> list[tuple[Module, bool]]:
    return [(m, m.training) for m in model.modules()]


def _restore_modes(modes: list[tuple[Module, bool]]) -> None:
    for module, mode in modes:
        object.__setattr__(module, "training", mode)


def _array(data: Any, name: str) -> np.ndarray:
    """``data`` as an ndarray with a sample axis and numeric values."""
    array = data.data if isinstance(data, Tensor) else np.asarray(data)
    if array.dtype.kind not in "biuf":  # objects, strings, bytes, dates, complex
        raise DtypeError(
            f"{name} must hold numbers, got dtype {array.dtype}; hint: convert strings or "
            "categories to numbers first (class indices: np.unique(y, return_inverse=True)[1])"
        )
    if array.ndim == 0:
        raise ShapeError(f"{name} must have a first axis of samples, got a scalar")
    if array.shape[0] == 0:
        raise ShapeError(f"{name} is empty: expected at least one sample, got shape {array.shape}")
    return array


def _check_finite(array: np.ndarray, name: str) -> None:
    """Refuse NaN and infinity, saying how many there are and where."""
    if array.dtype.kind != "f":
        return
    # min and max propagate NaN and show +-inf without allocating a mask the size of the data.
    if np.isfinite(array.min()) and np.isfinite(array.max()):
        return
    bad = ~np.isfinite(array)
    count = int(bad.sum())
    nans = int(np.isnan(array).sum())
    rows = np.unique(np.nonzero(bad.reshape(len(array), -1))[0])
    shown = ", ".join(str(int(r)) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    raise ConfigError(
        f"{name} contains {count} non-finite value(s) ({nans} NaN, {count - nans} inf) in "
        f"{len(rows)} sample(s): rows {shown}; the first is at index {first}. "
        "hint: drop or impute those samples (e.g. np.nan_to_num) before training"
    )


def check_x(x: Any, dtype: Any, name: str = "x") -> np.ndarray:
    """Validate inputs and convert them (once) to the model's float dtype."""
    array = _array(x, name)
    _check_finite(array, name)
    return array if array.dtype == dtype else array.astype(dtype)


def check_xy(
    x: Any, y: Any, dtype: Any, x_name: str = "x", y_name: str = "y"
) -> tuple[np.ndarray, np.ndarray]:
    """Validate inputs and targets; float targets take the model's dtype, labels stay integers."""
    xs = check_x(x, dtype, x_name)
    ys = _array(y, y_name)
    if len(xs) != len(ys):
        raise ShapeError(
            f"{x_name} and {y_name} must have the same number of samples, got {len(xs)} and "
            f"{len(ys)} (shapes {xs.shape} and {ys.shape})"
        )
    _check_finite(ys, y_name)
    if ys.dtype.kind == "f" and ys.dtype != dtype or ys.dtype.kind == "b":
        ys = ys.astype(dtype)
    return xs, ys
