"""``chainrule train``: train a classifier; write the run folder (model, history, plots, report)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.callbacks.base import Callback
from chainrule.cli.commands.outputs import evaluate_model, plots_and_report
from chainrule.cli.commands.run_end import finish_run
from chainrule.cli.commands.run_folder import (
    check_bound,
    deferred_interrupt,
    held_locks,
    new_run_dir,
    prepare_run_dir,
    settings_digest,
)
from chainrule.cli.common import (
    build_model,
    check_memory,
    load_dataset,
    preprocess,
    preprocessing_for,
)
from chainrule.cli.config import DEFAULT_MOMENTUM, TrainConfig, build_config, read_config_file
from chainrule.cli.user_warnings import warnings_in_words
from chainrule.errors import ConfigError

# Flags that may change on --resume; every other setting is the run's own.
RESUMABLE = {"epochs"}


def _bound_settings(config: TrainConfig) -> dict[str, Any]:
    """The settings a checkpoint is bound to: all but those --resume may change."""
    return {k: v for k, v in config.to_dict().items() if k not in RESUMABLE}


def _flag_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {name: getattr(args, name, None) for name in TrainConfig.names()}


def _config(args: argparse.Namespace) -> tuple[TrainConfig, Path | None, bool]:
    """The run's settings and folder (None: a new one, named after the data); True when
    resuming."""
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
        settings = read_config_file(saved)
        if settings.get("dataset") == "digits" and settings.get("data_dir"):
            settings["dataset"] = None  # older runs recorded IDX folders as "digits"
        if settings.get("optimizer", "sgd") not in DEFAULT_MOMENTUM:
            settings.pop("momentum", None)  # older runs recorded SGD's 0.9 for every optimizer
        return build_config(settings, flags), run_dir, True
    file_settings = read_config_file(args.config) if args.config else {}
    config = build_config(file_settings, flags)
    return config, Path(args.out) if args.out else None, False


def _optimizer(config: TrainConfig, model: Any) -> Any:
    from chainrule import optim

    # Weight decay shrinks weight matrices only: biases and batch-norm scales are left alone.
    params = model.named_parameters()
    if config.weight_decay:
        params = optim.weight_decay_groups(params)
    return optim.create(
        config.optimizer,
        params,
        lr=config.learning_rate,
        momentum=config.momentum or 0.0,
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
            config.learning_rate, step_size=max(1, config.epochs // 3), gamma=0.1
        )
    elif config.schedule == "exponential":
        schedule = schedules.exponential_lr(config.learning_rate, gamma=0.01 ** (1 / config.epochs))
    else:
        schedule = schedules.cosine_lr(
            config.learning_rate, total_steps=config.epochs, warmup_steps=config.warmup_epochs
        )
    return [callbacks.LearningRateScheduler(schedule)]


class _RunCheckpoint(Callback):
    """Writes the run's checkpoint after every epoch, so ``--resume`` continues exactly."""

    def __init__(
        self, run_dir: Path, optimizer: Any, shuffle_rng: Any, past: Any, settings: Any = None
    ) -> None:
        self.run_dir, self.optimizer, self.shuffle_rng, self.past = (
            run_dir,
            optimizer,
            shuffle_rng,
            past,
        )
        # The settings the checkpoint is bound to, by value and by hash (see _check_bound).
        self.settings = (
            {}
            if settings is None
            else {
                "settings": settings,
                "settings_sha256": settings_digest(settings),
            }
        )

    def on_epoch_end(self, trainer: Any, epoch: int, logs: Any) -> None:
        from chainrule.io import generator_state, save_checkpoint

        merged = _merge(self.past, trainer.history)
        with deferred_interrupt() as held:  # the checkpoint of a complete epoch, written whole
            save_checkpoint(
                self.run_dir,
                trainer.model,
                self.optimizer,
                epoch,
                merged.to_dict(),
                extra={"shuffle_rng": generator_state(self.shuffle_rng), **self.settings},
            )
        if held:
            raise KeyboardInterrupt


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


def run(args: argparse.Namespace) -> int:
    """Train, evaluate on the test set, save the model and write the run folder."""
    with warnings_in_words("train"), held_locks(), _fail_together():
        return _train(args)


def _data_parallel() -> Any:
    """Under ``mpirun``/``srun``: the job's ``DataParallel`` (each rank trains on its share of
    every batch, rank 0 writes); otherwise None, and mpi4py is never imported."""
    from chainrule.distributed.communicator import launched_by_mpi

    if not launched_by_mpi():
        return None
    from chainrule.distributed import DataParallel

    return DataParallel()  # with the excepthook that aborts every rank


def _fail_together() -> Any:
    """Under MPI, an error on one rank aborts every rank (naming it) instead of a hang."""
    from chainrule.distributed.communicator import launched_by_mpi

    if not launched_by_mpi():
        return contextlib.nullcontext()
    from chainrule.distributed import abort_on_error

    return abort_on_error()


def _train(args: argparse.Namespace) -> int:
    from chainrule import callbacks, regularizers
    from chainrule.data import train_val_split
    from chainrule.io import load_checkpoint, restore_generator
    from chainrule.io.atomic import atomic_write_json
    from chainrule.training import History, Trainer

    config, out, resuming = _config(args)
    if config.text_source is not None:
        from chainrule.cli.commands.train_text import train_text

        return train_text(args, config, out, resuming)
    bound = _bound_settings(config)
    dist = _data_parallel()
    main = dist is None or dist.is_main  # rank 0 alone prints and writes the run folder
    audio_pre = None
    if config.audio_dir is not None:  # speech and sounds: features of a folder of WAV files
        from chainrule.cli.audio import load_audio_dataset

        data, audio_pre = load_audio_dataset(config, args.quiet)
    else:
        data = load_dataset(config.dataset, config.data_dir, config.csv, config.seed)
        check_memory(config, data)
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
    preprocessing = audio_pre or preprocessing_for(data, x_train, config)
    x_train = preprocess(x_train, preprocessing)
    validation = None if x_val is None else (preprocess(x_val, preprocessing), y_val)
    x_test = preprocess(data.x_test, preprocessing)  # now: a bad test value stops no trained run

    if audio_pre is not None:
        from chainrule.cli.audio import build_audio_model

        model = build_audio_model(config, data)
    else:
        model = build_model(config, data)
    optimizer = _optimizer(config, model)
    shuffle_rng = np.random.default_rng([config.seed, 1])
    start, past = 0, None
    run_dir = out if out is not None or not main else new_run_dir(data.run_name)
    if run_dir is None:  # another rank: rank 0 names the folder (only rank 0 writes in it)
        run_dir = Path(dist.comm.broadcast_object(None))
    elif out is None and dist is not None:
        dist.comm.broadcast_object(str(run_dir))
    if main:
        prepare_run_dir(run_dir, resuming, args.quiet)  # locked until run() returns
    if resuming:
        last_epoch, past_dict, extra = load_checkpoint(run_dir, model, optimizer)
        if not extra or "shuffle_rng" not in extra:
            raise ConfigError(f"--resume {run_dir}: the checkpoint has no data-shuffling state")
        check_bound(run_dir, extra, bound)
        restore_generator(shuffle_rng, extra["shuffle_rng"])
        past, start = History.from_dict(past_dict), last_epoch + 1
        if start >= config.epochs:
            raise ConfigError(
                f"--resume: the run already has {start} epochs; pass --epochs N > {start}"
            )
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(run_dir / "config.json", config.to_dict())

    penalties: list[Any] = []
    if config.l1 or config.l2:
        penalties.append(regularizers.ElasticNet(l1=config.l1, l2=config.l2))
    constraints = [regularizers.MaxNorm(config.max_norm)] if config.max_norm else []
    cbs: list[Any] = [callbacks.TerminateOnNaN(), *_schedule_callbacks(config, optimizer)]
    stopper = None
    if config.early_stopping:
        stopper = callbacks.EarlyStopping(monitor="val_loss", patience=config.early_stopping)
        cbs.append(stopper)
    if main:
        cbs.append(_RunCheckpoint(run_dir, optimizer, shuffle_rng, past, bound))
    if not args.quiet and main:
        cbs.append(callbacks.ProgressBar(verbose=1 if sys.stderr.isatty() else 2))
    if getattr(args, "tensorboard", None):
        shape = data.image_shape if data.image_shape and len(data.image_shape) == 2 else None
        cbs.append(callbacks.TensorBoard(args.tensorboard, image_shape=shape))  # type: ignore[arg-type]
    trainer = Trainer(
        model,
        _loss(),
        optimizer,
        metrics=("accuracy",),
        callbacks=cbs,
        regularizers=penalties,
        constraints=constraints,
        clip_grad_norm=config.clip_grad,
        distributed=dist or False,
    )
    if not args.quiet and main:
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
    if not main:
        return 0  # rank 0 evaluates, saves the model and writes the report
    history = _merge(past, fitted)

    def report(staging: Path, test: dict[str, Any]) -> None:
        extra = None
        if config.arch == "cnn":  # filters and feature maps (chainrule.cli.cnn)
            from chainrule.cli.cnn import conv_report_images

            extra = conv_report_images(model, x_test, staging / "plots")
        plots_and_report(staging, config, data, history, model, test, extra_images=extra)

    return finish_run(
        args, config, run_dir, model, history, stopper,
        evaluate=lambda: evaluate_model(model, x_test, data.y_test, data.n_classes),
        preprocessing=preprocessing, data=data, report=report,
        unit=f"{len(data.x_test)} test samples",
    )  # fmt: skip


def _loss() -> Any:
    from chainrule import nn

    return nn.CrossEntropyLoss()
