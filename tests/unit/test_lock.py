"""The lock files install what pyproject.toml declares: requirements/lock.txt pins every runtime
dependency and requirements/dev-lock.txt every runtime and `dev` one, each at a version pyproject.toml
allows and with its hashes (pip installs them with --require-hashes), and both at the same versions.

A failure here after editing pyproject.toml means: run `scripts/lock`, then commit both lock files.
"""

from __future__ import annotations

import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
FIX = "run scripts/lock and commit requirements/"
# The environment the locks are compiled for (scripts/lock): the oldest Python supported, on Linux.
TARGET = {
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


@dataclass(frozen=True)
class Pin:
    version: Version
    hashes: tuple[str, ...]


def parse_lock(text: str) -> dict[str, Pin]:
    """`name==version [; marker]` lines with their `--hash=` options, as pip-compile writes them."""
    pins: dict[str, Pin] = {}
    for raw in text.replace("\\\n", " ").splitlines():
        line = raw.split("#", 1)[0].strip()  # a hash has no "#", so this drops only comments
        if not line:
            continue
        if line.startswith("-"):
            raise ValueError(f"an option in a lock file (pip-compile --no-emit-*): {line}")
        words = line.split()
        hashes = tuple(w.removeprefix("--hash=") for w in words if w.startswith("--hash="))
        req = Requirement(" ".join(w for w in words if not w.startswith("--hash=")))
        specs = list(req.specifier)
        if len(specs) != 1 or specs[0].operator != "==":
            raise ValueError(f"not an exact pin: {line}")
        name = canonicalize_name(req.name)
        if name in pins:
            raise ValueError(f"pinned twice: {name}")
        pins[name] = Pin(Version(specs[0].version), hashes)
    return pins


def problems(declared: list[str], pins: dict[str, Pin], lock: str) -> list[str]:
    """What makes `pip install --require-hashes -r LOCK` miss or contradict the declared requirements."""
    found: list[str] = []
    for text in declared:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate(TARGET):
            continue  # not installed where the lock is compiled, so not in it
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            found.append(f"{lock}: {req.name} is declared but not pinned")
        elif not req.specifier.contains(pin.version, prereleases=True):
            found.append(f"{lock}: {req.name}=={pin.version} does not satisfy {req.name}{req.specifier}")
    found += [f"{lock}: {name}=={pin.version} has no hash" for name, pin in pins.items() if not pin.hashes]
    return found


def declared(pyproject: dict[str, object], dev: bool) -> list[str]:
    project = pyproject["project"]
    assert isinstance(project, dict)
    runtime: list[str] = project.get("dependencies", [])
    extra: list[str] = project.get("optional-dependencies", {}).get("dev", []) if dev else []
    return runtime + extra


def lock_problems(root: Path) -> list[str]:
    """Everything wrong with root/requirements/*.txt against root/pyproject.toml."""
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    runtime = parse_lock((root / "requirements" / "lock.txt").read_text())
    dev = parse_lock((root / "requirements" / "dev-lock.txt").read_text())
    found = problems(declared(pyproject, dev=False), runtime, "lock.txt")
    found += problems(declared(pyproject, dev=True), dev, "dev-lock.txt")
    found += [
        f"lock.txt pins {name}=={pin.version}, dev-lock.txt {dev[name].version if name in dev else 'nothing'}"
        for name, pin in runtime.items()
        if name not in dev or dev[name].version != pin.version
    ]
    return found


# The project's own lock files.


def test_the_lock_files_pin_what_pyproject_declares() -> None:
    found = lock_problems(ROOT)
    assert not found, f"{FIX}:\n" + "\n".join(found)


def test_the_locks_pin_the_platform_dependent_uvloop_with_its_marker() -> None:
    for lock in ("lock.txt", "dev-lock.txt"):
        text = (ROOT / "requirements" / lock).read_text()
        assert 'uvloop==' in text and 'sys_platform != "win32"' in text, lock


def test_the_dev_extra_is_not_in_the_runtime_lock() -> None:
    runtime = parse_lock((ROOT / "requirements" / "lock.txt").read_text())
    assert "pytest" not in runtime and "mypy" not in runtime


# The checker itself, on copies of the project's files that were made wrong.


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "requirements", tmp_path / "requirements")
    assert lock_problems(tmp_path) == []
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_a_new_runtime_dependency_fails_both_locks(copy: Path) -> None:
    edit(copy / "pyproject.toml", '"aiohttp>=3.9",', '"aiohttp>=3.9", "Not_A.Package>=1",')
    assert lock_problems(copy) == [
        "lock.txt: Not_A.Package is declared but not pinned",
        "dev-lock.txt: Not_A.Package is declared but not pinned",
    ]


def test_a_new_dev_dependency_fails_only_the_dev_lock(copy: Path) -> None:
    edit(copy / "pyproject.toml", '"pytest>=8",', '"pytest>=8", "pytest-randomly>=3",')
    assert lock_problems(copy) == ["dev-lock.txt: pytest-randomly is declared but not pinned"]


def test_a_raised_minimum_fails_both_locks(copy: Path) -> None:
    edit(copy / "pyproject.toml", '"aiohttp>=3.9",', '"aiohttp>=999",')
    pinned = parse_lock((copy / "requirements" / "lock.txt").read_text())["aiohttp"].version
    assert lock_problems(copy) == [
        f"lock.txt: aiohttp=={pinned} does not satisfy aiohttp>=999",
        f"dev-lock.txt: aiohttp=={pinned} does not satisfy aiohttp>=999",
    ]


def test_a_pin_without_hash_fails(copy: Path) -> None:
    lock = copy / "requirements" / "dev-lock.txt"
    lines = lock.read_text().splitlines(keepends=True)
    lock.write_text("".join(line for line in lines if not line.lstrip().startswith("--hash=")) + "\n")
    found = lock_problems(copy)
    assert "dev-lock.txt: aiohttp==" in "\n".join(found)
    assert all(p.startswith("dev-lock.txt: ") and p.endswith(" has no hash") for p in found), found
    assert len(found) == len(parse_lock(lock.read_text()))


def test_locks_that_disagree_fail(copy: Path) -> None:
    lock = copy / "requirements" / "lock.txt"
    pinned = parse_lock(lock.read_text())["aiohttp"].version
    edit(lock, f"aiohttp=={pinned} ", "aiohttp==3.9.0 ")
    assert lock_problems(copy) == [f"lock.txt pins aiohttp==3.9.0, dev-lock.txt {pinned}"]


def test_a_runtime_pin_missing_from_the_dev_lock_fails(copy: Path) -> None:
    lock = copy / "requirements" / "dev-lock.txt"
    pinned = parse_lock(lock.read_text())["yarl"].version
    kept, keep = [], True
    for line in lock.read_text().splitlines(keepends=True):
        if not line.startswith((" ", "#")):  # a pin starts a block; its hashes and comments follow
            keep = not line.startswith("yarl==")
        if keep:
            kept.append(line)
    lock.write_text("".join(kept))
    assert lock_problems(copy) == [f"lock.txt pins yarl=={pinned}, dev-lock.txt nothing"]


def test_names_compare_as_pep_503_says() -> None:
    pins = parse_lock("Foo.Bar_baz==1.0 \\\n    --hash=sha256:00\n    # via x\n")
    assert list(pins) == ["foo-bar-baz"]
    assert problems(["foo-BAR.baz>=1"], pins, "x") == []
    assert problems(["FOO__bar-Baz>=1"], pins, "x") == []


def test_a_dependency_for_another_platform_is_not_required() -> None:
    pins = parse_lock("a==1 --hash=sha256:00\n")
    assert problems(["a", "pywin32>=300; sys_platform == 'win32'"], pins, "x") == []
    assert problems(["a", "uvloop; sys_platform != 'win32'"], pins, "x") == [
        "x: uvloop is declared but not pinned"]


@pytest.mark.parametrize(("text", "message"), [
    ("--index-url https://example.invalid/simple\n", "an option in a lock file"),
    ("a>=1 --hash=sha256:00\n", "not an exact pin"),
    ("a==1,<2 --hash=sha256:00\n", "not an exact pin"),
    ("a==1 --hash=sha256:00\nA==2 --hash=sha256:11\n", "pinned twice: a"),
])
def test_a_lock_file_pip_compile_would_not_write_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_lock(text)
