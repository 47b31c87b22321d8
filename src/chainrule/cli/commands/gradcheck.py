"""``chainrule gradcheck``: compare a network's backpropagated gradients with finite differences."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

# In float64 with eps=1e-6, a right gradient agrees to about 1e-8 absolute / 1e-6 relative.
ATOL, RTOL = 1e-7, 1e-4


def _network(args: argparse.Namespace) -> tuple[Any, Any, int]:
    """The model to check (float64) with the shape of one input (its size, or ``(C, H, W)``
    for a CNN) and the number of classes."""
    from chainrule import nn

    if args.model:
        from chainrule import load

        loaded = load(args.model)
        model = loaded.model
        linears = [p for n, p in model.named_parameters() if n.endswith("weight") and p.ndim == 2]
        shape = (loaded.preprocessing or {}).get("input_shape")  # a CNN takes images as images
        n_in = tuple(shape) if shape else linears[0].shape[1]
        return model.astype(np.float64), n_in, linears[-1].shape[0]
    model = nn.mlp(
        args.inputs,
        args.hidden or [32],
        args.classes,
        args.activation or "tanh",
        args.dropout or 0.0,
        bool(args.batch_norm),
        rng=args.seed,
    )
    return model.astype(np.float64), args.inputs, args.classes


def run(args: argparse.Namespace) -> int:
    """Report the worst relative error per layer; exit 1 if any layer's gradient is wrong."""
    from chainrule.cli.common import check_seed

    check_seed(args.seed)
    from chainrule import losses, no_grad
    from chainrule.autodiff.tensor import Tensor

    model, n_in, n_classes = _network(args)
    rng = np.random.default_rng(args.seed)
    one = n_in if isinstance(n_in, tuple) else (n_in,)
    x = Tensor(rng.standard_normal((max(args.samples, 2), *one)))
    y = rng.integers(0, n_classes, len(x.data))
    model.train()  # batch statistics and dropout included; dropout masks are replayed below
    generators = [
        m.rng for m in model.modules() if isinstance(getattr(m, "rng", None), np.random.Generator)
    ]
    states = [g.bit_generator.state for g in generators]

    def loss() -> Any:
        for g, s in zip(generators, states):
            g.bit_generator.state = s
        return losses.cross_entropy(model(x), y)

    model.zero_grad()
    loss().backward()
    eps, rows = 1e-6, []
    for name, p in model.named_parameters():
        flat = p.data.reshape(-1)
        picks = rng.choice(flat.size, size=min(flat.size, 12), replace=False)
        worst = diff = 0.0
        ok = True
        for k in picks:
            original = flat[k]
            with no_grad():
                flat[k] = original + eps
                plus = loss().item()
                flat[k] = original - eps
                minus = loss().item()
            flat[k] = original
            numeric, analytic = (plus - minus) / (2 * eps), float(p.grad.reshape(-1)[k])
            gap = abs(numeric - analytic)
            ok = ok and gap <= ATOL + RTOL * abs(numeric)
            diff = max(diff, gap)
            worst = max(worst, gap / max(abs(numeric), abs(analytic), 1e-12))
        rows.append((name, tuple(p.shape), len(picks), worst, diff, ok))
    print(
        f"gradient check of {model.__class__.__name__} ({len(x.data)} samples, float64, "
        f"central differences, eps={eps:g})"
    )
    header = ("parameter", "shape", "checked", "worst rel. error", "max abs. diff")
    print(f"{header[0]:<22}{header[1]:<14}{header[2]:>8}  {header[3]:>16}  {header[4]:>13}")
    for name, shape, count, worst, diff, ok in rows:
        flag = "ok" if ok else "WRONG"
        dims = "x".join(map(str, shape))
        print(f"{name:<22}{dims:<14}{count:>8}  {worst:16.2e}  {diff:13.2e}  {flag}")
    print(
        f"(ok: |analytic - numeric| <= {ATOL:g} + {RTOL:g} * |numeric|; a gradient that is "
        "truly 0,\n such as a bias followed by batch normalization, shows a large relative "
        "error of noise)"
    )
    bad = [r for r in rows if not r[5]]
    print("all gradients agree" if not bad else f"{len(bad)} parameter(s) disagree")
    return 1 if bad else 0
