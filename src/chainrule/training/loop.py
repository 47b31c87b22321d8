"""The epoch loop of ``Trainer.fit``: epochs, batches, validation, and how a run ends.

A run ends in one of five ways, recorded in ``History.ended_by``: all epochs done (None), a
callback's request (``"callback"``), a NaN or infinite epoch loss (``"non-finite"``), a
diverging loss (``"diverged"``) or Ctrl-C (``"interrupted"``). In every case the model holds
weights from the end of a complete epoch, or the initial ones: ``History.kept_epoch`` says
which, and ``History.final_logs()`` gives that epoch's figures.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.training.diagnostics import GradientHealthWarning
from chainrule.training.guard import RunGuard
from chainrule.training.history import History
from chainrule.training.modes import module_modes, restore_modes

if TYPE_CHECKING:
    from chainrule.training.trainer import Trainer

__all__ = ["fit_loop", "EVAL_BATCH_SIZE", "EVAL_IMAGE_BATCH_SIZE", "eval_batch_size"]

#: Rows per batch when predicting or evaluating (no graph, so memory is only the activations):
#: 10,000 Fashion-MNIST images through 784-256-10 take 33 ms in batches of 2048 against 44 ms
#: in batches of 256, measured here, while a batch's activations stay a few MiB.
EVAL_BATCH_SIZE = 2048
#: Samples with more than one axis (images (C, H, W), frame sequences) go fewer at a time: a
#: convolution's activations are tens of times its input. The 10,000 Fashion-MNIST test images
#: through the benchmark CNN peak at 285 MiB in batches of 512 against 1,048 MiB in batches of
#: 2048, about 1.2x the time (AMD EPYC, 2 threads, machine shared).
EVAL_IMAGE_BATCH_SIZE = 512


def eval_batch_size(x: Any) -> int:
    """Samples per batch for predicting or evaluating ``x`` when the caller gives none."""
    return EVAL_BATCH_SIZE if np.ndim(x) <= 2 else EVAL_IMAGE_BATCH_SIZE


#: What to try when a run fails, appended to the message of a non-finite or diverging loss.
ADVICE = (
    "hint: lower the learning rate (--lr), clip gradients (clip_grad_norm, --clip-grad), or "
    "check the data for extreme values"
)


def fit_loop(
    trainer: Trainer,
    loader: Any,
    epochs: int,
    batch_size: int,
    n: int,
    val: tuple[Any, Any] | None,
    labels: bool,
    initial_epoch: int = 0,
) -> History:
    """Run epochs ``initial_epoch .. epochs - 1``, with the Ctrl-C and failure handling."""
    trainer.history = history = History()
    trainer.stop_training, trainer.stop_reason = False, None
    trainer.training_step = trainer._training_step()
    steps = len(loader)
    trainer.params = {
        "epochs": epochs,
        "batch_size": batch_size,
        "steps": steps,
        "samples": n,
    }
    if getattr(loader, "merges_last", False):
        trainer.params["last_batch_merged"] = True  # the batch of one joined the one before
    history.params = dict(trainer.params)
    if trainer.health is not None:
        trainer.health.attach(trainer.model)
    # The measured batch is the last full-size one (a ragged last batch would look dead).
    diag_batch = max(n // batch_size, 1) - 1
    modes = module_modes(trainer.model)
    # Named metrics are classification metrics: left out for other targets.
    active = [not named or labels for _, _, named in trainer.metrics]
    guard = RunGuard(
        trainer.model,
        trainer.optimizer,
        trainer.divergence_factor,
        min(200, 3 * steps),
        start_epoch=initial_epoch - 1 if initial_epoch else None,  # resumed: that epoch's end
    )
    trainer.kept_epoch, trainer.kept = guard.last.epoch, guard.last.where
    logs: dict[str, Any] = {}
    epoch = initial_epoch
    try:
        try:
            trainer.callbacks.on_train_begin(trainer, {})
            for epoch in range(initial_epoch, epochs):
                trainer.epoch = epoch
                trainer.callbacks.on_epoch_begin(trainer, epoch, {})
                if trainer.stop_training:  # asked for before this epoch started
                    break
                logs, diverged = _run_epoch(trainer, loader, epoch, diag_batch, val, active, guard)
                if _failed(trainer, history, guard, epoch, logs, diverged):
                    break  # the epoch is recorded, but it is not complete: no on_epoch_end
                trainer.kept_epoch, trainer.kept = epoch, f"the end of epoch {epoch + 1}"
                trainer.callbacks.on_epoch_end(trainer, epoch, logs)
                if trainer.stop_training:
                    break
        except KeyboardInterrupt:
            if trainer.distributed is not None and trainer.distributed.world_size > 1:
                raise  # ranks stopped at different points would wait on each other: abort
            # Not swallowed silently: recorded, the last complete epoch's weights come back,
            # callbacks finish (EarlyStopping restores the best) and history.interrupted says so.
            history.interrupted = True
            history.ended_by = "interrupted"
            snapshot = guard.restore(guard.last)
            trainer.kept_epoch, trainer.kept = snapshot.epoch, snapshot.where
            history.stop_reason = (
                f"interrupted (KeyboardInterrupt) during epoch {epoch + 1}; "
                f"{len(history)} complete epoch(s) recorded"
            )
        if trainer.stop_training and not history.interrupted:
            history.stopped_early = True
            history.stop_reason = trainer.stop_reason or "a callback set trainer.stop_training"
            history.ended_by = history.ended_by or "callback"
        trainer.callbacks.on_train_end(trainer, logs, then=lambda: _say_what_was_kept(trainer))
    finally:
        restore_modes(modes)
    return history


def _say_what_was_kept(trainer: Trainer) -> None:
    """Once weight-restoring callbacks are done: record (and after Ctrl-C, say) what is kept."""
    history = trainer.history
    history.kept_epoch = trainer.kept_epoch
    if history.interrupted:
        history.stop_reason = f"{history.stop_reason}; the weights of {trainer.kept} were kept"


def _failed(
    trainer: Trainer,
    history: History,
    guard: RunGuard,
    epoch: int,
    logs: dict[str, Any],
    diverged: int | None,
) -> bool:
    """Judge a finished epoch: keep its weights, or end the run on the last good ones."""
    loss = logs["loss"] + logs.get("penalty", 0.0)
    if diverged is None and guard.epoch_end(epoch, loss):
        return False
    if not math.isfinite(loss):
        history.ended_by = "non-finite"
        what = f"the training loss became {loss} in epoch {epoch + 1}"
        snapshot = guard.last
    elif diverged is not None:
        history.ended_by = "diverged"
        what = (
            f"the training loss diverged: its running mean grew from {guard.reference:.4g} to "
            f"{guard.running:.4g} (over {guard.factor:g}x) by epoch {epoch + 1}, batch "
            f"{diverged + 1}"
        )
        snapshot = guard.best
    else:
        history.ended_by = "non-finite"
        what = f"the weights became non-finite in epoch {epoch + 1}"
        snapshot = guard.last
    if not trainer.stop_training:  # a callback (TerminateOnNaN) may have restored already
        guard.restore(snapshot)
        trainer.kept_epoch, trainer.kept = snapshot.epoch, snapshot.where
        trainer.request_stop(
            f"{what}; training stopped and the weights from {snapshot.where} were restored "
            f"({ADVICE})"
        )
    return True


def _run_epoch(
    trainer: Trainer,
    loader: Any,
    epoch: int,
    diag_batch: int,
    val: tuple[Any, Any] | None,
    active: list[bool],
    guard: RunGuard,
) -> tuple[dict[str, Any], int | None]:
    """Train one epoch, validate, record the history; return the logs and the batch where the
    loss was found diverging (None: it did not)."""
    start = time.perf_counter()
    health = trainer.health
    if health is not None:
        health.start_epoch()
    lr = float(trainer.optimizer.lr)
    metrics = trainer.metrics
    total = penalty_total = 0.0
    seen = 0
    diverged: int | None = None
    sums = [0.0] * len(metrics)
    batch_logs: dict[str, Any] = {"loss": 0.0, "size": 0}
    batch_callbacks = trainer.callbacks.batch_callbacks
    step = trainer._step
    trainer.model.train()  # once per epoch (and after batch callbacks), not per step
    for index, (xb, yb) in enumerate(loader):
        size = len(xb)
        loss, penalty, out = step(xb, yb, health if index == diag_batch else None)
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
            if trainer.regularizers:
                batch_logs["penalty"] = penalty
            for cb in batch_callbacks:
                cb.on_batch_end(trainer, index, batch_logs)
            trainer.model.train()  # a batch callback may have switched a module to eval
        if guard.diverged(loss + penalty):
            diverged = index
            break
        if trainer.stop_training:
            break
    dist = trainer.distributed
    if dist is not None:  # the job's figures: totals over every rank's share
        total, penalty_total, seen, *sums = dist.sum_epoch([total, penalty_total, seen, *sums])
        dist.end_epoch(trainer.model)
    seen = max(seen, 1)
    logs: dict[str, Any] = {"loss": total / seen}
    for k, (name, _, _) in enumerate(metrics):
        if active[k]:
            logs[name] = sums[k] / seen
    if trainer.regularizers:
        logs["penalty"] = penalty_total / seen
    if val is not None:
        for key, value in trainer._evaluate_arrays(
            val[0], val[1], max(loader.batch_size, eval_batch_size(val[0]))
        ).items():
            logs["val_" + key] = value
    logs["lr"] = lr
    logs["seconds"] = time.perf_counter() - start
    if dist is not None:
        logs = dist.agree(logs)  # rank 0's numbers decide for every rank
    trainer.history.record(epoch, logs)
    logs["warnings"] = _health_report(trainer, epoch) if health is not None else []
    return logs, diverged


def _health_report(trainer: Trainer, epoch: int) -> list[str]:
    """Record the epoch's gradient-health figures and deliver new warnings."""
    health = trainer.health
    assert health is not None  # only called with diagnostics on
    trainer.history.record_diagnostics(health.figures())
    messages = health.check()
    trainer.history.warnings.extend(f"epoch {epoch + 1}: {m}" for m in messages)
    quiet = trainer.distributed is not None and not trainer.distributed.is_main
    if health.warn and not trainer.callbacks.shows_warnings and not quiet:
        for message in messages:
            warnings.warn(message, GradientHealthWarning, stacklevel=5)
    return messages
