"""Gaps and back-fill: every kill of chosen UTC days from R2Z2's day files, bodies from ESI where needed.

    plan.py (pure: which days, which kills, from where) ──► run.py (the edge: the paced feed, the ESI
    client, the store's save and back-fill days, publication of what the kills discover)
"""
