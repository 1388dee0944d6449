"""Property-based: random valid orders and events round-trip every value into the Arrow
tables, on both the fast reader's path and the record-by-record path."""

import json
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.flatten.orders import (
    RawOrders,
    flatten_raw_orders,
    order_events_to_arrow,
    orders_to_arrow,
)
from pipelines.schema.enums import DIRECTIONS, ORDER_STATUSES, ORDER_TYPES, SECURITY_TYPES

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
money = st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e12, max_value=1e12)
instants = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=0))
codes = st.sampled_from
status_names = st.sampled_from(list(ORDER_STATUSES.values()))


@st.composite
def events(draw: st.DrawFn, order_id: int) -> list[dict[str, Any]]:
    count = draw(st.integers(0, 5))
    return [
        {
            "id": f"bt-{order_id}-{n}",
            "algorithmId": "bt",
            "orderId": order_id,
            "orderEventId": n,
            "status": draw(status_names).lower(),  # events send camelCase names
            "direction": draw(st.sampled_from(DIRECTIONS)).lower(),
            "symbol": draw(text),
            "symbolValue": draw(text),
            "fillPrice": draw(money),
            "fillQuantity": draw(money),
            "orderFeeAmount": draw(st.none() | money),
            "message": draw(st.none() | text),
            "isAssignment": draw(st.booleans()),
            "time": draw(instants).timestamp(),
        }
        for n in range(1, count + 1)
    ]


@st.composite
def orders(draw: st.DrawFn) -> list[dict[str, Any]]:
    ids = draw(st.lists(st.integers(1, 2**62), min_size=0, max_size=8, unique=True))
    return [
        {
            "id": order_id,
            "type": draw(codes(range(len(ORDER_TYPES)))),
            "status": draw(codes(list(ORDER_STATUSES))),
            "direction": draw(codes(range(len(DIRECTIONS)))),
            "securityType": draw(codes(range(len(SECURITY_TYPES)))),
            "symbol": {"value": draw(text), "id": draw(text), "permtick": draw(text)},
            "quantity": draw(money),
            "price": draw(money),
            "tag": draw(text),
            "time": draw(instants).isoformat().replace("+00:00", "Z"),
            "brokerId": draw(st.lists(text, max_size=3)),
            "properties": {"timeInForce": {}},
            "events": draw(events(order_id)),
        }
        for order_id in ids
    ]


def expected_order(order: dict[str, Any]) -> dict[str, Any]:
    return {
        "order_id": order["id"],
        "order_type": ORDER_TYPES[order["type"]],
        "status": ORDER_STATUSES[order["status"]],
        "direction": DIRECTIONS[order["direction"]],
        "security_type": SECURITY_TYPES[order["securityType"]],
        "symbol": order["symbol"]["value"],
        "symbol_id": order["symbol"]["id"],
        "symbol_permtick": order["symbol"]["permtick"],
        "quantity": order["quantity"],
        "price": order["price"],
        "tag": order["tag"],
        "time": datetime.fromisoformat(order["time"]),
        "broker_ids": order["brokerId"],
        "time_in_force": "GoodTilCanceled",
        "extra": None,
    }


def expected_event(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "order_id": event["orderId"],
        "order_event_id": event["orderEventId"],
        "event_id": event["id"],
        "status": next(n for n in ORDER_STATUSES.values() if n.lower() == event["status"]),
        "direction": event["direction"].capitalize(),
        "symbol": event["symbolValue"],
        "symbol_id": event["symbol"],
        "fill_price": event["fillPrice"],
        "fill_quantity": event["fillQuantity"],
        "order_fee_amount": event["orderFeeAmount"],
        "message": event["message"],
        "is_assignment": event["isAssignment"],
        "event_time": datetime.fromtimestamp(event["time"], UTC),
        "extra": None,
    }


def picked(table: pa.Table, names: list[str]) -> list[dict[str, Any]]:
    return table.select(names).to_pylist()


@settings(max_examples=100, deadline=None)
@given(orders())
def test_random_orders_round_trip_every_value_on_both_paths(generated: list[dict[str, Any]]):
    wanted_orders = [expected_order(o) for o in generated]
    wanted_events = [expected_event(e) for o in generated for e in o["events"]]
    raw = [json.dumps(order).encode() for order in generated]
    flat = flatten_raw_orders([RawOrders(7, "bt", raw)], {})
    assert flat.slow_reason is None  # valid orders take the fast reader
    slow_orders = orders_to_arrow(7, "bt", generated)
    slow_events = order_events_to_arrow(7, "bt", generated)
    for table in (flat.orders, slow_orders):
        assert picked(table, list(wanted_orders[0]) if wanted_orders else []) == wanted_orders
        assert set(table.column("backtest_id").to_pylist()) <= {"bt"}
    for table in (flat.order_events, slow_events):
        assert picked(table, list(wanted_events[0]) if wanted_events else []) == wanted_events
    assert flat.orders.equals(slow_orders)
    assert flat.order_events.equals(slow_events)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | text
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=100, deadline=None)
@given(
    orders().filter(bool), st.dictionaries(text.map(lambda k: f"x_{k}"), json_values, min_size=1)
)
def test_unknown_fields_round_trip_through_extra(
    generated: list[dict[str, Any]], unknown: dict[str, Any]
):
    for order in generated:
        order.update(unknown)
    raw = [json.dumps(order).encode() for order in generated]
    flat = flatten_raw_orders([RawOrders(7, "bt", raw)], {})
    extras = [json.loads(e) for e in flat.orders.column("extra").to_pylist()]
    assert extras == [unknown] * len(generated)
    assert flat.notes["rows_with_unknown_fields", "orders"] == len(generated)
