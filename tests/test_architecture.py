"""The layout keeps its shape: no import cycle between chainrule's parts, no oversized file.

Imports are read with ``ast`` from every file under ``src/chainrule``: only those that run when
the module is imported (module level, including module-level ``if``/``try`` blocks, but not
``if TYPE_CHECKING:`` blocks and not imports inside functions, which run later).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "chainrule"
MAX_LINES = 400


def part_of(module: str) -> str:
    """The part a dotted module belongs to: ``chainrule.nn.layers.linear`` -> ``nn``."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "chainrule"


def module_name(path: Path) -> str:
    relative = path.relative_to(SRC.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run at import, descending into if/try blocks but not TYPE_CHECKING."""
    for node in body:
        if isinstance(node, ast.If):
            if not is_type_checking(node.test):
                yield from module_level(node.body)
            yield from module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from module_level(block)
            for handler in node.handlers:
                yield from module_level(handler.body)
        else:
            yield node


def imported(path: Path) -> set[str]:
    """The chainrule modules ``path`` imports at module level (dotted names)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in module_level(tree.body):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "chainrule")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] != "chainrule":
                continue
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                as_module = SRC.parent / Path(*candidate.split("."))
                if as_module.with_suffix(".py").exists() or (as_module / "__init__.py").exists():
                    found.add(candidate)  # `from chainrule import nn`: the subpackage itself
                else:
                    found.add(target)
    return found


def part_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        source = part_of(module_name(path))
        targets = {part_of(m) for m in imported(path)} - {source}
        graph.setdefault(source, set()).update(targets)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of more than one part (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_graph_reader_sees_edges_and_skips_type_checking(tmp_path: Path) -> None:
    graph = part_graph()
    assert "nn" in graph["training"] and "callbacks" in graph["training"]
    # callbacks name the Trainer for type checking only: no edge back to training.
    assert "training" not in graph["callbacks"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_between_parts() -> None:
    found = cycles(part_graph())
    assert found == [], f"import cycles between chainrule's parts: {found}"


def oversized() -> dict[str, int]:
    sizes = {}
    for path in sorted(SRC.rglob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            sizes[path.relative_to(SRC).as_posix()] = lines
    return sizes


def test_no_file_of_training_callbacks_sklearn_report_is_over_the_limit() -> None:
    mine = {
        name: lines
        for name, lines in oversized().items()
        if name.split("/")[0] in ("training", "callbacks", "sklearn", "report")
        or name in ("regularizers.py", "clipping.py", "metrics.py", "data/loader.py")
    }
    assert mine == {}, f"files over {MAX_LINES} lines: {mine}"


def test_no_file_in_src_is_over_the_limit() -> None:
    assert oversized() == {}, f"files over {MAX_LINES} lines: {oversized()}"
