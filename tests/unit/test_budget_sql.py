"""The budget's SQL files: split into single statements, shipped in the package, free of rule constants."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from importlib.resources import files
from pathlib import Path

from killreport.store.sql import read, statements

ROOT = Path(__file__).resolve().parents[2]
SQL_FILES = ("esi_reserve.sql", "esi_settle.sql")


def test_a_function_body_with_semicolons_stays_one_statement() -> None:
    text = """-- a comment; with a semicolon
CREATE FUNCTION f() RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1;
    RETURN 2;
END
$$;
-- between;
COMMENT ON FUNCTION f() IS 'two';
SELECT 3
"""
    found = statements(text)
    assert len(found) == 3
    assert found[0].startswith("-- a comment") and found[0].endswith("$$")
    assert found[1].endswith("IS 'two'") and found[2] == "SELECT 3"


def test_comment_only_text_has_no_statements() -> None:
    assert statements("-- nothing;\n\n-- here\n") == []


def test_each_file_is_one_create_statement_read_through_the_package() -> None:
    for name in SQL_FILES:
        (statement,) = statements(read(name))
        assert f"CREATE OR REPLACE FUNCTION {name.removesuffix('.sql')}(" in statement


def test_the_sql_files_ship_in_the_package() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    package = Path(str(files("killreport")))
    shipped = [p for p in (package / "store" / "sql").iterdir() if p.suffix == ".sql"]
    assert {p.name for p in shipped} >= set(SQL_FILES)
    for path in shipped:
        relative = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(relative, glob) for glob in patterns["killreport"]), relative


def test_the_function_bodies_hold_no_rule_numbers() -> None:
    """Every rule constant is an argument: the bodies use only 0 and 1 (counting) and HTTP statuses."""
    allowed = {"0", "1", "420", "429"}
    for name in SQL_FILES:
        code = "\n".join(line.split("--")[0] for line in read(name).splitlines())
        numbers = set(re.findall(r"(?<![\w.$])\d+(?:\.\d+)?", code))
        assert numbers <= allowed, f"{name}: {sorted(numbers - allowed)}"
