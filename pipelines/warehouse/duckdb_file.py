"""The warehouse as one DuckDB file: `DuckDBWarehouse`, and how to open it for writing (one
writer at a time, across processes) or for reading (waiting for a sync to finish)."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
from filelock import FileLock, Timeout

from pipelines.queries import VIEWS_DIR, load_statements, named_queries, tables_written
from pipelines.registry import in_dependency_order
from pipelines.schema import TABLES
from pipelines.schema.columns import Table
from pipelines.warehouse.connection import (
    DEFAULT_WRITER_WAIT_SECONDS,
    Connection,
    connect,
    refused_as_warehouse_error,
    run_statement,
    transaction,
)
from pipelines.warehouse.lease import FileLease
from pipelines.warehouse.orders import DuckDBOrdersWriter, orders_writer
from pipelines.warehouse.protocol import RECENT_SNAPSHOTS, NoWarehouseError, WarehouseBusyError

T = TypeVar("T")


def view_names() -> list[str]:
    """The analysis views of `sql/views/`, one per file, each after the views it names."""
    texts = {path.stem: path.read_text() for path in sorted(VIEWS_DIR.glob("*.sql"))}
    return in_dependency_order(
        list(texts),
        name=lambda view: view,
        depends_on=lambda view: [
            other for other in texts if other != view and re.search(rf"\b{other}\b", texts[view])
        ],
    )


class DuckDBWarehouse:
    """`Warehouse` (see `pipelines.warehouse.protocol`) over the DuckDB file, through a
    `FileLease` (or a connection one has): each operation holds the file open, and a writer's
    lease closes it between operations that do not follow closely, so that readers get in
    while a sync waits for the network. `holding()` keeps it open over several operations, and
    gives the connection for SQL of one's own."""

    def __init__(self, conn: Connection | FileLease) -> None:
        self.lease = conn if isinstance(conn, FileLease) else FileLease.of(conn)
        self.conflicts = 0  # commits lost to another writer's and run again (a lake's)

    @property
    def conn(self) -> Connection:
        """The connection, inside `holding()` (always, for a reader's warehouse)."""
        return self.lease.conn

    def holding(self) -> AbstractContextManager[Connection]:
        """The file open for the block: its connection."""
        return self.lease.held()

    def read(self, statement: str, *parameters: Any) -> list[tuple[Any, ...]]:
        """The rows of a named statement of `sql/load/`."""
        with self.holding() as conn:
            return conn.execute(load_statements()[statement], parameters).fetchall()

    def write(self, *statements: str, **staged: pa.Table) -> None:
        """Run named statements of `sql/load/` in one transaction (see the Protocol)."""

        def write_once() -> None:
            what = ", ".join(tables_written(load_statements()[s] for s in statements))
            with (
                self.holding() as conn,
                refused_as_warehouse_error(),
                self.transaction(conn, what),
            ):
                for statement in statements:
                    run_statement(conn, load_statements()[statement], staged)

        self.until_committed(write_once)

    def transaction(self, conn: Connection, what: str) -> AbstractContextManager[Connection]:
        """One transaction on `conn`, which writes `what` (a lake signs its snapshot with it)."""
        return transaction(conn)

    def until_committed(self, write: Callable[[], T]) -> T:
        """Run `write`, whole transactions (a lake runs it again when another writer's commit
        conflicts with its own)."""
        return write()

    def orders_writer(self) -> AbstractContextManager[DuckDBOrdersWriter]:
        """The writer of the orders step (`pipelines.warehouse.orders`)."""
        return orders_writer(DuckDBOrdersWriter(self.lease))

    def record_sync_run(
        self, step: str, started_at: datetime, outcome: str, detail: str | None = None
    ) -> None:
        """Note that a sync step ran, from `started_at` until now, and how it ended."""
        finished_at = datetime.now(UTC)
        row = [step, started_at, finished_at, outcome, detail]

        def record() -> None:
            with (
                self.holding() as conn,
                refused_as_warehouse_error(),
                self.transaction(conn, f"sync run of {step}"),
            ):
                conn.execute(load_statements()["record_sync_run"], row)

        self.until_committed(record)

    def last_sync_runs(self) -> list[tuple[Any, ...]]:
        """The latest run of each sync step: step, started, finished, outcome and detail."""
        try:
            return self.read("last_sync_runs")
        except duckdb.CatalogException:  # a warehouse no sync has written since sync_runs came
            return []

    def snapshots(self, limit: int = RECENT_SNAPSHOTS) -> list[tuple[Any, ...]]:
        """A DuckDB file keeps no snapshots: none (a lake lists its latest `limit`)."""
        return []

    def create_views(self) -> list[str]:
        """Create or replace the analysis views (definitions only: cheap however big the
        warehouse); returns their names."""
        views = view_names()

        def create() -> None:
            with self.holding() as conn, self.transaction(conn, "analysis views"):
                for view in views:
                    conn.execute((VIEWS_DIR / f"{view}.sql").read_text())

        self.until_committed(create)
        return views

    def row_counts(self, tables: Iterable[str] | None = None) -> dict[str, int]:
        """Rows per warehouse table (of `tables`, else every one), in the schema's order:
        a count scans its table, which on a lake is not free."""
        chosen = None if tables is None else set(tables)
        with self.holding():
            return {
                table.name: self._count(table.name)
                for table in TABLES
                if chosen is None or table.name in chosen
            }

    def view_row_counts(self) -> dict[str, int]:
        """Rows per analysis view. Not cheap: each view computes over the whole order history."""
        with self.holding():
            return {view: self._count(view) for view in view_names()}

    def preview(
        self, relation: str, columns: int = 8, rows: int = 5
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The first `columns` columns of the first `rows` rows of a table or view."""
        with self.holding() as conn:
            found = conn.table(relation)
            names = found.columns[:columns]
            return names, found.select(*names).limit(rows).fetchall()

    def column_types(self, relation: str) -> list[tuple[str, str]]:
        """The columns of a table or view, with their DuckDB types."""
        with self.holding() as conn:
            found = conn.table(relation)
        return [(name, str(kind)) for name, kind in zip(found.columns, found.types, strict=True)]

    def check(self, name: str, table: Table | None = None) -> dict[str, Any]:
        """Run a named check of `sql/checks.sql`, about `table` when it names one (`{table}`
        and its `{key}`); its one row."""
        statement = named_queries("checks.sql")[name]
        if table is not None:
            statement = statement.format(table=table.name, key=", ".join(table.key))
        with self.holding() as conn:
            cursor = conn.execute(statement)
            names = [d[0] for d in cursor.description]
            return dict(zip(names, cursor.fetchall()[0], strict=True))

    def _count(self, relation: str) -> int:
        return self.conn.table(relation).count("*").fetchall()[0][0]


# A writer that opens the file again waits for readers without a word, unless they keep it
# that long.
TELL_AFTER_SECONDS = 5.0


def writer_lock_path(path: str | Path) -> Path:
    """The lock file that every writer of the warehouse at `path` takes first."""
    return Path(f"{path}.writer.lock")


@contextmanager
def open_file_writer(
    path: str | Path,
    wait_seconds: float = DEFAULT_WRITER_WAIT_SECONDS,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[DuckDBWarehouse]:
    """The warehouse at `path` for a sync, read-write, one writer at a time across processes.

    A second writer waits for the first to finish (up to `wait_seconds`, telling `on_wait`,
    then `WarehouseBusyError`). The file itself is open only while the writer writes (a
    `FileLease`): each time it opens it, the writer waits for readers (`qcw sql`, the sensor,
    a DuckDB shell) to close it, up to `wait_seconds` again. The file closes when the block
    ends.
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
        first = connect(path, wait_seconds=remaining, on_wait=on_wait)  # the schema in place
        reopen = functools.partial(
            connect,
            path,
            wait_seconds=wait_seconds,
            on_wait=on_wait,
            schema=False,
            tell_after_seconds=TELL_AFTER_SECONDS,
        )
        lease = FileLease(reopen, opened=first)
        try:
            yield DuckDBWarehouse(lease)
        finally:
            lease.release()
    finally:
        lock.release()


@contextmanager
def open_file_reader(
    path: str | Path, wait_seconds: float = 0, on_wait: Callable[[str], None] | None = None
) -> Iterator[DuckDBWarehouse]:
    """The warehouse at `path`, read-only, once no sync writes it (waiting up to
    `wait_seconds`); `NoWarehouseError` when no sync has created it yet."""
    if not Path(path).exists():
        raise NoWarehouseError(f"no warehouse at {path}")
    conn = connect(path, read_only=True, wait_seconds=wait_seconds, on_wait=on_wait)
    try:
        yield DuckDBWarehouse(conn)
    finally:
        conn.close()
