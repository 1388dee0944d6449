"""The schema module: value parsers, enum maps, and the generated DDL in sql/tables.sql."""

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipelines.schema import TABLES
from pipelines.schema.backtests import is_backtest_finished
from pipelines.schema.columns import Table
from pipelines.schema.ddl import TABLES_SQL, render_tables_sql
from pipelines.schema.enums import DIRECTION, ORDER_STATUS, EnumMap
from pipelines.schema.orders import ORDER_EVENT_WIRE, ORDER_EVENTS, ORDER_WIRE, ORDERS
from pipelines.schema.time_in_force import (
    PROPERTIES_WIRE,
    properties_json_array,
    time_in_force,
    time_in_force_array,
    time_in_force_expiry,
    time_in_force_expiry_array,
)
from pipelines.schema.values import parse_statistic_value, parse_timestamp, to_json_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.692%", 1.692),
        ("$3.44", 3.44),
        ("$100,670.36", 100670.36),
        ("-$24.70", -24.70),
        ("$-4.94", -4.94),
        ("0.57 %", 0.57),
        ("1,234", 1234.0),
        ("$56000000.00", 56000000.0),
        ("-0.005", -0.005),
        ("8.854", 8.854),
        ("€12.5", 12.5),
        ("₮7", 7.0),
        ("BUSD99.75", 99.75),  # a currency without a symbol: its code (LEAN's Currencies)
        ("-BUSD1.5", -1.5),
        ("BUSD-1.5", -1.5),
        ("Ξ0.00", 0.0),
        ("kr1,234.50", 1234.5),
        ("NT$12.00", 12.0),
        ("₹61000000000.00", 61000000000.0),
        ("SPX 31", None),  # a symbol, not an amount
        ("BTCBUSD 18N", None),
        ("ES19H21", None),
        ("-", None),
        ("", None),
        ("  ", None),
        ("SPY R735QTJ8XC9X", None),
        ("NaN", None),
        (None, None),
    ],
)
def test_statistic_values_parse_to_numbers_or_null(text: str | None, expected: float | None):
    assert parse_statistic_value(text) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2013-10-07T13:31:00Z", datetime(2013, 10, 7, 13, 31, tzinfo=UTC)),
        ("2013-10-07T13:31:00", datetime(2013, 10, 7, 13, 31, tzinfo=UTC)),
        ("2024-03-06 09:15:00", datetime(2024, 3, 6, 9, 15, tzinfo=UTC)),
        ("2021-11-26T15:18:27.693Z", datetime(2021, 11, 26, 15, 18, 27, 693000, tzinfo=UTC)),
        ("2021-11-26T17:18:27+02:00", datetime(2021, 11, 26, 15, 18, 27, tzinfo=UTC)),
        (1381152660.0, datetime(2013, 10, 7, 13, 31, tzinfo=UTC)),
        (1381152660.25, datetime(2013, 10, 7, 13, 31, 0, 250000, tzinfo=UTC)),
        (None, None),
        ("", None),
        ("soon", None),
    ],
)
def test_timestamps_become_utc_instants(raw: object, expected: datetime | None):
    assert parse_timestamp(raw) == expected


def test_order_and_event_statuses_share_one_vocabulary():
    status = ORDER_STATUS
    assert [status(code) for code in (0, 1, 2, 3, 5, 6, 7, 8, 9)] == [
        "New",
        "Submitted",
        "PartiallyFilled",
        "Filled",
        "Canceled",
        "None",
        "Invalid",
        "CancelPending",
        "UpdateSubmitted",
    ]
    assert status("partiallyFilled") == "PartiallyFilled"
    assert status("cancelPending") == "CancelPending"
    assert status("Filled") == "Filled"


def test_unknown_enum_codes_are_kept_as_text():
    assert ORDER_STATUS(4) == "4"
    assert ORDER_STATUS("teleported") == "teleported"
    assert ORDER_STATUS([1]) == "[1]"


@pytest.mark.parametrize(
    ("names", "raw", "arrow_type"),
    [
        (ORDER_STATUS, [0, 1, 3, 4, 9, 10, -1, None, 2], pa.int64()),
        (DIRECTION, [0, 1, 2, 3, None], pa.int64()),
        (ORDER_STATUS, ["filled", "partiallyFilled", "FILLED", "Canceled", "4", "x", None], None),
        (DIRECTION, ["buy", "sell", "Hold", "", None], None),
    ],
)
def test_enum_names_of_a_whole_array_equal_one_by_one(
    names: EnumMap, raw: list[Any], arrow_type: pa.DataType | None
):
    expected = [None if value is None else names(value) for value in raw]
    array, unknown = names.names_of(pa.array(raw, arrow_type))
    assert array.to_pylist() == expected
    assert unknown == sum(v is not None and not names.knows(v) for v in raw) > 0


@pytest.mark.parametrize("table", [ORDERS, ORDER_EVENTS])
def test_the_fast_reader_covers_every_column_of_the_order_tables(table: Table):
    wire = ORDER_WIRE if table is ORDERS else ORDER_EVENT_WIRE
    for column in table.columns:
        if column.source is None:
            continue
        assert column.parse is None or isinstance(column.parse, EnumMap) or column.parse_array, (
            f"{column.name} needs a parse_array for the fast reader"
        )
        if not column.source:
            continue  # the whole record: its parse_array reads what it needs
        field_type: pa.DataType = wire
        for key in column.source:
            field_type = field_type.field(key).type
        assert field_type == column.wire_type, column.name


DAY_TYPE = "QuantConnect.Orders.TimeInForces.DayTimeInForce"
GOOD_TIL_DATE_TYPE = "QuantConnect.Orders.TimeInForces.GoodTilDateTimeInForce"


@pytest.mark.parametrize(
    "properties",
    [
        {"timeInForce": {}},
        {"timeInForce": {"Expiry": "2024-01-19T21:00:00Z"}},
        {"timeInForce": {"$type": DAY_TYPE}},
        {"timeInForce": {"$type": GOOD_TIL_DATE_TYPE, "Expiry": "2013-10-09T00:00:00"}},
        {"timeInForce": {"$type": f"{DAY_TYPE}, QuantConnect.Common"}},
        {"timeInForce": {"$type": DAY_TYPE.lower()}},
        {"timeInForce": {"$type": "QuantConnect.Orders.TimeInForces.FillOrKillTimeInForce"}},
        {"timeInForce": {"$type": ""}},
        {},
        None,
    ],
)
def test_time_in_force_over_arrays_equals_one_by_one(properties: dict | None):
    order = {"properties": properties}
    array = pa.array([order], pa.struct([("properties", PROPERTIES_WIRE)]))
    assert time_in_force_array(array).to_pylist() == [time_in_force(order)]
    assert time_in_force_expiry_array(array).to_pylist() == [time_in_force_expiry(order)]
    wire = pc.struct_field(array, "properties")
    assert properties_json_array(wire).to_pylist() == [to_json_text(properties)]
    assert pc.all(pc.is_valid(wire)).as_py() is (properties is not None)


@pytest.mark.parametrize(
    ("order", "meaning", "expiry"),
    [
        ({"properties": {"timeInForce": {}}}, "GoodTilCanceled", None),
        ({"properties": {"timeInForce": []}}, "GoodTilCanceled", None),
        ({"properties": {"timeInForce": {"$type": DAY_TYPE}}}, "Day", None),
        (
            {"properties": {"timeInForce": {"$type": GOOD_TIL_DATE_TYPE, "Expiry": "2013-10-09"}}},
            "GoodTilDate",
            datetime(2013, 10, 9, tzinfo=UTC),
        ),
        ({"properties": {"timeInForce": 1}}, "Day", None),  # an older order's integer code
        ({"properties": {"timeInForce": 0}, "timeInForce": 1}, "GoodTilCanceled", None),
        ({"timeInForce": 1}, "Day", None),
        ({"timeInForce": {}}, "GoodTilCanceled", None),
        ({"duration": 1}, "Day", None),
        (
            {"duration": 2, "durationValue": "2010-04-04T14:31:00Z"},
            "GoodTilDate",
            datetime(2010, 4, 4, 14, 31, tzinfo=UTC),
        ),
        ({"timeInForce": 7}, "7", None),
        ({"properties": {"timeInForce": {"why": "not"}}}, '{"why":"not"}', None),
        ({}, None, None),
    ],
)
def test_time_in_force_has_leans_meaning_in_every_shape(
    order: dict, meaning: str | None, expiry: datetime | None
):
    assert (time_in_force(order), time_in_force_expiry(order)) == (meaning, expiry)


@pytest.mark.parametrize(
    ("backtest", "finished"),
    [
        ({"status": "Completed."}, True),
        ({"status": "Runtime Error", "error": "boom"}, True),
        ({"status": "Running: 45%"}, False),
        ({"status": "In Queue..."}, False),
        ({"completed": True}, True),
        ({}, False),
    ],
)
def test_finished_backtests_are_recognised_by_status(backtest: dict, finished: bool):
    assert is_backtest_finished(backtest) is finished


def test_committed_ddl_matches_the_schema():
    assert TABLES_SQL.read_text() == render_tables_sql(TABLES), (
        "sql/tables.sql is stale: run `python -m pipelines.schema`"
    )


def test_properties_that_would_need_json_escaping_are_refused_to_the_fast_reader():
    array = pa.array([{"timeInForce": {"Expiry": 'say "when"'}}], PROPERTIES_WIRE)
    with pytest.raises(ValueError, match="escaping"):
        properties_json_array(array)


def test_bulk_loaded_tables_declare_their_key_without_a_constraint():
    text = TABLES_SQL.read_text()
    orders = text[text.index("CREATE TABLE IF NOT EXISTS orders") :]
    orders = orders[: orders.index(");")]
    assert "PRIMARY KEY" not in orders
    assert "unique on (backtest_id, order_id)" in orders
    assert "PRIMARY KEY (project_id)" in text
