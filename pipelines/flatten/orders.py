"""Orders and their nested events → the `orders` and `order_events` tables.

Two ways in, with the same result:
- Raw order JSON, as `backtests/orders/read` pages carry it (`flatten_raw_orders`): pyarrow's
  JSON reader parses it against `ORDER_WIRE` and each column converts in one vectorised step,
  with no Python object per order.
- Orders with a key or a type outside the wire schema take the record-by-record way instead
  (`orders_to_arrow`, `order_events_to_arrow`, built on `records_to_arrow`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from pipelines.flatten.records import (
    NO_EVENTS_KEY,
    NOT_CONVERTIBLE,
    Notes,
    Record,
    records_to_arrow,
    wire_table,
)
from pipelines.schema.orders import ORDER_EVENTS, ORDER_WIRE, ORDERS
from pipelines.schema.values import parse_int


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
    slow_reason: str | None  # why the fast reader rejected these orders; None when it took them
    slow_orders: int  # the orders then flattened record by record (those of the backtests
    # it rejected again, read one by one)
    notes: Notes  # what was worked around: see `records_to_arrow`


# What the fast reader raises for orders outside the wire schema.
_REJECTED = (*NOT_CONVERTIBLE, ValueError)
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
        slow_reason, slow_orders = None, 0
    except _REJECTED as error:
        notes.clear()
        orders, events, event_parents, slow_orders = _read_group_by_group(
            groups, backtests, project_ids, backtest_ids, notes
        )
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
        slow_orders=slow_orders,
        notes=notes,
    )


def _read_group_by_group(
    groups: Sequence[RawOrders],
    backtests: np.ndarray,
    project_ids: pa.Array,
    backtest_ids: pa.Array,
    notes: Notes,
) -> tuple[pa.Table, pa.Table, np.ndarray, int]:
    """A batch the fast reader rejected, read again a backtest at a time: only the backtests it
    rejects take the record-by-record path (a backtest in the 2024 PascalCase dialect among
    camelCase ones, say). Returns the orders, events, each event's order and how many orders
    went slowly."""
    orders, events, parents = [], [], []
    slow_orders = start = 0
    for group in groups:
        end = start + len(group.orders)
        raw, ids = list(group.orders), (project_ids[start:end], backtest_ids[start:end])
        try:
            flat = _read_wire_orders(raw, *ids, notes)
        except _REJECTED:
            flat = _decode_orders(raw, *ids, notes)
            slow_orders += len(raw)
        orders.append(flat[0])
        events.append(flat[1])
        parents.append(flat[2] + start)
        start = end
    return pa.concat_tables(orders), pa.concat_tables(events), np.concatenate(parents), slow_orders


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
    orders = wire_table(ORDERS, records, supplied, notes)
    parents = pa.array(event_parents, pa.int64())
    events = wire_table(
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
