"""Flatten QuantConnect JSON into Arrow tables built against the explicit schema.

Columns are built one at a time from the `Column` definitions in `pipelines.schema`, so the
field-to-column mapping lives only there. A key the API omits becomes NULL.

Two ways in, with the same result:
- API records already decoded to Python (projects, backtests, statistics; orders the fast
  reader rejects): a column with its type's standard conversion is converted by Arrow in one
  call; if any value does not fit (a number sent as text, say), that column falls back to
  parsing value by value.
- Raw order JSON, as `backtests/orders/read` pages carry it (`flatten_raw_orders`): pyarrow's
  JSON reader parses it against `ORDER_WIRE` and each column converts in one vectorised step,
  with no Python object per order. Orders with a key or a type outside the wire schema take
  the first way instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from pipelines.schema import (
    BACKTEST_STATISTICS,
    BACKTESTS,
    EXTRA,
    ORDER_EVENTS,
    ORDER_WIRE,
    ORDERS,
    PROJECTS,
    Column,
    EnumMap,
    Table,
    conform_record,
    parse_int,
    parse_statistic_value,
    timestamps_from_epoch,
    timestamps_from_text,
    to_json_text,
)

Record = Mapping[str, Any]
_NOT_CONVERTIBLE = (
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
        return timestamps_from_epoch(_finite(pa.array(raw, pa.float64())))
    return timestamps_from_text(strings)


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
        except _NOT_CONVERTIBLE:
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
    for record in records:
        known, extra, renames = conform_record(record, table.shape)
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


def projects_to_arrow(projects: Sequence[Record], notes: Notes | None = None) -> pa.Table:
    """The `projects` table from `projects/read`'s project objects."""
    return records_to_arrow(PROJECTS, projects, notes=notes)


def backtests_to_arrow(
    project_id: int, backtests: Sequence[Record], notes: Notes | None = None
) -> pa.Table:
    """The `backtests` rows of one project from `backtests/list`'s summaries."""
    return records_to_arrow(BACKTESTS, backtests, {"project_id": project_id}, notes)


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
    project_id: int | list[int],
    backtest_id: str | list[str],
    orders: Sequence[Record],
    notes: Notes | None = None,
) -> pa.Table:
    """The `orders` rows from `backtests/orders/read`'s order objects.

    `project_id` and `backtest_id` are one value for every order, or a list with one per
    order, so that the orders of several backtests convert in one call.
    """
    supplied = {"project_id": project_id, "backtest_id": backtest_id}
    return records_to_arrow(ORDERS, orders, supplied, notes)


def _order_key(order: Any, key: str) -> Any:
    """`order[key]`, also under a legacy spelling (`Events`, `Id`); None when absent."""
    if not isinstance(order, Mapping):
        return None
    if key in order:
        return order[key]
    return next((v for k, v in order.items() if k.lower() == key), None)


def order_events(order: Any) -> list[Record]:
    """An order's nested `events` that are objects; none when the key is missing or null.
    (Anything else there is kept in the order's `extra`.)"""
    events = _order_key(order, "events")
    return [e for e in events if isinstance(e, Mapping)] if isinstance(events, list) else []


def order_events_to_arrow(
    project_id: int | list[int],
    backtest_id: str | list[str],
    orders: Sequence[Record],
    notes: Notes | None = None,
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
    if notes is not None:
        missing = sum(_order_key(order, "events") is None for order in orders)
        if missing:
            notes[NO_EVENTS_KEY, ORDERS.name] += missing
    for index, order in enumerate(orders):
        these = order_events(order)
        if not these:
            continue
        events.extend(these)
        per_event["order_id"].extend([parse_int(_order_key(order, "id"))] * len(these))
        for name, values in per_order.items():
            per_event[name].extend([values[index]] * len(these))
    supplied = {"project_id": project_id, "backtest_id": backtest_id, **per_event}
    return records_to_arrow(ORDER_EVENTS, events, supplied, notes)


# --- Raw orders, as `backtests/orders/read` pages carry them -------------------------------------

Buffer = bytes | bytearray | memoryview | msgspec.Raw


@dataclass(frozen=True)
class RawOrders:
    """Some orders of one backtest, each the JSON text the API sent for it."""

    project_id: int
    backtest_id: str
    orders: Sequence[Buffer]


@dataclass(frozen=True)
class FlatOrders:
    """The `orders` and `order_events` rows of several backtests' raw orders, grouped by
    backtest in input order, and what was dropped on the way."""

    orders: pa.Table
    order_events: pa.Table
    orders_per_group: list[int]
    events_per_group: list[int]
    duplicate_orders: int
    duplicate_events: int
    slow_reason: str | None  # why the fast reader rejected these orders, which then were
    # flattened record by record; None when it took them
    notes: Notes  # what was worked around: see `records_to_arrow`


_WIRE_OPTIONS = pa_json.ParseOptions(
    explicit_schema=pa.schema(list(ORDER_WIRE)), unexpected_field_behavior="error"
)
# Blocks of 1 MiB let the reader parse a batch on several threads (measured: as fast as any
# size from 1 to 16 MiB, and the least CPU). A block must hold the longest order whole.
_BLOCK_BYTES = 1 << 20


def flatten_raw_orders(
    groups: Sequence[RawOrders], seen: MutableMapping[str, set[Any]]
) -> FlatOrders:
    """Flatten the raw orders of several backtests into `orders` and `order_events` rows.

    The fast path reads them with pyarrow's JSON reader against `ORDER_WIRE`, which rejects
    any key or type it does not know; such orders take the record-by-record path instead, with
    the same result. Within a backtest an order id seen before (`seen` holds each backtest's
    ids from earlier calls, and is updated) is a duplicate and dropped with its events, and so
    is an event repeating an order's `orderEventId` (reference §6: deduplicate on `id`).
    """
    backtests = np.repeat(np.arange(len(groups)), [len(group.orders) for group in groups])
    raw = [order for group in groups for order in group.orders]
    project_ids = pa.array([g.project_id for g in groups], pa.int64()).take(backtests)
    backtest_ids = pa.array([g.backtest_id for g in groups], pa.string()).take(backtests)
    notes: Notes = Counter()
    try:
        orders, events, event_parents = _read_wire_orders(raw, project_ids, backtest_ids, notes)
        slow_reason = None
    except (*_NOT_CONVERTIBLE, ValueError) as error:
        notes.clear()
        orders, events, event_parents = _decode_orders(raw, project_ids, backtest_ids, notes)
        slow_reason = str(error)
    keep_orders = _first_sightings(groups, orders.column("order_id"), seen)
    keep_events = _first_events(event_parents, events.column("order_event_id"), keep_orders)
    event_backtests = backtests[event_parents]
    return FlatOrders(
        orders=orders.filter(keep_orders),
        order_events=events.filter(keep_events),
        orders_per_group=_per_group(backtests[keep_orders], len(groups)),
        events_per_group=_per_group(event_backtests[keep_events], len(groups)),
        duplicate_orders=int(len(keep_orders) - keep_orders.sum()),
        duplicate_events=int((keep_orders[event_parents] & ~keep_events).sum()),
        slow_reason=slow_reason,
        notes=notes,
    )


def _read_wire_orders(
    raw: list[Buffer], project_ids: pa.Array, backtest_ids: pa.Array, notes: Notes
) -> tuple[pa.Table, pa.Table, np.ndarray]:
    """The fast path: the JSON reader, then one vectorised conversion per column."""
    if not raw:
        records = pa.array([], ORDER_WIRE)
    else:
        block = max(_BLOCK_BYTES, 2 * max(map(len, raw)))
        reader = pa.BufferReader(b"\n".join(raw))
        read = pa_json.read_json(reader, pa_json.ReadOptions(block_size=block), _WIRE_OPTIONS)
        records = read.to_struct_array().combine_chunks()
    events_lists = pc.struct_field(records, "events")
    if events_lists.null_count:
        notes[NO_EVENTS_KEY, ORDERS.name] += events_lists.null_count
    event_parents = pc.list_parent_indices(events_lists).to_numpy()
    event_records = pc.list_flatten(events_lists)
    supplied = {"project_id": project_ids, "backtest_id": backtest_ids}
    orders = _wire_table(ORDERS, records, supplied, notes)
    parents = pa.array(event_parents, pa.int64())
    events = _wire_table(
        ORDER_EVENTS,
        event_records,
        {
            "project_id": project_ids.take(parents),
            "backtest_id": backtest_ids.take(parents),
            "order_id": orders.column("order_id").take(parents),
        },
        notes,
    )
    return orders, events, event_parents


def _wire_table(
    table: Table, records: pa.StructArray, supplied: Mapping[str, pa.Array], notes: Notes
) -> pa.Table:
    # The reader took only known keys, so no row has unknown fields: `extra` is all NULL.
    supplied = {**supplied, EXTRA: pa.nulls(len(records), pa.string())}
    arrays = [
        supplied[column.name]
        if column.source is None
        else _wire_column(column, records, notes, f"{table.name}.{column.name}")
        for column in table.columns
    ]
    return pa.Table.from_arrays(arrays, schema=table.arrow_schema)


def _wire_column(column: Column, records: pa.StructArray, notes: Notes, where: str) -> pa.Array:
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


def _decode_orders(
    raw: list[Buffer], project_ids: pa.Array, backtest_ids: pa.Array, notes: Notes
) -> tuple[pa.Table, pa.Table, np.ndarray]:
    """The slow path: decode every order to Python and flatten record by record."""
    orders = [msgspec.json.decode(order) for order in raw]
    projects, backtests = project_ids.to_pylist(), backtest_ids.to_pylist()
    counts = [len(order_events(order)) for order in orders]
    return (
        orders_to_arrow(projects, backtests, orders, notes),
        order_events_to_arrow(projects, backtests, orders, notes),
        np.repeat(np.arange(len(orders)), counts),
    )


def _first_sightings(
    groups: Sequence[RawOrders], order_ids: pa.Array, seen: MutableMapping[str, set[Any]]
) -> np.ndarray:
    """True for each order whose id its backtest has not shown before; records the ids."""
    keep = np.ones(len(order_ids), dtype=bool)
    start = 0
    for group in groups:
        end = start + len(group.orders)
        ids = order_ids[start:end].to_pylist()
        known = seen.get(group.backtest_id)
        distinct = set(ids)
        if known is None and len(distinct) == len(ids):
            seen[group.backtest_id] = distinct  # the common case: all new, none repeated
        else:
            known = seen.setdefault(group.backtest_id, set())
            for index, order_id in enumerate(ids, start):
                if order_id is None:
                    continue
                if order_id in known:
                    keep[index] = False
                known.add(order_id)
        start = end
    return keep


def _first_events(parents: np.ndarray, event_ids: pa.Array, keep_orders: np.ndarray) -> np.ndarray:
    """True for each event of a kept order whose `orderEventId` that order has not shown yet."""
    keep = keep_orders[parents]
    ids = event_ids.fill_null(-1).to_numpy()
    same_order = parents[1:] == parents[:-1]
    if not (same_order & (ids[1:] <= ids[:-1])).any():
        return keep  # ids rise within every order, as Lean numbers them: nothing repeats
    seen: set[tuple[int, int]] = set()
    for index, (parent, event_id) in enumerate(
        zip(parents.tolist(), event_ids.to_pylist(), strict=True)
    ):
        if event_id is None:
            continue
        if (parent, event_id) in seen:
            keep[index] = False
        seen.add((parent, event_id))
    return keep


def _per_group(group_of_each_row: np.ndarray, groups: int) -> list[int]:
    return np.bincount(group_of_each_row, minlength=groups).tolist()
