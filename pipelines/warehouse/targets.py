"""Where the warehouse is: a DuckDB file (`WAREHOUSE_PATH`, the default) or a DuckLake
(`WAREHOUSE_CATALOG` and `WAREHOUSE_DATA_PATH`), and opening either for a sync or for reading.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.warehouse.connection import (
    DEFAULT_WAREHOUSE_PATH,
    DEFAULT_WRITER_WAIT_SECONDS,
    Connection,
    connect,
)
from pipelines.warehouse.lake import Lake, connect_lake
from pipelines.warehouse.protocol import NoWarehouseError

if TYPE_CHECKING:
    from pipelines.warehouse.duckdb_file import DuckDBWarehouse

# A DuckDB file's path, or a lake.
Target = Path | Lake


def target_from_env(environ: Mapping[str, str] = os.environ) -> Target:
    """The lake WAREHOUSE_CATALOG names, else the file of WAREHOUSE_PATH (else the default)."""
    return Lake.from_env(environ) or Path(environ.get("WAREHOUSE_PATH", DEFAULT_WAREHOUSE_PATH))


def open_writer(
    target: str | Target,
    wait_seconds: float = DEFAULT_WRITER_WAIT_SECONDS,
    on_wait: Callable[[str], None] | None = None,
    author: str | None = None,
) -> AbstractContextManager[DuckDBWarehouse]:
    """The warehouse for a sync, its tables in place: a file admits one writer at a time
    (the others wait up to `wait_seconds`, telling `on_wait`); a lake admits many, and signs
    their snapshots with `author`."""
    if isinstance(target, Lake):
        from pipelines.warehouse.lake_warehouse import open_lake_writer

        return open_lake_writer(target, author)
    from pipelines.warehouse.duckdb_file import open_file_writer

    return open_file_writer(target, wait_seconds, on_wait)


def open_reader(
    target: str | Target,
    wait_seconds: float = 0,
    on_wait: Callable[[str], None] | None = None,
    as_of: str | None = None,
) -> AbstractContextManager[DuckDBWarehouse]:
    """The warehouse, read-only: a file once no sync writes it (waiting up to
    `wait_seconds`), a lake at once, as of snapshot `as_of` when given;
    `NoWarehouseError` when no sync has created it."""
    if isinstance(target, Lake):
        from pipelines.warehouse.lake_warehouse import open_lake_reader

        return open_lake_reader(target, as_of)
    refuse_as_of(as_of)
    from pipelines.warehouse.duckdb_file import open_file_reader

    return open_file_reader(target, wait_seconds, on_wait)


def connect_reader(
    target: str | Target,
    wait_seconds: float = 0,
    on_wait: Callable[[str], None] | None = None,
    as_of: str | None = None,
) -> Connection:
    """A plain read-only connection (for SQL of one's own), as `open_reader` opens it."""
    if isinstance(target, Lake):
        return connect_lake(target, read_only=True, as_of=as_of)
    refuse_as_of(as_of)
    if not Path(target).exists():
        raise NoWarehouseError(f"no warehouse at {target}")
    return connect(target, read_only=True, wait_seconds=wait_seconds, on_wait=on_wait)


def refuse_as_of(as_of: str | None) -> None:
    """A DuckDB file keeps no snapshots: asking for one is an error."""
    if as_of is not None:
        raise ValueError(
            "--as-of reads an earlier snapshot of a DuckLake warehouse (WAREHOUSE_CATALOG); "
            "a DuckDB file keeps only its latest state"
        )
