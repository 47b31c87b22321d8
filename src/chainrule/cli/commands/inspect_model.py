"""``chainrule inspect``: what a saved model is, how it was trained and how well it did."""

from __future__ import annotations

import argparse
import json


def run(args: argparse.Namespace) -> int:
    """Print layers, shapes, parameter counts, training settings and final metrics."""
    from chainrule import load
    from chainrule.cli.preprocessing import describe
    from chainrule.cli.text import is_text_model, layer_shapes

    loaded = load(args.model)
    model = loaded.model
    shapes = layer_shapes(model) if is_text_model(loaded) else []
    input_shape = (loaded.preprocessing or {}).get("input_shape")
    if input_shape and not shapes:  # a CNN: shapes after each layer for N images
        from chainrule.cli.cnn import image_layer_shapes

        shapes = image_layer_shapes(model, input_shape)
    params = [(name, list(p.shape), int(p.size)) for name, p in model.named_parameters()]
    buffers = [(name, list(b.shape)) for name, b in model.named_buffers()]
    info = {
        "path": str(loaded.path),
        "architecture": repr(model),
        "parameters": [{"name": n, "shape": s, "count": c} for n, s, c in params],
        "total_parameters": sum(c for _, _, c in params),
        "buffers": [{"name": n, "shape": s} for n, s in buffers],
        "dtype": str(loaded.dtype),
        "class_names": loaded.class_names,
        "input": {k: v for k, v in (loaded.preprocessing or {}).items() if k == "image_shape"},
        "preprocessing": describe(loaded.preprocessing),
        "layer_shapes": [{"layer": n, "output": s} for n, s in shapes],
        "training": loaded.hyperparameters,
        "metrics": loaded.metrics,
        "metadata": loaded.metadata,
        "created": loaded.created,
        "chainrule_version": loaded.chainrule_version,
    }
    if args.json:
        print(json.dumps(info, default=str))
        return 0
    print(f"model {info['path']} (chainrule {info['chainrule_version']}, {info['created']})")
    print(info["architecture"])
    if shapes:
        images = f"N images of {'x'.join(map(str, input_shape or []))}"
        what = images if input_shape else "N texts of T tokens"
        print(f"\nshapes after each layer ({what}):")
        for layer, out in shapes:
            print(f"  {layer:<40}{out}")
    print(f"\n{'parameter':<24}{'shape':<16}{'count':>10}")
    for n, s, c in params:
        print(f"{n:<24}{'x'.join(map(str, s)):<16}{c:>10,}")
    print(f"{'total':<40}{info['total_parameters']:>10,}  ({info['dtype']})")
    for n, s in buffers:
        print(f"buffer {n}: {'x'.join(map(str, s))}")
    if info["input"]:
        print(f"\ninput images: {'x'.join(map(str, info['input']['image_shape']))}")
    print(f"preprocessing: {info['preprocessing']}")
    if loaded.class_names:
        print(f"classes: {', '.join(loaded.class_names)}")
    if loaded.hyperparameters:
        print("\ntraining settings:")
        for k, v in loaded.hyperparameters.items():
            print(f"  {k}: {v}")
    if loaded.metrics:
        best = (loaded.metadata or {}).get("best_epoch")
        print(
            f"\nmetrics of epoch {best} (the best; its weights were kept):"
            if best
            else "\nfinal metrics:"
        )
        for k, v in loaded.metrics.items():
            print(f"  {k}: {v:.4f}" if isinstance(v, float) else f"  {k}: {v}")
    return 0
