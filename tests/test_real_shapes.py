"""Every shape real QuantConnect replies and LEAN's serializers have been seen to send loads with
LEAN's meaning. The payloads are the project's own, written in those shapes (key names,
casing, nesting and value formats follow ../shared/real-payloads/ and LEAN's converters)."""

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from pipelines.flatten.backtests import statistics_to_arrow
from pipelines.flatten.orders import FlatOrders, RawOrders, flatten_raw_orders
from pipelines.flatten.projects import projects_to_arrow
from pipelines.qc.replies import parse_orders_page
from pipelines.schema.backtests import has_final_statistics

BACKTEST = "5f0c1a2b3c4d5e6f708192a3b4c5d6e7"
DAY = "QuantConnect.Orders.TimeInForces.DayTimeInForce"
GOOD_TIL_DATE = "QuantConnect.Orders.TimeInForces.GoodTilDateTimeInForce"


def camel_order(order_id: int = 1, **changes: Any) -> dict[str, Any]:
    """An order as today's `backtests/orders/read` writes it (camelCase, integer enums)."""
    order = {
        "id": order_id,
        "type": 1,
        "limitPrice": 101.25,
        "symbol": {"value": "QQQ", "id": "QQQ RIWIV7K5Z9LX", "permtick": "QQQ"},
        "price": 101.3,
        "priceCurrency": "USD",
        "time": "2021-06-01T14:05:00Z",
        "createdTime": "2021-06-01T14:05:00Z",
        "quantity": 25.0,
        "status": 3,
        "properties": {"timeInForce": {}},
        "securityType": 1,
        "direction": 0,
        "value": 2532.5,
        "events": [
            {
                "id": f"{BACKTEST}-{order_id}-1",
                "algorithmId": BACKTEST,
                "orderId": order_id,
                "orderEventId": 1,
                "symbol": "QQQ RIWIV7K5Z9LX",
                "symbolValue": "QQQ",
                "time": 1622556300.0,
                "status": "submitted",
                "direction": "buy",
                "quantity": 25.0,
            }
        ],
    }
    return {**order, **changes}


def flatten(*orders: dict[str, Any]) -> FlatOrders:
    """The orders through the sync's own flattener, as a page carries them."""
    raw = [msgspec.Raw(msgspec.json.encode(order)) for order in orders]
    return flatten_raw_orders([RawOrders(7, BACKTEST, raw)], {})


def order_rows(flat: FlatOrders) -> list[dict[str, Any]]:
    return flat.orders.to_pylist()


def test_a_2024_reply_with_pascal_case_orders_and_kebab_case_events_loads_whole():
    # The dialect of a real `backtests/orders/read` reply captured in March 2024.
    body = msgspec.json.encode(
        {
            "length": 1,
            "orders": [
                {
                    "Type": 0,
                    "Id": 3,
                    "ContingentId": 0,
                    "BrokerId": ["3"],
                    "Symbol": {"Value": "IWM", "ID": "IWM RV0PWMLXVHPH", "Permtick": "IWM"},
                    "Price": 201.5,
                    "PriceCurrency": "USD",
                    "Time": "2022-02-03T15:00:00Z",
                    "LastFillTime": "2022-02-03T15:00:00Z",
                    "Quantity": -40.0,
                    "Status": 3,
                    "Properties": {"TimeInForce": {}},
                    "SecurityType": 1,
                    "Direction": 1,
                    "OrderSubmissionData": {"BidPrice": 201.49, "AskPrice": 201.51},
                    "PriceAdjustmentMode": 1,
                    "Events": [
                        {
                            "symbol-value": "IWM",
                            "id": f"{BACKTEST}-3-2",
                            "algorithm-id": BACKTEST,
                            "order-id": 3,
                            "order-event-id": 2,
                            "symbol": "IWM RV0PWMLXVHPH",
                            "time": 1643900400.0,
                            "status": "filled",
                            "order-fee-amount": 1.0,
                            "order-fee-currency": "USD",
                            "fill-price": 201.49,
                            "fill-price-currency": "USD",
                            "fill-quantity": -40.0,
                            "direction": "sell",
                            "is-assignment": False,
                            "quantity": -40.0,
                        }
                    ],
                }
            ],
            "success": True,
        }
    )
    page = parse_orders_page("backtests/orders/read", {}, body)
    flat = flatten_raw_orders([RawOrders(7, BACKTEST, page.orders)], {})
    (order,) = order_rows(flat)
    assert (order["order_id"], order["symbol"], order["direction"]) == (3, "IWM", "Sell")
    assert (order["time_in_force"], order["price_adjustment_mode"]) == (
        "GoodTilCanceled",
        "Adjusted",
    )
    assert order["submission_bid_price"] == 201.49 and order["extra"] is None
    (event,) = flat.order_events.to_pylist()
    assert (event["order_id"], event["order_event_id"], event["status"]) == (3, 2, "Filled")
    assert (event["fill_price"], event["fill_quantity"]) == (201.49, -40.0)
    assert (event["order_fee_amount"], event["order_fee_currency"]) == (1.0, "USD")
    assert event["event_time"] == datetime(2022, 2, 3, 15, tzinfo=UTC)


def test_fractional_epoch_event_times_keep_their_fraction():
    order = camel_order()
    order["events"][0]["time"] = 1622556300.125
    (event,) = flatten(order).order_events.to_pylist()
    assert event["event_time"] == datetime(2021, 6, 1, 14, 5, 0, 125000, tzinfo=UTC)


def test_day_and_good_til_date_as_leans_converter_writes_them_read_fast():
    day = camel_order(1, properties={"timeInForce": {"$type": DAY}})
    dated = camel_order(
        2, properties={"timeInForce": {"$type": GOOD_TIL_DATE, "Expiry": "2021-06-04T00:00:00"}}
    )
    flat = flatten(day, dated, camel_order(3))
    assert flat.slow_reason is None
    rows = [(o["time_in_force"], o["time_in_force_expiry"]) for o in order_rows(flat)]
    assert rows == [
        ("Day", None),
        ("GoodTilDate", datetime(2021, 6, 4, tzinfo=UTC)),
        ("GoodTilCanceled", None),
    ]
    assert order_rows(flat)[0]["properties"] == f'{{"timeInForce":{{"$type":"{DAY}"}}}}'


@pytest.mark.parametrize(
    ("legacy", "meaning", "expiry"),
    [
        ({"Properties": {"TimeInForce": 1}}, "Day", None),
        ({"Properties": {"TimeInForce": 0}}, "GoodTilCanceled", None),
        ({"TimeInForce": 1}, "Day", None),
        ({"TimeInForce": {}, "Properties": {"TimeInForce": {}}}, "GoodTilCanceled", None),
        ({"Duration": 1}, "Day", None),
        (
            {"Duration": 2, "DurationValue": "2010-04-04T14:31:00Z"},
            "GoodTilDate",
            datetime(2010, 4, 4, 14, 31, tzinfo=UTC),
        ),
    ],
    ids=["properties-int", "properties-int-0", "top-level", "top-level-map", "duration", "dated"],
)
def test_older_orders_time_in_force_has_leans_meaning(
    legacy: dict[str, Any], meaning: str, expiry: datetime | None
):
    # Older PascalCase orders, as LEAN's OrderJsonConverter still reads them.
    order = {
        "Type": 0,
        "Id": 1,
        "BrokerId": [1],
        "Symbol": {"Value": "SPY", "Permtick": "SPY"},
        "Price": 100.09,
        "Time": "2010-03-04T14:31:00Z",
        "Quantity": 999,
        "Status": "filled",
        "SecurityType": 1,
        "Direction": 0,
        "AbsoluteQuantity": 999,
        **legacy,
    }
    (row,) = order_rows(flatten(order))
    assert (row["time_in_force"], row["time_in_force_expiry"]) == (meaning, expiry)
    assert (row["status"], row["broker_ids"], row["order_type"]) == ("Filled", ["1"], "Market")
    assert msgspec.json.decode(row["extra"]) == {"AbsoluteQuantity": 999}  # kept, not lost


@pytest.mark.parametrize(
    ("code", "name"),
    [(6, "Cfd"), (8, "FutureOption"), (9, "Index"), (10, "IndexOption"), (11, "CryptoFuture")],
)
def test_every_security_type_has_its_name(code: int, name: str):
    flat = flatten(camel_order(securityType=code))
    assert flat.slow_reason is None and not flat.notes
    assert order_rows(flat)[0]["security_type"] == name


def test_prices_and_fees_in_other_currencies_keep_their_currency():
    order = camel_order(
        symbol={"value": "FESX", "id": "FESX YJHOAMPYKQGX", "permtick": "FESX"},
        securityType=5,
        priceCurrency="EUR",
    )
    order["events"][0] |= {
        "status": "filled",
        "fillPrice": 4210.0,
        "fillPriceCurrency": "EUR",
        "fillQuantity": 25.0,
        "orderFeeAmount": 30.5,
        "orderFeeCurrency": "EUR",
    }
    yen = camel_order(2, priceCurrency="JPY")
    yen["events"][0] |= {"orderFeeAmount": 320.0, "orderFeeCurrency": "JPY"}
    flat = flatten(order, yen)
    assert [o["price_currency"] for o in order_rows(flat)] == ["EUR", "JPY"]
    fees = [(e["order_fee_amount"], e["order_fee_currency"]) for e in flat.order_events.to_pylist()]
    assert fees == [(30.5, "EUR"), (320.0, "JPY")]
    assert flat.order_events.to_pylist()[0]["fill_price_currency"] == "EUR"


def test_statistics_in_any_currency_parse_to_their_amount():
    statistics = {
        "Total Fees": "BUSD99.75",  # a currency without a symbol: LEAN writes its code
        "Start Equity": "Ξ2000.00",
        "End Equity": "₮220000.00",
        "Net Profit": "₹6.00",
        "Estimated Strategy Capacity": "€85000.00",
        "Lowest Capacity Asset": "BTCBUSD 18N",
    }
    rows = statistics_to_arrow(7, BACKTEST, statistics).to_pylist()
    values = {row["statistic"]: row["value"] for row in rows}
    assert values == {
        "Total Fees": 99.75,
        "Start Equity": 2000.0,
        "End Equity": 220000.0,
        "Net Profit": 6.0,
        "Estimated Strategy Capacity": 85000.0,
        "Lowest Capacity Asset": None,
    }
    assert {row["value_text"] for row in rows} == set(statistics.values())


def test_a_queued_backtest_with_null_statistics_has_none_yet():
    queued = {"completed": False, "status": "In Queue...", "statistics": None}
    assert statistics_to_arrow(7, BACKTEST, None).num_rows == 0
    assert not has_final_statistics({**queued, "runtimeStatistics": None})


def test_an_integer_organization_id_is_kept_as_its_text():
    (project,) = projects_to_arrow([{"projectId": 5, "organizationId": 99568}]).to_pylist()
    assert project["organization_id"] == "99568"
