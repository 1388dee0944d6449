"""The column model: `Column` and `Table`, and the builders the table groups declare them with.

Each `Column` names its warehouse column, its SQL type, where its value sits in the API's JSON
and how a raw value becomes a column value. The Arrow schema, the DDL (`ddl.py`) and the UI's
column descriptions all derive from these definitions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pyarrow as pa

from pipelines.schema.enums import EnumMap
from pipelines.schema.values import STANDARD_PARSERS

SQL_TO_ARROW: dict[str, pa.DataType] = {
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "VARCHAR": pa.string(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
    "JSON": pa.string(),
    "VARCHAR[]": pa.list_(pa.string()),
    "BIGINT[]": pa.list_(pa.int64()),
    "INTERVAL": pa.month_day_nano_interval(),  # DuckDB reads its days as days
    "DATE": pa.date32(),
    "MAP(VARCHAR, VARCHAR)": pa.map_(pa.string(), pa.string()),
}
# The column that keeps what the API sent and no column holds.
EXTRA = "extra"

Path_ = tuple[str, ...]


@dataclass(frozen=True)
class Column:
    """One warehouse column and where its value comes from.

    `source` is a key path into the API record; an empty path hands the parser the whole
    record; None means the loader supplies the value (a parent key such as `backtest_id`).
    `parse` turns one raw value into the column's value; None means the standard conversion
    of the SQL type (`STANDARD_PARSERS`), which the flattener may apply a column at a time.

    For tables read from raw pages by pyarrow's JSON reader (orders and events), `wire` is
    the JSON value's Arrow type at `source` when it is not the column's own (enum codes, epoch
    seconds, nested objects), and `parse_array` is `parse` over a whole array of wire values,
    for columns whose `parse` is neither standard nor an `EnumMap`.
    """

    name: str
    sql_type: str
    source: Path_ | None
    parse: Callable[[Any], Any] | None = None
    description: str = ""
    wire: pa.DataType | None = None
    parse_array: Callable[[pa.Array], pa.Array] | None = None

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type that carries this column."""
        return SQL_TO_ARROW[self.sql_type]

    @property
    def wire_type(self) -> pa.DataType:
        """The Arrow type of the JSON value at `source` on the wire."""
        return self.wire or self.arrow_type

    @property
    def parse_value(self) -> Callable[[Any], Any]:
        """The parser of one raw value: the column's own, or its type's standard one."""
        return self.parse or STANDARD_PARSERS[self.sql_type]


@dataclass(frozen=True)
class Table:
    """A warehouse table: its columns, its unique key, and the table that owns its rows.

    `key_constraint` False leaves the key out of the DDL: for the bulk-loaded order tables the
    loader deduplicates instead, and asset checks verify it (a DuckDB PRIMARY KEY slows their
    loads and holds an index in memory; docs/benchmarks.md). `parent` names the table whose
    rows own this one's (a backtest's orders): tables are created and listed after it.
    """

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    description: str
    parent: str | None = None
    key_constraint: bool = True
    read_keys: tuple[str, ...] = ()  # top-level keys read or dropped on purpose, not by path
    object_lists: tuple[str, ...] = ()  # read keys that hold a list of objects

    @property
    def has_extra(self) -> bool:
        """Whether the table keeps unknown fields in an `extra` column."""
        return any(c.name == EXTRA for c in self.columns)

    @cached_property
    def arrow_schema(self) -> pa.Schema:
        """The explicit Arrow schema that flattened rows are built against."""
        return pa.schema([pa.field(c.name, c.arrow_type) for c in self.columns])


def column(
    name: str,
    sql_type: str,
    *source: str,
    parse: Callable[[Any], Any] | None = None,
    description: str = "",
    wire: pa.DataType | None = None,
    parse_array: Callable[[pa.Array], pa.Array] | None = None,
) -> Column:
    """A column read from the record at the key path `source` (empty: the whole record)."""
    return Column(name, sql_type, tuple(source), parse, description, wire, parse_array)


def enum_column(
    name: str, *source: str, names: EnumMap, wire: pa.DataType, description: str = ""
) -> Column:
    """A column of an enum's names, sent as `wire` (codes or names) at `source`."""
    return column(name, "VARCHAR", *source, parse=names, wire=wire, description=description)


def parent_column(name: str, sql_type: str, description: str) -> Column:
    """A column the loader supplies, such as the parent key `backtest_id`."""
    return Column(name, sql_type, None, description=description)


def extra_column() -> Column:
    """The `extra` column: fields the API sent that no column holds."""
    return Column(
        EXTRA,
        "JSON",
        None,
        description="Fields the API sent that no column holds (schema drift), as JSON; or NULL",
    )


def wire_struct(table: Table, extra: Mapping[Path_, pa.DataType]) -> pa.StructType:
    """The JSON shape of one record of `table` as an Arrow struct: every column's source path
    with its wire type, plus `extra` keys that no column reads by path."""
    leaves = {c.source: c.wire_type for c in table.columns if c.source} | dict(extra)

    def level(prefix: Path_) -> pa.StructType:
        keys = dict.fromkeys(path[len(prefix)] for path in leaves if path[: len(prefix)] == prefix)
        return pa.struct(
            [(key, leaves.get((*prefix, key)) or level((*prefix, key))) for key in keys]
        )

    return level(())
