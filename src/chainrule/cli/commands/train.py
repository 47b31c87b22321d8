"""``chainrule train``: train a classifier; write the run folder (model, history, plots, report)."""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.callbacks.base import Callback
from chainrule.cli.common import Dataset, build_model, load_dataset, preprocess, standardizer
from chainrule.cli.config import TrainConfig, build_config, read_config_file
from chainrule.errors import ConfigError

# Flags that may change on --resume; every other setting is the run's own.
RESUMABLE = {"epochs"}


def _flag_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {name: getattr(args, name, None) for name in TrainConfig.names()}


def _config(args: argparse.Namespace) -> tuple[TrainConfig, Path, bool]:
    """The run's settings and folder; True when resuming."""
    flags = _flag_settings(args)
    if args.resume:
        run_dir = Path(args.resume)
        saved = run_dir / "config.json"
        if not saved.is_file():
            raise ConfigError(f"--resume {run_dir}: no config.json there (not a run folder?)")
        changed = sorted(k for k, v in flags.items() if v is not None and k not in RESUMABLE)
        if changed or args.config or args.out:
            raise ConfigError(
                f"--resume continues a run with its own settings; only --epochs may change "
                f"(got {', '.join(changed) or '--config/--out'})"
            )
        return build_config(read_config_file(saved), flags), run_dir, True
    file_settings = read_config_file(args.config) if args.config else {}
    config = build_config(file_settings, flags)
    run_dir = (
        Path(args.out)
        if args.out
        else Path("runs") / f"{config.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    return config, run_dir, False


def _optimizer(config: TrainConfig, model: Any) -> Any:
    from chainrule import optim

    return optim.create(
        config.optimizer,
        model.named_parameters(),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
    )


def _schedule_callbacks(config: TrainConfig, optimizer: Any) -> list[Any]:
    from chainrule import callbacks
    from chainrule.optim import schedules

    if config.schedule == "constant":
        return []
    if config.schedule == "plateau":
        monitor = "val_loss" if config.validation_split else "loss"
        return [callbacks.ReduceLROnPlateau(monitor, factor=0.5, patience=3)]
    if config.schedule == "step":
        schedule: Any = schedules.step_lr(
            config.lr, step_size=max(1, config.epochs // 3), gamma=0.1
        )
    elif config.schedule == "exponential":
        schedule = schedules.exponential_lr(config.lr, gamma=0.01 ** (1 / config.epochs))
    else:
        schedule = schedules.cosine_lr(
            config.lr, total_steps=config.epochs, warmup_steps=config.warmup_epochs
        )
    return [callbacks.LearningRateScheduler(schedule)]


class _RunCheckpoint(Callback):
    """Writes the run's checkpoint after every epoch, so ``--resume`` continues exactly."""

    def __init__(self, run_dir: Path, optimizer: Any, shuffle_rng: Any, past: Any) -> None:
        self.run_dir, self.optimizer, self.shuffle_rng, self.past = (
            run_dir,
            optimizer,
            shuffle_rng,
            past,
        )

    def on_epoch_end(self, trainer: Any, epoch: int, logs: Any) -> None:
        from chainrule.io import generator_state, save_checkpoint

        merged = _merge(self.past, trainer.history)
        save_checkpoint(
            self.run_dir,
            trainer.model,
            self.optimizer,
            epoch,
            merged.to_dict(),
            extra={"shuffle_rng": generator_state(self.shuffle_rng)},
        )


def _merge(past: Any, new: Any) -> Any:
    """The history of the epochs before a resume followed by those of this session."""
    from chainrule.training import History

    if past is None or len(past) == 0:
        return new
    merged = History.from_dict(past.to_dict())
    for i, epoch in enumerate(new.epochs):
        merged.record(epoch, {k: v[i] for k, v in new.history.items()})
        merged.record_diagnostics(
            {k: {n: v[i] for n, v in t.items() if i < len(v)} for k, t in new.diagnostics.items()}
        )
    merged.warnings += new.warnings
    merged.interrupted, merged.stopped_early = new.interrupted, new.stopped_early
    merged.stop_reason, merged.params = new.stop_reason, new.params
    return merged


def _write_history_csv(path: Path, history: Any) -> None:
    from chainrule.io.atomic import atomic_write_text

    keys = list(history.history)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["epoch", *keys])
    for i, epoch in enumerate(history.epochs):
        writer.writerow([epoch + 1, *(f"{history.history[k][i]:.6g}" for k in keys)])
    atomic_write_text(path, buffer.getvalue())


def _plots_and_report(
    run_dir: Path,
    config: TrainConfig,
    data: Dataset,
    history: Any,
    model: Any,
    test: dict[str, Any],
    report_fmt: str = "md",
) -> list[str]:
    """Learning curves, confusion matrix, first-layer weights, gradient norms and the report."""
    from chainrule import report

    plots = run_dir / "plots"
    images: dict[str, str] = {}
    if len(history):
        images["Learning curves"] = str(
            report.plot_learning_curves(
                {k: v for k, v in history.history.items() if k != "seconds"},
                plots / "learning_curves.png",
            )
        )
    images["Confusion matrix (test set)"] = str(
        report.plot_confusion_matrix(
            np.asarray(test["confusion_matrix"]),
            plots / "confusion_matrix.png",
            class_names=data.class_names,
        )
    )
    first = next(
        p for name, p in model.named_parameters() if name.endswith("weight") and p.ndim == 2
    )
    if data.image_shape is not None and len(data.image_shape) == 2:
        images["What each hidden unit looks for (first-layer weights)"] = str(
            report.plot_weight_images(
                first.data, plots / "first_layer_weights.png", image_shape=data.image_shape
            )
        )
    grad_norms = history.diagnostics.get("grad_norm", {})
    if grad_norms and len(history):
        images["Gradient norm per layer"] = str(
            report.plot_gradient_norms(
                grad_norms,
                plots / "gradient_norms.png",
                update_ratios=history.diagnostics.get("update_ratio") or None,
            )
        )
    images = {k: str(Path(v).relative_to(run_dir)) for k, v in images.items()}
    per_class = [
        {
            "class": name,
            "precision": round(p, 4),
            "recall": round(r, 4),
            "f1": round(f, 4),
            "support": int(s),
        }
        for name, p, r, f, s in zip(
            data.class_names, test["precision"], test["recall"], test["f1"], test["support"]
        )
    ]
    summary: dict[str, Any] = {
        "dataset": data.name,
        "test accuracy": f"{test['accuracy']:.4f}",
        "epochs run": len(history),
        "stopped": history.stop_reason or "after the last epoch",
        "Settings": config.to_dict(),
    }
    report.write_report(
        run_dir,
        f"chainrule run: {data.name}",
        summary,
        tables={"Per-class scores (test set)": per_class},
        images=images,
        fmt=report_fmt,
    )
    return list(images.values())


def evaluate_model(model: Any, x: np.ndarray, y: np.ndarray, n_classes: int) -> dict[str, Any]:
    """Accuracy, confusion matrix and per-class precision / recall / F1 on one split."""
    from chainrule import metrics
    from chainrule.autodiff.mode import no_grad
    from chainrule.autodiff.tensor import Tensor

    model.eval()
    with no_grad():
        scores = np.concatenate(
            [model(Tensor(x[i : i + 1024])).data for i in range(0, len(x), 1024)]
        )
    predicted = scores.argmax(axis=1)
    scores_pr = metrics.precision_recall_f1(y, predicted, num_classes=n_classes)
    return {
        "accuracy": float(metrics.accuracy(y, predicted)),
        "confusion_matrix": metrics.confusion_matrix(y, predicted, num_classes=n_classes).tolist(),
        "precision": scores_pr.precision.tolist(),
        "recall": scores_pr.recall.tolist(),
        "f1": scores_pr.f1.tolist(),
        "support": scores_pr.support.tolist(),
        "predicted": predicted,
    }


def run(args: argparse.Namespace) -> int:
    """Train, evaluate on the test set, save the model and write the run folder."""
    from chainrule import callbacks, regularizers
    from chainrule.data import train_val_split
    from chainrule.io import load_checkpoint, restore_generator, save
    from chainrule.io.atomic import atomic_write_json
    from chainrule.training import History, Trainer

    config, run_dir, resuming = _config(args)
    data = load_dataset(config.dataset, config.data_dir, config.csv, config.seed)
    if config.validation_split:
        (x_train, y_train), (x_val, y_val) = train_val_split(
            data.x_train,
            data.y_train,
            val_fraction=config.validation_split,
            stratify=data.y_train,
            seed=config.seed,
        )
    else:
        x_train, y_train, x_val, y_val = data.x_train, data.y_train, None, None
    preprocessing = standardizer(x_train)
    if data.image_shape is not None:
        preprocessing["image_shape"] = list(data.image_shape)
    x_train = preprocess(x_train, preprocessing)
    validation = None if x_val is None else (preprocess(x_val, preprocessing), y_val)

    model = build_model(config, data)
    optimizer = _optimizer(config, model)
    shuffle_rng = np.random.default_rng([config.seed, 1])
    start, past = 0, None
    if resuming:
        last_epoch, past_dict, extra = load_checkpoint(run_dir, model, optimizer)
        if not extra or "shuffle_rng" not in extra:
            raise ConfigError(f"--resume {run_dir}: the checkpoint has no data-shuffling state")
        restore_generator(shuffle_rng, extra["shuffle_rng"])
        past, start = History.from_dict(past_dict), last_epoch + 1
        if start >= config.epochs:
            raise ConfigError(
                f"--resume: the run already has {start} epochs; pass --epochs N > {start}"
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "config.json", config.to_dict())

    penalties: list[Any] = []
    if config.l1 or config.l2:
        penalties.append(regularizers.ElasticNet(l1=config.l1, l2=config.l2))
    constraints = [regularizers.MaxNorm(config.max_norm)] if config.max_norm else []
    cbs: list[Any] = [callbacks.TerminateOnNaN(), *_schedule_callbacks(config, optimizer)]
    if config.early_stopping:
        cbs.append(callbacks.EarlyStopping(monitor="val_loss", patience=config.early_stopping))
    cbs.append(_RunCheckpoint(run_dir, optimizer, shuffle_rng, past))
    if not args.quiet:
        cbs.append(callbacks.ProgressBar(verbose=1 if sys.stderr.isatty() else 2))
    trainer = Trainer(
        model,
        _loss(),
        optimizer,
        metrics=("accuracy",),
        callbacks=cbs,
        regularizers=penalties,
        constraints=constraints,
        clip_grad_norm=config.clip_grad,
    )
    if not args.quiet:
        print(
            f"chainrule train: {data.name}, {len(x_train)} training / "
            f"{0 if x_val is None else len(x_val)} validation / {len(data.x_test)} test samples; "
            f"{model.num_parameters():,} parameters -> {run_dir}",
            file=sys.stderr,
        )
        print(repr(model), file=sys.stderr)
    fitted = trainer.fit(
        x_train,
        y_train,
        epochs=config.epochs,
        batch_size=config.batch_size,
        validation_data=validation,
        shuffle=True,
        seed=shuffle_rng,
        initial_epoch=start,
    )
    history = _merge(past, fitted)
    test = evaluate_model(
        model, preprocess(data.x_test, preprocessing), data.y_test, data.n_classes
    )
    final = {k: v[-1] for k, v in history.history.items() if v and k != "seconds"}
    final["test_accuracy"] = test["accuracy"]
    save(
        model,
        run_dir / "model",
        preprocessing=preprocessing,
        class_names=data.class_names,
        hyperparameters=config.to_dict(),
        metrics={k: v for k, v in final.items() if isinstance(v, float) and math.isfinite(v)},
        metadata={
            "dataset": data.name,
            "epochs_run": len(history),
            "stop_reason": history.stop_reason,
        },
    )
    _write_history_csv(run_dir / "history.csv", history)
    atomic_write_json(run_dir / "history.json", history.to_dict())
    if not args.no_plots:
        try:
            _plots_and_report(run_dir, config, data, history, model, test)
        except ConfigError as err:  # matplotlib missing: the run itself is still complete
            print(f"chainrule train: plots skipped: {err}", file=sys.stderr)
    if history.interrupted:
        print(
            f"chainrule train: interrupted; the model so far is saved in {run_dir}", file=sys.stderr
        )
    print(
        f"test accuracy {test['accuracy']:.4f} ({data.name}, {len(data.x_test)} test samples); "
        f"run folder {run_dir}"
    )
    return 0


def _loss() -> Any:
    from chainrule import nn

    return nn.CrossEntropyLoss()
