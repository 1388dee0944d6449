"""The schema module: value parsers, enum maps, and the generated DDL in sql/tables.sql."""

from datetime import UTC, datetime

import pytest

from pipelines.schema import (
    ORDER_STATUSES,
    TABLES_SQL,
    enum_name,
    is_backtest_finished,
    parse_statistic_value,
    parse_timestamp,
    render_tables_sql,
)


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
    ],
)
def test_timestamps_become_utc_instants(raw: object, expected: datetime | None):
    assert parse_timestamp(raw) == expected


def test_order_and_event_statuses_share_one_vocabulary():
    status = enum_name(ORDER_STATUSES)
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
    assert enum_name(ORDER_STATUSES)(4) == "4"
    assert enum_name(ORDER_STATUSES)("teleported") == "teleported"


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
    assert TABLES_SQL.read_text() == render_tables_sql(), (
        "sql/tables.sql is stale: run `python -m pipelines.schema`"
    )
