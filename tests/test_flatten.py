"""Flattening API JSON into Arrow tables against the explicit schema."""

from datetime import UTC, datetime
from typing import Any

import msgspec
import pyarrow as pa
import pytest

from pipelines.flatten.backtests import backtests_to_arrow, statistics_to_arrow
from pipelines.flatten.orders import (
    FlatOrders,
    RawOrders,
    flatten_raw_orders,
    order_events_to_arrow,
    orders_to_arrow,
)
from pipelines.flatten.projects import projects_to_arrow
from pipelines.sandbox import SandboxAccount, SandboxSize
from pipelines.schema.backtests import BACKTEST_STATISTICS, BACKTESTS
from pipelines.schema.orders import ORDER_EVENTS, ORDERS
from pipelines.schema.projects import PROJECTS

BACKTEST_ID = "3b2259c444e04c9124784bb491bf016f"

# The real shape, from Lean's ReadOrdersResponseJsonConverterTests (reference §6).
MARKET_ORDER = {
    "type": 0,
    "id": 1,
    "contingentId": 0,
    "brokerId": ["1"],
    "symbol": {"value": "SPY", "id": "SPY R735QTJ8XC9X", "permtick": "SPY"},
    "price": 138.513986945,
    "priceCurrency": "USD",
    "time": "2013-10-07T13:31:00Z",
    "createdTime": "2013-10-07T13:31:00Z",
    "lastFillTime": "2013-10-07T13:31:00Z",
    "quantity": 10.0,
    "status": 1,
    "tag": "",
    "properties": {"timeInForce": {}},
    "securityType": 1,
    "direction": 0,
    "value": 1385.139869450,
    "orderSubmissionData": {
        "bidPrice": 138.505714984,
        "askPrice": 138.513986945,
        "lastPrice": 138.505714984,
    },
    "isMarketable": True,
    "priceAdjustmentMode": 1,
    "events": [
        {
            "id": f"{BACKTEST_ID}-1-1",
            "algorithmId": BACKTEST_ID,
            "orderId": 1,
            "orderEventId": 1,
            "symbol": "SPY R735QTJ8XC9X",
            "symbolValue": "SPY",
            "symbolPermtick": "SPY",
            "time": 1381152660.0,
            "status": "submitted",
            "fillPrice": 0.0,
            "fillPriceCurrency": "USD",
            "fillQuantity": 0.0,
            "direction": "buy",
            "message": None,
            "isAssignment": False,
            "quantity": 10.0,
        },
        {
            "id": f"{BACKTEST_ID}-1-2",
            "orderId": 1,
            "orderEventId": 2,
            "symbol": "SPY R735QTJ8XC9X",
            "symbolValue": "SPY",
            "time": 1381152660.5,
            "status": "partiallyFilled",
            "fillPrice": 138.51,
            "fillQuantity": 4.0,
            "direction": "buy",
            "orderFeeAmount": 1.0,
            "orderFeeCurrency": "USD",
        },
    ],
}

COMBO_LEG = {
    "type": 10,
    "id": 7,
    "symbol": {
        "value": "AAPL  240119C00190000",
        "id": "AAPL 2ZQGWTST4Z8NA|AAPL R735QTJ8XC9X",
        "permtick": "AAPL",
        "underlying": {"value": "AAPL", "id": "AAPL R735QTJ8XC9X", "permtick": "AAPL"},
    },
    "status": 4,
    "direction": 1,
    "securityType": 2,
    "quantity": -2.0,
    "limitPrice": 3.25,
    "groupOrderManager": {
        "id": 3,
        "quantity": 2,
        "count": 2,
        "limitPrice": 1.1,
        "orderIds": [7, 8],
        "direction": 1,
    },
    "properties": {
        "timeInForce": {
            "$type": "QuantConnect.Orders.TimeInForces.GoodTilDateTimeInForce",
            "Expiry": "2024-01-19T21:00:00Z",
        }
    },
    "trailingPercentage": True,
}


def row(table: pa.Table, index: int = 0) -> dict:
    return table.slice(index, 1).to_pylist()[0]


def test_orders_flatten_with_enum_names_and_utc_times():
    orders = orders_to_arrow(101, BACKTEST_ID, [MARKET_ORDER])
    assert orders.schema == ORDERS.arrow_schema
    order = row(orders)
    assert order["project_id"] == 101
    assert order["backtest_id"] == BACKTEST_ID
    assert order["order_id"] == 1
    assert (order["symbol"], order["symbol_id"]) == ("SPY", "SPY R735QTJ8XC9X")
    assert (order["order_type"], order["status"], order["direction"]) == (
        "Market",
        "Submitted",
        "Buy",
    )
    assert order["security_type"] == "Equity"
    assert order["price_adjustment_mode"] == "Adjusted"
    assert order["created_time"] == datetime(2013, 10, 7, 13, 31, tzinfo=UTC)
    assert order["submission_ask_price"] == 138.513986945
    assert order["broker_ids"] == ["1"]
    assert order["time_in_force"] == "GoodTilCanceled"
    assert order["tag"] == ""


def test_keys_the_api_omits_become_null_never_zero_or_empty():
    order = row(orders_to_arrow(101, BACKTEST_ID, [MARKET_ORDER]))
    for column in (
        "limit_price",
        "stop_price",
        "trigger_price",
        "trailing_amount",
        "last_update_time",
        "canceled_time",
        "group_order_manager_id",
        "underlying_symbol",
    ):
        assert order[column] is None, column
    event = row(order_events_to_arrow(101, BACKTEST_ID, [MARKET_ORDER]), 0)
    assert event["order_fee_amount"] is None
    assert event["order_fee_currency"] is None
    assert event["message"] is None


def test_combo_option_legs_keep_group_underlying_and_unknown_codes():
    order = row(orders_to_arrow(101, BACKTEST_ID, [COMBO_LEG]))
    assert order["order_type"] == "ComboLegLimit"
    assert order["security_type"] == "Option"
    assert order["underlying_symbol"] == "AAPL"
    assert order["group_order_ids"] == [7, 8]
    assert order["group_direction"] == "Sell"
    assert order["status"] == "4"  # no such OrderStatus: kept raw, not dropped
    assert order["time_in_force"] == "GoodTilDate"
    assert order["time_in_force_expiry"] == datetime(2024, 1, 19, 21, tzinfo=UTC)
    assert order["trailing_as_percentage"] is True
    assert order["quantity"] == -2.0


def test_events_map_camel_case_strings_onto_the_order_vocabulary():
    events = order_events_to_arrow(101, BACKTEST_ID, [MARKET_ORDER, COMBO_LEG])
    assert events.schema == ORDER_EVENTS.arrow_schema
    assert events.num_rows == 2
    first, second = row(events, 0), row(events, 1)
    assert (first["status"], first["direction"]) == ("Submitted", "Buy")
    assert second["status"] == "PartiallyFilled"
    assert second["order_id"] == 1
    assert second["order_event_id"] == 2
    assert second["event_id"] == f"{BACKTEST_ID}-1-2"
    assert second["event_time"] == datetime(2013, 10, 7, 13, 31, 0, 500000, tzinfo=UTC)
    assert second["order_fee_amount"] == 1.0


def test_statistics_keep_text_and_parsed_value_and_empty_list_gives_no_rows():
    table = statistics_to_arrow(
        101, BACKTEST_ID, {"Net Profit": "1.692%", "Total Fees": "$3.44", "Sortino Ratio": "-"}
    )
    assert table.schema == BACKTEST_STATISTICS.arrow_schema
    assert table.to_pylist() == [
        {
            "project_id": 101,
            "backtest_id": BACKTEST_ID,
            "statistic": "Net Profit",
            "value_text": "1.692%",
            "value": 1.692,
            "currency": None,
        },
        {
            "project_id": 101,
            "backtest_id": BACKTEST_ID,
            "statistic": "Total Fees",
            "value_text": "$3.44",
            "value": 3.44,
            "currency": "USD",
        },
        {
            "project_id": 101,
            "backtest_id": BACKTEST_ID,
            "statistic": "Sortino Ratio",
            "value_text": "-",
            "value": None,
            "currency": None,
        },
    ]
    # A running backtest's statistics arrive as `[]`, not `{}` (reference §2).
    assert statistics_to_arrow(101, BACKTEST_ID, []).num_rows == 0


def test_backtests_carry_their_project_and_parse_both_created_formats():
    table = backtests_to_arrow(
        101,
        [
            {
                "backtestId": "a" * 32,
                "name": "Momentum",
                "status": "Completed.",
                "created": "2024-03-06 09:15:00",
                "progress": 1,
                "tags": ["v2"],
                "parameterSet": [],
            },
            {
                "backtestId": "b" * 32,
                "status": "Running: 45%",
                "created": "2025-09-01T10:00:00Z",
                "progress": 0.45,
            },
        ],
    )
    assert table.schema == BACKTESTS.arrow_schema
    first, second = row(table, 0), row(table, 1)
    assert first["project_id"] == second["project_id"] == 101
    assert first["completed"] is True and second["completed"] is False
    assert first["created_at"] == datetime(2024, 3, 6, 9, 15, tzinfo=UTC)
    assert second["created_at"] == datetime(2025, 9, 1, 10, tzinfo=UTC)
    assert first["parameter_set"] == "[]"
    assert second["tags"] is None and second["error"] is None


def test_projects_keep_polymorphic_parameters_as_json():
    table = projects_to_arrow(
        [
            {"projectId": 1, "name": "A", "parameters": [{"key": "fast", "value": "10"}]},
            {"projectId": 2, "name": "B", "parameters": {"fast": 10}},
        ]
    )
    assert table.schema == PROJECTS.arrow_schema
    assert table.column("parameters").to_pylist() == [
        '[{"key":"fast","value":"10"}]',
        '{"fast":10}',
    ]
    assert table.column("language").to_pylist() == [None, None]


def test_nan_infinite_and_text_numbers_become_null_or_parsed():
    orders = [
        {"id": 1, "price": float("nan"), "quantity": float("inf"), "value": 5},
        {"id": 2, "price": "12.5", "quantity": None, "value": 6.5},
    ]
    table = orders_to_arrow(101, BACKTEST_ID, orders)
    assert table.column("price").to_pylist() == [None, 12.5]  # text falls back to parsing
    assert table.column("quantity").to_pylist() == [None, None]
    assert table.column("value").to_pylist() == [5.0, 6.5]


def test_orders_of_several_backtests_flatten_in_one_call_keyed_per_order():
    other = {**MARKET_ORDER, "id": 9, "events": [{"orderEventId": 1, "status": "filled"}]}
    orders = [MARKET_ORDER, COMBO_LEG, other]
    table = orders_to_arrow([1, 1, 2], ["a", "a", "b"], orders)
    assert table.column("backtest_id").to_pylist() == ["a", "a", "b"]
    events = order_events_to_arrow([1, 1, 2], ["a", "a", "b"], orders)
    assert events.select(
        ["project_id", "backtest_id", "order_id", "order_event_id"]
    ).to_pylist() == [
        {"project_id": 1, "backtest_id": "a", "order_id": 1, "order_event_id": 1},
        {"project_id": 1, "backtest_id": "a", "order_id": 1, "order_event_id": 2},
        {"project_id": 2, "backtest_id": "b", "order_id": 9, "order_event_id": 1},
    ]


# --- Raw orders: the fast reader, and the record-by-record path it falls back to ----------------


def raw(*orders: dict[str, Any]) -> list[bytes]:
    return [msgspec.json.encode(order) for order in orders]


def flatten_one(backtest_id: str, orders: list[dict[str, Any]]) -> FlatOrders:
    return flatten_raw_orders([RawOrders(101, backtest_id, raw(*orders))], {})


def assert_same_rows(flat: FlatOrders, orders: list[dict[str, Any]], backtest_id: str) -> None:
    assert flat.orders.equals(orders_to_arrow(101, backtest_id, orders))
    assert flat.order_events.equals(order_events_to_arrow(101, backtest_id, orders))


def test_raw_orders_read_fast_flatten_exactly_as_decoded_records_do():
    orders = [MARKET_ORDER, COMBO_LEG, {**MARKET_ORDER, "id": 2, "events": None}]
    flat = flatten_one(BACKTEST_ID, orders)
    assert flat.slow_reason is None
    assert flat.orders_per_group == [3] and flat.events_per_group == [2]
    assert_same_rows(flat, orders, BACKTEST_ID)


def test_every_shape_of_sandbox_order_reads_fast_and_matches_the_records():
    account = SandboxAccount(SandboxSize(projects=2, backtests_per_project=3), seed=3)
    groups, decoded = [], []
    for project in account.projects():
        for backtest in account.backtests(project["projectId"]):
            orders = account.orders(backtest["backtestId"])
            groups.append(RawOrders(project["projectId"], backtest["backtestId"], raw(*orders)))
            decoded.append((project["projectId"], backtest["backtestId"], orders))
    flat = flatten_raw_orders(groups, {})
    assert flat.slow_reason is None
    projects = [p for p, _, orders in decoded for _ in orders]
    backtests = [b for _, b, orders in decoded for _ in orders]
    every_order = [order for _, _, orders in decoded for order in orders]
    assert flat.orders.num_rows > 500
    assert flat.orders.equals(orders_to_arrow(projects, backtests, every_order))
    assert flat.order_events.equals(order_events_to_arrow(projects, backtests, every_order))
    assert flat.orders_per_group == [len(orders) for _, _, orders in decoded]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"brandNewField": 1}, "unexpected field"),  # a key the wire schema does not know
        ({"type": "Market"}, ""),  # a legacy string enum where orders send codes
        ({"price": "12.5"}, ""),  # a number sent as text
        ({"properties": {"timeInForce": {"Expiry": 'with "quotes"'}}}, "timestamp"),
        ({"properties": {"timeInForce": {"expiry": "2024-01-19"}}}, "unexpected field"),
    ],
)
def test_orders_the_fast_reader_rejects_take_the_record_path_with_the_same_result(
    change: dict[str, Any], reason: str
):
    orders = [MARKET_ORDER, {**MARKET_ORDER, "id": 2, **change}]
    flat = flatten_one(BACKTEST_ID, orders)
    assert flat.slow_reason is not None and reason in flat.slow_reason
    assert_same_rows(flat, orders, BACKTEST_ID)


def test_only_the_backtests_the_fast_reader_rejects_take_the_record_path():
    legacy = {"Id": 7, "Type": 0, "Status": 3, "Symbol": {"Value": "SPY"}, "Events": []}
    groups = [
        RawOrders(101, "a" * 32, raw(MARKET_ORDER, COMBO_LEG)),
        RawOrders(101, "b" * 32, raw(legacy)),  # another dialect: PascalCase
        RawOrders(101, "c" * 32, raw({**MARKET_ORDER, "id": 3})),
    ]
    flat = flatten_raw_orders(groups, {})
    assert flat.slow_reason is not None and flat.slow_orders == 1
    assert flat.orders_per_group == [2, 1, 1] and flat.events_per_group == [2, 0, 2]
    ids = ["a" * 32] * 2 + ["b" * 32] + ["c" * 32]
    every_order = [MARKET_ORDER, COMBO_LEG, legacy, {**MARKET_ORDER, "id": 3}]
    assert flat.orders.equals(orders_to_arrow(101, ids, every_order))
    assert flat.order_events.equals(order_events_to_arrow(101, ids, every_order))


def test_repeated_orders_and_events_are_dropped_within_a_backtest_only():
    repeated_event = {**MARKET_ORDER, "id": 5}
    repeated_event["events"] = [*MARKET_ORDER["events"], MARKET_ORDER["events"][0]]
    seen: dict[str, set] = {}
    first = flatten_raw_orders([RawOrders(1, "a", raw(MARKET_ORDER, repeated_event))], seen)
    assert (first.duplicate_orders, first.duplicate_events) == (0, 1)
    assert first.order_events.num_rows == 4
    second = flatten_raw_orders(
        [
            RawOrders(1, "a", raw(MARKET_ORDER, {**MARKET_ORDER, "id": 6})),  # 1 was in a part
            RawOrders(1, "b", raw(MARKET_ORDER, MARKET_ORDER)),  # another backtest: kept once
        ],
        seen,
    )
    assert second.duplicate_orders == 2
    assert second.orders.select(["backtest_id", "order_id"]).to_pylist() == [
        {"backtest_id": "a", "order_id": 6},
        {"backtest_id": "b", "order_id": 1},
    ]
    assert second.orders_per_group == [1, 1] and second.events_per_group == [2, 2]
    assert set(second.order_events.column("order_id").to_pylist()) == {6, 1}


def test_no_orders_give_empty_tables_of_the_schema():
    flat = flatten_raw_orders([RawOrders(1, "a", [])], {})
    assert flat.orders.schema == ORDERS.arrow_schema and flat.orders.num_rows == 0
    assert flat.order_events.schema == ORDER_EVENTS.arrow_schema
    assert flat.orders_per_group == [0]


def test_an_order_longer_than_a_read_block_still_reads_fast():
    events = [{**MARKET_ORDER["events"][1], "orderEventId": i} for i in range(1, 6_000)]
    huge = {**MARKET_ORDER, "events": events}
    assert len(msgspec.json.encode(huge)) > 1 << 20
    flat = flatten_one(BACKTEST_ID, [huge, COMBO_LEG])
    assert flat.slow_reason is None
    assert flat.order_events.num_rows == len(events)
