"""The layers of killreport, from the bottom up, and a test that every module keeps to them.

A unit is a package under src/killreport (esi, store...) or a top-level module (wiring, downtime...).
A unit may import itself, the base, and the units LAYERS lists for it; each of those is written
above it, so no cycle can form.

    base       killreport (its version), ids, changes, config, _lazy, logs, signals, since, runner_lock:
               import nothing of killreport above the base
    domain     what every layer talks about: entity models, cache facts (Fetched, NotModified), the
               budget's Observation, RouteStatus, the scheduler's shapes, the budget's pure rules and
               its protocol. Plain values, no I/O
    store      SQL on both dialects, over domain only: neither the ESI client nor aiohttp, nor the
               budget's backends, nor the scheduler
    budget     the backends (memory, pg, sqlite) of domain's Budget protocol, over the store's SQL.
               The pure rules sit in domain because the store keeps their state (store/budget.py,
               store/sqlite/budget.py), while these backends open the store: one package holding
               both was a cycle with the store
    esi        the client, over domain only: it talks to the Budget protocol, never to a backend
    r2z2       zKillboard's kill feed: its client and the follower, over domain only; it writes through
               domain's KillmailStore protocol, which the store implements without importing it
    downtime   waiting for ESI's /status, over esi
    queue      the brokers; the table queue over the SQLite store's queue surface
    services   the database a process opens
    sync       one job: fetch (esi), store (store), fan out (queue)
    lookup     ids met elsewhere, on demand: what the copy holds, the rest queued (sync) and awaited
    backfill   whole days of kills: R2Z2's day files (r2z2), bodies from ESI (esi), saved (store) and
               what they discover published (sync)
    metrics    gauges read from the store and the broker
    wiring     a process's budget, ESI client and broker
    worker     the job loop
    killfeed   the one active R2Z2 follower per database: r2z2's Follower over the store (and the
               queue, for what its kills name), its lock and heartbeat, its process life
    scheduler  the active scheduler and `killreport run` (it runs workers and the follower)
    overview, web, embedded, cli   what people see and type; cli may import everything
    sim        separate: the ESI simulator may import the base and domain only, and nothing imports it
               but cli (and tests)

Imports are read with ast, not a regex: `import x` and `from x import y` (relative ones resolved),
wherever they are (inside functions too), and modules named by string: lazy_exports' maps, cyclopts'
"module:function" commands, import_module's argument. Imports under TYPE_CHECKING count: they are
still what the module means (its annotations name the other layer), mypy follows them, and
anything that resolves the annotations at run time (typing.get_type_hints, pydantic) imports them.

Some libraries are held too: only the units LIBRARIES names may import them (the store loads no
HTTP client, the embedded layers no AMQP).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

SRC: Final = Path(__file__).resolve().parents[2] / "src"

BASE: Final = frozenset({"killreport", "agent", "ids", "changes", "config", "_lazy", "logs", "signals",
                         "since", "runner_lock"})

LAYERS: Final[tuple[tuple[str, frozenset[str]], ...]] = (
    ("domain", frozenset()),
    ("store", frozenset({"domain"})),
    ("budget", frozenset({"domain", "store"})),
    ("esi", frozenset({"domain"})),
    ("r2z2", frozenset({"domain"})),
    ("downtime", frozenset({"domain", "esi"})),
    ("queue", frozenset({"store"})),
    ("services", frozenset({"store"})),
    ("sync", frozenset({"domain", "esi", "queue", "store"})),
    ("lookup", frozenset({"queue", "store", "sync"})),
    ("backfill", frozenset({"domain", "esi", "queue", "r2z2", "store", "sync"})),
    ("metrics", frozenset({"domain", "queue", "store"})),
    ("wiring", frozenset({"budget", "domain", "esi", "queue", "services", "store"})),
    ("worker", frozenset({"downtime", "domain", "esi", "metrics", "queue", "services", "store", "sync",
                          "wiring"})),
    ("killfeed", frozenset({"backfill", "domain", "esi", "queue", "r2z2", "services", "store", "sync",
                            "wiring", "worker"})),
    ("scheduler", frozenset({"domain", "downtime", "esi", "killfeed", "metrics", "queue", "services", "store",
                             "sync", "wiring", "worker"})),
    ("overview", frozenset({"domain", "queue", "store"})),
    ("web", frozenset({"domain", "lookup", "overview", "queue", "services", "store"})),
    ("embedded", frozenset({"wiring", "worker"})),
    ("sim", frozenset({"domain"})),
    ("cli", frozenset({"backfill", "budget", "domain", "downtime", "embedded", "esi", "killfeed", "lookup",
                       "metrics", "overview", "queue", "r2z2", "scheduler", "services", "sim", "store",
                       "sync", "web", "wiring", "worker"})),
    ("__main__", frozenset({"cli"})),
)

# Within the base: what it needs of itself.
BASE_DEPS: Final = {"changes": frozenset({"ids"}), "agent": frozenset({"killreport"})}

# Third-party libraries only some units may load: an HTTP client, AMQP.
LIBRARIES: Final = {
    "aiohttp": frozenset({"esi", "metrics", "r2z2", "sim", "web"}),
    "aio_pika": frozenset({"queue"}),
    "aiormq": frozenset({"queue"}),
}

# Where a layer may reach another only through one module: the queue sees of the store what
# store/sqlite/queue.py exports (its __all__), not the SQLite store's internals.
SURFACES: Final = {("queue", "store"): "killreport.store.sqlite.queue"}

# A module named in a string: "killreport.queue.rabbit", or cyclopts' "killreport.cli.copy_cmd:copy".
_NAMED = re.compile(r"^killreport(?:\.\w+)+(?::[\w.]+)?$")


def module_name(path: Path) -> str:
    """`killreport.store.sqlite.queue` for src/killreport/store/sqlite/queue.py (a package: its name)."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str:
    """The layer unit a module belongs to: killreport.store.sqlite.queue -> store."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _called(node: ast.Call) -> str:
    return node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")


def imported(source: str, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, module) for everything `source` (the text of `module`) imports, however it is written."""
    tree = ast.parse(source)
    package = module if is_package else module.rpartition(".")[0]
    loggers = {id(n.args[0]) for n in ast.walk(tree)
               if isinstance(n, ast.Call) and _called(n) == "get_logger" and n.args}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            # `from killreport import esi` imports the package esi, not just the root.
            yield from ((node.lineno, f"{base}.{alias.name}") for alias in node.names)
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and _NAMED.match(node.value)
              and id(node) not in loggers):  # a logger's name is not an import
            yield node.lineno, node.value.partition(":")[0]


def _existing(name: str) -> str:
    """The longest prefix of a dotted name that is a module (`a.b.C` -> `a.b` when C is a class)."""
    parts = name.split(".")
    while len(parts) > 1:
        path = SRC.joinpath(*parts)
        if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
            break
        parts.pop()
    return ".".join(parts)


def _may(unit: str, other: str, allowed: dict[str, frozenset[str]]) -> bool:
    if other == unit:
        return True
    if unit in BASE:
        return other in BASE_DEPS.get(unit, frozenset())
    return other in BASE or other in allowed.get(unit, frozenset())


def violations() -> list[str]:
    """Every import in src/killreport that a layer does not allow, as `file:line: a -> b`."""
    allowed = dict(LAYERS)
    found = []
    for path in sorted((SRC / "killreport").rglob("*.py")):
        module = module_name(path)
        unit, where = unit_of(module), path.relative_to(SRC)
        for line, target in sorted(imported(path.read_text(), module, path.name == "__init__.py")):
            top = target.split(".")[0]
            if top in LIBRARIES and unit not in LIBRARIES[top]:
                found.append(f"{where}:{line}: {unit} -> {target} (a library it may not load)")
            if top != "killreport":
                continue
            other = unit_of(_existing(target))
            if not _may(unit, other, allowed):
                found.append(f"{where}:{line}: {unit} -> {other} ({module} imports {target})")
    return found


def test_every_import_keeps_to_the_layers() -> None:
    found = violations()
    assert found == [], ("imports across the layers (this file says which may import which):\n"
                         + "\n".join(found))


def test_the_layers_are_written_bottom_up_and_name_every_unit() -> None:
    seen = set(BASE)
    for unit, may in LAYERS:
        assert may <= seen, f"{unit} may import {sorted(may - seen)}, written above it (a cycle could form)"
        seen.add(unit)
    units = {unit_of(module_name(p)) for p in (SRC / "killreport").rglob("*.py")}
    assert units - seen == set(), f"units without a layer: {sorted(units - seen)}"
    assert seen - units == set(), f"layers of no unit: {sorted(seen - units)}"


def test_nothing_but_cli_imports_the_simulator() -> None:
    assert [u for u, may in LAYERS if "sim" in may] == ["cli"]


def test_the_reader_sees_every_way_of_importing() -> None:
    # So the test above cannot pass by seeing nothing.
    source = '''
from typing import TYPE_CHECKING
import killreport.esi.client
from killreport.store import interface
from . import sibling
from ..domain.models import Alliance
if TYPE_CHECKING:
    from killreport.budget.pg import PgBudget
def later():
    import aiohttp
__getattr__ = lazy_exports(__name__, {"X": "killreport.queue.rabbit"})
app.command("killreport.cli.copy_cmd:copy")
log = structlog.get_logger("killreport.budget")
'''
    got = sorted(target for _, target in imported(source, "killreport.store.sqlite.queue", False))
    assert got == sorted(["typing.TYPE_CHECKING", "killreport.esi.client", "killreport.store.interface",
                          "killreport.store.sqlite.sibling", "killreport.store.domain.models.Alliance",
                          "killreport.budget.pg.PgBudget", "aiohttp", "killreport.queue.rabbit",
                          "killreport.cli.copy_cmd"])


def test_the_store_loads_nothing_above_it() -> None:
    # What the layers are for: a store user no longer pays for the ESI client (aiohttp) or the sync.
    code = ("import sys, killreport.store.sqlite.store, killreport.store.postgres,"
            " killreport.store.interface\n"
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('killreport', 'aiohttp'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {unit_of(m) if m.startswith("killreport") else m.split(".")[0] for m in done.stdout.split()}
    assert loaded <= BASE | {"domain", "store"}, sorted(loaded - BASE - {"domain", "store"})


def _exported(module: str) -> set[str]:
    tree = ast.parse(SRC.joinpath(*module.split(".")).with_suffix(".py").read_text())
    return set(ast.literal_eval(next(n.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
                                     and getattr(n.targets[0], "id", "") == "__all__")))


def test_a_layer_held_to_a_surface_imports_only_what_that_surface_exports() -> None:
    found = []
    for (unit, other), surface in SURFACES.items():
        exported = _exported(surface)
        for path in sorted((SRC / "killreport" / unit).rglob("*.py")):
            module = module_name(path)
            for line, target in imported(path.read_text(), module, path.name == "__init__.py"):
                if target.startswith("killreport.") and unit_of(_existing(target)) == other:
                    # `from <surface-package> import queue` names the surface itself.
                    name = target.removeprefix(surface + ".")
                    if target != surface and not (target.startswith(surface + ".") and name in exported):
                        found.append(f"{path.relative_to(SRC)}:{line}: {target} (only {surface}'s __all__)")
    assert found == [], "\n".join(found)
