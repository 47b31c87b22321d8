"""``chainrule lr-find``: the learning-rate range test, plotted, with a suggested value."""

from __future__ import annotations

import argparse
from pathlib import Path

from chainrule.cli.commands.train import _flag_settings, _optimizer
from chainrule.cli.common import build_model, load_dataset, preprocess, standardizer
from chainrule.cli.config import build_config


def run(args: argparse.Namespace) -> int:
    """Raise the learning rate geometrically batch by batch and watch the loss."""
    from chainrule import nn
    from chainrule.training import lr_find

    config = build_config({}, _flag_settings(args))
    data = load_dataset(config.dataset, config.data_dir, config.csv, config.seed)
    x = preprocess(data.x_train, standardizer(data.x_train))
    model = build_model(config, data)
    result = lr_find(
        model,
        nn.CrossEntropyLoss(),
        _optimizer(config, model),
        x,
        data.y_train,
        num_steps=args.steps,
        batch_size=config.batch_size,
        seed=config.seed,
    )
    print(f"suggested learning rate for {config.optimizer}: {result.suggestion:.3g}")
    try:
        from chainrule.report import plot_lr_finder

        path = plot_lr_finder(
            list(result.lrs),
            list(result.losses),
            Path(args.out) / "lr_find.png",
            suggestion=result.suggestion,
        )
        print(f"plot: {path}")
    except ImportError as err:
        print(f"plot skipped: {err}")
    return 0
