"""Storage: everything that touches the warehouse, behind the seam of `protocol.py`.

The sync, the assets and the CLI use it through the names here: `open_writer` and
`open_reader` give a `Warehouse` of a target (`targets.py`): a DuckDB file
(`DuckDBWarehouse`, the default) or a DuckLake (`DuckLakeWarehouse`, `Lake`);
`connect_reader` and `connect` are plain DuckDB connections, for SQL of one's own.

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
from pipelines.warehouse.lake import Lake
from pipelines.warehouse.targets import (
    Target,
    connect_reader,
    open_reader,
    open_writer,
    target_from_env,
)

if TYPE_CHECKING:
    from pipelines.warehouse.duckdb_file import DuckDBWarehouse, view_names
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
    "Lake",
    "NoWarehouseError",
    "OrdersWriter",
    "PendingBacktest",
    "Target",
    "Warehouse",
    "WarehouseBusyError",
    "WarehouseError",
    "connect",
    "connect_reader",
    "open_reader",
    "open_writer",
    "target_from_env",
    "view_names",
]

_ON_FIRST_USE = {"DuckDBWarehouse", "view_names"}


def __getattr__(name: str) -> Any:
    if name not in _ON_FIRST_USE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module("pipelines.warehouse.duckdb_file"), name)
