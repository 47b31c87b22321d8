"""``chainrule export``: a saved model (or a run folder's) as an ONNX file, checked and run."""

from __future__ import annotations

import argparse
import importlib.util
from typing import Any

import numpy as np

#: Token ids in the example a sequence model is exported with (the steps stay dynamic).
_EXAMPLE_STEPS = 8


def _example(loaded: Any) -> np.ndarray:
    """Two raw inputs of the kind the model takes (what ``chainrule predict`` reads)."""
    from chainrule.cli.common import input_features
    from chainrule.nn import Embedding, Sequential
    from chainrule.nn.sequence_models import SequenceTagger, TextClassifier

    rng = np.random.default_rng(0)
    first = loaded.model
    while isinstance(first, Sequential) and len(first):
        first = first[0]
    if isinstance(first, (TextClassifier, SequenceTagger, Embedding)):
        vocab = (
            first.num_embeddings if isinstance(first, Embedding) else first.embedding.num_embeddings
        )
        return rng.integers(1, vocab, size=(2, _EXAMPLE_STEPS))
    pre = loaded.preprocessing or {}
    n = input_features(loaded)
    if pre.get("kind") == "image":  # pixel values 0-255; a CNN keeps its (1, H, W) images
        shape = tuple(pre.get("input_shape") or (n,))
        return rng.uniform(0.0, 255.0, size=(2, *shape)).astype(np.float32)
    if "mean" in pre:
        mean, std = np.asarray(pre["mean"]), np.asarray(pre["std"])
        return (mean + std * rng.standard_normal((2, n))).astype(np.float32)
    return rng.standard_normal((2, n)).astype(np.float32)


def run(args: argparse.Namespace) -> int:
    """Write the ONNX file; verify it with ONNX Runtime when that is installed."""
    from chainrule import load
    from chainrule.onnx import export

    loaded = load(args.model)
    example = _example(loaded)
    verify = not args.no_verify and importlib.util.find_spec("onnxruntime") is not None
    path = export(
        loaded.model,
        args.output,
        example,
        opset=args.opset,
        preprocessing=loaded.preprocessing,
        class_names=loaded.class_names,
        probabilities=bool(loaded.class_names),
        verify=verify,
    )
    outputs = "output (logits) and probabilities" if loaded.class_names else "output"
    how = (
        "checked by onnx.checker; ONNX Runtime gives chainrule's outputs on an example"
        if verify
        else "checked by onnx.checker (onnxruntime not installed: not run)"
    )
    if example.dtype.kind == "i":
        takes = "token ids (N, steps)"
    elif (loaded.preprocessing or {}).get("kind") == "image":
        takes = f"float32 pixel values 0-255 {('N', *example.shape[1:])}".replace("'", "")
    else:
        takes = f"raw float32 rows (N, {example.shape[1]})"
    print(f"wrote {path}: input 'input' {takes}, outputs {outputs}; {how}")
    return 0
