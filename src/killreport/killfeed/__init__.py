"""Following zKillboard's R2Z2 feed into the database: one follower per database, standbys take over.

    main.py     a follower's life: stand by, follow while it holds the lease, stop on SIGTERM
                (inside `killreport run`, or `killreport killmails follow`)
    lease.py    holding the follower's lock (PostgreSQL: an advisory lock; SQLite: the runner lock)
                and its heartbeat in the killmail_feed row
    adapter.py  domain's KillmailStore over a Store, publishing what a save discovered (the pace is
                the back-fill's StoredPace: one cap for every process)

The loop itself (what to ask, when, what each answer changes) is r2z2's Follower.
"""
