"""What every layer talks about, with nothing under it: plain values, no I/O, no client, no database.

    models        the pinned ESI schemas of the entities we store (pydantic), Entity, Affiliation, Status,
                  the two history routes' records
    history       the intervals a history describes (who was where, and when), questions over them
    killmail      ESI's killmail and zKillboard's R2Z2 package (pydantic), Rejected for one failing them
    kill_store    the KillmailStore protocol the R2Z2 follower writes through
    cache         a fetched answer and a 304 with their cache facts (Fetched, NotModified)
    observation   what one response tells the budget (Observation, TokenReport, NO_ANSWER)
    routes        route templates (the history routes'), request counts' keys (RouteStatus)
    schedule      the scheduler's shapes the store reads and writes (Affiliated, Move, StoredAlliance)
    budget        the Budget protocol the ESI client talks to, Lease, BudgetSnapshot
    budget_rules  the budget's pure decisions (decide, apply_settle) and every number in Rules

Every layer above may import these (store, budget, esi, sync...); this package imports nothing of
killreport. tests/unit/test_layers.py writes down the order of the layers and holds it.
"""

__all__ = ["budget", "budget_rules", "cache", "history", "kill_store", "killmail", "models", "observation",
           "routes", "schedule"]
