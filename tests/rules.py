"""The budget rules for tests on the real clock: without the daily downtime window.

With the default rules, a test that reserves on the real clock between 10:59:30 and 11:30 UTC waits
for ESI's daily downtime (the budget grants only /status then), and times out. Tests of the
downtime itself set their clock and rules explicitly.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from killreport.budget.rules import RULES, Rules

NO_DOWNTIME: Final[Rules] = dataclasses.replace(RULES, downtime_lead_s=0.0, downtime_max_s=0.0)
