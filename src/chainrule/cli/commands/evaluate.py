"""``chainrule evaluate``: accuracy, per-class scores and confusion matrix of a saved model."""

from __future__ import annotations

import argparse
import json

from chainrule.cli.commands.train import evaluate_model
from chainrule.cli.common import load_dataset, preprocess
from chainrule.errors import ConfigError


def run(args: argparse.Namespace) -> int:
    """Evaluate on the test split of the model's data set (or the one given by flags)."""
    from chainrule import load, metrics

    loaded = load(args.model)
    trained_on = (loaded.metadata or {}).get("dataset")
    known = ("digits", "mnist", "fashion-mnist")
    if not (args.dataset or args.data_dir or args.csv) and trained_on not in known:
        raise ConfigError(
            f"this model was trained on {trained_on or 'unnamed data'!r}; say which data to "
            "evaluate it on with --csv FILE or --data-dir DIR"
        )
    dataset = args.dataset or (trained_on if trained_on in known else None)
    seed = int((loaded.hyperparameters or {}).get("seed", 0))  # a CSV splits as in training
    data = load_dataset(dataset, args.data_dir, args.csv, seed)
    x = preprocess(data.x_test, loaded.preprocessing)
    names = loaded.class_names or data.class_names
    result = evaluate_model(loaded.model, x, data.y_test, len(names))
    if args.json:
        result.pop("predicted")
        print(json.dumps({"dataset": data.name, "samples": len(x), "class_names": names, **result}))
        return 0
    print(f"{data.name}: accuracy {result['accuracy']:.4f} on {len(x)} test samples\n")
    print(metrics.classification_report(data.y_test, result["predicted"], class_names=names))
    print("confusion matrix (rows: true class, columns: predicted)")
    width = max(len(str(v)) for row in result["confusion_matrix"] for v in row) + 1
    for name, row in zip(names, result["confusion_matrix"]):
        print(f"{name[:12]:>12} " + "".join(f"{v:>{width}}" for v in row))
    return 0
