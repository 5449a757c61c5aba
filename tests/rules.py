"""The budget rules for tests on the real clock: without the daily downtime window.

With the default rules, a test that reserves on the real clock between 10:59:30 and 11:30 UTC waits
for ESI's daily downtime (the budget grants only /status then), and times out. Tests of the
downtime itself set their clock and rules explicitly.
"""

from __future__ import annotations

from typing import Final

from killreport.domain.budget_rules import WITHOUT_DOWNTIME, Rules

NO_DOWNTIME: Final[Rules] = WITHOUT_DOWNTIME
