"""The storage seam: what the sync needs of a warehouse, written down as Protocols.

The sync, the assets and the CLI talk to storage only through `Warehouse`. It has two
implementations: a DuckDB file (`DuckDBWarehouse`), and a DuckLake on PostgreSQL and S3
(`DuckLakeWarehouse`), which runs the same statements of `sql/`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

    from pipelines.schema.columns import Table


# How many snapshots `Warehouse.snapshots` lists unless told (`qcw status`).
RECENT_SNAPSHOTS = 10


class WarehouseError(Exception):
    """The warehouse refused a write; the storage's own error is the cause (`__cause__`)."""


class WarehouseBusyError(Exception):
    """Another process holds the warehouse: a sync writing it, or a DuckDB session."""


class NoWarehouseError(Exception):
    """There is no warehouse yet: nothing has synced into it."""


@dataclass(frozen=True)
class PendingBacktest:
    """A finished backtest whose orders must be (re)loaded."""

    project_id: int
    backtest_id: str
    reload: bool
    expected_total: int | None


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
    from_parts: bool = False  # earlier parts were parked (`OrdersWriter.park`)


class OrdersWriter(Protocol):
    """Writes whole backtests' orders and order events in few, large transactions.

    The first write opens a transaction; `commit` records the backtests written since as
    loaded and commits them together; `roll_back` drops them, and each keeps exactly its
    previous rows. A write the storage refuses raises `WarehouseError`.
    """

    pending: list[BacktestLoad]  # written in the open transaction
    open_orders: int  # orders written in the open transaction, parked parts included

    @property
    def open_seconds(self) -> float:
        """How long the open transaction has been open; 0 when none is."""
        ...

    def park(self, orders: pa.Table, order_events: pa.Table) -> None:
        """Keep part of a backtest still downloading until its last part is written."""

    def write(self, loads: Sequence[BacktestLoad], orders: pa.Table, events: pa.Table) -> None:
        """Replace the orders and events of whole backtests: `orders` and `events` hold the
        rows of every backtest of `loads`, but for the parts parked of one `from_parts`."""

    def commit(self) -> list[BacktestLoad] | None:
        """Record the pending backtests as loaded and commit; returns them, or None when no
        transaction was open."""
        ...

    def roll_back(self) -> list[BacktestLoad]:
        """Roll the open transaction back; returns the backtests it held."""
        ...


class Warehouse(Protocol):
    """A warehouse the sync reads its state from and writes its rows to.

    Statements are named: each lives in a file of `sql/load/`, one per table group, and reads
    the Arrow tables it is given under their names (`staged`, `staged_events`, ...).
    """

    conflicts: int  # commits lost to another writer's and run again (only a lake has any)

    def read(self, statement: str, *parameters: Any) -> list[tuple[Any, ...]]:
        """The rows of a named statement: sync state, such as the backtests still to load."""
        ...

    def write(self, *statements: str, **staged: pa.Table) -> None:
        """Run named statements in one transaction, each reading the staged table it names:
        all of them land, or none does (`WarehouseError`)."""

    def orders_writer(self) -> AbstractContextManager[OrdersWriter]:
        """The writer of the orders step; leaving the block rolls back what is not committed
        and drops every part still parked."""
        ...

    def record_sync_run(
        self, step: str, started_at: datetime, outcome: str, detail: str | None = None
    ) -> None:
        """Note that a sync step ran, from `started_at` until now, and how it ended."""

    def last_sync_runs(self) -> list[tuple[Any, ...]]:
        """The latest run of each sync step: step, started, finished, outcome and detail."""
        ...

    def snapshots(self, limit: int = RECENT_SNAPSHOTS) -> list[tuple[Any, ...]]:
        """The latest `limit` snapshots, newest first (id, time, author, message): a lake's
        committed transactions; none for a DuckDB file."""
        ...

    def create_views(self) -> list[str]:
        """Create or replace the analysis views of `sql/views/`; returns their names."""
        ...

    def row_counts(self, tables: Iterable[str] | None = None) -> dict[str, int]:
        """Rows per warehouse table (of `tables`, else every one), in the schema's order."""
        ...

    def view_row_counts(self) -> dict[str, int]:
        """Rows per analysis view (each computes over the whole order history)."""
        ...

    def preview(
        self, relation: str, columns: int = 8, rows: int = 5
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The first `columns` columns of the first `rows` rows of a table or view."""
        ...

    def column_types(self, relation: str) -> list[tuple[str, str]]:
        """The columns of a table or view, with their types."""
        ...

    def check(self, name: str, table: Table | None = None) -> dict[str, Any]:
        """Run a named check of `sql/checks.sql`, about `table` when it is a check of any
        table's (`duplicate_keys`); its one row, whose `failures` say how many rows fail."""
        ...
