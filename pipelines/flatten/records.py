"""API records already decoded to Python → Arrow tables built against the explicit schema.

Columns are built one at a time from the `Column` definitions in `pipelines.schema`, so the
field-to-column mapping lives only there. A key the API omits becomes NULL. A column with its
type's standard conversion is converted by Arrow in one call; if any value does not fit (a
number sent as text, say), that column falls back to parsing value by value. Keys in a legacy
spelling are read under today's, and fields no column reads go to `extra`: nothing the API
sent is lost. What had to be worked around is counted in `Notes`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.flatten.keys import conform_record, key_shape
from pipelines.schema.columns import EXTRA, Column, Table
from pipelines.schema.enums import EnumMap
from pipelines.schema.values import (
    timespans_from_text,
    timestamps_from_epoch,
    timestamps_from_text,
    to_json_text,
)

Record = Mapping[str, Any]
NOT_CONVERTIBLE = (
    pa.ArrowInvalid,
    pa.ArrowTypeError,
    pa.ArrowNotImplementedError,
    TypeError,
    OverflowError,  # an integer beyond 64 bits
)

# What flattening worked around, counted by (kind, "table.column"); the sync reports them.
Notes = Counter[tuple[str, str]]
NOT_UNDERSTOOD = "values_stored_as_null"  # a value its column's type cannot hold
UNKNOWN_ENUM = "unknown_enum_values"  # kept as the raw code or name
RENAMED = "legacy_keys_renamed"  # PascalCase or kebab-case keys, read under today's name
UNKNOWN_FIELDS = "rows_with_unknown_fields"  # kept in the row's `extra` column
NO_EVENTS_KEY = "orders_without_events_key"  # loaded with no events
UNREADABLE_WINDOWS = "unreadable_rolling_windows"  # a `rollingWindow` key not like M3_20231231
NOT_A_SECTION = "performance_fields_not_statistics"  # kept as text under source "other"
WRONG_LENGTH = "statistics_arrays_of_unexpected_length"  # positions mapped as far as they go
NO_BACKTEST_ID = "optimization_backtests_without_id"  # not started: nothing to key them by
# What each kind of note means, as a sync's warnings say it.
NOTE_KINDS = {
    NOT_UNDERSTOOD: "values the column's type cannot hold: NULL there, kept as sent in `extra`",
    UNKNOWN_ENUM: "enum values nobody knows, kept as their raw code or name",
    RENAMED: "keys in a legacy spelling, read under today's name",
    UNKNOWN_FIELDS: "rows with fields the schema does not know, kept in their `extra` column",
    NO_EVENTS_KEY: "orders without an `events` key, loaded with no events",
    UNREADABLE_WINDOWS: "rolling windows whose key is not like M3_20231231, not loaded",
    NOT_A_SECTION: "performance fields that are not a statistics section, kept under 'other'",
    WRONG_LENGTH: "legacy statistics arrays whose length is not 21: positions mapped up to 21",
    NO_BACKTEST_ID: "optimization backtests without an id (not started), not loaded",
}


def _finite(array: pa.Array) -> pa.Array:
    """NaN and infinities become NULL, as `parse_float` makes them."""
    # Null slots hold 0.0 in arrays built from Python, so the values buffer can be checked as
    # is; that is far cheaper than a compute call on every column of every batch.
    buffer = array.buffers()[1]
    if (
        buffer is None
        or np.isfinite(np.frombuffer(buffer, np.float64)[array.offset :][: len(array)]).all()
    ):
        return array
    return pc.if_else(pc.is_finite(array), array, pa.scalar(None, array.type))


def _timestamps(raw: list[Any]) -> pa.Array:
    """ISO strings (with or without a zone, read as UTC) or epoch seconds, as UTC instants."""
    try:
        strings = pa.array(raw, pa.string())
    except NOT_CONVERTIBLE:
        return timestamps_from_epoch(_finite(pa.array(raw, pa.float64())))
    return timestamps_from_text(strings)


_ARROW_CONVERSIONS: dict[str, Callable[[list[Any]], pa.Array]] = {
    "BIGINT": lambda raw: pa.array(raw, pa.int64()),
    "DOUBLE": lambda raw: _finite(pa.array(raw, pa.float64())),
    "VARCHAR": lambda raw: pa.array(raw, pa.string()),
    "BOOLEAN": lambda raw: pa.array(raw, pa.bool_()),
    "TIMESTAMPTZ": _timestamps,
    "VARCHAR[]": lambda raw: pa.array(raw, pa.list_(pa.string())),
    "INTERVAL": lambda raw: timespans_from_text(pa.array(raw, pa.string())),
    "BIGINT[]": lambda raw: pa.array(raw, pa.list_(pa.int64())),
}


class _RawValues:
    """The raw values of every source path over a list of records, each level looked up once."""

    def __init__(self, records: Sequence[Record]) -> None:
        self._levels: dict[tuple[str, ...], list[Any]] = {(): list(records)}

    def get(self, path: tuple[str, ...]) -> list[Any]:
        found = self._levels.get(path)
        if found is None:
            parents, key = self.get(path[:-1]), path[-1]
            try:
                found = list(map(dict.get, parents, repeat(key)))  # a C loop: all are dicts
            except TypeError:
                found = [p.get(key) if isinstance(p, dict) else None for p in parents]
            self._levels[path] = found
        return found


def column_array(
    column: Column, raw: list[Any], notes: Notes | None = None, where: str = ""
) -> pa.Array:
    """Convert one column's raw values into its Arrow array; `notes` counts, under `where`,
    the values its type cannot hold (stored NULL) and unknown enum values (kept as text)."""
    array = _column_array(column, raw)
    if notes is not None and column.source != ():
        if isinstance(column.parse, EnumMap):
            unknown = sum(v is not None and not column.parse.knows(v) for v in raw)
            if unknown:
                notes[UNKNOWN_ENUM, where or column.name] += unknown
        elif column.parse is None:
            lost = len(raw) - raw.count(None) - (len(array) - array.null_count)
            if lost:
                notes[NOT_UNDERSTOOD, where or column.name] += lost
    return array


def _column_array(column: Column, raw: list[Any]) -> pa.Array:
    convert = _ARROW_CONVERSIONS.get(column.sql_type) if column.parse is None else None
    if convert is not None:
        try:
            return convert(raw)
        except NOT_CONVERTIBLE:
            pass
    parse = column.parse_value
    if column.source == ():
        return pa.array([parse(record) for record in raw], column.arrow_type)
    return pa.array([None if v is None else parse(v) for v in raw], column.arrow_type)


def conform_records(
    table: Table, records: Sequence[Record], notes: Notes | None = None
) -> tuple[list[Any], list[dict[str, Any] | None]]:
    """The records with their keys spelled as `table` reads them, and each one's unknown
    fields (None when it has none); see `conform_record`."""
    conformed, extras = [], []
    renamed = with_extra = 0
    shape = key_shape(table)
    for record in records:
        if shape.flat and type(record) is dict and record.keys() <= shape.known:
            conformed.append(record)  # today's spelling, no unknown field: nothing to do
            extras.append(None)
            continue
        known, extra, renames = conform_record(record, shape)
        conformed.append(known)
        extras.append(extra)
        renamed += renames
        with_extra += extra is not None
    if notes is not None and renamed:
        notes[RENAMED, table.name] += renamed
    if notes is not None and with_extra:
        notes[UNKNOWN_FIELDS, table.name] += with_extra
    return conformed, extras


def records_to_arrow(
    table: Table,
    records: Sequence[Record],
    supplied: Mapping[str, Any] | None = None,
    notes: Notes | None = None,
) -> pa.Table:
    """Build `table`'s Arrow table from API records.

    `supplied` gives the columns that do not come from the record (those whose `source` is
    None): a scalar repeats on every row, a list gives one value per row. Keys in a legacy
    spelling are read under today's; fields that no column reads go to `extra` as JSON.
    `notes` counts what had to be worked around.
    """
    supplied = dict(supplied or {})
    extras: list[dict[str, Any] | None] | None = None
    if table.has_extra:
        records, extras = conform_records(table, records, notes)
    raw_values = _RawValues(records)
    arrays = []
    for column in table.columns:
        if column.name == EXTRA and extras is not None:
            arrays.append(pa.array([to_json_text(e) for e in extras], pa.string()))
        elif column.source is None:
            given = supplied[column.name]
            if isinstance(given, list):
                arrays.append(pa.array(given, column.arrow_type))
            else:
                arrays.append(pa.repeat(pa.scalar(given, column.arrow_type), len(records)))
        else:
            raw = raw_values.get(column.source)
            array = column_array(column, raw, notes, f"{table.name}.{column.name}")
            if extras is not None and column.parse is None:
                _keep_lost_values(extras, column.source, raw, array)
            arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=table.arrow_schema)


def _keep_lost_values(
    extras: list[dict[str, Any] | None], path: tuple[str, ...], raw: list[Any], array: pa.Array
) -> None:
    """Put each value that `array` could not hold (a NULL where `raw` had one) in its row's
    extra fields, at its key path: nothing the API sent is lost."""
    if len(raw) - raw.count(None) == len(array) - array.null_count:
        return
    for row, (value, held) in enumerate(zip(raw, array.is_valid().to_pylist(), strict=True)):
        if value is not None and not held:
            target = extras[row] = extras[row] or {}
            for key in path[:-1]:
                target = target.setdefault(key, {})
            target[path[-1]] = value


def wire_table(
    table: Table, records: pa.StructArray, supplied: Mapping[str, pa.Array], notes: Notes
) -> pa.Table:
    """`table`'s Arrow table from records that pyarrow's JSON reader read against the wire
    schema (`wire_struct`), one vectorised conversion per column; `supplied` gives the columns
    that do not come from the record."""
    # The reader took only known keys, so no row has unknown fields: `extra` is all NULL.
    supplied = {**supplied, EXTRA: pa.nulls(len(records), pa.string())}
    arrays = [
        supplied[column.name]
        if column.source is None
        else wire_column(column, records, notes, f"{table.name}.{column.name}")
        for column in table.columns
    ]
    return pa.Table.from_arrays(arrays, schema=table.arrow_schema)


def wire_column(column: Column, records: pa.StructArray, notes: Notes, where: str) -> pa.Array:
    """One column from the wire records: the value at its source path, converted."""
    assert column.source is not None
    values = pc.struct_field(records, list(column.source)) if column.source else records
    if column.parse_array is not None:
        return column.parse_array(values)
    if isinstance(column.parse, EnumMap):
        names, unknown = column.parse.names_of(values)
        if unknown:
            notes[UNKNOWN_ENUM, where] += unknown
        return names
    if column.parse is not None:
        raise ValueError(f"{column.name}: no vectorised parser")  # a test keeps this unreachable
    if values.type == column.arrow_type:
        return values
    if pa.types.is_timestamp(column.arrow_type):
        return timestamps_from_epoch(values)  # the only wire number that becomes a time
    return values.cast(column.arrow_type)
