"""The reconciliation checks of sql/checks.sql on hand-made warehouses: each finds a mismatch
and says it with its numbers, converts fees the way it documents, and says what it could not
check."""

from pathlib import Path

import pytest

from pipelines import warehouse
from pipelines.flatten.backtests import statistics_to_arrow

BACKTEST = "a" * 32


def statistics_and_events(
    tmp_path: Path, statistics: dict[str, str], events: list[tuple], orders: list[tuple] = ()
) -> warehouse.DuckDBWarehouse:
    """A loaded backtest with these statistics (flattened as the sync does), fills (order id,
    event id, symbol, fill price, fee, fee currency) and orders (order id, security type)."""
    path = tmp_path / "w.duckdb"
    with warehouse.open_writer(path) as store, store.holding() as conn:
        store.write(
            "insert_backtest_statistics", staged=statistics_to_arrow(1, BACKTEST, statistics)
        )
        conn.execute(
            "INSERT INTO backtest_sync (backtest_id, project_id, orders_synced_at, "
            "orders_complete) VALUES (?, 1, now(), true)",
            [BACKTEST],
        )
        for order_id, security_type in orders:
            conn.execute(
                "INSERT INTO orders (project_id, backtest_id, order_id, security_type) "
                "VALUES (1, ?, ?, ?)",
                [BACKTEST, order_id, security_type],
            )
        for order_id, event_id, symbol, price, fee, fee_currency in events:
            conn.execute(
                "INSERT INTO order_events (project_id, backtest_id, order_id, order_event_id, "
                "status, symbol, fill_price, fill_quantity, order_fee_amount, "
                "order_fee_currency, event_time) VALUES (1, ?, ?, ?, 'Filled', ?, ?, 1000, ?, ?, "
                "TIMESTAMPTZ '2024-05-01 14:00:00+00' + to_seconds(?))",
                [BACKTEST, order_id, event_id, symbol, price, fee, fee_currency, order_id],
            )
    return warehouse.DuckDBWarehouse(warehouse.connect(path, read_only=True))


def test_fees_in_the_account_currency_reconcile_to_the_cent(tmp_path: Path):
    store = statistics_and_events(
        tmp_path,
        {"Total Fees": "$3.46"},
        [(1, 1, "SPY", 500.0, 1.0, "USD"), (2, 1, "SPY", 501.0, 2.455, "USD")],
    )
    assert store.check("fees_differing_from_total_fees") == {
        "failures": 0,
        "examples": [],
        "not_reconciled": 0,
        "reconciled": 1,
    }


def test_a_fee_mismatch_is_found_with_its_numbers(tmp_path: Path):
    store = statistics_and_events(
        tmp_path, {"Total Fees": "$809.59"}, [(1, 1, "SPY", 500.0, 16709.48, "USD")]
    )
    row = store.check("fees_differing_from_total_fees")
    assert row["failures"] == 1
    assert row["examples"] == [
        {"backtest_id": BACKTEST, "total_fees": 809.59, "sum_of_fees": 16709.48}
    ]


def test_fees_in_yen_convert_at_the_backtests_own_usdjpy_fill(tmp_path: Path):
    # A fee of 300 yen on a USDJPY fill at 150: $2.00; the dollar fee before it, $1.00.
    store = statistics_and_events(
        tmp_path,
        {"Total Fees": "$3.00"},
        [(1, 1, "USDJPY", 140.0, 1.0, "USD"), (2, 1, "USDJPY", 150.0, 300.0, "JPY")],
        orders=[(1, "Forex"), (2, "Forex")],
    )
    row = store.check("fees_differing_from_total_fees")
    assert (row["failures"], row["reconciled"]) == (0, 1), row


def test_a_fee_no_fill_converts_is_not_reconciled_rather_than_failing(tmp_path: Path):
    store = statistics_and_events(
        tmp_path, {"Total Fees": "$5.00"}, [(1, 1, "FESX", 4200.0, 4.0, "EUR")]
    )
    row = store.check("fees_differing_from_total_fees")
    assert (row["failures"], row["not_reconciled"], row["reconciled"]) == (0, 1, 0)


@pytest.mark.parametrize(
    ("statistics", "failures"),
    [
        ({"Net Profit": "5.000%", "Start Equity": "$100,000.00", "End Equity": "$105,000.00"}, 0),
        ({"Net Profit": "-7.540%", "Start Equity": "$100,000.00", "End Equity": "$92,460.00"}, 0),
        ({"Net Profit": "7.540%", "Start Equity": "$100,000.00", "End Equity": "$92,460.00"}, 1),
        ({"Net Profit": "5.100%", "Start Equity": "€100,000.00", "End Equity": "€105,000.00"}, 1),
    ],
)
def test_net_profit_must_be_the_change_in_equity(tmp_path: Path, statistics: dict, failures: int):
    row = statistics_and_events(tmp_path, statistics, []).check("net_profit_differing_from_equity")
    assert (row["failures"], row["reconciled"]) == (failures, 1)
    if failures:
        (example,) = row["examples"]
        assert example["net_profit_pct"] != example["equity_change_pct"]
