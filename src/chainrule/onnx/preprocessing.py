"""The preprocessing a model file stores, as the first nodes of the graph (raw inputs in).

``chainrule train`` stores how its inputs were made (``cli/preprocessing.py``): images scaled
to [0, 1] and normalised with one mean and standard deviation, or tabular features
standardised one by one. The exported graph starts with the same arithmetic, so it takes what
``chainrule predict`` takes: pixel values 0-255 (as in a uint8 ``.npy``) or raw feature rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ExportError
from chainrule.onnx.graph import Graph, Value

__all__ = ["preprocessing_nodes", "describe_input", "PIXEL_MAX"]

#: Raw pixel values run 0..PIXEL_MAX (8-bit images), divided by it as ``predict`` does.
PIXEL_MAX = 255.0


def _statistics(pre: dict[str, Any], features: Any) -> tuple[np.ndarray, np.ndarray]:
    try:
        mean = np.asarray(pre["mean"], dtype=np.float64)
        std = np.asarray(pre["std"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise ExportError("preprocessing: expected numbers for 'mean' and 'std'") from None
    if mean.ndim > 1 or std.shape != mean.shape or not np.isfinite(mean).all():
        raise ExportError(f"preprocessing: mean and std shapes {mean.shape}, {std.shape} differ")
    if not (np.isfinite(std).all() and (std > 0).all()):
        raise ExportError("preprocessing: every std must be a positive finite number")
    if mean.ndim == 1 and isinstance(features, int) and mean.shape[0] != features:
        raise ExportError(f"preprocessing: {mean.shape[0]} means for inputs of {features} features")
    return mean, std


def preprocessing_nodes(graph: Graph, x: Value, pre: dict[str, Any] | None) -> Value:
    """``(x / 255 - mean) / std`` for images, ``(x - mean) / std`` per feature for tables;
    ``x`` itself when nothing is stored."""
    if not pre or "mean" not in pre:
        return x
    if x.dtype.kind != "f":
        raise ExportError(f"preprocessing applies to float inputs, the example is {x.dtype}")
    mean, std = _statistics(pre, x.shape[-1] if x.rank else None)
    with graph.scope("preprocess"):
        if pre.get("kind") == "image":
            x = graph.op("Div", [x, graph.scalar(PIXEL_MAX, "pixel_max", x.dtype)], x.shape)
        x = graph.op("Sub", [x, graph.constant(mean, "mean", x.dtype)], x.shape)
        return graph.op("Div", [x, graph.constant(std, "std", x.dtype)], x.shape)  # type: ignore[no-any-return]


def describe_input(pre: dict[str, Any] | None, x: Value) -> str:
    """What the graph's input holds, in words (stored in the file's doc string)."""
    shape = "(" + ", ".join("N" if d == "batch" else str(d) for d in x.shape) + ")"
    if not pre or "mean" not in pre:
        return f"{x.dtype} inputs of shape {shape}, used as given (no preprocessing stored)"
    if pre.get("kind") == "image":
        size = "x".join(str(d) for d in pre.get("image_shape", []))
        return (
            f"{x.dtype} pixel values 0-{PIXEL_MAX:g} of shape {shape} ({size} images), "
            f"normalised in the graph: (x / {PIXEL_MAX:g} - {float(pre['mean']):.6g}) / "
            f"{float(pre['std']):.6g}"
        )
    return f"{x.dtype} raw feature rows of shape {shape}, standardised in the graph per feature"
