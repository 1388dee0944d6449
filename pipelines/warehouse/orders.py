"""The orders writer of a DuckDB warehouse: whole backtests in few, large transactions.

Few, large transactions are what DuckDB writes fastest: it writes their appends straight to
the file in compressed row groups, where small ones go through the write-ahead log first
(docs/benchmarks.md). Parts of a very large backtest wait in scratch tables on disk until its
last part moves them over, so a backtest always lands whole, in one transaction.

The writer holds the warehouse file (`FileLease`) only while its transaction is open: a
commit lets readers in until the next write.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager

import pyarrow as pa

from pipelines.queries import load_statements
from pipelines.warehouse.connection import refused_as_warehouse_error, roll_back, run_statement
from pipelines.warehouse.lease import FileLease
from pipelines.warehouse.protocol import BacktestLoad

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


class DuckDBOrdersWriter:
    """`OrdersWriter` over the warehouse file's lease (see `pipelines.warehouse.protocol`);
    it holds the file from the first write of a transaction until its commit or roll-back.

    Its appends run on one DuckDB thread: the sync's other threads keep the cores busy, and a
    second one only adds coordination (docs/benchmarks.md).
    """

    def __init__(self, lease: FileLease) -> None:
        self.lease = lease
        self.pending: list[BacktestLoad] = []
        self.open_orders = 0
        self._open_since: float | None = None
        self._holding = ExitStack()

    @property
    def open_seconds(self) -> float:
        """How long the open transaction has been open; 0 when none is."""
        return 0.0 if self._open_since is None else time.monotonic() - self._open_since

    def park(self, orders: pa.Table, order_events: pa.Table) -> None:
        """Keep part of a backtest still downloading in the parts tables."""
        self._begin()
        with refused_as_warehouse_error():
            self._run("append_orders_part", staged=orders)
            self._run("append_order_events_part", staged_events=order_events)
        self.open_orders += orders.num_rows

    def write(self, loads: Sequence[BacktestLoad], orders: pa.Table, events: pa.Table) -> None:
        """Replace the orders and events of whole backtests, in the open transaction.

        Deletes run only for loads that replace earlier rows: a DELETE in a transaction makes
        DuckDB's commit of its bulk appends several times slower.
        """
        self._begin()
        replaced = _keys_of([load for load in loads if load.replaces])
        parked = _keys_of([load for load in loads if load.from_parts])
        with refused_as_warehouse_error():
            if replaced.num_rows:
                self._run("delete_loaded_order_events", staged_loads=replaced)
                self._run("delete_loaded_orders", staged_loads=replaced)
            if parked.num_rows:
                for statement in (
                    "insert_loaded_orders_parts",
                    "insert_loaded_order_events_parts",
                    "discard_orders_parts",
                    "discard_order_events_parts",
                ):
                    self._run(statement, staged_loads=parked)
            self._run("insert_orders", staged=orders)
            self._run("insert_order_events", staged_events=events)
        self.pending.extend(loads)
        self.open_orders += orders.num_rows

    def commit(self) -> list[BacktestLoad] | None:
        """Record the pending backtests in `backtest_sync` as loaded, and commit; returns them,
        or None when no transaction was open."""
        if self._open_since is None:
            return None
        self._finish()
        self._let_go()
        return self._close()

    def roll_back(self) -> list[BacktestLoad]:
        """Roll the open transaction back; returns the backtests it held."""
        if self._open_since is not None:
            try:
                roll_back(self.lease.conn)
            finally:
                self._let_go()
        return self._close()

    def _finish(self) -> None:
        """Record the pending backtests as loaded, and commit."""
        with refused_as_warehouse_error():
            if self.pending:
                loads = _loads_table(self.pending)
                self._execute("update_orders_synced", staged_loads=loads)
                self._execute("insert_orders_synced", staged_loads=loads)
            self.lease.conn.execute("COMMIT")

    def _begin(self) -> None:
        if self._open_since is None:
            conn = self._holding.enter_context(self.lease.held())
            try:
                conn.execute("SET threads = 1")
                conn.execute("BEGIN TRANSACTION")
            except BaseException:
                self._holding.close()
                raise
            self._open_since = time.monotonic()

    def _let_go(self) -> None:
        """Let go of the file, the transaction over."""
        try:
            self.lease.conn.execute("RESET threads")
        finally:
            self._holding.close()

    def _close(self) -> list[BacktestLoad]:
        closed, self.pending = self.pending, []
        self._open_since, self.open_orders = None, 0
        return closed

    def _run(self, statement: str, **staged: pa.Table) -> None:
        """Run a statement that writes the backtests of the open transaction."""
        self._execute(statement, **staged)

    def _execute(self, statement: str, **staged: pa.Table) -> None:
        run_statement(self.lease.conn, load_statements()[statement], staged)


@contextmanager
def orders_writer(
    writer: DuckDBOrdersWriter, create_parts: str = "create_parts_tables"
) -> Iterator[DuckDBOrdersWriter]:
    """The orders `writer` with its scratch tables, made by the statement `create_parts`;
    leaving the block rolls back what is not committed and drops the scratch tables with any
    part still parked."""
    lease = writer.lease
    with lease.held() as conn:
        conn.execute(load_statements()[create_parts])
    try:
        yield writer
    finally:
        writer.roll_back()
        with lease.held() as conn:
            conn.execute(load_statements()["drop_parts_tables"])


def _keys_of(loads: Sequence[BacktestLoad]) -> pa.Table:
    return pa.table({"backtest_id": pa.array([load.backtest_id for load in loads], pa.string())})


def _loads_table(loads: Sequence[BacktestLoad]) -> pa.Table:
    return pa.Table.from_pylist(
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
