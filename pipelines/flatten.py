"""Flatten QuantConnect JSON records into Arrow tables built against the explicit schema.

Columns are built one at a time from the `Column` definitions in `pipelines.schema`, so the
field-to-column mapping lives only there. A column with its type's standard conversion is
converted by Arrow in one call; if any value does not fit (a number sent as text, say), that
column falls back to parsing value by value. A key the API omits becomes NULL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.schema import (
    BACKTEST_STATISTICS,
    BACKTESTS,
    ORDER_EVENTS,
    ORDERS,
    PROJECTS,
    SQL_TO_ARROW,
    Column,
    Table,
    parse_statistic_value,
)

Record = Mapping[str, Any]
_TIMESTAMP = SQL_TO_ARROW["TIMESTAMPTZ"]
_NOT_CONVERTIBLE = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError)


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
    except _NOT_CONVERTIBLE:
        seconds = _finite(pa.array(raw, pa.float64()))
        micros = pc.round(pc.multiply(seconds, 1_000_000))
        return micros.cast(pa.int64()).cast(_TIMESTAMP)
    try:
        return strings.cast(_TIMESTAMP)
    except _NOT_CONVERTIBLE:
        # No zone, e.g. backtest `created` "yyyy-MM-dd HH:mm:ss": UTC (reference §9.5).
        return strings.cast(pa.timestamp("us")).cast(_TIMESTAMP)


_ARROW_CONVERSIONS: dict[str, Callable[[list[Any]], pa.Array]] = {
    "BIGINT": lambda raw: pa.array(raw, pa.int64()),
    "DOUBLE": lambda raw: _finite(pa.array(raw, pa.float64())),
    "VARCHAR": lambda raw: pa.array(raw, pa.string()),
    "BOOLEAN": lambda raw: pa.array(raw, pa.bool_()),
    "TIMESTAMPTZ": _timestamps,
    "VARCHAR[]": lambda raw: pa.array(raw, pa.list_(pa.string())),
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


def column_array(column: Column, raw: list[Any]) -> pa.Array:
    """Convert one column's raw values into its Arrow array."""
    convert = _ARROW_CONVERSIONS.get(column.sql_type) if column.parse is None else None
    if convert is not None:
        try:
            return convert(raw)
        except _NOT_CONVERTIBLE:
            pass
    parse = column.parse_value
    if column.source == ():
        return pa.array([parse(record) for record in raw], column.arrow_type)
    return pa.array([None if v is None else parse(v) for v in raw], column.arrow_type)


def records_to_arrow(
    table: Table,
    records: Sequence[Record],
    supplied: Mapping[str, Any] | None = None,
) -> pa.Table:
    """Build `table`'s Arrow table from API records.

    `supplied` gives the columns that do not come from the record (those whose `source` is
    None): a scalar repeats on every row, a list gives one value per row.
    """
    supplied = supplied or {}
    raw_values = _RawValues(records)
    arrays = []
    for column in table.columns:
        if column.source is None:
            given = supplied[column.name]
            if isinstance(given, list):
                arrays.append(pa.array(given, column.arrow_type))
            else:
                arrays.append(pa.repeat(pa.scalar(given, column.arrow_type), len(records)))
        else:
            arrays.append(column_array(column, raw_values.get(column.source)))
    return pa.Table.from_arrays(arrays, schema=table.arrow_schema)


def projects_to_arrow(projects: Sequence[Record]) -> pa.Table:
    """The `projects` table from `projects/read`'s project objects."""
    return records_to_arrow(PROJECTS, projects)


def backtests_to_arrow(project_id: int, backtests: Sequence[Record]) -> pa.Table:
    """The `backtests` rows of one project from `backtests/list`'s summaries."""
    return records_to_arrow(BACKTESTS, backtests, {"project_id": project_id})


def statistics_to_arrow(project_id: int, backtest_id: str, statistics: Any) -> pa.Table:
    """The `backtest_statistics` rows of one backtest.

    The API sends `[]` instead of `{}` while statistics are not ready (reference §2); that
    gives no rows.
    """
    items = list(statistics.items()) if isinstance(statistics, Mapping) else []
    texts = [None if value is None else str(value) for _, value in items]
    return records_to_arrow(
        BACKTEST_STATISTICS,
        [{}] * len(items),
        {
            "project_id": project_id,
            "backtest_id": backtest_id,
            "statistic": [str(name) for name, _ in items],
            "value_text": texts,
            "value": [parse_statistic_value(text) for text in texts],
        },
    )


def orders_to_arrow(
    project_id: int | list[int], backtest_id: str | list[str], orders: Sequence[Record]
) -> pa.Table:
    """The `orders` rows from `backtests/orders/read`'s order objects.

    `project_id` and `backtest_id` are one value for every order, or a list with one per
    order, so that the orders of several backtests convert in one call.
    """
    return records_to_arrow(ORDERS, orders, {"project_id": project_id, "backtest_id": backtest_id})


def order_events_to_arrow(
    project_id: int | list[int], backtest_id: str | list[str], orders: Sequence[Record]
) -> pa.Table:
    """The `order_events` rows: every order's nested `events`, keyed by their order.

    `project_id` and `backtest_id` are as for `orders_to_arrow`.
    """
    events: list[Record] = []
    per_event: dict[str, list[Any]] = {"order_id": []}
    per_order = {
        name: value
        for name, value in (("project_id", project_id), ("backtest_id", backtest_id))
        if isinstance(value, list)
    }
    for name in per_order:
        per_event[name] = []
    for index, order in enumerate(orders):
        order_events = order.get("events") or []
        if not order_events:
            continue
        events.extend(order_events)
        per_event["order_id"].extend([order.get("id")] * len(order_events))
        for name, values in per_order.items():
            per_event[name].extend([values[index]] * len(order_events))
    supplied = {"project_id": project_id, "backtest_id": backtest_id, **per_event}
    return records_to_arrow(ORDER_EVENTS, events, supplied)
