"""Text loaders on small files written here: class folders, CSV/TSV, tagged tokens, errors."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.data.text import load_tagged, load_text_csv, load_text_folder
from chainrule.errors import ConfigError, DataNotFoundError, FormatError


def test_folder_per_class(tmp_path) -> None:
    for cls, texts in {"spam": ["buy now", "cheap!!"], "ham": ["hi bob"]}.items():
        (tmp_path / cls).mkdir()
        for i, t in enumerate(texts):
            (tmp_path / cls / f"{i}.txt").write_text(t)
    (tmp_path / "ham" / "notes.md").write_text("skipped")
    (tmp_path / "spam" / "bad.txt").write_bytes(b"caf\xe9")  # not UTF-8: replaced, not fatal
    texts, labels, names = load_text_folder(tmp_path)
    assert names == ["ham", "spam"]
    assert texts == ["hi bob", "buy now", "cheap!!", "caf\ufffd"]
    assert labels.tolist() == [0, 1, 1, 1] and labels.dtype == np.int64


def test_folder_errors(tmp_path) -> None:
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_text_folder(tmp_path / "nope")
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "a.txt").write_text("x")
    with pytest.raises(FormatError, match="expected at least 2"):
        load_text_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="no .txt files in this class"):
        load_text_folder(tmp_path)
    (tmp_path / "empty" / "b.txt").write_text("y" * 100)
    with pytest.raises(FormatError, match="exceed max_bytes=50"):
        load_text_folder(tmp_path, max_bytes=50)
    with pytest.raises(FormatError, match="more than max_files=1"):
        load_text_folder(tmp_path, max_files=1)


def test_csv_and_tsv(tmp_path) -> None:
    f = tmp_path / "d.csv"
    f.write_text('id,body,label\n1,"good, very",pos\n2,bad,neg\n\n3,"a ""quote""",pos\n')
    texts, labels, names = load_text_csv(f, "body", "label")
    assert texts == ["good, very", "bad", 'a "quote"'] and labels.tolist() == [1, 0, 1]
    assert names == ["neg", "pos"]
    t = tmp_path / "d.tsv"
    t.write_text("label\ttext\n1\tone, two\n0\tzero\n")
    texts, labels, names = load_text_csv(t)
    assert texts == ["one, two", "zero"] and labels.tolist() == [1, 0] and names == ["0", "1"]
    assert load_text_csv(t, 1, 0)[0] == texts


def test_csv_errors(tmp_path) -> None:
    f = tmp_path / "d.csv"
    f.write_text("text,label\na,b,c\n")
    with pytest.raises(FormatError, match=r"line 2: 3 fields, expected 2"):
        load_text_csv(f)
    f.write_text("text,label\na,1\n")
    with pytest.raises(
        ConfigError, match=r"no text column 'body'; the header has \['text', 'label'\]"
    ):
        load_text_csv(f, text_column="body")
    f.write_text("text,label\n")
    with pytest.raises(FormatError, match="at least one data row"):
        load_text_csv(f)
    with pytest.raises(DataNotFoundError):
        load_text_csv(tmp_path / "missing.csv")


def test_tagged_token_and_sentence_layouts(tmp_path) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("The/DET\ncat\tNOUN\n1/2/NUM\n\n\nRun/VERB\n")
    words, tags = load_tagged(tokens)
    assert words == [["The", "cat", "1/2"], ["Run"]]
    assert tags == [["DET", "NOUN", "NUM"], ["VERB"]]
    brown = tmp_path / "ca01"
    brown.write_text("\n\n\tThe/at jury/nn said/vbd ./.\n\n\n\tIt/pps ran/vbd\n")
    words, tags = load_tagged(brown)
    assert words == [["The", "jury", "said", "."], ["It", "ran"]]
    assert tags[1] == ["pps", "vbd"]
    assert load_tagged(brown, layout="sentence") == (words, tags)


def test_tagged_errors(tmp_path) -> None:
    f = tmp_path / "t.txt"
    f.write_text("word/NN\nlonely\n")
    with pytest.raises(FormatError, match=r"line 2: 'lonely' is not 'word/TAG'"):
        load_tagged(f)
    f.write_text("\n\n")
    with pytest.raises(FormatError, match="no tagged tokens"):
        load_tagged(f)
    with pytest.raises(ConfigError, match="layout must be"):
        load_tagged(f, layout="xml")
