"""`DuckLakeWarehouse`: the `Warehouse` of a DuckLake (`lake.py`), written by many processes.

It runs the same statements of `sql/` as the DuckDB file, in transactions that each sign
their snapshot with the run that made it, and runs a transaction again whenever its commit
loses to another writer's. The orders writer keeps what it wrote in the open transaction
(the Arrow tables it already holds) until the commit, to write it again after a conflict.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

import pyarrow as pa

from pipelines.queries import named_queries
from pipelines.warehouse.connection import Connection, ensure_schema, transaction
from pipelines.warehouse.duckdb_file import DuckDBWarehouse
from pipelines.warehouse.lake import LAKE, Lake, connect_lake, retrying_conflicts, sign
from pipelines.warehouse.lease import FileLease
from pipelines.warehouse.orders import DuckDBOrdersWriter, orders_writer
from pipelines.warehouse.protocol import RECENT_SNAPSHOTS, BacktestLoad

T = TypeVar("T")
_log = logging.getLogger(__name__)


def default_author() -> str:
    """Who signs a snapshot when no run is named: the command, the host and the process."""
    return f"qcw on {socket.gethostname()} pid {os.getpid()}"


class DuckLakeWarehouse(DuckDBWarehouse):
    """`Warehouse` over a connection with the lake attached and in use (`connect_lake`).

    `author` signs every snapshot it commits (a Dagster run id, or `default_author`);
    `conflicts` counts the commits it lost and ran again.
    """

    def __init__(self, conn: Connection, author: str | None = None) -> None:
        super().__init__(conn)
        self.author = author or default_author()

    @contextmanager
    def transaction(self, conn: Connection, what: str) -> Iterator[Connection]:
        """One transaction, its snapshot signed with the author and `what` it writes."""
        with transaction(conn):
            sign(conn, self.author, what)
            yield conn

    def until_committed(self, write: Callable[[], T]) -> T:
        """Run `write` until its transaction commits, again after each conflict."""
        return retrying_conflicts(write, on_retry=self._lost)

    def snapshots(self, limit: int = RECENT_SNAPSHOTS) -> list[tuple[Any, ...]]:
        """The latest `limit` snapshots, newest first: id, time, author and message."""
        with self.holding() as conn:
            return conn.execute(named_queries("lake.sql")["recent_snapshots"], [limit]).fetchall()

    def orders_writer(self) -> AbstractContextManager[DuckDBOrdersWriter]:
        """The writer of the orders step, with its scratch tables in the connection's
        temporary catalog (every writer has its own)."""
        writer = LakeOrdersWriter(self.lease, self)
        return orders_writer(writer, create_parts="create_temp_parts_tables")

    def _lost(self, error: BaseException) -> None:
        self.conflicts += 1
        _log.info("a commit lost to another writer's; running it again: %s", error)


class LakeOrdersWriter(DuckDBOrdersWriter):
    """The orders writer of a lake: it keeps every write of the open transaction until the
    commit, and when the commit loses a conflict (DuckLake has rolled the transaction back)
    opens a new one, writes it all again and commits, until it lands."""

    def __init__(self, lease: FileLease, store: DuckLakeWarehouse) -> None:
        super().__init__(lease)
        self.store = store
        self._written: list[tuple[str, dict[str, pa.Table]]] = []

    def commit(self) -> list[BacktestLoad] | None:
        """Record the pending backtests as loaded and commit, again after each conflict."""
        if self._open_since is None:
            return None
        attempts = 0

        def commit_once() -> None:
            nonlocal attempts
            if attempts:
                self._write_again()
            attempts += 1
            self._finish()

        self.store.until_committed(commit_once)
        self._let_go()
        return self._close()

    def _begin(self) -> None:
        if self._open_since is None:
            super()._begin()
            self._sign()

    def _sign(self) -> None:
        sign(self.lease.conn, self.store.author, "orders, order_events, backtest_sync")

    def _run(self, statement: str, **staged: pa.Table) -> None:
        self._written.append((statement, staged))
        super()._run(statement, **staged)

    def _write_again(self) -> None:
        """The lost transaction, written again in a new one."""
        self.lease.conn.execute("BEGIN TRANSACTION")
        self._sign()
        for statement, staged in self._written:
            self._execute(statement, **staged)

    def _close(self) -> list[BacktestLoad]:
        self._written = []
        return super()._close()


def create_lake(lake: Lake) -> None:
    """Create the lake and its tables, once, before writers fan out: DuckLake's first
    attachment creates its catalog, and concurrent first attachments race for it."""
    with open_lake_writer(lake):
        pass


# The lakes this process has attached for writing, each once: a step opens a cursor of it.
# Loading DuckDB's extensions and attaching a catalog cost ~0.5 s, which a run of several
# assets and their checks would otherwise pay for each.
_attached: dict[Lake, Connection] = {}
_attaching = threading.Lock()


@contextmanager
def open_lake_writer(lake: Lake, author: str | None = None) -> Iterator[DuckLakeWarehouse]:
    """The lake for a sync, its tables in place; other writers may write it at once. The
    block has a connection of its own (its transactions, its temporary tables) to the
    process's one attachment of the lake."""
    with _attaching:
        if lake not in _attached:
            conn = connect_lake(lake)
            retrying_conflicts(lambda: _ensure_schema(conn))
            _attached[lake] = conn
        cursor = _attached[lake].cursor()
    try:
        cursor.execute(f"USE {LAKE}")
        yield DuckLakeWarehouse(cursor, author)
    finally:
        cursor.close()


def close_lakes() -> None:
    """Close the lakes this process attached for writing (at exit, or to let go of their
    catalogs' connections sooner)."""
    with _attaching:
        for conn in _attached.values():
            conn.close()
        _attached.clear()


atexit.register(close_lakes)


def _ensure_schema(conn: Connection) -> None:
    with transaction(conn):
        ensure_schema(conn, keys=False)


@contextmanager
def open_lake_reader(lake: Lake, as_of: str | None = None) -> Iterator[DuckLakeWarehouse]:
    """The lake, read-only, at its latest snapshot or `as_of` an earlier one (an id or a
    timestamp); `NoWarehouseError` when there is none."""
    conn = connect_lake(lake, read_only=True, as_of=as_of)
    try:
        yield DuckLakeWarehouse(conn)
    finally:
        conn.close()
