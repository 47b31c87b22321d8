"""Text on the command line: train -> model files -> reload -> evaluate / predict / inspect.

Tiny data written here: two classes of texts drawn from disjoint word sets (plus shared filler
words), and tagged sentences of a toy grammar, so a small model learns them in seconds and a
wrong encoding at predict time shows as wrong answers.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

import pytest

from chainrule import load
from chainrule.cli import main

SPAM = ["free", "money", "click", "offer", "win", "cash", "prize", "cheap"]
HAM = ["meeting", "linux", "python", "code", "review", "lunch", "project", "team"]
FILLER = ["the", "a", "to", "and", "of", "is"]
TAGS = {"the": "DET", "a": "DET", "cat": "NOUN", "dog": "NOUN", "mat": "NOUN", "sat": "VERB",
        "ran": "VERB", "on": "ADP", "under": "ADP", ".": "."}  # fmt: skip
SMALL = ["--hidden", "12", "--embedding-dim", "8", "--lr", "0.03", "--seed", "1"]


def _text(rng: random.Random, words: list[str]) -> str:
    return " ".join(rng.choice(words + FILLER) for _ in range(rng.randint(4, 12)))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("text")
    rng = random.Random(0)
    for label, words in (("spam", SPAM), ("ham", HAM)):
        (root / "mails" / label).mkdir(parents=True)
        for i in range(40):
            (root / "mails" / label / f"{i}.txt").write_text(_text(rng, words))
    with open(root / "reviews.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "review", "stars"])
        for i in range(80):
            writer.writerow([i, _text(rng, SPAM if i % 2 else HAM), 5 if i % 2 else 1])
    lines = []
    for _ in range(80):
        words = [rng.choice(["the", "a"]), rng.choice(["cat", "dog"]), rng.choice(["sat", "ran"]),
                 rng.choice(["on", "under"]), rng.choice(["the", "a"]), "mat", "."]  # fmt: skip
        lines.append(" ".join(f"{w}/{TAGS[w]}" for w in words))
    (root / "tags.txt").write_text("\n".join(lines) + "\n")
    return root


def _run(capsys: Any, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _error(capsys: Any, text: str, *args: str) -> None:
    code, _, err = _run(capsys, *args)
    assert code == 2, err
    assert text in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_text_dir_train_reload_evaluate_predict(data: Path, tmp_path: Path, capsys: Any) -> None:
    run = tmp_path / "spam"
    code, out, err = _run(capsys, "train", "--text-dir", str(data / "mails"), "--epochs", "8",
                          "--arch", "gru", "--out", str(run), "--quiet", *SMALL)  # fmt: skip
    assert code == 0, err
    assert "test accuracy" in out
    loaded = load(run / "model")
    pre = loaded.preprocessing
    assert pre["kind"] == "text" and pre["tokenizer"] == {"kind": "word", "lowercase": True}
    assert pre["max_length"] == 200 and "free" in pre["vocabulary"]["tokens"]
    assert loaded.class_names == ["ham", "spam"] and loaded.model.arch == "gru"
    assert loaded.hyperparameters["clip_grad"] == 1.0  # the recurrent default
    assert loaded.metadata["source"]["test_fraction"] == 0.2
    # evaluate with no data: the held-out fifth of the training folder, same figure as train
    code, out, err = _run(capsys, "evaluate", str(run / "model"), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["samples"] == 16 and result["accuracy"] == loaded.metrics["test_accuracy"]
    assert result["accuracy"] >= 0.9
    code, out, err = _run(capsys, "predict", str(run / "model"), "--text",
                          "Win FREE cash, click the offer!", "--text", "python code review",
                          "--json")  # fmt: skip
    assert code == 0, err
    assert [r["class"] for r in json.loads(out)] == ["spam", "ham"]
    spam_file = data / "mails" / "spam" / "0.txt"
    code, out, _ = _run(capsys, "predict", str(run / "model"), str(spam_file))
    assert code == 0 and out.startswith(f"{spam_file}: spam")
    code, out, _ = _run(capsys, "inspect", str(run / "model"))
    assert code == 0
    assert "embedding Embedding                     (N, T, 8)" in out
    assert "head Linear (class scores)              (N, 2)" in out
    assert "word tokens" in out


def test_text_csv_with_columns_and_report(data: Path, tmp_path: Path, capsys: Any) -> None:
    run = tmp_path / "reviews"
    csv_file = str(data / "reviews.csv")
    code, out, err = _run(capsys, "train", "--text-csv", csv_file, "--text-column", "review",
                          "--label-column", "stars", "--tokens", "char", "--max-length", "40",
                          "--pooling", "mean", "--bidirectional", "--epochs", "6", "--out",
                          str(run), "--quiet", *SMALL)  # fmt: skip
    assert code == 0, err
    loaded = load(run / "model")
    assert loaded.class_names == ["1", "5"]  # the labels present, not 0..5
    assert loaded.preprocessing["tokenizer"]["kind"] == "char"
    assert loaded.model.rnn.bidirectional
    report = (run / "report.md").read_text()
    assert "Gradient reaching each time step" in report and "untrained rnn" in report
    assert "Nearest neighbours in the embedding" in report
    for png in ("gradient_through_time.png", "embedding_neighbours.png", "learning_curves.png"):
        assert (run / "plots" / png).stat().st_size > 1000
    # the columns are remembered: evaluate on the whole file without naming them again
    code, out, err = _run(capsys, "evaluate", str(run / "model"), "--text-csv", csv_file)
    assert code == 0, err
    assert "accuracy" in out and "on 80 texts" in out
    code, out, err = _run(capsys, "predict", str(run / "model"), "--text-csv", csv_file,
                          "--text-column", "review")  # fmt: skip
    assert code == 0, err
    assert len(out.strip().splitlines()) == 80


def test_tagged_train_and_tag_a_sentence(data: Path, tmp_path: Path, capsys: Any) -> None:
    run = tmp_path / "pos"
    code, out, err = _run(capsys, "train", "--tagged", str(data / "tags.txt"), "--epochs", "8",
                          "--out", str(run), "--quiet", "--no-plots", *SMALL)  # fmt: skip
    assert code == 0, err
    assert "held-out tokens" in out
    loaded = load(run / "model")
    assert type(loaded.model).__name__ == "SequenceTagger" and loaded.model.rnn.bidirectional
    assert loaded.class_names == [".", "ADP", "DET", "NOUN", "VERB"]
    assert loaded.metrics["test_accuracy"] >= 0.9
    code, out, err = _run(capsys, "predict", str(run / "model"), "--text", "The dog sat on a mat.")
    assert code == 0, err
    assert out.strip() == "The/DET dog/NOUN sat/VERB on/ADP a/DET mat/NOUN ./."
    code, out, err = _run(capsys, "evaluate", str(run / "model"))
    assert code == 0, err
    assert "held-out sentences" in out and "(56 tokens)" in out
    code, out, _ = _run(capsys, "inspect", str(run / "model"))
    assert "head Linear (tag scores per token)      (N, T, 5)" in out
    # an unknown capitalised word falls back to its signature, not a crash
    code, out, _ = _run(capsys, "predict", str(run / "model"), "--text", "Zorblax ran .")
    assert code == 0 and out.startswith("Zorblax/")


def test_bad_text_inputs_are_one_line_errors(data: Path, tmp_path: Path, capsys: Any) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    _error(capsys, "class subfolder", "train", "--text-dir", str(empty))
    (tmp_path / "one" / "ham").mkdir(parents=True)
    (tmp_path / "one" / "ham" / "a.txt").write_text("hello there")
    _error(capsys, "expected at least 2", "train", "--text-dir", str(tmp_path / "one"))
    one_label = tmp_path / "one.csv"
    one_label.write_text("text,label\nhello,a\nthere,a\n")
    _error(capsys, "same label", "train", "--text-csv", str(one_label))
    _error(capsys, "no text column 'body'", "train", "--text-csv", str(data / "reviews.csv"),
           "--text-column", "body", "--label-column", "stars")  # fmt: skip
    blank = tmp_path / "blank.csv"
    blank.write_text("text,label\nhello,a\n ,b\nthere,a\nyou,b\nfine,b\n")
    _error(capsys, "the text is empty", "train", "--text-csv", str(blank), "--validation-split",
           "0", "--epochs", "1")  # fmt: skip
    _error(capsys, "chooses the network over a sequence", "train", "--arch", "lstm")
    _error(capsys, "one state size", "train", "--text-dir", str(data / "mails"), "--hidden",
           "8", "8")  # fmt: skip
    _error(capsys, "not both", "train", "--text-dir", str(data / "mails"), "--csv", "x.csv")


def test_predict_refuses_empty_text_and_mismatched_inputs(
    data: Path, tmp_path: Path, capsys: Any
) -> None:
    run = tmp_path / "tiny"
    code, _, err = _run(capsys, "train", "--text-dir", str(data / "mails"), "--epochs", "1",
                        "--out", str(run), "--quiet", "--no-plots", *SMALL)  # fmt: skip
    assert code == 0, err
    _error(capsys, "the text is empty", "predict", str(run / "model"), "--text", "  ")
    _error(capsys, "nothing to predict", "predict", str(run / "model"))
    _error(capsys, "give it --text-dir DIR", "evaluate", str(run / "model"), "--tagged",
           str(data / "tags.txt"))  # fmt: skip
    _error(capsys, "reads text", "evaluate", str(run / "model"), "--dataset", "digits")


def test_text_defaults_and_resume(data: Path, tmp_path: Path, capsys: Any) -> None:
    from chainrule.cli.config import ARCHS, build_config

    assert {"lstm", "gru", "rnn"} <= set(ARCHS)
    text = build_config({}, {"text_dir": "x"})
    assert (text.optimizer, text.lr, text.clip_grad, text.hidden, text.arch) == (
        "adam",
        2e-3,
        1.0,
        [128],
        "lstm",
    )
    assert text.bidirectional is False and build_config({}, {"tagged": "x"}).bidirectional
    sgd = build_config({}, {"text_dir": "x", "optimizer": "sgd", "clip_grad": 5.0})
    assert (sgd.lr, sgd.clip_grad) == (0.05, 5.0)  # the optimizer's own default rate
    assert build_config({}, {}).clip_grad is None  # MLPs: no clipping unless asked
    run = tmp_path / "resume"
    args = ["--text-dir", str(data / "mails"), "--quiet", "--no-plots"]
    code, _, err = _run(capsys, "train", *args, "--epochs", "1", "--out", str(run), *SMALL)
    assert code == 0, err
    code, _, err = _run(capsys, "train", "--resume", str(run), "--epochs", "2", "--quiet",
                        "--no-plots")  # fmt: skip
    assert code == 0, err
    assert load(run / "model").metadata["epochs_run"] == 2
