"""The analysis views (sql/views/) on a synced sandbox warehouse: each view's totals reconcile
with the base tables, and slippage is signed the way the README says."""

from contextlib import closing
from pathlib import Path

import duckdb
import pytest

from pipelines import warehouse
from pipelines.qc.client import QuantConnectClient
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID, SandboxAccount, SandboxServer
from pipelines.sync import sync_everything

FILLED_EVENTS = "status IN ('Filled', 'PartiallyFilled') AND fill_quantity <> 0"


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory):
    """The demo's warehouse (the account `make demo` syncs), with its views, open read-only."""
    path = tmp_path_factory.mktemp("views") / "w.duckdb"
    with (
        SandboxServer(SandboxAccount()) as sandbox,
        closing(QuantConnectClient(SANDBOX_USER_ID, SANDBOX_API_TOKEN, sandbox.url)) as client,
        warehouse.open_writer(path) as store,
    ):
        sync_everything(client, store)  # which also creates the views
    with warehouse.connect(path, read_only=True) as reader:
        yield reader


def one(conn: duckdb.DuckDBPyConnection, sql: str) -> tuple:
    return conn.execute(sql).fetchone()


def test_every_view_shows_rows(conn):
    for view in warehouse.view_names():
        assert conn.execute(f"SELECT count(*) FROM {view}").fetchone()[0] > 0, view


def test_fills_are_the_filling_events_with_notional_and_fee(conn):
    assert one(conn, "SELECT count(*), sum(fill_quantity) FROM fills") == one(
        conn, f"SELECT count(*), sum(fill_quantity) FROM order_events WHERE {FILLED_EVENTS}"
    )
    assert one(conn, "SELECT count(*) FROM fills WHERE notional < 0 OR fee IS NULL") == (0,)
    fees, notional = one(conn, "SELECT sum(fee), sum(notional) FROM fills")
    expected = one(
        conn,
        "SELECT sum(coalesce(order_fee_amount, 0)), sum(abs(fill_quantity * fill_price)) "
        f"FROM order_events WHERE {FILLED_EVENTS}",
    )
    assert (fees, notional) == pytest.approx(expected)


def test_order_lifecycle_has_one_row_per_order_and_every_event(conn):
    assert one(conn, "SELECT count(*), sum(event_count) FROM order_lifecycle") == (
        one(conn, "SELECT count(*) FROM orders")[0],
        one(conn, "SELECT count(*) FROM order_events")[0],
    )
    filled = one(conn, "SELECT sum(filled_quantity) FROM order_lifecycle")[0]
    assert filled == pytest.approx(one(conn, "SELECT sum(fill_quantity) FROM fills")[0])
    assert one(
        conn,
        "SELECT count(*) FROM order_lifecycle WHERE first_fill_time > last_fill_time "
        "OR (first_fill_time IS NULL) <> (time_to_first_fill IS NULL)",
    ) == (0,)
    assert one(conn, "SELECT typeof(time_to_first_fill) FROM order_lifecycle LIMIT 1") == (
        "INTERVAL",
    )


def test_symbol_summary_totals_equal_the_fills(conn):
    summed = one(
        conn,
        "SELECT sum(fills), sum(buy_fills + sell_fills), sum(volume), sum(notional), sum(fees) "
        "FROM symbol_summary",
    )
    expected = one(
        conn,
        "SELECT count(*), count(*), sum(abs(fill_quantity)), sum(notional), sum(fee) FROM fills",
    )
    assert summed == pytest.approx(expected)


def test_backtest_summary_reconciles_with_orders_fills_and_statistics(conn):
    assert one(conn, "SELECT count(*) FROM backtest_summary") == one(
        conn, "SELECT count(*) FROM backtests"
    )
    assert one(
        conn,
        "SELECT sum(filled_orders), sum(canceled_orders), sum(invalid_orders) "
        "FROM backtest_summary",
    ) == one(
        conn,
        "SELECT count(*) FILTER (WHERE status = 'Filled'), count(*) FILTER (WHERE status = "
        "'Canceled'), count(*) FILTER (WHERE status = 'Invalid') FROM orders",
    )
    assert one(conn, "SELECT sum(fills), sum(total_fees) FROM backtest_summary") == pytest.approx(
        one(conn, "SELECT count(*), sum(fee) FROM fills")
    )
    mismatched = one(
        conn,
        "SELECT count(*) FROM backtest_summary s JOIN backtest_statistics t USING (backtest_id) "
        "WHERE t.statistic = 'Sharpe Ratio' AND s.sharpe_ratio IS DISTINCT FROM t.value",
    )
    assert mismatched == (0,)
    # Every loaded backtest says how many orders it has, under either name of the statistic.
    assert one(
        conn,
        "SELECT count(*) FROM backtest_summary WHERE filled_orders IS NOT NULL "
        "AND total_orders IS NULL",
    ) == (0,)
    # Running backtests have no statistics yet: NULL, not 0.
    assert one(
        conn,
        "SELECT count(*) FROM backtest_summary s JOIN backtests b USING (backtest_id) "
        "WHERE NOT b.completed AND s.sharpe_ratio IS NOT NULL",
    ) == (0,)


def test_slippage_is_positive_when_worse_for_us(tmp_path: Path):
    with warehouse.open_writer(tmp_path / "w.duckdb") as store:
        conn = store.conn
        conn.execute(
            "INSERT INTO orders (project_id, backtest_id, order_id, submission_bid_price, "
            "submission_ask_price) VALUES (1, 'b', 1, 99.0, 100.0), (1, 'b', 2, 99.0, 100.0)"
        )
        conn.execute(
            "INSERT INTO order_events (project_id, backtest_id, order_id, order_event_id, status, "
            "direction, fill_price, fill_quantity) VALUES "
            "(1, 'b', 1, 1, 'Filled', 'Buy', 100.5, 10), "
            "(1, 'b', 2, 1, 'Filled', 'Sell', 99.99, -10)"
        )
        store.create_views()
        found = conn.execute(
            "SELECT order_id, reference_price, slippage_bps FROM slippage ORDER BY order_id"
        ).fetchall()
    assert found == [(1, 100.0, pytest.approx(50.0)), (2, 99.0, pytest.approx(-100.0))]


def test_slippage_covers_every_fill_with_a_quote(conn):
    assert one(conn, "SELECT count(*) FROM slippage") == one(
        conn,
        "SELECT count(*) FROM fills f JOIN orders o USING (backtest_id, order_id) WHERE "
        "CASE f.direction WHEN 'Buy' THEN o.submission_ask_price "
        "WHEN 'Sell' THEN o.submission_bid_price END <> 0",
    )


EXAMPLES = sorted((Path(__file__).parent.parent / "sql" / "examples").glob("*.sql"))


def test_there_are_at_least_five_commented_examples():
    assert len(EXAMPLES) >= 5
    for example in EXAMPLES:
        assert example.read_text().startswith("-- "), f"{example.name} does not say what it asks"


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_each_example_answers_on_the_sandbox_warehouse(conn, example: Path):
    result = conn.execute(example.read_text())
    rows = result.fetchall()
    assert rows, f"{example.name} found nothing"
    assert all(any(value is not None for value in row) for row in rows)
