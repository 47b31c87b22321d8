"""``chainrule demo``: backpropagation learning XOR, step by step, with the raw engine."""

from __future__ import annotations

import argparse

import numpy as np


def run(args: argparse.Namespace) -> int:
    """Train a 2-4-1 tanh/sigmoid network on XOR by plain gradient descent; print the loss."""
    from chainrule.cli.common import check_seed

    check_seed(args.seed)
    import chainrule as cr

    rng = np.random.default_rng(args.seed)
    x = cr.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
    y = cr.tensor([[0], [1], [1], [0]], dtype="float32")
    w1 = cr.tensor(rng.normal(0, 1, (2, 4)), dtype="float32", requires_grad=True)
    b1 = cr.tensor(np.zeros(4), dtype="float32", requires_grad=True)
    w2 = cr.tensor(rng.normal(0, 1, (4, 1)), dtype="float32", requires_grad=True)
    b2 = cr.tensor(np.zeros(1), dtype="float32", requires_grad=True)
    every = max(1, args.steps // 10)
    for step in range(args.steps + 1):
        out = ((x @ w1 + b1).tanh() @ w2 + b2).sigmoid()
        loss = ((out - y) ** 2).mean()
        loss.backward()
        with cr.no_grad():
            for p in (w1, b1, w2, b2):
                p.data -= args.lr * p.grad
                p.zero_grad()
        if step % every == 0:
            print(f"step {step:5d}  loss {loss.item():.5f}")
    print("outputs:", np.round(out.data.ravel(), 3), "targets:", y.data.ravel())
    return 0
