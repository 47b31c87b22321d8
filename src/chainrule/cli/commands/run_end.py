"""How a training run ends, the same for every data kind: evaluate, write the run folder's
final files in one switch, say how it ended, and give the exit status."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from chainrule.cli.commands.outputs import what_was_kept, write_history_csv
from chainrule.cli.commands.run_folder import deferred_interrupt, staged_outputs
from chainrule.cli.config import TrainConfig
from chainrule.errors import ConfigError

__all__ = ["EXIT_DIVERGED", "EXIT_INTERRUPTED", "finish_run"]

#: Exit statuses besides 0 and 2 (user errors): training stopped on a NaN, infinite or
#: diverging loss (the folder is complete, with the last good weights); Ctrl-C (as shells do).
EXIT_DIVERGED, EXIT_INTERRUPTED = 3, 130


def _final_metrics(history: Any, stopper: Any) -> tuple[dict[str, Any], int | None]:
    """The metrics of the epoch whose weights the model holds (the best one after early
    stopping restored it) and that epoch's index in the history (None: the last)."""
    index = None
    best = getattr(stopper, "best_epoch", None)
    if best is not None and best in history.epochs:
        index = history.epochs.index(best)
    chosen = {
        k: v[-1 if index is None else index]
        for k, v in history.history.items()
        if v and k != "seconds" and len(v) == len(history.epochs)
    }
    return chosen, index


def finish_run(
    args: argparse.Namespace,
    config: TrainConfig,
    run_dir: Path,
    model: Any,
    history: Any,
    stopper: Any,
    *,
    evaluate: Any,
    preprocessing: dict[str, Any],
    data: Any,
    report: Any,
    unit: Any,
) -> int:
    """Evaluate, then write the model, history, plots and report in one switch of the folder;
    say how the run ended and return its exit status (0, EXIT_DIVERGED or EXIT_INTERRUPTED).

    ``evaluate()`` gives the held-out scores, ``report(staging, test)`` draws the plots and
    report.md, ``unit`` names what was scored (a string, or ``unit(test)``).
    """
    from chainrule.io import save
    from chainrule.io.atomic import atomic_write_json

    with deferred_interrupt() as held:  # Ctrl-C now waits until the folder is switched
        test = evaluate()
        final, best_index = _final_metrics(history, stopper)
        final["test_accuracy"] = test["accuracy"]
        with staged_outputs(run_dir) as staging:
            save(
                model,
                staging / "model",
                preprocessing=preprocessing,
                class_names=data.class_names,
                hyperparameters=config.to_dict(),
                metrics={
                    k: v for k, v in final.items() if isinstance(v, float) and math.isfinite(v)
                },
                metadata={
                    "dataset": data.name,
                    "source": data.source,
                    "epochs_run": len(history),
                    "best_epoch": None if best_index is None else history.epochs[best_index] + 1,
                    "stop_reason": history.stop_reason,
                },
            )
            write_history_csv(staging / "history.csv", history)
            atomic_write_json(staging / "history.json", history.to_dict())
            if not args.no_plots:
                try:
                    report(staging, test)
                except ConfigError as err:  # matplotlib missing: the run itself is complete
                    print(f"chainrule train: plots skipped: {err}", file=sys.stderr)
    interrupted = history.interrupted or held
    if interrupted:
        print(
            f"chainrule train: interrupted by Ctrl-C; saved in {run_dir}: {what_was_kept(history)}",
            file=sys.stderr,
        )
    elif history.ended_by in ("non-finite", "diverged"):
        print(f"chainrule train: stopped: {history.stop_reason}", file=sys.stderr)
    what = unit(test) if callable(unit) else unit
    print(f"test accuracy {test['accuracy']:.4f} ({data.name}, {what}); run folder {run_dir}")
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_DIVERGED if history.ended_by in ("non-finite", "diverged") else 0
