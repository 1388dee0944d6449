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
        column(
            "order_id",
            "BIGINT",
            "id",
            description="The order's id, unique within its backtest (`id`)",
        ),
        column(
            "symbol",
            "VARCHAR",
            "symbol",
            "value",
            description='The ticker (`symbol.value`), e.g. "SPY"',
        ),
        column(
            "symbol_id",
            "VARCHAR",
            "symbol",
            "id",
            description=(
                'LEAN\'s security identifier (`symbol.id`), e.g. "SPY R735QTJ8XC9X"; a'
                " derivative's ends with |, then its underlying's"
            ),
        ),
        column(
            "symbol_permtick",
            "VARCHAR",
            "symbol",
            "permtick",
            description="LEAN's permtick of the symbol (`symbol.permtick`)",
        ),
        column(
            "underlying_symbol",
            "VARCHAR",
            "symbol",
            "underlying",
            "value",
            description="A derivative's underlying ticker (`symbol.underlying.value`); else NULL",
        ),
        column(
            "underlying_symbol_id",
            "VARCHAR",
            "symbol",
            "underlying",
            "id",
            description="The underlying's security identifier (`symbol.underlying.id`)",
        ),
        column(
            "underlying_symbol_permtick",
            "VARCHAR",
            "symbol",
            "underlying",
            "permtick",
            description="The underlying's permtick (`symbol.underlying.permtick`)",
        ),
        column(
            "market",
            "VARCHAR",
            "symbol",
            "id",
            parse=market_of,
            parse_array=market_array,
            description='The market, from the symbol id: "usa", "cme", "oanda", …',
        ),
        enum_column(
            "security_type",
            "securityType",
            names=SECURITY_TYPE,
            wire=CODE,
            description=(
                "Equity, Option, Future, Forex, Crypto, … (`securityType`, sent as a code)"
            ),
        ),
        enum_column(
            "order_type",
            "type",
            names=ORDER_TYPE,
            wire=CODE,
            description=(
                "Market, Limit, StopMarket, StopLimit, MarketOnOpen, … (`type`, sent as a code)"
            ),
        ),
        enum_column(
            "status",
            "status",
            names=ORDER_STATUS,
            wire=CODE,
            description="The order's last status: Filled, Canceled, Invalid, … (sent as a code)",
        ),
        enum_column(
            "direction",
            "direction",
            names=DIRECTION,
            wire=CODE,
            description="Buy, Sell or Hold (sent as a code)",
        ),
        column(
            "quantity",
            "DOUBLE",
            "quantity",
            description="The ordered quantity in the security's units, signed: negative sells",
        ),
        column(
            "price",
            "DOUBLE",
            "price",
            description="The order's price (`price`), in `price_currency`",
        ),
        column(
            "price_currency",
            "VARCHAR",
            "priceCurrency",
            description='The currency of `price`, e.g. "USD"',
        ),
        column(
            "limit_price",
            "DOUBLE",
            "limitPrice",
            description="The limit price: Limit, StopLimit, LimitIfTouched, ComboLegLimit orders",
        ),
        column(
            "stop_price",
            "DOUBLE",
            "stopPrice",
            description="The stop price: StopMarket, StopLimit and TrailingStop orders",
        ),
        column(
            "stop_triggered",
            "BOOLEAN",
            "stopTriggered",
            description=(
                "The stop was triggered (`stopTriggered`): StopMarket, StopLimit, TrailingStop"
            ),
        ),
        column(
            "trigger_price",
            "DOUBLE",
            "triggerPrice",
            description="A LimitIfTouched order's trigger price (`triggerPrice`)",
        ),
        column(
            "trigger_touched",
            "BOOLEAN",
            "triggerTouched",
            description="A LimitIfTouched order's trigger price was touched (`triggerTouched`)",
        ),
        column(
            "trailing_amount",
            "DOUBLE",
            "trailingAmount",
            description=(
                "A TrailingStop's distance from the market price: an amount, or a"
                " percentage when `trailing_as_percentage`"
            ),
        ),
        column(
            "trailing_as_percentage",
            "BOOLEAN",
            parse=trailing_as_percentage,
            parse_array=trailing_as_percentage_array,
            description=(
                "`trailing_amount` is a percentage (`trailingAsPercentage`, or the"
                " OAS's `trailingPercentage`)"
            ),
        ),
        column(
            "value",
            "DOUBLE",
            "value",
            description=(
                "The order's value as sent: quantity times price, signed, in `price_currency`"
            ),
        ),
        column(
            "tag",
            "VARCHAR",
            "tag",
            description=(
                "The tag the algorithm gave the order; NULL when empty (the API omits it)"
            ),
        ),
        column(
            "time", "TIMESTAMPTZ", "time", description="When the order was created (`time`), UTC"
        ),
        column(
            "created_time",
            "TIMESTAMPTZ",
            "createdTime",
            description="When the order was created (`createdTime`), UTC",
        ),
        column(
            "last_fill_time",
            "TIMESTAMPTZ",
            "lastFillTime",
            description="When the order was last filled, UTC; NULL if never",
        ),
        column(
            "last_update_time",
            "TIMESTAMPTZ",
            "lastUpdateTime",
            description="When the order was last updated, UTC; NULL if never",
        ),
        column(
            "canceled_time",
            "TIMESTAMPTZ",
            "canceledTime",
            description="When the order was canceled, UTC; NULL if it was not",
        ),
        column(
            "time_in_force",
            "VARCHAR",
            parse=tif.time_in_force,
            parse_array=tif.time_in_force_array,
            description=(
                "GoodTilCanceled, Day or GoodTilDate (`properties.timeInForce`), in any"
                " shape LEAN wrote it"
            ),
        ),
        column(
            "time_in_force_expiry",
            "TIMESTAMPTZ",
            parse=tif.time_in_force_expiry,
            parse_array=tif.time_in_force_expiry_array,
            description="When a GoodTilDate order expires, UTC; NULL for any other",
        ),
        column(
            "properties",
            "JSON",
            "properties",
            wire=tif.PROPERTIES_WIRE,
            parse_array=tif.properties_json_array,
            description='The order\'s `properties` as JSON, e.g. {"timeInForce": {}}',
        ),
        column(
            "submission_bid_price",
            "DOUBLE",
            "orderSubmissionData",
            "bidPrice",
            description="The bid when the order was submitted (`orderSubmissionData.bidPrice`)",
        ),
        column(
            "submission_ask_price",
            "DOUBLE",
            "orderSubmissionData",
            "askPrice",
            description="The ask when the order was submitted (`orderSubmissionData.askPrice`)",
        ),
        column(
            "submission_last_price",
            "DOUBLE",
            "orderSubmissionData",
            "lastPrice",
            description=(
                "The last price when the order was submitted (`orderSubmissionData.lastPrice`)"
            ),
        ),
        column(
            "is_marketable",
            "BOOLEAN",
            "isMarketable",
            description="LEAN judged the order marketable when submitted (`isMarketable`)",
        ),
        enum_column(
            "price_adjustment_mode",
            "priceAdjustmentMode",
            names=PRICE_ADJUSTMENT_MODE,
            wire=CODE,
            description=(
                "How the security's prices were normalized: Raw, Adjusted,"
                " SplitAdjusted, TotalReturn, … (`priceAdjustmentMode`, sent as a code)"
            ),
        ),
        column(
            "contingent_id",
            "BIGINT",
            "contingentId",
            description="The order to process before this one (`contingentId`); 0 for none",
        ),
        column(
            "broker_ids",
            "VARCHAR[]",
            "brokerId",
            description="The brokerage's ids of the order (`brokerId`)",
        ),
        column(
            "group_order_manager_id",
            "BIGINT",
            "groupOrderManager",
            "id",
            description="A combo order's group id (`groupOrderManager.id`); NULL otherwise",
        ),
        column(
            "group_quantity",
            "DOUBLE",
            "groupOrderManager",
            "quantity",
            description="The combo group's quantity (`groupOrderManager.quantity`)",
        ),
        column(
            "group_count",
            "BIGINT",
            "groupOrderManager",
            "count",
            description="How many orders the combo group has (`groupOrderManager.count`)",
        ),
        column(
            "group_limit_price",
            "DOUBLE",
            "groupOrderManager",
            "limitPrice",
            description="The combo group's limit price (`groupOrderManager.limitPrice`)",
        ),
        column(
            "group_order_ids",
            "BIGINT[]",
            "groupOrderManager",
            "orderIds",
            description="The ids of the combo group's orders (`groupOrderManager.orderIds`)",
        ),
        enum_column(
            "group_direction",
            "groupOrderManager",
            "direction",
            names=DIRECTION,
            wire=CODE,
            description="The combo group's direction: Buy, Sell or Hold (sent as a code)",
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
        column(
            "order_event_id",
            "BIGINT",
            "orderEventId",
            description="The event's number within its order (`orderEventId`)",
        ),
        column("event_id", "VARCHAR", "id", description='"{backtestId}-{orderId}-{orderEventId}"'),
        enum_column(
            "status",
            "status",
            names=ORDER_STATUS,
            wire=NAME,
            description="The order's status after the event: Submitted, Filled, Canceled, …",
        ),
        enum_column(
            "direction", "direction", names=DIRECTION, wire=NAME, description="Buy, Sell or Hold"
        ),
        column(
            "symbol", "VARCHAR", "symbolValue", description='The ticker (`symbolValue`), e.g. "SPY"'
        ),
        column(
            "symbol_id", "VARCHAR", "symbol", description="LEAN's security identifier (`symbol`)"
        ),
        column(
            "symbol_permtick",
            "VARCHAR",
            "symbolPermtick",
            description="LEAN's permtick of the symbol (`symbolPermtick`)",
        ),
        column(
            "fill_price",
            "DOUBLE",
            "fillPrice",
            description=(
                "The price of this event's fill, in `fill_price_currency`; 0 when no fill"
            ),
        ),
        column(
            "fill_price_currency",
            "VARCHAR",
            "fillPriceCurrency",
            description='The currency of `fill_price`, e.g. "USD"',
        ),
        column(
            "fill_quantity",
            "DOUBLE",
            "fillQuantity",
            description="The quantity this event filled, signed (negative sells); 0 when no fill",
        ),
        column(
            "quantity",
            "DOUBLE",
            "quantity",
            description="The order's quantity at this event, signed",
        ),
        column(
            "order_fee_amount",
            "DOUBLE",
            "orderFeeAmount",
            description="The fee of this event, in `order_fee_currency`; NULL when none",
        ),
        column(
            "order_fee_currency",
            "VARCHAR",
            "orderFeeCurrency",
            description="The currency of `order_fee_amount`; NULL when no fee",
        ),
        column(
            "limit_price",
            "DOUBLE",
            "limitPrice",
            description="The order's limit price at this event; NULL when none",
        ),
        column(
            "stop_price",
            "DOUBLE",
            "stopPrice",
            description="The order's stop price at this event; NULL when none",
        ),
        column(
            "is_assignment",
            "BOOLEAN",
            "isAssignment",
            description="The event is an option assignment",
        ),
        column(
            "is_in_the_money",
            "BOOLEAN",
            "isInTheMoney",
            description="For an option exercise: it was in the money; NULL when not sent",
        ),
        column(
            "message",
            "VARCHAR",
            "message",
            description="The event's message, e.g. why an order was invalid; NULL when none",
        ),
        column(
            "event_time",
            "TIMESTAMPTZ",
            "time",
            wire=EPOCH,
            description="When the event happened, UTC (`time`, sent as epoch seconds)",
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
