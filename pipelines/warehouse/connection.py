"""Connecting to the DuckDB file: readers and writers that wait for each other, the schema in
place, transactions, and statements that read Arrow tables in place.

This package is the only place that begins, commits or rolls back a transaction.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from pipelines.queries import SQL_DIR, named_queries
from pipelines.warehouse.protocol import WarehouseBusyError, WarehouseError

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_WAREHOUSE_PATH = "data/warehouse.duckdb"
DEFAULT_MEMORY_LIMIT = "128MB"
DEFAULT_WRITER_WAIT_SECONDS = 600.0
# How often a connection waiting for another process to close the file tries again.
BUSY_POLL_SECONDS = 0.25

Connection = duckdb.DuckDBPyConnection


def connect(
    path: str | Path,
    read_only: bool = False,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    wait_seconds: float = 0,
    on_wait: Callable[[str], None] | None = None,
    schema: bool = True,
    tell_after_seconds: float = 0,
) -> Connection:
    """Open the warehouse file, creating its folder (and, unless read-only or told not to by
    `schema`, its tables: once per process is enough).

    DuckDB's buffer pool may otherwise grow to most of the machine's memory while a sync
    writes; past `memory_limit` it evicts written blocks to the file instead. While another
    process has the file open (DuckDB admits one process per file while it is open read-write,
    readers included), tries again for up to `wait_seconds`, telling `on_wait` once it has
    waited `tell_after_seconds`, then raises `WarehouseBusyError`.
    """
    started = time.monotonic()
    told = False
    while True:
        try:
            return _connect(Path(path), read_only, memory_limit, schema)
        except WarehouseBusyError as busy:
            waited = time.monotonic() - started
            if waited >= wait_seconds:
                if wait_seconds > 0:
                    raise WarehouseBusyError(
                        f"after {wait_seconds:.0f} s of waiting: {busy}"
                    ) from None
                raise
            if on_wait is not None and not told and waited >= tell_after_seconds:
                on_wait(
                    f"{path} is open in another process (a sync, qcw sql, a DuckDB shell or a "
                    f"notebook); waiting up to {wait_seconds:.0f} s for it to close"
                )
                told = True
            time.sleep(BUSY_POLL_SECONDS)


def _connect(path: Path, read_only: bool, memory_limit: str, schema: bool) -> Connection:
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = duckdb.connect(str(path), read_only=read_only, config={"memory_limit": memory_limit})
    except duckdb.IOException as error:
        if "lock" not in str(error).lower():
            raise
        raise WarehouseBusyError(
            f"{path} is open in another process, so it cannot be "
            f"{'read' if read_only else 'written'} now; try again when that process (a sync, "
            f"a DuckDB shell or a notebook) is done. DuckDB said: {error}"
        ) from None
    if schema and not read_only:
        ensure_schema(conn)
    return conn


# Retired columns' statements (`<table>__<column>`): what each held, carried into its successor.
MIGRATIONS_SQL = "migrations.sql"


def ensure_schema(conn: Connection, keys: bool = True) -> None:
    """Create the tables that are missing (with their primary keys, unless not `keys`), add
    columns that a newer schema introduced, and retire columns it dropped (`retire_columns`)."""
    # Imported here: the schema's modules load pyarrow, which a reader never needs (`qcw sql`
    # starts in a third of the time without them).
    from pipelines.schema import TABLES
    from pipelines.schema.ddl import add_column_sql, render_tables_sql, without_keys

    ddl = render_tables_sql(TABLES) + (SQL_DIR / "state.sql").read_text()
    conn.execute(ddl if keys else without_keys(ddl))
    for table in TABLES:
        existing = set(conn.table(table.name).columns)
        for column in table.columns:
            if column.name not in existing:
                conn.execute(add_column_sql(table, column))
    retire_columns(conn)


def retire_columns(conn: Connection) -> None:
    """For each retired column an old warehouse still has: run its statement of
    `sql/migrations.sql` (named `<table>__<column>`), which carries what it held into the
    columns that replaced it, and commit; then drop it.

    Two transactions: DuckDB 1.5 refuses to commit an `ALTER TABLE` after an `UPDATE` of the
    same table in one ("another transaction has altered this table"). A crash between them
    leaves the column, and the statement, which must be idempotent, runs again next time."""
    for name, statement in named_queries(MIGRATIONS_SQL).items():
        table, column = name.split("__")
        if column not in conn.table(table).columns:
            continue
        with transaction(conn):
            conn.execute(statement)
        conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


@contextmanager
def refused_as_warehouse_error() -> Iterator[None]:
    """Turn DuckDB's refusal of a write into `WarehouseError`, with DuckDB's error as cause."""
    try:
        yield
    except duckdb.Error as error:
        raise WarehouseError(str(error)) from error


@contextmanager
def transaction(conn: Connection) -> Iterator[Connection]:
    """Run the block in one transaction: all of it commits, or none of it does."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        roll_back(conn)
        raise
    conn.execute("COMMIT")


def roll_back(conn: Connection) -> None:
    """Roll back the open transaction, unless it is gone: a failed COMMIT has rolled it back
    already (DuckLake's, on a conflict), and a ROLLBACK then says no transaction is active."""
    try:
        conn.execute("ROLLBACK")
    except duckdb.TransactionException as error:
        if "no transaction is active" not in str(error):
            raise


_STAGED_NAME = re.compile(r"\bstaged\w*")


def run_statement(conn: Connection, statement: str, staged: Mapping[str, pa.Table]) -> None:
    """Run one statement; if it names one of the `staged` Arrow tables, it reads that one in
    place, and DuckDB forgets it when the statement ends (a `register`ed table would stay
    alive until the transaction commits)."""
    names = sorted(set(_STAGED_NAME.findall(statement)) & staged.keys())
    if len(names) > 1:
        raise ValueError(f"a statement reads one staged table, not {names}")
    if not names:
        conn.execute(statement)
        return
    try:
        conn.from_arrow(staged[names[0]]).query(names[0], statement)
    except duckdb.TransactionException as error:
        # In a transaction, DuckDB reports the failure as "the transaction is aborted" while
        # handling the real error: raise that one.
        if isinstance(error.__context__, duckdb.Error):
            raise error.__context__ from None
        raise
