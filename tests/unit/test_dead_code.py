"""vulture finds no dead code in src/ (migrations aside), given the allowlist of framework uses."""

from __future__ import annotations

from pathlib import Path

from vulture import Vulture

ROOT = Path(__file__).resolve().parents[2]


def test_no_dead_code_in_src() -> None:
    finder = Vulture()
    finder.scavenge([str(ROOT / "src"), str(ROOT / "tests" / "dead_code_allowlist.py")],
                    exclude=["*/migrations/versions/*"])
    unused = [f"{item.filename.relative_to(ROOT)}:{item.first_lineno}: {item.message}"
              for item in finder.get_unused_code(min_confidence=60)]
    assert unused == [], "dead code (delete it, or allowlist a framework use with why):\n" + "\n".join(unused)
