"""Run under mpirun by the tests: train a small MLP on the bundled digits, data-parallel.

Usage: python fit_script.py OUT_DIR [--batch-norm] [--sync-bn] [--epochs N] [--batch B]
Rank 0 writes OUT_DIR/weights.npz (final parameters and buffers) and OUT_DIR/history.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule import distributed, nn, optim
from chainrule.data import load_digits


class Fail(cr.callbacks.Callback):
    """Raise at the end of the first epoch (uncaught: the excepthook must end the job)."""

    def on_epoch_end(self, trainer: object, epoch: int, logs: object) -> None:
        raise RuntimeError("library user's error")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batch-norm", action="store_true")
    parser.add_argument("--sync-bn", action="store_true")
    parser.add_argument("--early-stopping", action="store_true")
    parser.add_argument("--fail-rank", type=int, default=-1)
    args = parser.parse_args()
    (x, y), (xv, yv) = load_digits(seed=0)
    x, xv = x.reshape(len(x), -1), xv.reshape(len(xv), -1)
    # Each rank starts from its own random weights: Trainer(distributed=True) must give every
    # rank rank 0's (seed 0, the single process's) before the first step.
    rng = np.random.default_rng(distributed.rank())
    layers: list[nn.Module] = [nn.Linear(64, 32, rng=rng)]
    if args.batch_norm:
        layers.append(nn.BatchNorm1d(32))
    layers += [nn.ReLU(), nn.Linear(32, 10, rng=rng)]
    model = nn.Sequential(*layers)
    if args.sync_bn:
        distributed.sync_batch_norm(model)
    callbacks: list[cr.callbacks.Callback] = []
    if args.fail_rank == distributed.rank():
        callbacks.append(Fail())
    if args.early_stopping:
        callbacks.append(cr.callbacks.EarlyStopping(monitor="val_loss", patience=1))
    trainer = cr.Trainer(
        model,
        nn.CrossEntropyLoss(),
        optim.SGD(model.parameters(), lr=0.2, momentum=0.9),
        callbacks=callbacks,
        distributed=True,
    )
    history = trainer.fit(
        x, y, epochs=args.epochs, batch_size=args.batch, validation_data=(xv, yv), seed=1
    )
    if distributed.is_main():
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        np.savez(out / "weights.npz", **model.state_dict())
        (out / "history.json").write_text(json.dumps(history.to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
