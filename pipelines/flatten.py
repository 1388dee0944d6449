"""Flatten QuantConnect JSON records into Arrow tables built against the explicit schema.

Columns are built one at a time from the `Column` definitions in `pipelines.schema`, so the
field-to-column mapping lives only there. A key the API omits becomes NULL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from pipelines.schema import (
    BACKTEST_STATISTICS,
    BACKTESTS,
    ORDER_EVENTS,
    ORDERS,
    PROJECTS,
    Column,
    Table,
    parse_statistic_value,
)

Record = Mapping[str, Any]


def _dig(record: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(record, Mapping):
            return None
        record = record.get(key)
    return record


def _column_values(column: Column, records: Sequence[Record]) -> list[Any]:
    parse, path = column.parse, column.source
    assert path is not None
    if not path:
        return [parse(record) for record in records]
    if len(path) == 1:
        key = path[0]
        return [None if (raw := record.get(key)) is None else parse(raw) for record in records]
    return [None if (raw := _dig(record, path)) is None else parse(raw) for record in records]


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
    arrays = []
    for column in table.columns:
        if column.source is None:
            given = supplied[column.name]
            values = given if isinstance(given, list) else [given] * len(records)
        else:
            values = _column_values(column, records)
        arrays.append(pa.array(values, type=column.arrow_type))
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


def orders_to_arrow(project_id: int, backtest_id: str, orders: Sequence[Record]) -> pa.Table:
    """The `orders` rows of one backtest from `backtests/orders/read`'s order objects."""
    return records_to_arrow(ORDERS, orders, {"project_id": project_id, "backtest_id": backtest_id})


def order_events_to_arrow(project_id: int, backtest_id: str, orders: Sequence[Record]) -> pa.Table:
    """The `order_events` rows of one backtest: every order's nested `events`, keyed by order."""
    events: list[Record] = []
    order_ids: list[Any] = []
    for order in orders:
        order_events = order.get("events") or []
        events.extend(order_events)
        order_ids.extend([order.get("id")] * len(order_events))
    return records_to_arrow(
        ORDER_EVENTS,
        events,
        {"project_id": project_id, "backtest_id": backtest_id, "order_id": order_ids},
    )
