"""House rules a reader can count: no function in src/ (migrations aside) runs past 40 lines, and every
public function and class has a docstring."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
MAX_LINES = 40


def functions() -> Iterator[tuple[Path, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method of the package, migrations left out (they are history)."""
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield path, node


def test_no_function_is_longer_than_40_lines() -> None:
    long = [f"{p.relative_to(SRC)}:{f.lineno} {f.name} ({(f.end_lineno or f.lineno) - f.lineno + 1} lines)"
            for p, f in functions() if (f.end_lineno or f.lineno) - f.lineno + 1 > MAX_LINES]
    assert long == [], "\n".join(long)


def public_functions() -> Iterator[tuple[Path, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Module-level functions and methods of classes (not the closures inside them), public by name."""
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        classes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and not n.name.startswith("_")]
        scopes: list[ast.Module | ast.ClassDef] = [tree, *classes]
        for scope in scopes:
            for node in scope.body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
                    yield path, node


def test_public_functions_have_a_docstring() -> None:
    bare = [f"{p.relative_to(SRC)}:{f.lineno} {f.name}" for p, f in public_functions()
            if ast.get_docstring(f) is None]
    assert bare == [], "\n".join(bare)
