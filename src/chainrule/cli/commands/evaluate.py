"""``chainrule evaluate``: accuracy, per-class scores and confusion matrix of a saved model."""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from chainrule.cli.commands.outputs import evaluate_model
from chainrule.cli.common import (
    input_features,
    label_order,
    load_dataset,
    preprocess,
    raw_input_note,
    read_csv_rows,
)
from chainrule.cli.user_warnings import warnings_in_words
from chainrule.errors import ConfigError, ShapeError

KNOWN = ("digits", "mnist", "fashion-mnist")


def run(args: argparse.Namespace) -> int:
    """Evaluate on every row of ``--csv``, or on the test split of the model's data set."""
    with warnings_in_words("evaluate"):
        return _run(args)


def _csv_data(path: str, names: list[str] | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Every row of a CSV, labels mapped through the model's class names."""
    x, labels = read_csv_rows(path)
    if names is None:
        names = sorted(set(labels), key=label_order)
    index = {name: k for k, name in enumerate(names)}
    unknown = sorted(set(labels) - set(index), key=label_order)
    if unknown:
        shown = ", ".join(map(repr, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
        raise ConfigError(
            f"{path}: {len(unknown)} label(s) the model does not know ({shown}); its classes "
            f"are {', '.join(names[:20])}{' ...' if len(names) > 20 else ''}"
        )
    return x, np.array([index[s] for s in labels], dtype=np.int64), names


def _default_data(loaded: Any, args: argparse.Namespace) -> tuple[str | None, str | None]:
    """(dataset, data_dir) from the flags, else from where the model's data came from."""
    meta = loaded.metadata or {}
    trained_on, source = meta.get("dataset"), meta.get("source") or {}
    if args.dataset or args.data_dir:
        return args.dataset, args.data_dir
    if isinstance(source, dict) and source.get("kind") == "idx":
        return None, str(source.get("path"))
    if trained_on in KNOWN:
        return trained_on, None
    raise ConfigError(
        f"this model was trained on {trained_on or 'unnamed data'!r}; say which data to "
        "evaluate it on with --csv FILE or --data-dir DIR"
    )


def _run(args: argparse.Namespace) -> int:
    from chainrule import load
    from chainrule.cli.commands.text_use import evaluate_text, refuse_text_flags
    from chainrule.cli.text import is_text_model

    loaded = load(args.model)
    from chainrule.cli.audio import is_audio

    if is_audio(loaded.preprocessing) or getattr(args, "audio_dir", None):
        x, y, names, name = _audio_data(loaded, args)
        result = evaluate_model(loaded.model, x, y, len(names))
        return _print(args, result, x, y, names, name, "recordings")
    if is_text_model(loaded):
        if args.csv or args.dataset or args.data_dir:
            raise ConfigError(
                "this model reads text: give --text-dir, --text-csv or --tagged (or nothing: "
                "the held-out part of its training data)"
            )
        return evaluate_text(args, loaded)
    refuse_text_flags(args, "evaluate")
    raw_input_note("evaluate", loaded)
    if args.csv is not None:
        if args.dataset or args.data_dir:
            raise ConfigError("give --csv or --dataset/--data-dir, not both")
        x_raw, y, names = _csv_data(args.csv, loaded.class_names)
        name = args.csv
    else:
        dataset, data_dir = _default_data(loaded, args)
        data = load_dataset(dataset, data_dir, None)
        x_raw, y, name = data.x_test, data.y_test, data.name
        names = loaded.class_names or data.class_names
        if int(y.max(initial=0)) >= len(names):
            raise ConfigError(
                f"{name}: labels up to {int(y.max())} but the model has {len(names)} classes"
            )
    n_features = input_features(loaded)
    if x_raw.shape[1] != n_features:
        raise ShapeError(
            f"{name}: rows of {x_raw.shape[1]} features, but the model takes {n_features}"
        )
    x = preprocess(x_raw, loaded.preprocessing)
    result = evaluate_model(loaded.model, x, y, len(names))
    return _print(args, result, x, y, names, name, "rows" if args.csv is not None else "")


def _audio_data(loaded: Any, args: argparse.Namespace) -> tuple[Any, Any, list[str], str]:
    """Features and labels of ``--audio-dir`` (default: the test part of the training folder)."""
    from pathlib import Path

    from chainrule.cli.audio import audio_folder_data, is_audio

    if not is_audio(loaded.preprocessing):
        raise ConfigError(f"{loaded.path}: this model was not trained on audio (--audio-dir)")
    if args.dataset or args.data_dir or args.csv:
        raise ConfigError("an audio model is evaluated on --audio-dir DIR (a folder of classes)")
    names = list(loaded.class_names or [])
    folder = getattr(args, "audio_dir", None)
    if folder is None:
        source = (loaded.metadata or {}).get("source") or {}
        if not (source.get("path") and Path(source["path"], "test").is_dir()):
            raise ConfigError(
                "say which recordings to evaluate on with --audio-dir DIR (one subfolder per class)"
            )
        folder = source["path"]
    x, y = audio_folder_data(Path(folder), loaded.preprocessing, names)
    return x, y, names, str(folder)


def _print(
    args: argparse.Namespace, result: dict[str, Any], x: Any, y: Any, names: list[str],
    name: str, what: str,
) -> int:  # fmt: skip
    from chainrule import metrics

    if args.json:
        result.pop("predicted")
        print(json.dumps({"dataset": name, "samples": len(x), "class_names": names, **result}))
        return 0
    what = what or "test samples"
    print(f"{name}: accuracy {result['accuracy']:.4f} on {len(x)} {what}\n")
    print(metrics.classification_report(y, result["predicted"], class_names=names))
    print("confusion matrix (rows: true class, columns: predicted)")
    width = max(len(str(v)) for row in result["confusion_matrix"] for v in row) + 1
    for label, row in zip(names, result["confusion_matrix"]):
        print(f"{label[:12]:>12} " + "".join(f"{v:>{width}}" for v in row))
    return 0
