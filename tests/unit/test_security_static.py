"""Source scans of src/killreport: SQL text is fixed in the source, no shell, TLS checks never switched off.

tests/unit/test_static_safety.py checks SQL arguments that are visibly strings. This scan also
follows names to what they were bound to in the enclosing function or module (`sql = f"..."` then
`conn.execute(sql)`, loop variables over a module tuple), covers every asyncpg method that takes
SQL and parameters annotated `str`, and inventories every process the package starts.

The rule is precise rather than permissive: SQL text must be a string constant, constants joined
by `+`, a choice between constants, or a name whose every binding is one of those. Identifiers are
never interpolated: the one place that varies a column set (store/entities.py) builds SQLAlchemy
Core constructs, which quote identifiers, so there is no whitelist to keep.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "killreport"

# Callables whose first argument is SQL text, and the keyword names it may go by instead.
TEXT_ONLY = {"text", "exec_driver_sql", "literal_column"}  # always raw SQL
STATEMENT_OR_TEXT = {"execute", "executemany", "fetch", "fetchrow", "fetchval", "fetchmany", "prepare",
                     "cursor", "copy_from_query"}  # SQLAlchemy statements or asyncpg SQL strings
SQL_KEYWORDS = {"sql", "query", "statement", "text", "command"}

SHELL_FUNCTIONS = {"system", "popen", "getoutput", "getstatusoutput", "create_subprocess_shell"}
# How each module starts processes: a command that may be one string, program and arguments
# passed apart, or a Python function in a child interpreter.
COMMAND_SPAWNERS = {"subprocess": {"run", "Popen", "call", "check_call", "check_output"}}
EXEC_SPAWNERS = {"asyncio": {"create_subprocess_exec"},
                 "os": {"execv", "execve", "execvp", "execvpe", "execl", "execle", "execlp", "execlpe",
                        "spawnv", "spawnve", "spawnvp", "spawnl", "posix_spawn", "posix_spawnp"},
                 "pty": {"spawn"}}
FUNCTION_SPAWNERS = {"multiprocessing": {"Process"}, "mp": {"Process"}, "ctx": {"Process"}}

TLS_OFF_ATTRIBUTES = {"CERT_NONE", "_create_unverified_context", "CERT_OPTIONAL"}
TLS_OFF_KEYWORDS = {"ssl", "verify_ssl", "check_hostname"}


@dataclass(frozen=True)
class Finding:
    """One place in the source, and what is wrong with it (or what it is, for an inventory)."""

    where: str
    what: str

    def __str__(self) -> str:
        """`file:line: what`."""
        return f"{self.where}: {self.what}"


def modules() -> Iterator[tuple[str, ast.Module]]:
    """Every module of the package with its path relative to src/, parsed."""
    for path in sorted(SRC.rglob("*.py")):
        yield str(path.relative_to(SRC.parent)), ast.parse(path.read_text(encoding="utf-8"))


def call_name(call: ast.Call) -> str | None:
    """`f` for `f(...)` and `x.y.f(...)`."""
    if isinstance(call.func, ast.Name):
        return call.func.id
    return call.func.attr if isinstance(call.func, ast.Attribute) else None


def receiver(call: ast.Call) -> str | None:
    """`x` for `x.f(...)` and `a.x.f(...)`; None for a bare `f(...)`."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    value = func.value
    if isinstance(value, ast.Name):
        return value.id
    return value.attr if isinstance(value, ast.Attribute) else None


class Scope:
    """Where names get their values: the enclosing functions (innermost first), then the module."""

    def __init__(self, module: ast.Module, functions: list[ast.FunctionDef | ast.AsyncFunctionDef]) -> None:
        """Scopes from the module and the chain of functions around a call."""
        self.module = module
        self.functions = functions

    def bindings(self, name: str) -> tuple[list[ast.expr], ast.arg | None] | None:
        """Every value bound to `name` in the nearest scope that binds it, or the parameter it is."""
        for function in reversed(self.functions):
            for arg in [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]:
                if arg.arg == name:
                    return [], arg
            found = _bound_in(function.body, name)
            if found:
                return found, None
        found = _bound_in(self.module.body, name)
        return (found, None) if found else None


def _bound_in(body: list[ast.stmt], name: str) -> list[ast.expr]:
    """Values bound to `name` by assignments and for-loops in `body`, nested functions excluded."""
    values: list[ast.expr] = []
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name
                                                for t in node.targets):
            values.append(node.value)
        elif (isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name)
              and node.target.id == name and node.value is not None):
            # `x += f"..."` binds x to a concatenation; model it as one so it is judged like one.
            values.append(node.value if isinstance(node, ast.AnnAssign)
                          else ast.BinOp(ast.Name(name), node.op, node.value))
        elif (isinstance(node, ast.For | ast.AsyncFor) and isinstance(node.target, ast.Name)
              and node.target.id == name):
            values.append(ast.Subscript(node.iter, ast.Constant(0)))  # "an element of the iterable"
        elif isinstance(node, ast.NamedExpr) and node.target.id == name:
            values.append(node.value)
        stack.extend(ast.iter_child_nodes(node))
    return values


def sql_problem(node: ast.expr, scope: Scope, *, raw: bool, seen: frozenset[str] = frozenset()) -> str | None:
    """Why `node` may not be SQL text fixed in the source, or None if it is.

    `raw`: the callee takes only SQL text (`text`), so anything unproven is a problem. Otherwise the
    argument may also be a SQLAlchemy statement, and only visible string-building is.
    """
    if isinstance(node, ast.Constant):
        return None if isinstance(node.value, str) or not raw else "a non-string constant"
    if isinstance(node, ast.JoinedStr):
        return "an f-string" if any(isinstance(v, ast.FormattedValue) for v in node.values) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return "%-formatting" if _stringish(node.left, scope) else (None if not raw else "arithmetic")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = sql_problem(node.left, scope, raw=True, seen=seen)
        right = sql_problem(node.right, scope, raw=True, seen=seen)
        if left is None and right is None:
            return None
        if raw or _stringish(node.left, scope) or _stringish(node.right, scope):
            return f"concatenation with {left or right}"
        return None
    if isinstance(node, ast.IfExp):
        return (sql_problem(node.body, scope, raw=raw, seen=seen)
                or sql_problem(node.orelse, scope, raw=raw, seen=seen))
    if isinstance(node, ast.Subscript):
        return element_problem(node.value, scope, raw=raw, seen=seen)
    if isinstance(node, ast.Name):
        if node.id in seen:
            return None  # a cycle adds nothing the other bindings did not
        bound = scope.bindings(node.id)
        if bound is None:
            return f"{node.id}, bound nowhere in sight" if raw else None
        values, parameter = bound
        if parameter is not None:
            annotated = parameter.annotation is not None and re.search(
                r"\bstr\b", ast.unparse(parameter.annotation)) is not None
            return f"parameter {node.id}" if raw or annotated else None
        return next((f"{node.id} = {p}" for v in values
                     if (p := sql_problem(v, scope, raw=raw, seen=seen | {node.id}))), None)
    if isinstance(node, ast.Call):
        name = call_name(node)
        if name in ("format", "join", "format_map", "replace"):
            return f"str.{name}()"
        if name == "text":
            return None  # a text() construct; its own argument is checked where text is called
        return f"a call to {name}()" if raw else None
    return f"{type(node).__name__} expression" if raw else None


def element_problem(seq: ast.expr, scope: Scope, *, raw: bool, seen: frozenset[str]) -> str | None:
    """Why an element of `seq` (a loop variable, an index) may not be fixed SQL text, or None."""
    if isinstance(seq, ast.Tuple | ast.List | ast.Set):
        return next((p for e in seq.elts if (p := sql_problem(e, scope, raw=raw, seen=seen))), None)
    if isinstance(seq, ast.Dict):
        return next((p for e in seq.values if (p := sql_problem(e, scope, raw=raw, seen=seen))), None)
    if isinstance(seq, ast.Name) and seq.id not in seen:
        bound = scope.bindings(seq.id)
        if bound is not None and bound[0]:
            return next((p for v in bound[0] if (p := element_problem(
                v, scope, raw=raw, seen=seen | {seq.id}))), None)
    return f"an element of {ast.unparse(seq)[:30]}, not traced" if raw else None


def _stringish(node: ast.expr, scope: Scope, seen: frozenset[str] = frozenset()) -> bool:
    """Whether `node` is visibly a string: a str literal, f-string, or a name bound to one."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _stringish(node.left, scope, seen) or _stringish(node.right, scope, seen)
    if isinstance(node, ast.Name) and node.id not in seen:
        bound = scope.bindings(node.id)
        return bound is not None and any(_stringish(v, scope, seen | {node.id}) for v in bound[0])
    return False


def sql_argument(call: ast.Call) -> ast.expr | None:
    """The SQL a call is given: its first positional argument or an SQL-named keyword."""
    if call.args and not isinstance(call.args[0], ast.Starred):
        return call.args[0]
    return next((k.value for k in call.keywords if k.arg in SQL_KEYWORDS), None)


def calls_with_scope(tree: ast.Module) -> Iterator[tuple[ast.Call, Scope]]:
    """Every call in the module with the scope it runs in."""
    def walk(node: ast.AST, functions: list[ast.FunctionDef | ast.AsyncFunctionDef]) -> Iterator[
            tuple[ast.Call, Scope]]:
        for child in ast.iter_child_nodes(node):
            inner = [*functions, child] if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) \
                else functions
            if isinstance(child, ast.Call):
                yield child, Scope(tree, inner)
            yield from walk(child, inner)
    yield from walk(tree, [])


# Modules that are a database driver under SQLAlchemy: their execute(sql) passes statements through,
# and they set their own connection's PRAGMAs (store/sqlite/driver.py: an int, PRAGMA binds nothing).
DBAPI_SHIMS = frozenset({"killreport/store/sqlite/driver.py"})


def sql_findings(where: str, tree: ast.Module) -> list[Finding]:
    """Calls handing SQL text to the database that is not provably fixed in the source."""
    found = []
    for call, scope in calls_with_scope(tree):
        name = call_name(call)
        if name not in TEXT_ONLY | STATEMENT_OR_TEXT:
            continue
        argument = sql_argument(call)
        if argument is None:
            continue
        problem = sql_problem(argument, scope, raw=name in TEXT_ONLY)
        if problem and where in DBAPI_SHIMS:
            continue  # the DBAPI itself: it runs what SQLAlchemy compiled (which this scan checks)
        if problem:
            what = f"{name}({ast.unparse(argument)[:60]}): {problem}"
            found.append(Finding(f"{where}:{call.lineno}", what))
    return found


def shell_findings(where: str, tree: ast.Module) -> list[Finding]:
    """Anything that hands a command line to a shell."""
    found = []
    for call, _ in calls_with_scope(tree):
        name = call_name(call)
        shell = next((k for k in call.keywords if k.arg == "shell"), None)
        if shell is not None and not (isinstance(shell.value, ast.Constant) and shell.value.value is False):
            what = f"{ast.unparse(call)[:70]}: shell={ast.unparse(shell.value)}"
            found.append(Finding(f"{where}:{call.lineno}", what))
        elif name in SHELL_FUNCTIONS and receiver(call) in ("os", "subprocess", "asyncio", "commands"):
            found.append(Finding(f"{where}:{call.lineno}", f"{ast.unparse(call)[:70]}: runs a shell"))
    return found


def spawn_inventory(where: str, tree: ast.Module) -> list[Finding]:
    """Every place a process is started, described by how its command is given."""
    found = []
    for call, scope in calls_with_scope(tree):
        name, module = call_name(call), receiver(call)
        if name in FUNCTION_SPAWNERS.get(module or "", ()):
            target = next((ast.unparse(k.value) for k in call.keywords if k.arg == "target"), None)
            how = f"a Python function, target={target}" if target else "NOT a known target: check it"
        elif name in EXEC_SPAWNERS.get(module or "", ()):
            how = "exec-style, program and arguments apart"
        elif name in COMMAND_SPAWNERS.get(module or "", ()):
            first = call.args[0] if call.args else next(
                (k.value for k in call.keywords if k.arg == "args"), None)
            how = ("an argument list" if first is not None and is_sequence(first, scope)
                   else f"NOT an argument list: {ast.unparse(first)[:40] if first else 'nothing'}")
        else:
            continue
        found.append(Finding(f"{where}:{call.lineno}", f"{module}.{name}: {how}"))
    return found


def is_sequence(node: ast.expr, scope: Scope) -> bool:
    """Whether `node` is a list or tuple display, or a name only ever bound to one."""
    if isinstance(node, ast.List | ast.Tuple):
        return True
    if isinstance(node, ast.Name):
        bound = scope.bindings(node.id)
        return bound is not None and bool(bound[0]) and all(isinstance(v, ast.List | ast.Tuple)
                                                            for v in bound[0])
    return False


def tls_findings(where: str, tree: ast.Module) -> list[Finding]:
    """Anything that could switch certificate or host-name checks off."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in TLS_OFF_ATTRIBUTES:
            found.append(Finding(f"{where}:{node.lineno}", f"uses {ast.unparse(node)}"))
        if isinstance(node, ast.keyword) and node.arg in TLS_OFF_KEYWORDS and not (
                isinstance(node.value, ast.Constant) and node.value.value is True):
            found.append(Finding(f"{where}:{node.value.lineno}", f"{node.arg}={ast.unparse(node.value)}"))
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr in (
                "check_hostname", "verify_mode") for t in node.targets)):
            found.append(Finding(f"{where}:{node.lineno}", f"sets {ast.unparse(node.targets[0])}"))
    return sorted(found, key=lambda f: int(f.where.rpartition(":")[2]))


def scan(rule: str) -> list[Finding]:
    """One rule over the whole package."""
    rules = {"sql": sql_findings, "shell": shell_findings, "spawn": spawn_inventory, "tls": tls_findings}
    return [f for where, tree in modules() for f in rules[rule](where, tree)]


def test_sql_text_is_always_fixed_in_the_source() -> None:
    """No SQL is assembled at run time anywhere in the package, names and loops followed."""
    examined = sum(1 for _, tree in modules() for call, _ in calls_with_scope(tree)
                   if call_name(call) in TEXT_ONLY | STATEMENT_OR_TEXT and sql_argument(call) is not None)
    assert examined > 40, f"only {examined} SQL calls seen: the scan no longer recognises them"
    found = scan("sql")
    assert found == [], "SQL built at run time (bind the values instead):\n" + "\n".join(map(str, found))


def test_nothing_reaches_a_shell() -> None:
    """No shell=True, os.system, os.popen or create_subprocess_shell."""
    found = scan("shell")
    assert found == [], "\n".join(map(str, found))


def test_every_process_started_takes_an_argument_list_or_a_function() -> None:
    """Processes start exec-style; the package itself starts none today (tests and bench/ do)."""
    found = scan("spawn")
    assert all("NOT" not in f.what for f in found), "\n".join(map(str, found))
    assert found == [], found
    # The scanner still sees a spawn when there is one, so the empty inventory means something.
    probe = ast.parse("import multiprocessing as mp\nctx = mp.get_context('spawn')\n"
                      "ctx.Process(target=_child).start()\n")
    assert [f.what for f in spawn_inventory("probe.py", probe)] == [
        "ctx.Process: a Python function, target=_child"]


def test_tls_checks_are_never_switched_off() -> None:
    """No CERT_NONE, unverified context, ssl=False or check_hostname=False in the package."""
    found = scan("tls")
    assert found == [], "\n".join(map(str, found))


def test_the_transport_asks_for_verified_tls_explicitly() -> None:
    """The one aiohttp connector is built with ssl=True, aiohttp's verified default context."""
    tree = ast.parse((SRC / "esi" / "transport.py").read_text(encoding="utf-8"))
    connectors = [c for c, _ in calls_with_scope(tree) if call_name(c) == "TCPConnector"]
    assert len(connectors) == 1
    ssl = [k.value for k in connectors[0].keywords if k.arg == "ssl"]
    assert len(ssl) == 1 and isinstance(ssl[0], ast.Constant) and ssl[0].value is True


BAD = '''
import os, subprocess, asyncio, ssl
WHERE = " AND x = 1"
STATEMENTS = ("SELECT 1", "SELECT 2")
def f(conn, name, q, ids: str):
    conn.execute(text(f"SELECT * FROM t WHERE name = '{name}'"))
    conn.execute(text("SELECT 1" + q))
    conn.fetch("SELECT %s" % name)
    sql = "SELECT * FROM t WHERE id IN (" + ids + ")"
    conn.fetchrow(sql + " LIMIT 1")
    query = "SELECT {}".format(name)
    conn.execute(query)
    clause = "SELECT 1"
    clause += f" WHERE x = {name}"
    conn.exec_driver_sql(clause)
    conn.execute(text(q))
    conn.prepare(sql=f"SELECT {name}")
    literal_column(name)
    subprocess.run(q, shell=True)
    subprocess.Popen(f"ls {q}")
    os.system(q)
    asyncio.create_subprocess_shell(q)
    aiohttp.TCPConnector(ssl=False)
    ctx = ssl._create_unverified_context()
    ctx.check_hostname = False
    for statement in (f"DROP TABLE {name}", "SELECT 1"):
        conn.execute(statement)
'''

GOOD = '''
import subprocess, asyncio
SELECT_ONE = "SELECT 1"
STATEMENTS = ("CREATE TABLE a ()", "CREATE TABLE b ()")
_Q = text("SELECT id FROM t WHERE kind = :kind")
def g(conn, stmt, kind, flag):
    conn.execute(text("SELECT * FROM t WHERE id = :id"), {"id": 1})
    conn.execute(text("SELECT 1" " FROM t" + " WHERE x = :x"), {"x": 2})
    conn.execute(text(SELECT_ONE if flag else "SELECT 2"))
    for statement in STATEMENTS:
        op.execute(statement)
    query = _Q if flag else text("SELECT 3")
    conn.execute(query, {"kind": kind})
    conn.execute(select(t).where(t.c.id == 1))
    conn.execute(stmt)
    conn.fetch("SELECT * FROM t WHERE id = $1", 7)
    literal_column("0")
    subprocess.run(["rabbitmqctl", "add_vhost", kind], check=True)
    asyncio.create_subprocess_exec("python", "-m", "x")
    aiohttp.TCPConnector(ssl=True)
'''


def test_the_scans_flag_what_they_exist_for_and_nothing_else() -> None:
    """Each rule flags every bad pattern above and none of the legitimate ones, so an empty
    finding on the package means something."""
    bad, good = ast.parse(BAD), ast.parse(GOOD)
    assert [f.where for f in sql_findings("bad", bad)] == [
        f"bad:{n}" for n in (6, 7, 8, 10, 12, 15, 16, 17, 18, 27)]
    assert [f.where for f in shell_findings("bad", bad)] == ["bad:19", "bad:21", "bad:22"]
    assert [f.where for f in spawn_inventory("bad", bad) if "NOT" in f.what] == ["bad:19", "bad:20"]
    assert [f.where for f in tls_findings("bad", bad)] == ["bad:23", "bad:24", "bad:25"]
    assert sql_findings("good", good) == [] and shell_findings("good", good) == []
    assert tls_findings("good", good) == []
    assert all("NOT" not in f.what for f in spawn_inventory("good", good)), spawn_inventory("good", good)
