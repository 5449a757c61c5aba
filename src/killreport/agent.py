"""Who is asking: the User-Agent every request to CCP's ESI and zKillboard's R2Z2 carries.

Both ask clients to name the application, its version and a way to reach its operator
(docs/esi-citizenship.md); written once here so the two clients cannot drift apart.
"""

from __future__ import annotations

import re
from typing import Final

from killreport import __version__

PROJECT_URL: Final = "https://github.com/killreport/killreport"


def user_agent(contact: str) -> str:
    """`killreport/<version> (<contact>; +<project url>)`, as CCP and zKillboard ask."""
    contact = re.sub(r"[\x00-\x1f\x7f();]", "", contact).strip()
    return f"killreport/{__version__} ({contact or 'no contact given'}; +{PROJECT_URL})"
