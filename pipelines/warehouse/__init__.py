"""Storage: everything that touches the warehouse, behind the seam of `protocol.py`.

The sync, the assets and the CLI use it through the names here: `open_writer` and
`open_reader` give a `Warehouse` (today a `DuckDBWarehouse`, one DuckDB file); `connect` is
the plain DuckDB connection, for SQL of one's own.
"""

from pipelines.warehouse.connection import (
    DEFAULT_WAREHOUSE_PATH,
    DEFAULT_WRITER_WAIT_SECONDS,
    Connection,
    connect,
)
from pipelines.warehouse.duckdb_file import DuckDBWarehouse, open_reader, open_writer, view_names
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
