"""Storage: everything that touches the warehouse, behind the seam of `protocol.py`.

The sync, the assets and the CLI use it through the names here: `open_writer` and
`open_reader` give a `Warehouse` (today a `DuckDBWarehouse`, one DuckDB file); `connect` is
the plain DuckDB connection, for SQL of one's own.

The names of `duckdb_file.py` load on first use (PEP 562): they bring pyarrow and the schema,
which `qcw sql` and other readers of a plain connection never need.
"""

import importlib
from typing import TYPE_CHECKING, Any

from pipelines.warehouse.connection import (
    DEFAULT_WAREHOUSE_PATH,
    DEFAULT_WRITER_WAIT_SECONDS,
    Connection,
    connect,
)

if TYPE_CHECKING:
    from pipelines.warehouse.duckdb_file import (
        DuckDBWarehouse,
        open_reader,
        open_writer,
        view_names,
    )
from pipelines.warehouse.protocol import (
    BacktestLoad,
    NoWarehouseError,
    OrdersWriter,
    PendingBacktest,
    Warehouse,
    WarehouseBusyError,
    WarehouseError,
)

__all__ = [
    "DEFAULT_WAREHOUSE_PATH",
    "DEFAULT_WRITER_WAIT_SECONDS",
    "BacktestLoad",
    "Connection",
    "DuckDBWarehouse",
    "NoWarehouseError",
    "OrdersWriter",
    "PendingBacktest",
    "Warehouse",
    "WarehouseBusyError",
    "WarehouseError",
    "connect",
    "open_reader",
    "open_writer",
    "view_names",
]

_ON_FIRST_USE = {"DuckDBWarehouse", "open_reader", "open_writer", "view_names"}


def __getattr__(name: str) -> Any:
    if name not in _ON_FIRST_USE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module("pipelines.warehouse.duckdb_file"), name)
