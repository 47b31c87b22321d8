"""Run under mpirun by the tests: ``chainrule train`` where one rank fails mid-epoch.

Usage: python cli_fault.py RANK EPOCH raise|kill TRAIN_ARGS...
Rank RANK raises a RuntimeError (or sends itself SIGKILL) at the third batch of 0-based epoch
EPOCH; every other rank, and every other epoch, trains as ``chainrule train TRAIN_ARGS``.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from chainrule.cli import main
from chainrule.training.trainer import Trainer

calls: dict[int, int] = {}


def main_with_failure(rank: int, epoch: int, how: str, args: list[str]) -> int:
    """``chainrule train ARGS`` where rank ``rank`` fails at epoch ``epoch``'s third batch."""
    me = int(os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0")))
    original = Trainer._step

    def failing_step(self: Trainer, xb: Any, yb: Any, health: Any) -> Any:
        calls[self.epoch] = calls.get(self.epoch, 0) + 1
        if me == rank and self.epoch == epoch and calls[self.epoch] == 3:
            if how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError(f"injected failure in epoch {epoch + 1}")
        return original(self, xb, yb, health)

    Trainer._step = failing_step  # type: ignore[method-assign]
    return main(["train", *args])


if __name__ == "__main__":
    sys.exit(main_with_failure(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]))
