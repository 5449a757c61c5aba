"""The embedded store: the same interface as store/ on one SQLite file (WAL), no server.

    types      how times are kept (epoch seconds)
    engine     opening the file: WAL, a busy timeout, one connection per task
    tables     the tables only the embedded mode has: the job queue, dead letters, the budget
"""
