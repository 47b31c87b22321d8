"""``chainrule predict``: classify images or .npy arrays with a saved model."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.cli.user_warnings import warnings_in_words
from chainrule.errors import ChainruleError


def run(args: argparse.Namespace) -> int:
    """Print the predicted class and its probability for every input.

    A file that cannot be read is reported on stderr (and the exit status is 2) without
    hiding the predictions for the other files.
    """
    with warnings_in_words("predict"):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from chainrule import load, no_grad
    from chainrule.autodiff.tensor import Tensor
    from chainrule.cli.commands.outputs import check_scores
    from chainrule.cli.commands.text_use import predict_text, refuse_text_flags
    from chainrule.cli.common import input_features, preprocess, raw_input_note
    from chainrule.cli.images import load_input
    from chainrule.cli.text import is_text_model
    from chainrule.errors import ConfigError

    loaded = load(args.model)
    from chainrule.cli.audio import is_audio

    if is_audio(loaded.preprocessing):
        return _audio(args, loaded)
    if is_text_model(loaded):
        return predict_text(args, loaded)
    refuse_text_flags(args, "predict")
    if not args.inputs:
        raise ConfigError("nothing to predict: give image or .npy files")
    raw_input_note("predict", loaded)
    pre = loaded.preprocessing or {}
    n_features = input_features(loaded)
    names = loaded.class_names
    invert = getattr(args, "invert", None) or "auto"
    results: list[dict[str, Any]] = []
    failed: list[str] = []
    for name in args.inputs:
        warn: list[str] = []
        try:
            rows = preprocess(load_input(Path(name), pre, n_features, invert, warn), pre)
            with no_grad():
                probs = loaded.model(Tensor(rows)).softmax(axis=-1).data
            labels = [name if len(probs) == 1 else f"{name}[{i}]" for i in range(len(probs))]
            check_scores(probs, labels)
        except (ChainruleError, OSError) as err:
            failed.append(f"chainrule predict: error: {' '.join(str(err).split())}")
            continue
        finally:
            for text in warn:
                print(f"chainrule predict: warning: {text}", file=sys.stderr)
        results.extend(_ranked(probs, labels, names, args.top))
    _show(args, results)
    for line in failed:
        print(line, file=sys.stderr)
    return 2 if failed else 0


def _ranked(probs: np.ndarray, labels: list[str], names: Any, top: int) -> list[dict[str, Any]]:
    results = []
    for label, p in zip(labels, probs):
        order = np.argsort(-p, kind="stable")[:top]
        best = [
            {
                "class": names[k] if names and k < len(names) else str(k),
                "index": int(k),
                "probability": float(p[k]),
            }
            for k in order
        ]
        results.append({"input": label, **best[0], "top": best})
    return results


def _audio(args: argparse.Namespace, loaded: Any) -> int:
    """Predictions for .wav files and folders of them (every .wav inside, recursively)."""
    from chainrule import no_grad
    from chainrule.autodiff.tensor import Tensor
    from chainrule.cli.audio import audio_inputs
    from chainrule.cli.commands.outputs import check_scores

    results: list[dict[str, Any]] = []
    failed: list[str] = []
    for name in args.inputs:
        try:
            x, labels = audio_inputs([Path(name)], loaded.preprocessing)
            with no_grad():
                loaded.model.eval()
                probs = np.concatenate(
                    [loaded.model(Tensor(x[i : i + 256])).softmax(axis=-1).data
                     for i in range(0, len(x), 256)]
                )  # fmt: skip
            check_scores(probs, labels)
        except (ChainruleError, OSError) as err:
            failed.append(f"chainrule predict: error: {' '.join(str(err).split())}")
            continue
        results.extend(_ranked(probs, labels, loaded.class_names, args.top))
    _show(args, results)
    for line in failed:
        print(line, file=sys.stderr)
    return 2 if failed else 0


def _show(args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    if args.json:
        print(json.dumps(results))
    else:
        for r in results:
            extra = ", ".join(f"{t['class']} {t['probability']:.3f}" for t in r["top"][1:])
            print(
                f"{r['input']}: {r['class']} ({r['probability']:.3f})"
                + (f"  [{extra}]" if extra else "")
            )
