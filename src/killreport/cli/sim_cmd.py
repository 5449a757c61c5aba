"""`killreport sim`: placeholder until the simulator lands."""

from __future__ import annotations


def sim() -> int:
    """Run the local ESI simulator."""
    print("killreport sim: not built yet")
    return 1
