"""The run report: sections and tables, image links, escaping, atomic writes."""

from __future__ import annotations

import html.parser
import os
import re
from pathlib import Path

import numpy as np
import pytest

from chainrule.errors import ConfigError
from chainrule.report import write_report

SUMMARY = {
    "model": "MLP 784-128-10",
    "epochs": 5,
    "Settings": {"lr": 0.1, "batch_size": 64, "optimizer": "SGD", "weight_decay": None},
    "Final metrics": {"accuracy": np.float32(0.97654), "loss": 0.0812345, "samples": 60000.0},
}
TABLES = {
    "Per-class metrics": [
        {"class": "0", "precision": 0.99, "recall": 0.98, "support": 980},
        {"class": "1", "precision": 0.985, "recall": 0.99, "support": 1135},
    ]
}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run folder with two plot files, one of them in a subfolder."""
    (tmp_path / "plots").mkdir()
    (tmp_path / "curves.png").write_bytes(b"png")
    (tmp_path / "plots" / "confusion matrix.png").write_bytes(b"png")
    return tmp_path


IMAGES = {"Learning curves": "curves.png", "Confusion matrix": "plots/confusion matrix.png"}


class Collector(html.parser.HTMLParser):
    """Collects tags with their attributes and the visible text of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Collector:
    collector = Collector()
    collector.feed(page)
    collector.close()
    return collector


def test_markdown_report_layout(run_dir):
    path = write_report(run_dir, "MNIST run", SUMMARY, TABLES, IMAGES)
    assert path == run_dir / "report.md"
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "# MNIST run"
    headings = [line for line in lines if line.startswith("#")]
    assert headings == [
        "# MNIST run",
        "## Summary",
        "## Settings",
        "## Final metrics",
        "## Per-class metrics",
        "## Plots",
        "### Learning curves",
        "### Confusion matrix",
    ]
    # Scalars go to the Summary table, dict entries to their own sections.
    assert "| model | MLP 784-128-10 |" in lines
    assert "| epochs | 5 |" in lines
    assert "| lr | 0.1 |" in lines and "| weight_decay |  |" in lines
    # Floats: 4 significant digits; whole floats as integers; NumPy scalars unwrapped.
    assert "| accuracy | 0.9765 |" in lines
    assert "| loss | 0.08123 |" in lines
    assert "| samples | 60000 |" in lines
    # The per-class table: header from the row keys, numbers right-aligned, text left-aligned.
    assert "| class | precision | recall | support |" in lines
    assert "| --- | ---: | ---: | ---: |" in lines
    assert "| 1 | 0.985 | 0.99 | 1135 |" in lines


def test_markdown_links_images_by_relative_url(run_dir):
    text = write_report(run_dir, "t", {}, images=IMAGES).read_text(encoding="utf-8")
    assert "[![Learning curves](curves.png)](curves.png)" in text
    # The space is percent-encoded so the link survives Markdown parsing.
    assert "(plots/confusion%20matrix.png)" in text


def test_absolute_image_paths_become_relative(run_dir):
    images = {"curves": str(run_dir / "plots" / "confusion matrix.png")}
    text = write_report(run_dir, "t", {}, images=images).read_text(encoding="utf-8")
    assert "](plots/confusion%20matrix.png)" in text
    assert str(run_dir) not in text


def test_image_outside_run_dir_gets_a_relative_path(tmp_path):
    run = tmp_path / "runs" / "one"
    (tmp_path / "shared.png").write_bytes(b"png")
    text = write_report(run, "t", {}, images={"x": tmp_path / "shared.png"}).read_text("utf-8")
    assert "](../../shared.png)" in text


def test_markdown_neutralises_special_characters(run_dir):
    summary = {"a|b <script>": "x & y\nnext | line", "Section [1]": {"k": "v"}}
    text = write_report(run_dir, "Run <1> & `co`", summary).read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "# Run &lt;1&gt; &amp; \\`co\\`"
    assert "| a\\|b &lt;script&gt; | x &amp; y next \\| line |" in lines
    assert "## Section \\[1\\]" in lines
    assert "<script>" not in text


def test_html_report_is_escaped_and_well_formed(run_dir):
    summary = {"name <b>": "a & b", "Settings": {'quote"key': "<i>v</i>"}}
    tables = {"Per <class>": [{"class": "<cat>", "f1": 0.5}, {"class": "dog & co"}]}
    images = {'Curves "<&>"': "curves.png", "Confusion matrix": "plots/confusion matrix.png"}
    path = write_report(run_dir, "Run <1> & co", summary, tables, images, fmt="html")
    assert path == run_dir / "report.html"
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>Run &lt;1&gt; &amp; co</title>" in page
    for raw in ("<b>", "<i>", "<cat>", "<class>", "<1>"):
        assert raw not in page
    parsed = parse(page)
    text = "".join(parsed.text)
    for shown in (
        "Run <1> & co",
        "name <b>",
        "a & b",
        'quote"key',
        "<i>v</i>",
        "<cat>",
        "dog & co",
        "Per <class>",
        'Curves "<&>"',
    ):
        assert shown in text
    images_found = [attrs for tag, attrs in parsed.tags if tag == "img"]
    assert images_found == [
        {"src": "curves.png", "alt": 'Curves "<&>"'},
        {"src": "plots/confusion%20matrix.png", "alt": "Confusion matrix"},
    ]
    links = [attrs["href"] for tag, attrs in parsed.tags if tag == "a"]
    assert links == ["curves.png", "plots/confusion%20matrix.png"]
    # Numbers right-aligned; a missing cell is empty.
    assert '<td class="num">0.5</td>' in page
    assert '<tr><td>dog &amp; co</td><td class="num"></td></tr>' in page


def test_html_contains_every_section(run_dir):
    page = write_report(run_dir, "T", SUMMARY, TABLES, fmt="html").read_text(encoding="utf-8")
    headings = [line for line in page.splitlines() if re.match(r"<h\d>", line)]
    assert headings == [
        "<h1>T</h1>",
        "<h2>Summary</h2>",
        "<h2>Settings</h2>",
        "<h2>Final metrics</h2>",
        "<h2>Per-class metrics</h2>",
    ]
    assert '<td class="num">0.9765</td>' in page


def test_empty_table_is_marked(run_dir):
    text = write_report(run_dir, "t", {}, tables={"Nothing": []}).read_text(encoding="utf-8")
    assert "## Nothing\n\n(empty)" in text


def test_write_is_atomic_and_replaces_the_old_report(run_dir):
    (run_dir / "report.md").write_text("old report", encoding="utf-8")
    write_report(run_dir, "new", {"x": 1})
    assert (run_dir / "report.md").read_text(encoding="utf-8").startswith("# new")
    names = sorted(p.name for p in run_dir.iterdir())
    assert names == ["curves.png", "plots", "report.md"]  # no temp file left behind


def test_report_file_respects_umask_not_private(run_dir):
    old = os.umask(0o022)
    try:
        path = write_report(run_dir, "t", {})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_failed_write_keeps_the_old_report_and_leaves_no_temp(run_dir, monkeypatch):
    (run_dir / "report.md").write_text("old report", encoding="utf-8")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_report(run_dir, "new", {})
    assert (run_dir / "report.md").read_text(encoding="utf-8") == "old report"
    assert sorted(p.name for p in run_dir.iterdir()) == ["curves.png", "plots", "report.md"]


def test_missing_run_dir_is_created(tmp_path):
    path = write_report(tmp_path / "runs" / "new", "t", {"a": 1})
    assert path.is_file()


def test_missing_image_is_reported(run_dir):
    with pytest.raises(ConfigError, match=r"images\['Loss'\] points to .*nope.png.*does not exist"):
        write_report(run_dir, "t", {}, images={"Loss": "nope.png"})
    assert not (run_dir / "report.md").exists()


def test_bad_arguments_are_reported(run_dir):
    with pytest.raises(ConfigError, match="fmt must be 'md' or 'html', got 'pdf'"):
        write_report(run_dir, "t", {}, fmt="pdf")
    with pytest.raises(ConfigError, match="summary must be a dict, got list"):
        write_report(run_dir, "t", [1, 2])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="tables must be a dict or None, got list"):
        write_report(run_dir, "t", {}, tables=[{"a": 1}])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="images must be a dict or None, got str"):
        write_report(run_dir, "t", {}, images="curves.png")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"tables\['T'\] must be a list of dicts"):
        write_report(run_dir, "t", {}, tables={"T": {"a": 1}})
    with pytest.raises(ConfigError, match=r"tables\['T'\] must be a list of dicts"):
        write_report(run_dir, "t", {}, tables={"T": [1, 2]})
