"""``chainrule train --text-dir / --text-csv / --tagged``: a recurrent classifier or tagger.

The same run folder as every ``train`` (model, config.json, history, checkpoint, plots,
report); the model file's ``preprocessing`` is the run's ``TextEncoder`` (tokenizer,
vocabulary, length cut), so ``evaluate`` and ``predict`` encode new text exactly as training
did. Gradient clipping by norm (1.0) is on by default (``TEXT_DEFAULTS``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.cli.config import TrainConfig
from chainrule.errors import ConfigError


def train_text(args: argparse.Namespace, config: TrainConfig, out: Path | None,
               resuming: bool) -> int:  # fmt: skip
    """Train on text; write the run folder; print the held-out accuracy."""
    from chainrule import callbacks, nn
    from chainrule.cli import text
    from chainrule.cli.commands.run_end import finish_run
    from chainrule.cli.commands.run_folder import check_bound, new_run_dir, prepare_run_dir
    from chainrule.cli.commands.text_outputs import text_report
    from chainrule.cli.commands.train import (
        _bound_settings,
        _merge,
        _optimizer,
        _RunCheckpoint,
        _schedule_callbacks,
    )
    from chainrule.data import train_val_split
    from chainrule.io import load_checkpoint, restore_generator
    from chainrule.io.atomic import atomic_write_json
    from chainrule.training import History, Trainer

    kind = config.text_source
    if kind is None:
        raise ConfigError("train_text needs --text-dir, --text-csv or --tagged")
    from chainrule.distributed.communicator import launched_by_mpi, world_size

    if launched_by_mpi() and world_size() > 1:  # every rank would write the same run folder
        raise ConfigError(
            "text training runs as one process; under mpirun only image, CSV and audio data "
            "train data-parallel (run it without mpirun, or with -n 1)"
        )
    data = text.load_text_data(kind, getattr(config, kind), config.text_column,
                               config.label_column)  # fmt: skip
    train_rows, test_rows = text.text_split(data, config.seed)
    data.source.update(test_fraction=text.TEST_FRACTION[kind], seed=config.seed)
    val_rows = None
    if config.validation_split:
        strat = None if data.tagged else np.asarray(data.labels)[train_rows]
        (train_rows,), (val_rows,) = train_val_split(
            train_rows, val_fraction=config.validation_split, stratify=strat, seed=config.seed
        )
    encoder = text.build_encoder(data, train_rows, config.tokens, config.max_length)
    x_train, y_train = text.encode_data(data, encoder, train_rows)
    x_test, y_test = text.encode_data(data, encoder, test_rows)
    validation = None if val_rows is None else text.encode_data(data, encoder, val_rows)

    model = text.build_text_model(config, len(encoder.vocabulary), len(data.class_names),
                                  data.tagged)  # fmt: skip
    optimizer = _optimizer(config, model)
    shuffle_rng = np.random.default_rng([config.seed, 1])
    start, past = 0, None
    bound = _bound_settings(config)
    run_dir = out if out is not None else new_run_dir(data.run_name)
    prepare_run_dir(run_dir, resuming, args.quiet)  # locked until the command returns
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
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "config.json", config.to_dict())

    cbs: list[Any] = [callbacks.TerminateOnNaN(), *_schedule_callbacks(config, optimizer)]
    stopper = None
    if config.early_stopping:
        stopper = callbacks.EarlyStopping(monitor="val_loss", patience=config.early_stopping)
        cbs.append(stopper)
    cbs.append(_RunCheckpoint(run_dir, optimizer, shuffle_rng, past, bound))
    if not args.quiet:
        cbs.append(callbacks.ProgressBar(verbose=1 if sys.stderr.isatty() else 2))
    metric: Any = ("accuracy", text.token_accuracy) if data.tagged else "accuracy"
    trainer = Trainer(
        model,
        nn.CrossEntropyLoss(class_axis=-1) if data.tagged else nn.CrossEntropyLoss(),
        optimizer,
        metrics=(metric,),
        callbacks=cbs,
        clip_grad_norm=config.clip_grad,
    )
    what = "sentences" if data.tagged else "texts"
    if not args.quiet:
        print(
            f"chainrule train: {data.name}, {len(x_train)} training / "
            f"{0 if val_rows is None else len(val_rows)} validation / {len(x_test)} held-out "
            f"{what}; {len(data.class_names)} {'tags' if data.tagged else 'classes'}; "
            f"{encoder.describe()}; {model.num_parameters():,} parameters -> {run_dir}",
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

    def report(staging: Path, test: dict[str, Any]) -> None:
        text_report(staging, config, data, history, model, test, encoder, x_test, y_test,
                    (x_train, y_train))  # fmt: skip

    return finish_run(
        args, config, run_dir, model, history, stopper,
        evaluate=lambda: text.evaluate_text_model(model, x_test, y_test, len(data.class_names)),
        preprocessing=encoder.to_dict(), data=data, report=report,
        unit=lambda test: f"{test['tokens']} held-out tokens" if data.tagged
        else f"{len(x_test)} held-out texts",
    )  # fmt: skip
