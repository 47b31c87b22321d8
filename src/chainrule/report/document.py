"""A run report (Markdown or standalone HTML): settings, final metrics, tables and linked plots."""

from __future__ import annotations

import html
import math
import os
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ConfigError
from chainrule.io.atomic import atomic_write_text

__all__ = ["write_report"]

PathLike = str | os.PathLike[str]
Table = Sequence[Mapping[str, Any]]

_CSS = """\
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       max-width: 1000px; margin: 2em auto; padding: 0 1em; line-height: 1.4; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.7em; }
th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }"""


def _is_number(value: Any) -> bool:
    """Numbers (not booleans) are right-aligned in tables."""
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))


def _format_value(value: Any) -> str:
    """Plain text for one cell: 4 significant digits for floats, whole floats as integers."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_format_value(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_format_value(v) for v in value)
    return str(value)


def _md(text: Any) -> str:
    """Markdown-safe text: no raw HTML, no table-breaking pipes or newlines, no link brackets."""
    escaped = html.escape(str(text), quote=False).replace("\\", "\\\\")
    for char in "|[]`":
        escaped = escaped.replace(char, "\\" + char)
    return " ".join(escaped.splitlines())


def _href(run_dir: Path, image: PathLike, caption: str) -> str:
    """URL of an image relative to the run folder (relative paths are taken as inside it)."""
    path = Path(image)
    full = path if path.is_absolute() else run_dir / path
    if not full.is_file():
        raise ConfigError(
            f"images[{caption!r}] points to {str(full)!r}, which does not exist; write the plot "
            "first or leave it out of the report"
        )
    try:
        relative = Path(os.path.relpath(full, run_dir)).as_posix()
    except ValueError:  # another drive on Windows: no relative path exists
        return full.resolve().as_uri()
    return urllib.parse.quote(relative, safe="/")


def _sections(summary: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Scalar summary entries form a 'Summary' section; dict entries are sections of their own."""
    scalars = {k: v for k, v in summary.items() if not isinstance(v, Mapping)}
    sections = [("Summary", scalars)] if scalars else []
    sections += [(str(k), dict(v)) for k, v in summary.items() if isinstance(v, Mapping)]
    return sections


def _columns(rows: Table) -> list[str]:
    """Union of the rows' keys, in order of first appearance."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(str(k) for k in row))
    return list(columns)


def _numeric_column(rows: Table, column: str) -> bool:
    """A column whose present values are all numbers."""
    values = [row[column] for row in rows if row.get(column) is not None]
    return bool(values) and all(_is_number(v) for v in values)


def _markdown_table(rows: Table) -> list[str]:
    """Lines of a pipe table; numeric columns right-aligned."""
    columns = _columns(rows)
    align = ["---:" if _numeric_column(rows, c) else "---" for c in columns]
    lines = ["| " + " | ".join(_md(c) for c in columns) + " |", "| " + " | ".join(align) + " |"]
    for row in rows:
        cells = [_md(_format_value(row.get(c))) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _html_table(rows: Table) -> list[str]:
    """Lines of an HTML table; numeric columns right-aligned."""
    columns = _columns(rows)
    numeric = {c: _numeric_column(rows, c) for c in columns}
    lines = ["<table>", "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>"]
    for row in rows:
        cells = []
        for c in columns:
            css = ' class="num"' if numeric[c] else ""
            cells.append(f"<td{css}>{html.escape(_format_value(row.get(c)))}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</table>")
    return lines


def _key_value_rows(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A dict as two-column rows."""
    return [{"name": str(k), "value": v} for k, v in values.items()]


def _render_markdown(
    title: str,
    sections: list[tuple[str, dict[str, Any]]],
    tables: Mapping[str, Table],
    links: list[tuple[str, str]],
) -> str:
    """The report as Markdown."""
    lines = [f"# {_md(title)}", ""]
    for heading, values in sections:
        lines += [f"## {_md(heading)}", "", *_markdown_table(_key_value_rows(values)), ""]
    for heading, rows in tables.items():
        lines += [f"## {_md(heading)}", "", *(_markdown_table(rows) if rows else ["(empty)"]), ""]
    if links:
        lines += ["## Plots", ""]
        for caption, href in links:
            lines += [f"### {_md(caption)}", "", f"[![{_md(caption)}]({href})]({href})", ""]
    return "\n".join(lines)


def _render_html(
    title: str,
    sections: list[tuple[str, dict[str, Any]]],
    tables: Mapping[str, Table],
    links: list[tuple[str, str]],
) -> str:
    """The report as a standalone HTML page."""
    esc = html.escape
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{esc(title)}</title>",
        f"<style>\n{_CSS}\n</style>",
        "</head>",
        "<body>",
        f"<h1>{esc(title)}</h1>",
    ]
    for heading, values in sections:
        lines += [f"<h2>{esc(heading)}</h2>", *_html_table(_key_value_rows(values))]
    for heading, rows in tables.items():
        lines += [f"<h2>{esc(heading)}</h2>", *(_html_table(rows) if rows else ["<p>(empty)</p>"])]
    if links:
        lines.append("<h2>Plots</h2>")
        for caption, href in links:
            lines += [
                "<figure>",
                f'<a href="{esc(href)}"><img src="{esc(href)}" alt="{esc(caption)}"></a>',
                f"<figcaption>{esc(caption)}</figcaption>",
                "</figure>",
            ]
    lines += ["</body>", "</html>"]
    return "\n".join(lines)


def write_report(
    run_dir: PathLike,
    title: str,
    summary: Mapping[str, Any],
    tables: Mapping[str, Table] | None = None,
    images: Mapping[str, PathLike] | None = None,
    fmt: str = "md",
) -> Path:
    """Write ``report.md`` or ``report.html`` into ``run_dir`` and return its path.

    The report holds, in order: a *Summary* table of the scalar entries of ``summary``; one
    two-column table per dict entry of ``summary`` (e.g. ``"Settings"``, ``"Final metrics"``);
    one table per entry of ``tables`` (e.g. per-class scores); and the plots of ``images``, each
    shown and linked by its path relative to ``run_dir``. All text is escaped (HTML) or made
    inert (Markdown), so names and values may contain ``<``, ``&`` or ``|``. The file is written
    atomically: a reader never sees half a report.

    Parameters
    ----------
    run_dir : str or path-like
        Folder of the run (created if missing).
    title : str
        Heading of the report.
    summary : mapping
        Scalars (``{"epochs": 10}``) and/or sections of scalars (``{"Settings": {...}}``).
    tables : mapping of str to list of dict, optional
        Table heading -> rows; columns are the union of the rows' keys.
    images : mapping of str to path, optional
        Caption -> image file; relative paths are relative to ``run_dir``. Must exist.
    fmt : {"md", "html"}
        Markdown or a standalone HTML page.

    Examples
    --------
    >>> write_report("runs/mnist", "MNIST MLP",
    ...              {"Settings": {"lr": 0.1, "epochs": 5}, "Final metrics": {"accuracy": 0.97}},
    ...              tables={"Per class": [{"class": "0", "recall": 0.99}]},
    ...              images={"Learning curves": "curves.png"})  # doctest: +SKIP
    PosixPath('runs/mnist/report.md')
    """
    if fmt not in ("md", "html"):
        raise ConfigError(f"fmt must be 'md' or 'html', got {fmt!r}")
    if not isinstance(summary, Mapping):
        raise ConfigError(f"summary must be a dict, got {type(summary).__name__}")
    tables = {} if tables is None else tables
    images = {} if images is None else images
    for name, arg in (("tables", tables), ("images", images)):
        if not isinstance(arg, Mapping):
            raise ConfigError(f"{name} must be a dict or None, got {type(arg).__name__}")
    for heading, rows in tables.items():
        if isinstance(rows, (str, Mapping)) or not all(isinstance(r, Mapping) for r in rows):
            raise ConfigError(f"tables[{heading!r}] must be a list of dicts (one per row)")
    folder = Path(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    links = [(str(caption), _href(folder, path, str(caption))) for caption, path in images.items()]
    render = _render_markdown if fmt == "md" else _render_html
    target = folder / f"report.{fmt}"
    atomic_write_text(target, render(str(title), _sections(summary), tables, links) + "\n")
    return target
