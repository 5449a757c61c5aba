"""The README is a front door: it fits on a page and every link in it leads somewhere in the tree.

(The docs site's own links are checked by `mkdocs build --strict`, which scripts/test runs; the
README is not part of the site, so its links are checked here.)
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_readme_fits_on_a_page() -> None:
    assert len(README.splitlines()) <= 150


def test_every_relative_link_of_the_readme_exists() -> None:
    targets = [t for t in re.findall(r"\]\(([^)\s]+)\)", README) if "://" not in t]
    assert targets, "the README links into docs/"
    missing = [t for t in targets if not (ROOT / t.split("#", 1)[0]).exists()]
    assert not missing, f"README links to what is not there: {missing}"
