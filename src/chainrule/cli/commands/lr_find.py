"""``chainrule lr-find``: the learning-rate range test, plotted, with a suggested value."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chainrule.cli.commands.train import _flag_settings, _optimizer
from chainrule.cli.common import build_model, load_dataset, preprocess, preprocessing_for
from chainrule.cli.config import DEFAULT_LR, build_config
from chainrule.cli.user_warnings import warnings_in_words
from chainrule.errors import ChainruleError, ConfigError

#: Fewer recorded steps than this give a curve too short to read a slope from.
MIN_STEPS = 10
#: The range swept per optimizer: adaptive optimizers take steps 10-100x smaller than SGD.
RANGES = {
    "sgd": (1e-5, 10.0),
    "adagrad": (1e-5, 10.0),
    "adam": (1e-7, 1.0),
    "adamw": (1e-7, 1.0),
    "rmsprop": (1e-7, 1.0),
}
# Flags of `train` that mean nothing for a range test: refused, never silently ignored.
_NOT_HERE = ("epochs", "early_stopping", "validation_split", "schedule", "warmup_epochs")


def run(args: argparse.Namespace) -> int:
    """Raise the learning rate geometrically batch by batch and watch the loss."""
    with warnings_in_words("lr-find"):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from chainrule import nn
    from chainrule.training import lr_find

    given = [n for n in _NOT_HERE if getattr(args, n, None) is not None]
    if given:
        flags = ", ".join("--" + n.replace("_", "-") for n in given)
        raise ConfigError(f"{flags}: not used by lr-find (one sweep of --steps batches)")
    if args.steps < MIN_STEPS:
        raise ConfigError(
            f"--steps {args.steps}: a suggestion needs at least {MIN_STEPS} steps (100 is usual)"
        )
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: a file of that name exists; give a folder for the plot")
    settings = _flag_settings(args)
    for name in _NOT_HERE:
        settings.pop(name, None)
    config = build_config({}, settings)
    if config.text_source is not None:
        raise ConfigError(
            "lr-find runs on image or CSV data; for text, train with the default Adam "
            "learning rate (2e-3) or try a few with train --epochs 1"
        )
    if config.audio_dir is not None:
        raise ConfigError("lr-find does not read --audio-dir yet; try a few --lr values instead")
    data = load_dataset(config.dataset, config.data_dir, config.csv, config.seed)
    x = preprocess(data.x_train, preprocessing_for(data, data.x_train))
    model = build_model(config, data)
    start, end = RANGES[config.optimizer]
    result = lr_find(
        model,
        nn.CrossEntropyLoss(),
        _optimizer(config, model),
        x,
        data.y_train,
        start_lr=start,
        end_lr=end,
        num_steps=args.steps,
        batch_size=config.batch_size,
        seed=config.seed,
    )
    suggestion: float | None = result.suggestion
    if len(result.losses) < MIN_STEPS:
        suggestion = None
        print(
            f"no suggestion: the loss diverged after {len(result.losses)} steps (at lr "
            f"{result.lrs[-1]:.3g}); the default for {config.optimizer} is "
            f"{DEFAULT_LR[config.optimizer]:g}"
        )
    else:
        print(
            f"suggested learning rate for {config.optimizer}: {suggestion:.3g} "
            f"(swept {start:g} to {end:g}; default {DEFAULT_LR[config.optimizer]:g})"
        )
    try:
        from chainrule.report import plot_lr_finder

        path = plot_lr_finder(
            list(result.lrs), list(result.losses), out / "lr_find.png", suggestion=suggestion
        )
        print(f"plot: {path}")
    except (ImportError, ChainruleError) as err:
        print(f"chainrule lr-find: plot skipped: {err}", file=sys.stderr)
    return 0
