"""The ``chainrule`` command line (placeholder until the command-line issue lands)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def _demo(args: argparse.Namespace) -> int:
    """Train a 2-4-1 network on XOR by plain gradient descent and print the loss falling."""
    import numpy as np

    import chainrule as cr

    rng = np.random.default_rng(args.seed)
    x = cr.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
    y = cr.tensor([[0], [1], [1], [0]], dtype="float32")
    w1 = cr.tensor(rng.normal(0, 1, (2, 4)), dtype="float32", requires_grad=True)
    b1 = cr.tensor(np.zeros(4), dtype="float32", requires_grad=True)
    w2 = cr.tensor(rng.normal(0, 1, (4, 1)), dtype="float32", requires_grad=True)
    b2 = cr.tensor(np.zeros(1), dtype="float32", requires_grad=True)
    for step in range(args.steps + 1):
        out = ((x @ w1 + b1).tanh() @ w2 + b2).sigmoid()
        loss = ((out - y) ** 2).mean()
        loss.backward()
        with cr.no_grad():
            for p in (w1, b1, w2, b2):
                p.data -= args.lr * p.grad
                p.zero_grad()
        if step % (args.steps // 10) == 0:
            print(f"step {step:5d}  loss {loss.item():.5f}")
    print("outputs:", np.round(out.data.ravel(), 3), "targets:", y.data.ravel())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``chainrule`` command."""
    parser = argparse.ArgumentParser(prog="chainrule", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a tiny network on XOR and watch the loss fall")
    demo.add_argument("--steps", type=int, default=2000)
    demo.add_argument("--lr", type=float, default=1.0)
    demo.add_argument("--seed", type=int, default=1)
    demo.set_defaults(run=_demo)
    args = parser.parse_args(argv)
    return int(args.run(args))
