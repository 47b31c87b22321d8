"""``chainrule predict``: classify images or .npy arrays with a saved model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np


def run(args: argparse.Namespace) -> int:
    """Print the predicted class and its probability for every input."""
    from chainrule import load, no_grad
    from chainrule.autodiff.tensor import Tensor
    from chainrule.cli.common import preprocess
    from chainrule.cli.images import load_input

    loaded = load(args.model)
    pre = loaded.preprocessing or {}
    n_features = len(pre["mean"])
    image_shape = tuple(pre["image_shape"]) if pre.get("image_shape") else None
    names = loaded.class_names
    results: list[dict[str, Any]] = []
    for name in args.inputs:
        rows = preprocess(load_input(Path(name), image_shape, n_features), pre)
        with no_grad():
            probs = loaded.model(Tensor(rows)).softmax(axis=-1).data
        for i, p in enumerate(probs):
            order = np.argsort(-p, kind="stable")[: args.top]
            best = [
                {
                    "class": names[k] if names else str(k),
                    "index": int(k),
                    "probability": float(p[k]),
                }
                for k in order
            ]
            label = name if len(probs) == 1 else f"{name}[{i}]"
            results.append({"input": label, **best[0], "top": best})
    if args.json:
        print(json.dumps(results))
    else:
        for r in results:
            extra = ", ".join(f"{t['class']} {t['probability']:.3f}" for t in r["top"][1:])
            print(
                f"{r['input']}: {r['class']} ({r['probability']:.3f})"
                + (f"  [{extra}]" if extra else "")
            )
    return 0
