"""One module per command; each exposes ``run(args) -> exit status`` and is imported on use."""

from __future__ import annotations

import argparse
import importlib


def _runner(name: str):  # type: ignore[no-untyped-def]
    def run(args: argparse.Namespace) -> int:
        return int(importlib.import_module(f"chainrule.cli.commands.{name}").run(args))

    return run


train = _runner("train")
evaluate = _runner("evaluate")
predict = _runner("predict")
inspect = _runner("inspect_model")
gradcheck = _runner("gradcheck")
lr_find = _runner("lr_find")
demo = _runner("demo")
export = _runner("export")
