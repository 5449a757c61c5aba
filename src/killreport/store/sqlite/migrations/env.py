"""Alembic environment of the embedded store: the SQLite file that killreport.store.migrate names.

The migration runs inside one `BEGIN IMMEDIATE` transaction on an autocommit connection: SQLite's
DDL is transactional, but Python's sqlite3 module only opens a transaction before DML, so without
an explicit BEGIN a failed migration would leave half its tables. IMMEDIATE also takes the write
lock before Alembic reads the current revision, so two processes upgrading at once run it once.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from killreport.store.sqlite import tables as embedded
from killreport.store.sqlite.engine import SCHEME, open_engine
from killreport.store.tables import metadata as shared


def _target() -> MetaData:
    # Autogenerate compares against both schemas: the shared tables and the embedded-only ones.
    target = MetaData()
    for source in (shared, embedded.metadata):
        for table in source.tables.values():
            table.to_metadata(target)
    return target


def _run(connection: Connection) -> None:
    # transactional_ddl: Alembic then opens no transaction per migration of its own (whose commit
    # would end ours); the one transaction is the explicit BEGIN below.
    context.configure(connection=connection, target_metadata=_target(), compare_type=True,
                      render_as_batch=True, transactional_ddl=True)
    connection.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        context.run_migrations()
    except BaseException:
        connection.exec_driver_sql("ROLLBACK")
        raise
    connection.exec_driver_sql("COMMIT")


async def _run_async() -> None:
    url = context.config.get_main_option("sqlalchemy.url") or ""
    # open_engine: the file's folder is created and WAL set (WAL is a property of the file).
    engine = open_engine(SCHEME + url.partition(":///")[2], pool_size=1)
    try:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


asyncio.run(_run_async())
