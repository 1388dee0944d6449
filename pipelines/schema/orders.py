"""The orders table group: every order of every finished backtest (`backtests/orders/read`) and
the events nested in each, with the wire schema pyarrow's JSON reader parses their pages with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.schema import time_in_force as tif
from pipelines.schema.columns import (
    Table,
    column,
    enum_column,
    extra_column,
    parent_column,
    wire_struct,
)
from pipelines.schema.enums import (
    DIRECTION,
    ORDER_STATUS,
    ORDER_TYPE,
    PRICE_ADJUSTMENT_MODE,
    SECURITY_TYPE,
)
from pipelines.schema.symbols import market_array, market_of
from pipelines.schema.values import parse_bool

CODE, NAME, EPOCH = pa.int64(), pa.string(), pa.float64()  # wire types of enums and times


def trailing_as_percentage(order: Mapping[str, Any]) -> bool | None:
    """Lean writes `trailingAsPercentage`; the OAS says `trailingPercentage`. Accept both (§6)."""
    return parse_bool(order.get("trailingAsPercentage", order.get("trailingPercentage")))


# --- The same parser over whole Arrow arrays, for order pages read by pyarrow's JSON reader ----


def trailing_as_percentage_array(orders: pa.StructArray) -> pa.Array:
    """`trailing_as_percentage` over an array of whole orders."""
    return pc.coalesce(
        pc.struct_field(orders, "trailingAsPercentage"),
        pc.struct_field(orders, "trailingPercentage"),
    )


ORDERS = Table(
    name="orders",
    key=("backtest_id", "order_id"),
    parent="backtests",
    key_constraint=False,
    description="One row per order of every finished backtest (`backtests/orders/read`).",
    columns=(
        parent_column("project_id", "BIGINT", "The backtest's project"),
        parent_column("backtest_id", "VARCHAR", "The backtest"),
        column("order_id", "BIGINT", "id"),
        column("symbol", "VARCHAR", "symbol", "value", description="The ticker value"),
        column("symbol_id", "VARCHAR", "symbol", "id"),
        column("symbol_permtick", "VARCHAR", "symbol", "permtick"),
        column("underlying_symbol", "VARCHAR", "symbol", "underlying", "value"),
        column("underlying_symbol_id", "VARCHAR", "symbol", "underlying", "id"),
        column("underlying_symbol_permtick", "VARCHAR", "symbol", "underlying", "permtick"),
        column(
            "market",
            "VARCHAR",
            "symbol",
            "id",
            parse=market_of,
            parse_array=market_array,
            description='The market, from the symbol id: "usa", "cme", "oanda", …',
        ),
        enum_column("security_type", "securityType", names=SECURITY_TYPE, wire=CODE),
        enum_column("order_type", "type", names=ORDER_TYPE, wire=CODE),
        enum_column("status", "status", names=ORDER_STATUS, wire=CODE),
        enum_column("direction", "direction", names=DIRECTION, wire=CODE),
        column("quantity", "DOUBLE", "quantity"),
        column("price", "DOUBLE", "price"),
        column("price_currency", "VARCHAR", "priceCurrency"),
        column("limit_price", "DOUBLE", "limitPrice"),
        column("stop_price", "DOUBLE", "stopPrice"),
        column("stop_triggered", "BOOLEAN", "stopTriggered"),
        column("trigger_price", "DOUBLE", "triggerPrice"),
        column("trigger_touched", "BOOLEAN", "triggerTouched"),
        column("trailing_amount", "DOUBLE", "trailingAmount"),
        column(
            "trailing_as_percentage",
            "BOOLEAN",
            parse=trailing_as_percentage,
            parse_array=trailing_as_percentage_array,
        ),
        column("value", "DOUBLE", "value"),
        column("tag", "VARCHAR", "tag"),
        column("time", "TIMESTAMPTZ", "time"),
        column("created_time", "TIMESTAMPTZ", "createdTime"),
        column("last_fill_time", "TIMESTAMPTZ", "lastFillTime"),
        column("last_update_time", "TIMESTAMPTZ", "lastUpdateTime"),
        column("canceled_time", "TIMESTAMPTZ", "canceledTime"),
        column(
            "time_in_force",
            "VARCHAR",
            parse=tif.time_in_force,
            parse_array=tif.time_in_force_array,
            description="GoodTilCanceled, Day or GoodTilDate, in any shape LEAN wrote it",
        ),
        column(
            "time_in_force_expiry",
            "TIMESTAMPTZ",
            parse=tif.time_in_force_expiry,
            parse_array=tif.time_in_force_expiry_array,
        ),
        column(
            "properties",
            "JSON",
            "properties",
            wire=tif.PROPERTIES_WIRE,
            parse_array=tif.properties_json_array,
        ),
        column("submission_bid_price", "DOUBLE", "orderSubmissionData", "bidPrice"),
        column("submission_ask_price", "DOUBLE", "orderSubmissionData", "askPrice"),
        column("submission_last_price", "DOUBLE", "orderSubmissionData", "lastPrice"),
        column("is_marketable", "BOOLEAN", "isMarketable"),
        enum_column(
            "price_adjustment_mode", "priceAdjustmentMode", names=PRICE_ADJUSTMENT_MODE, wire=CODE
        ),
        column("contingent_id", "BIGINT", "contingentId"),
        column("broker_ids", "VARCHAR[]", "brokerId"),
        column("group_order_manager_id", "BIGINT", "groupOrderManager", "id"),
        column("group_quantity", "DOUBLE", "groupOrderManager", "quantity"),
        column("group_count", "BIGINT", "groupOrderManager", "count"),
        column("group_limit_price", "DOUBLE", "groupOrderManager", "limitPrice"),
        column("group_order_ids", "BIGINT[]", "groupOrderManager", "orderIds"),
        enum_column(
            "group_direction", "groupOrderManager", "direction", names=DIRECTION, wire=CODE
        ),
        extra_column(),
    ),
    # `events` fill `order_events`; `trailing_as_percentage` reads both spellings; an older
    # order's time in force is a top-level `TimeInForce`, or `Duration` and `DurationValue`.
    read_keys=(
        "events",
        "trailingAsPercentage",
        "trailingPercentage",
        "timeInForce",
        "duration",
        "durationValue",
    ),
    object_lists=("events",),
)

ORDER_EVENTS = Table(
    name="order_events",
    key=("backtest_id", "order_id", "order_event_id"),
    parent="orders",
    key_constraint=False,
    description="One row per event of every loaded order (the order's nested `events`).",
    columns=(
        parent_column("project_id", "BIGINT", "The backtest's project"),
        parent_column("backtest_id", "VARCHAR", "The backtest"),
        parent_column("order_id", "BIGINT", "The order the event belongs to"),
        column("order_event_id", "BIGINT", "orderEventId"),
        column("event_id", "VARCHAR", "id", description='"{backtestId}-{orderId}-{orderEventId}"'),
        enum_column("status", "status", names=ORDER_STATUS, wire=NAME),
        enum_column("direction", "direction", names=DIRECTION, wire=NAME),
        column("symbol", "VARCHAR", "symbolValue"),
        column("symbol_id", "VARCHAR", "symbol"),
        column("symbol_permtick", "VARCHAR", "symbolPermtick"),
        column("fill_price", "DOUBLE", "fillPrice"),
        column("fill_price_currency", "VARCHAR", "fillPriceCurrency"),
        column("fill_quantity", "DOUBLE", "fillQuantity"),
        column("quantity", "DOUBLE", "quantity"),
        column("order_fee_amount", "DOUBLE", "orderFeeAmount"),
        column("order_fee_currency", "VARCHAR", "orderFeeCurrency"),
        column("limit_price", "DOUBLE", "limitPrice"),
        column("stop_price", "DOUBLE", "stopPrice"),
        column("is_assignment", "BOOLEAN", "isAssignment"),
        column("is_in_the_money", "BOOLEAN", "isInTheMoney"),
        column("message", "VARCHAR", "message"),
        column(
            "event_time", "TIMESTAMPTZ", "time", description="Sent as epoch seconds", wire=EPOCH
        ),
        extra_column(),
    ),
    read_keys=("algorithmId", "orderId"),  # the backtest and the order: parent columns
)


# Every key an order sends, with its JSON type (reference §6): what pyarrow's JSON reader
# expects of each order of a page. A key or a type outside it sends the page down the slow path.
ORDER_EVENT_WIRE = wire_struct(
    ORDER_EVENTS, {("algorithmId",): pa.string(), ("orderId",): pa.int64()}
)
ORDER_WIRE = wire_struct(
    ORDERS,
    {
        ("trailingAsPercentage",): pa.bool_(),  # both read by `trailing_as_percentage`
        ("trailingPercentage",): pa.bool_(),
        ("events",): pa.list_(ORDER_EVENT_WIRE),
    },
)

TABLES = (ORDERS, ORDER_EVENTS)
