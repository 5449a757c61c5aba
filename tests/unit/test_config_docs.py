"""docs/configuration.md's table and `.env.example` say what `Settings` declares, no more, no less."""

from __future__ import annotations

import json
from pathlib import Path

from killreport.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def _default(value: object) -> str:
    if value == "":
        return "*(empty)*"
    if isinstance(value, tuple | dict):
        return f"`{json.dumps(list(value) if isinstance(value, tuple) else value, separators=(', ', ': '))}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"


def expected_rows() -> list[str]:
    """The table as Settings declares it."""
    return [f"| `{name.upper()}` | {_default(field.default)} | {field.description} |"
            for name, field in Settings.model_fields.items()]


def test_every_option_has_a_meaning() -> None:
    assert all(field.description for field in Settings.model_fields.values())


CONFIGURATION_PAGE = ROOT / "docs" / "configuration.md"
HEADER = "| variable | default | meaning |"


def documented_rows(page: str) -> list[str]:
    """The rows of the page's one settings table (after its header and separator)."""
    assert page.count(HEADER) == 1, f"{CONFIGURATION_PAGE.name} should hold one settings table"
    table = page[page.index(HEADER):].split("\n\n", 1)[0]
    return table.splitlines()[2:]


def test_the_configuration_page_is_the_settings() -> None:
    rows = documented_rows(CONFIGURATION_PAGE.read_text())
    should = "\n".join(expected_rows())
    assert rows == expected_rows(), f"docs/configuration.md's table drifted from Settings:\n{should}"


def test_a_drifted_table_is_caught() -> None:
    page = CONFIGURATION_PAGE.read_text()
    first = expected_rows()[0]
    for drifted in (page.replace(first + "\n", ""),  # a setting left out
                    page.replace(first, first.removesuffix(" |") + " (changed) |"),  # a meaning changed
                    page.replace(first, first + "\n| `NOT_A_SETTING` | `1` | nothing |")):  # one too many
        assert drifted != page
        assert documented_rows(drifted) != expected_rows()


def test_env_example_names_only_real_options() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    named = {line.lstrip("# ").split("=", 1)[0] for line in lines if "=" in line.split(" ", 1)[0]}
    options = {name.upper() for name in Settings.model_fields}
    assert named <= options, f"unknown options in .env.example: {named - options}"
    assert named == options, f".env.example leaves out {sorted(options - named)}"


def test_an_embedded_runner_fills_the_in_flight_cap_unless_told_otherwise() -> None:
    embedded = Settings(database_url="sqlite:///k.db", esi_max_inflight=40, _env_file=None)
    assert embedded.job_concurrency == 60  # 1.5 x the in-flight cap
    assert embedded.model_copy(update={"worker_concurrency": 8}).job_concurrency == 8  # --concurrency 8
    assert Settings(database_url="sqlite:///k.db", worker_concurrency=5, _env_file=None).job_concurrency == 5
    distributed = Settings(database_url="postgresql://u@h/db", esi_max_inflight=40, _env_file=None)
    assert distributed.job_concurrency == distributed.worker_concurrency == 16


def test_env_example_copied_to_env_leaves_an_embedded_runner_its_default_concurrency() -> None:
    settings = Settings(_env_file=ROOT / ".env.example")
    assert settings.embedded
    assert settings.job_concurrency == settings.esi_max_inflight * 3 // 2
