"""``evaluate`` and ``predict`` for text models: the same inputs ``train`` reads, or strings.

The model file's ``TextEncoder`` (tokenizer, vocabulary, length cut) encodes every input, so
a text is seen exactly as in training.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ConfigError

_SOURCES = ("text_dir", "text_csv", "tagged")


def _given_source(args: argparse.Namespace) -> tuple[str, str] | None:
    given = [(k, getattr(args, k)) for k in _SOURCES if getattr(args, k, None) is not None]
    if len(given) > 1:
        raise ConfigError("give one of --text-dir, --text-csv, --tagged")
    return given[0] if given else None


def refuse_text_flags(args: argparse.Namespace, command: str) -> None:
    """ConfigError when text inputs are given to a model that does not read text."""
    if _given_source(args) or getattr(args, "text", None):
        raise ConfigError(
            "this model does not read text (it was not trained with --text-dir, --text-csv "
            "or --tagged); give it the inputs it was trained on"
        )


def _check_kind(loaded: Any, kind: str) -> None:
    tagger = loaded.preprocessing.get("kind") == "tagged"
    if tagger != (kind == "tagged"):
        what = "a tagger (trained with --tagged)" if tagger else "a text classifier"
        flag = "--tagged FILE" if tagger else "--text-dir DIR or --text-csv FILE"
        raise ConfigError(f"the model is {what}; give it {flag}")


def _labels(data: Any, names: list[str]) -> Any:
    """The data's labels renumbered to the model's classes (ConfigError for unknown ones)."""
    if data.tagged:
        unknown = sorted({t for s in data.labels for t in s} - set(names))
        data.class_names = names
        if unknown:
            print(
                f"chainrule evaluate: note: {len(unknown)} tag(s) the model does not know "
                f"({', '.join(unknown[:5])}); their tokens count as wrong",
                file=sys.stderr,
            )
        return data
    index = {n: k for k, n in enumerate(names)}
    own = [data.class_names[int(k)] for k in data.labels]
    unknown = sorted(set(own) - set(index))
    if unknown:
        raise ConfigError(
            f"{data.name}: {len(unknown)} class(es) the model does not know "
            f"({', '.join(map(repr, unknown[:5]))}); its classes are {', '.join(names[:20])}"
        )
    data.labels = np.array([index[n] for n in own], dtype=np.int64)
    data.class_names = names
    return data


def evaluate_text(args: argparse.Namespace, loaded: Any) -> int:
    """Scores on all of the given data, or on the held-out part of the training data."""
    from chainrule import metrics
    from chainrule.cli import text

    encoder = text.TextEncoder.from_dict(loaded.preprocessing)
    source = (loaded.metadata or {}).get("source") or {}
    given = _given_source(args)
    rows = None
    if given is not None:
        kind, path = given
        _check_kind(loaded, kind)
        columns = (args.text_column or source.get("text_column"),
                   args.label_column or source.get("label_column"))  # fmt: skip
        data = text.load_text_data(kind, path, *columns)
        what = "sentences" if data.tagged else "texts"
    else:
        if source.get("kind") not in _SOURCES:
            raise ConfigError("say which data to evaluate on: --text-dir, --text-csv or --tagged")
        data = text.load_text_data(source["kind"], source["path"], source.get("text_column"),
                                   source.get("label_column"))  # fmt: skip
        _, rows = text.text_split(data, int(source.get("seed", 0)))
        what = f"held-out {'sentences' if data.tagged else 'texts'} (the split of training)"
    data = _labels(data, loaded.class_names or data.class_names)
    ids, y = text.encode_data(data, encoder, rows)
    names = data.class_names
    result = text.evaluate_text_model(loaded.model, ids, y, len(names))
    truth = y[y >= 0] if data.tagged else y
    if args.json:
        result.pop("predicted")
        print(json.dumps({"dataset": data.name, "samples": len(ids), "class_names": names,
                          **result}))  # fmt: skip
        return 0
    tokens = f" ({result['tokens']} tokens)" if data.tagged else ""
    print(f"{data.name}: accuracy {result['accuracy']:.4f} on {len(ids)} {what}{tokens}\n")
    print(metrics.classification_report(truth, result["predicted"], class_names=names))
    if len(names) <= 20:
        print("confusion matrix (rows: true class, columns: predicted)")
        width = max(len(str(v)) for row in result["confusion_matrix"] for v in row) + 1
        for label, row in zip(names, result["confusion_matrix"]):
            print(f"{label[:12]:>12} " + "".join(f"{v:>{width}}" for v in row))
    return 0


def _inputs(args: argparse.Namespace, tagger: bool) -> list[tuple[str, Any]]:
    """(name, text or word list) of every input: --text, files, --text-dir/--text-csv/--tagged."""
    from chainrule.data.text import load_tagged, load_text_csv

    items: list[tuple[str, Any]] = []
    for k, literal in enumerate(args.text or []):
        items.append((f"text {k + 1}" if len(args.text) > 1 else "text", literal))
    for name in args.inputs:
        content = Path(name).read_bytes().decode("utf-8", errors="replace")
        if tagger:
            lines = [ln for ln in content.splitlines() if ln.strip()]
            items += [(f"{name}:{i + 1}", ln) for i, ln in enumerate(lines)]
        else:
            items.append((name, content))
    given = _given_source(args)
    if given is not None:
        kind, path = given
        if kind == "tagged":
            words, _ = load_tagged(path)
            items += [(f"{path}[{i}]", s) for i, s in enumerate(words)]
        elif kind == "text_dir":
            folder = Path(path)
            if not folder.is_dir():
                raise ConfigError(f"--text-dir {folder}: no such folder")
            files = sorted(f for f in folder.rglob("*.txt") if f.is_file())
            if not files:
                raise ConfigError(f"--text-dir {folder}: no .txt files in it")
            items += [(str(f), f.read_bytes().decode("utf-8", errors="replace")) for f in files]
        else:
            column = args.text_column or "text"  # labels are not needed to predict
            texts, _, _ = load_text_csv(path, column, args.label_column or column)
            items += [(f"{path}[{i}]", t) for i, t in enumerate(texts)]
    if not items:
        raise ConfigError('nothing to predict: give --text "..." or files')
    return items


def predict_text(args: argparse.Namespace, loaded: Any) -> int:
    """Print each text's class (classifier) or each word/TAG (tagger)."""
    from chainrule.cli import text

    encoder = text.TextEncoder.from_dict(loaded.preprocessing)
    tagger = encoder.kind == "tagged"
    names = loaded.class_names or []
    items = _inputs(args, tagger)
    words = [s if isinstance(s, list) else encoder.tokens(s) for _, s in items]
    empty = [name for (name, _), w in zip(items, words) if not w]
    if empty:
        raise ConfigError(f"{empty[0]}: the text is empty (no tokens to read); give some text")
    ids, lengths = encoder.encode(words)
    probs = text.predict_scores(loaded.model, ids)
    results: list[dict[str, Any]] = []
    for (name, _), w, p, n in zip(items, words, probs, lengths):
        if tagger:
            best = p[: len(w)].argmax(axis=-1)
            tags = [names[k] if k < len(names) else str(k) for k in best]
            results.append({"input": name, "tokens": w, "tags": tags})
            continue
        order = np.argsort(-p, kind="stable")[: args.top]
        top = [{"class": names[k] if k < len(names) else str(k), "index": int(k),
                "probability": float(p[k])} for k in order]  # fmt: skip
        results.append({"input": name, **top[0], "top": top, "tokens_read": int(n)})
    if args.json:
        print(json.dumps(results))
        return 0
    for r in results:
        if tagger:
            print(" ".join(f"{w}/{t}" for w, t in zip(r["tokens"], r["tags"])))
            continue
        extra = ", ".join(f"{t['class']} {t['probability']:.3f}" for t in r["top"][1:])
        print(f"{r['input']}: {r['class']} ({r['probability']:.3f})"
              + (f"  [{extra}]" if extra else ""))  # fmt: skip
    return 0
