"""Load Arrow tables into the DuckDB warehouse, atomically, and read back the sync state.

Every statement lives in `sql/`; this module only names them and binds their parameters.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from filelock import FileLock, Timeout

from pipelines.schema import SQL_DIR, TABLES, TABLES_SQL, add_column_sql

DEFAULT_WAREHOUSE_PATH = "data/warehouse.duckdb"

Connection = duckdb.DuckDBPyConnection


@cache
def named_queries(file_name: str) -> dict[str, str]:
    """The statements of a `sql/` file, keyed by their `-- name:` line."""
    text = (SQL_DIR / file_name).read_text()
    parts = re.split(r"^-- name: (\w+)\s*$", text, flags=re.MULTILINE)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def query(name: str) -> str:
    """A named statement from `sql/queries.sql`."""
    return named_queries("queries.sql")[name]


DEFAULT_MEMORY_LIMIT = "128MB"


DEFAULT_WRITER_WAIT_SECONDS = 600.0
# How often a connection waiting for another process to close the file tries again.
BUSY_POLL_SECONDS = 0.25


class WarehouseBusyError(Exception):
    """Another process holds the warehouse file: a sync writing it, or a DuckDB session."""


def connect(
    path: str | Path,
    read_only: bool = False,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    wait_seconds: float = 0,
    on_wait: Callable[[str], None] | None = None,
) -> Connection:
    """Open the warehouse file, creating its folder (and, unless read-only, its tables).

    DuckDB's buffer pool may otherwise grow to most of the machine's memory while a sync
    writes; past `memory_limit` it evicts written blocks to the file instead. While another
    process has the file open (DuckDB admits one process per file while it is open read-write,
    readers included), tries again for up to `wait_seconds`, telling `on_wait` once, then
    raises `WarehouseBusyError`.
    """
    deadline = time.monotonic() + wait_seconds
    told = False
    while True:
        try:
            return _connect(Path(path), read_only, memory_limit)
        except WarehouseBusyError as busy:
            if time.monotonic() >= deadline:
                if wait_seconds > 0:
                    raise WarehouseBusyError(
                        f"after {wait_seconds:.0f} s of waiting: {busy}"
                    ) from None
                raise
            if on_wait is not None and not told:
                on_wait(
                    f"{path} is open in another process (a sync, qcw sql, a DuckDB shell or a "
                    f"notebook); waiting up to {wait_seconds:.0f} s for it to close"
                )
                told = True
            time.sleep(BUSY_POLL_SECONDS)


def _connect(path: Path, read_only: bool, memory_limit: str) -> Connection:
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
    if not read_only:
        ensure_schema(conn)
    return conn


def writer_lock_path(path: str | Path) -> Path:
    """The lock file that every writer of the warehouse at `path` takes first."""
    return Path(f"{path}.writer.lock")


@contextmanager
def open_writer(
    path: str | Path,
    wait_seconds: float = DEFAULT_WRITER_WAIT_SECONDS,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[Connection]:
    """The warehouse's read-write connection, one writer at a time across processes.

    A second writer waits for the first to finish, and a writer waits for readers (`qcw sql`,
    the sensor, a DuckDB shell) to close the file: up to `wait_seconds` in all, telling
    `on_wait`, then it raises `WarehouseBusyError`. The connection closes when the block ends.
    """
    deadline = time.monotonic() + wait_seconds
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(writer_lock_path(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait is not None:
            on_wait(f"another sync is writing {path}; waiting up to {wait_seconds:.0f} s")
        try:
            lock.acquire(timeout=wait_seconds)
        except Timeout:
            raise WarehouseBusyError(
                f"another sync is still writing {path} after {wait_seconds:.0f} s of waiting "
                f"(it holds {lock.lock_file}); run again when it is done"
            ) from None
    try:
        remaining = max(0.0, deadline - time.monotonic())
        conn = connect(path, wait_seconds=remaining, on_wait=on_wait)
        try:
            yield conn
        finally:
            conn.close()
    finally:
        lock.release()


def ensure_schema(conn: Connection) -> None:
    """Create the tables that are missing, and add columns that a newer schema introduced."""
    conn.execute(TABLES_SQL.read_text())
    conn.execute((SQL_DIR / "sync_state.sql").read_text())
    for table in TABLES:
        existing = set(conn.table(table.name).columns)
        for column in table.columns:
            if column.name not in existing:
                conn.execute(add_column_sql(table, column))


@contextmanager
def transaction(conn: Connection) -> Iterator[Connection]:
    """Run the block in one transaction: all of it commits, or none of it does."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def execute_with(conn: Connection, statement: str, **table: pa.Table) -> None:
    """Run a named statement that reads one Arrow table under the name it is given.

    DuckDB reads it in place, and forgets it when the statement ends (a `register`ed table
    would stay alive until the transaction commits).
    """
    ((name, arrow_table),) = table.items()
    try:
        conn.from_arrow(arrow_table).query(name, query(statement))
    except duckdb.TransactionException as error:
        # In a transaction, DuckDB reports the failure as "the transaction is aborted" while
        # handling the real error: raise that one.
        if isinstance(error.__context__, duckdb.Error):
            raise error.__context__ from None
        raise


def upsert_projects(conn: Connection, projects: pa.Table) -> None:
    """Insert new projects and replace the rows of known ones."""
    execute_with(conn, "upsert_projects", staged=projects)


def upsert_backtests(conn: Connection, backtests: pa.Table) -> None:
    """Insert new backtests and replace the rows of known ones (their status moves on)."""
    execute_with(conn, "upsert_backtests", staged=backtests)


def replace_backtest_statistics(
    conn: Connection, backtests: Sequence[tuple[int, str]], statistics: pa.Table
) -> None:
    """Replace the statistics of `backtests` (project_id, backtest_id) and mark them synced.

    One transaction for all of them: a backtest with an empty statistics map is marked too.
    """
    keys = pa.table(
        {
            "project_id": pa.array([project_id for project_id, _ in backtests], pa.int64()),
            "backtest_id": pa.array([backtest_id for _, backtest_id in backtests], pa.string()),
        }
    )
    with transaction(conn):
        execute_with(conn, "delete_backtest_statistics", staged_backtests=keys)
        execute_with(conn, "insert_backtest_statistics", staged=statistics)
        execute_with(conn, "mark_statistics_synced", staged_backtests=keys)


@dataclass(frozen=True)
class BacktestLoad:
    """One backtest whose orders and events replace what the warehouse holds, as recorded in
    `backtest_sync`."""

    project_id: int
    backtest_id: str
    orders_loaded: int  # every part's, duplicates dropped
    order_events_loaded: int
    orders_expected: int | None
    orders_complete: bool
    replaces: bool = True  # it may have rows to delete: it was loaded before
    from_parts: bool = False  # earlier parts wait in the parts tables (`append_part`)


def create_parts_tables(conn: Connection) -> None:
    """Make empty scratch tables for parts of very large backtests (see `append_part`)."""
    conn.execute(query("create_parts_tables"))


def append_part(conn: Connection, orders: pa.Table, order_events: pa.Table) -> None:
    """Park part of a backtest still downloading; `write_backtest_orders` moves it over."""
    execute_with(conn, "append_orders_part", staged=orders)
    execute_with(conn, "append_order_events_part", staged_events=order_events)


def drop_parts_tables(conn: Connection) -> None:
    """Drop the scratch tables, and any part of a backtest that failed."""
    conn.execute(query("drop_parts_tables"))


def write_backtest_orders(
    conn: Connection, loads: Sequence[BacktestLoad], orders: pa.Table, order_events: pa.Table
) -> None:
    """Replace the orders and order events of whole backtests.

    `orders` and `order_events` hold the rows of every backtest of `loads`, but for the
    earlier parts of one loaded `from_parts`, which move over from the parts tables. Run it
    inside a transaction (`transaction`), with `mark_orders_loaded` for the same loads, so
    that each backtest lands whole or not at all and keeps exactly its previous rows if
    anything fails. Deletes run only for loads that replace earlier rows: a DELETE in a
    transaction makes DuckDB's commit of its bulk appends several times slower.
    """
    replaced = _keys_of([load for load in loads if load.replaces])
    parked = _keys_of([load for load in loads if load.from_parts])
    if replaced.num_rows:
        execute_with(conn, "delete_loaded_order_events", staged_loads=replaced)
        execute_with(conn, "delete_loaded_orders", staged_loads=replaced)
    if parked.num_rows:
        for statement in (
            "insert_loaded_orders_parts",
            "insert_loaded_order_events_parts",
            "discard_orders_parts",
            "discard_order_events_parts",
        ):
            execute_with(conn, statement, staged_loads=parked)
    execute_with(conn, "insert_orders", staged=orders)
    execute_with(conn, "insert_order_events", staged_events=order_events)


def mark_orders_loaded(conn: Connection, loads: Sequence[BacktestLoad]) -> None:
    """Record in `backtest_sync` that these backtests' orders are loaded, and how many."""
    if not loads:
        return
    sync_rows = pa.Table.from_pylist(
        [
            {
                "backtest_id": load.backtest_id,
                "project_id": load.project_id,
                "orders_loaded": load.orders_loaded,
                "order_events_loaded": load.order_events_loaded,
                "orders_expected": load.orders_expected,
                "orders_complete": load.orders_complete,
            }
            for load in loads
        ],
        schema=_LOADS_SCHEMA,
    )
    execute_with(conn, "mark_orders_synced", staged_loads=sync_rows)


def replace_backtest_orders(
    conn: Connection, loads: Sequence[BacktestLoad], orders: pa.Table, order_events: pa.Table
) -> None:
    """`write_backtest_orders` and `mark_orders_loaded` in a transaction of their own."""
    with transaction(conn):
        write_backtest_orders(conn, loads, orders, order_events)
        mark_orders_loaded(conn, loads)


def _keys_of(loads: Sequence[BacktestLoad]) -> pa.Table:
    return pa.table({"backtest_id": pa.array([load.backtest_id for load in loads], pa.string())})


_LOADS_SCHEMA = pa.schema(
    [
        ("backtest_id", pa.string()),
        ("project_id", pa.int64()),
        ("orders_loaded", pa.int64()),
        ("order_events_loaded", pa.int64()),
        ("orders_expected", pa.int64()),
        ("orders_complete", pa.bool_()),
    ]
)


@dataclass(frozen=True)
class PendingBacktest:
    """A finished backtest whose orders must be (re)loaded."""

    project_id: int
    backtest_id: str
    reload: bool
    expected_total: int | None


def project_ids(conn: Connection) -> list[int]:
    """Every project in the warehouse."""
    return [row[0] for row in conn.execute(query("project_ids")).fetchall()]


def backtests_needing_statistics(conn: Connection) -> list[tuple[int, str]]:
    """(project_id, backtest_id) of finished backtests whose final statistics are missing."""
    return [
        (row[0], row[1]) for row in conn.execute(query("backtests_needing_statistics")).fetchall()
    ]


def backtests_needing_orders(conn: Connection) -> list[PendingBacktest]:
    """Finished backtests, statistics loaded, whose orders are missing or were incomplete."""
    rows = conn.execute(query("backtests_needing_orders")).fetchall()
    return [PendingBacktest(*row) for row in rows]


def backtests_with_orders_loaded(conn: Connection) -> set[str]:
    """Ids of the backtests whose orders are loaded, complete."""
    return {row[0] for row in conn.execute(query("backtests_with_orders_loaded")).fetchall()}


def backtest_counts(conn: Connection) -> dict[str, int]:
    """How many backtests there are, how many are finished and how many have orders loaded."""
    cursor = conn.execute(query("backtest_counts"))
    names = [d[0] for d in cursor.description]
    return dict(zip(names, cursor.fetchall()[0], strict=True))


def table_row_counts(conn: Connection) -> dict[str, int]:
    """Rows per warehouse table."""
    return dict(conn.execute(query("table_row_counts")).fetchall())


def record_sync_run(
    conn: Connection,
    step: str,
    started_at: datetime,
    outcome: str,
    detail: str | None = None,
) -> None:
    """Note that a sync step ran, from `started_at` until now, and how it ended."""
    finished_at = datetime.now(UTC)
    conn.execute(query("record_sync_run"), [step, started_at, finished_at, outcome, detail])


def last_sync_runs(conn: Connection) -> list[tuple[Any, ...]]:
    """The latest run of each sync step: step, started, finished, outcome and detail."""
    try:
        return conn.execute(query("last_sync_runs")).fetchall()
    except duckdb.CatalogException:  # a warehouse no sync has written since sync_runs came
        return []


def preview_rows(
    conn: Connection, table: str, columns: int = 8, rows: int = 5
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The first `columns` columns of the first `rows` rows of a table or view, for a glance."""
    relation = conn.table(table)
    names = relation.columns[:columns]
    return names, relation.select(*names).limit(rows).fetchall()


def column_types(conn: Connection, relation: str) -> list[tuple[str, str]]:
    """The columns of a table or view, with their DuckDB types."""
    described = conn.table(relation)
    return [
        (name, str(kind)) for name, kind in zip(described.columns, described.types, strict=True)
    ]


def backtests_by_status(conn: Connection) -> list[tuple[str, int]]:
    """How many backtests have each status, most common first."""
    return conn.execute(query("backtests_by_status")).fetchall()


# The analysis views of `sql/views/`, each after the views it reads.
VIEWS = ("fills", "order_lifecycle", "symbol_summary", "backtest_summary", "slippage")


def create_views(conn: Connection) -> list[str]:
    """Create or replace the analysis views (definitions only: cheap however big the
    warehouse); returns their names."""
    with transaction(conn):
        for view in VIEWS:
            conn.execute((SQL_DIR / "views" / f"{view}.sql").read_text())
    return list(VIEWS)


def view_row_counts(conn: Connection) -> dict[str, int]:
    """Rows per analysis view. Not cheap: each view computes over the whole order history."""
    return {view: conn.table(view).count("*").fetchall()[0][0] for view in VIEWS}


def run_check(conn: Connection, name: str) -> dict[str, Any]:
    """Run a named query from `sql/checks.sql`; returns its single row as a dict."""
    cursor = conn.execute(named_queries("checks.sql")[name])
    names = [d[0] for d in cursor.description]
    return dict(zip(names, cursor.fetchall()[0], strict=True))
