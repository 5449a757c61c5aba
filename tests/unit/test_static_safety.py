"""Source rules no review should have to catch: SQL is never assembled from strings, no shell.

An AST scan of src/killreport. SQL text handed to SQLAlchemy (`text`, `exec_driver_sql`) or to
asyncpg (`execute`, `fetch`, `fetchrow`, `fetchval`, `executemany`) must be a constant: a literal,
literals joined by `+`, a conditional between constants, or a name bound once to such a constant
at module level. Values always travel as bound parameters.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "killreport"
SQL_CALLS = {"text", "exec_driver_sql", "execute", "fetch", "fetchrow", "fetchval", "executemany"}
SHELL_CALLS = {"system", "popen", "create_subprocess_shell", "getoutput", "getstatusoutput"}


def modules() -> Iterator[tuple[Path, ast.Module]]:
    """Every module of the package, parsed."""
    for path in sorted(SRC.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def constants(tree: ast.Module) -> set[str]:
    """Module-level names bound once to a constant string expression."""
    bound: dict[str, int] = {}
    good: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    bound[target.id] = bound.get(target.id, 0) + 1
                    if node in tree.body and node.value is not None and is_constant(node.value, good):
                        good.add(target.id)
    return {name for name in good if bound[name] == 1}


def is_constant(node: ast.expr, names: set[str]) -> bool:
    """Whether `node` can only ever be a string fixed in the source."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.Name):
        return node.id in names
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return is_constant(node.left, names) and is_constant(node.right, names)
    if isinstance(node, ast.IfExp):
        return is_constant(node.body, names) and is_constant(node.orelse, names)
    return False


def call_name(call: ast.Call) -> str | None:
    """`f` for `f(...)` and `x.f(...)`."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def sql_violations(tree: ast.Module, path: Path) -> list[str]:
    """SQL-taking calls whose SQL is not a constant string."""
    names = constants(tree)
    module_level = {t.id for node in tree.body if isinstance(node, ast.Assign)
                    for t in node.targets if isinstance(t, ast.Name)}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and call_name(node) in SQL_CALLS and node.args):
            continue
        first = node.args[0]
        # Other first arguments are SQLAlchemy Core statements held in local names or built by calls.
        checked = (call_name(node) in ("text", "exec_driver_sql") or stringy(first)
                   or (isinstance(first, ast.Name) and first.id in module_level))
        if checked and not is_constant(first, names):
            found.append(f"{path.relative_to(SRC.parent)}:{node.lineno}: {ast.unparse(first)[:80]}")
    return found


def stringy(node: ast.expr) -> bool:
    """Whether `node` is visibly a string expression (literal, f-string, concatenation, format)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return stringy(node.left) or stringy(node.right)
    if isinstance(node, ast.IfExp):
        return stringy(node.body) or stringy(node.orelse)
    return isinstance(node, ast.Call) and call_name(node) in ("format", "join")


def shell_violations(tree: ast.Module, path: Path) -> list[str]:
    """Calls that hand a command line to a shell."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        shell = any(k.arg == "shell" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                    for k in node.keywords)
        if shell or call_name(node) in SHELL_CALLS:
            found.append(f"{path.relative_to(SRC.parent)}:{node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_sql_is_never_built_from_strings() -> None:
    found = [v for path, tree in modules() for v in sql_violations(tree, path)]
    assert found == [], "SQL assembled at run time (bind the values instead):\n" + "\n".join(found)


def test_nothing_reaches_a_shell() -> None:
    found = [v for path, tree in modules() for v in shell_violations(tree, path)]
    assert found == [], "\n".join(found)


def test_the_scans_catch_what_they_are_for() -> None:
    """The rules flag the patterns they exist for, so an empty finding means something."""
    bad = ast.parse(
        'import os, subprocess\n'
        'WHERE = " AND x = 1"\n'
        'def f(conn, name, q):\n'
        '    conn.execute(text(f"SELECT * FROM t WHERE name = \'{name}\'"))\n'
        '    conn.execute(text("SELECT 1" + q))\n'
        '    conn.fetch("SELECT %s" % name)\n'
        '    conn.execute(text("SELECT * FROM t" + WHERE))\n'
        '    subprocess.run(q, shell=True)\n'
        '    os.system(q)\n')
    path = SRC / "example.py"
    assert len(sql_violations(bad, path)) == 3
    assert len(shell_violations(bad, path)) == 2
