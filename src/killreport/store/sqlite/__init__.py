"""The embedded store (the default mode): the same interface as store/ on one SQLite file (WAL), no
server.

    store      sqlite_store(): the Store on a SQLite engine
    lookup                          the web's search and request rate on SQLite (the other query
                                    groups, jobs, schedule and admin, are store/'s, written for both)
    queue, budget                   the SQL of the table queue (queue/table.py) and the runner's budget row
    engine, driver                  opening the file (WAL, busy timeout, one connection) and the
                                    sqlite3 driver under it
    fast, lent                      the hot statements run straight on sqlite3 (compiled once, a
                                    transaction per call), and the one connection lent in turn
    asks                            a command's ask for the alliance list, to the runner (sync/asked.py)
    types, tables, write            epoch-second times, the embedded-only tables, BEGIN IMMEDIATE
    migrations/                     the file's own Alembic history
"""
