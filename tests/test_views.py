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
    assert one(conn, "SELECT count(*), sum(fill_quantity) FROM fills") == pytest.approx(
        one(conn, f"SELECT count(*), sum(fill_quantity) FROM order_events WHERE {FILLED_EVENTS}")
    )
    assert one(conn, "SELECT count(*) FROM fills WHERE notional < 0 OR fee IS NULL") == (0,)
    fees_by_currency = conn.execute(
        "SELECT fee_currency, sum(fee) FROM fills GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    expected = conn.execute(
        "SELECT nullif(order_fee_currency, ''), sum(coalesce(order_fee_amount, 0)) "
        f"FROM order_events WHERE {FILLED_EVENTS} GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert {c: float(f) for c, f in fees_by_currency} == pytest.approx(dict(expected))


def test_notional_counts_the_contract_multiplier_in_the_quote_currency(conn):
    # Each fill: |quantity * price * multiplier|, multiplier and currency from the symbol's
    # properties where LEAN lists it, else 1 and the order's price currency.
    wrong = one(
        conn,
        """
        SELECT count(*) FROM fills AS f
        JOIN orders AS o USING (backtest_id, order_id)
        LEFT JOIN symbol_properties AS p
            ON p.market = o.market AND p.security_type = o.security_type
            AND p.symbol IN (split_part(f.symbol_id, ' ', 1), '[*]')
        WHERE abs(f.notional - abs(f.fill_quantity * f.fill_price * f.contract_multiplier)) > 0.01
            OR (f.symbol_properties_found AND (
                p.symbol IS NULL OR f.currency <> p.quote_currency
                OR f.contract_multiplier <> p.contract_multiplier))
            OR (NOT f.symbol_properties_found AND (p.symbol IS NOT NULL
                OR f.contract_multiplier <> 1 OR f.currency IS DISTINCT FROM o.price_currency))
        """,
    )
    assert wrong == (0,)
    options = one(
        conn,
        "SELECT min(contract_multiplier), max(contract_multiplier) FROM fills "
        "WHERE security_type = 'Option' AND symbol_properties_found",
    )
    assert options in ((100, 100), (None, None))
    types = dict(conn.execute("SELECT column_name, column_type FROM (DESCRIBE fills)").fetchall())
    assert types["notional"].startswith("DECIMAL") and types["fee"].startswith("DECIMAL")


def test_order_lifecycle_has_one_row_per_order_and_every_event(conn):
    assert one(conn, "SELECT count(*), sum(event_count) FROM order_lifecycle") == (
        one(conn, "SELECT count(*) FROM orders")[0],
        one(conn, "SELECT count(*) FROM order_events")[0],
    )
    filled = one(conn, "SELECT sum(filled_quantity) FROM order_lifecycle")[0]
    own_security = one(
        conn,
        "SELECT sum(f.fill_quantity) FROM fills AS f JOIN orders AS o "
        "USING (backtest_id, order_id) WHERE f.symbol_id = o.symbol_id",
    )[0]
    assert filled == pytest.approx(own_security)
    assert one(
        conn,
        "SELECT count(*) FROM order_lifecycle WHERE first_fill_time > last_fill_time "
        "OR (first_fill_time IS NULL) <> (time_to_first_fill IS NULL)",
    ) == (0,)
    assert one(conn, "SELECT typeof(time_to_first_fill) FROM order_lifecycle LIMIT 1") == (
        "INTERVAL",
    )


def test_symbol_summary_totals_equal_the_fills_per_currency(conn):
    summed = conn.execute(
        "SELECT currency, fee_currency, sum(fills), sum(buy_fills + sell_fills), "
        "round(sum(volume), 6), "
        "sum(notional), sum(fees), sum(fills_without_symbol_properties) "
        "FROM symbol_summary GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    expected = conn.execute(
        "SELECT currency, fee_currency, count(*), count(*), round(sum(abs(fill_quantity)), 6), "
        "sum(notional), sum(fee), count(*) FILTER (WHERE NOT symbol_properties_found) "
        "FROM fills GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert summed == expected


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
    # Notional and fees per currency, never added across currencies.
    for column, amount, currency in (
        ("notional", "notional", "currency"),
        ("fees", "fee", "fee_currency"),
    ):
        shown = conn.execute(
            f"SELECT backtest_id, unnest(map_keys({column})), unnest(map_values({column})) "
            "FROM backtest_summary ORDER BY ALL"
        ).fetchall()
        summed = conn.execute(
            f"SELECT backtest_id, {currency}, sum({amount}) FROM fills "
            f"WHERE {currency} IS NOT NULL GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        assert shown == summed, column
    assert one(conn, "SELECT sum(fills) FROM backtest_summary") == one(
        conn, "SELECT count(*) FROM fills"
    )
    # While a backtest's orders are not loaded, its fills, notional and fees are unknown.
    assert one(
        conn,
        "SELECT count(*) FROM backtest_summary AS s LEFT JOIN backtest_sync AS y "
        "USING (backtest_id) WHERE (y.orders_synced_at IS NULL) "
        "<> (s.fills IS NULL AND s.notional IS NULL AND s.fees IS NULL)",
    ) == (0,)
    assert one(conn, "SELECT count(*) FROM backtest_summary WHERE fills IS NULL")[0] > 0
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


def hand_made(tmp_path: Path, orders: str, events: str) -> duckdb.DuckDBPyConnection:
    """A warehouse holding the given orders and events (SQL VALUES rows), with its views."""
    store_path = tmp_path / "w.duckdb"
    with warehouse.open_writer(store_path) as store, store.holding() as conn:
        conn.execute(
            "INSERT INTO orders (project_id, backtest_id, order_id, order_type, symbol, "
            f"symbol_id, submission_bid_price, submission_ask_price, stop_price) VALUES {orders}"
        )
        conn.execute(
            "INSERT INTO order_events (project_id, backtest_id, order_id, order_event_id, "
            f"status, direction, symbol, symbol_id, fill_price, fill_quantity) VALUES {events}"
        )
        store.create_views()
    return duckdb.connect(str(store_path), read_only=True)


def test_slippage_is_positive_when_worse_for_us_and_covers_priced_orders_only(tmp_path: Path):
    spy = "'SPY', 'SPY R735QTJ8XC9X'"
    conn = hand_made(
        tmp_path,
        f"(1, 'b', 1, 'Market', {spy}, 99.0, 100.0, NULL), "
        f"(1, 'b', 2, 'Market', {spy}, 99.0, 100.0, NULL), "
        f"(1, 'b', 3, 'StopMarket', {spy}, 99.0, 100.0, 95.0), "
        f"(1, 'b', 4, 'Limit', {spy}, 99.0, 100.0, NULL)",
        f"(1, 'b', 1, 1, 'Filled', 'Buy', {spy}, 100.5, 10), "
        f"(1, 'b', 2, 1, 'Filled', 'Sell', {spy}, 99.99, -10), "
        f"(1, 'b', 3, 1, 'Filled', 'Sell', {spy}, 94.5, -10), "
        f"(1, 'b', 4, 1, 'Filled', 'Buy', {spy}, 98.0, 10)",
    )
    with conn:
        found = conn.execute(
            "SELECT order_id, order_type, reference_price, slippage_bps FROM slippage "
            "ORDER BY order_id"
        ).fetchall()
    assert found == [
        (1, "Market", 100.0, pytest.approx(50.0)),
        (2, "Market", 99.0, pytest.approx(-100.0)),
        (3, "StopMarket", 95.0, pytest.approx(52.63, abs=0.01)),  # against the stop price
    ]


def test_an_exercise_fills_its_contracts_not_the_delivered_shares(tmp_path: Path):
    option = "'SPY 211217C00450000', 'SPY 31PB4NZP2BWX2|SPY R735QTJ8XC9X'"
    conn = hand_made(
        tmp_path,
        f"(1, 'b', 1, 'OptionExercise', {option}, NULL, NULL, NULL)",
        f"(1, 'b', 1, 1, 'Filled', 'Sell', {option}, 0, -2), "
        "(1, 'b', 1, 2, 'Filled', 'Buy', 'SPY', 'SPY R735QTJ8XC9X', 450, 200)",
    )
    with conn:
        assert conn.execute("SELECT filled_quantity FROM order_lifecycle").fetchall() == [(-2,)]
        assert conn.execute("SELECT count(*) FROM fills").fetchall() == [(2,)]


def test_slippage_covers_every_priced_fill_with_a_reference(conn):
    assert one(conn, "SELECT count(*) FROM slippage") == one(
        conn,
        "SELECT count(*) FROM fills f JOIN orders o USING (backtest_id, order_id) WHERE "
        "CASE WHEN f.order_type = 'StopMarket' THEN o.stop_price "
        "WHEN f.order_type NOT IN ('Market', 'MarketOnOpen', 'MarketOnClose') THEN NULL "
        "WHEN f.direction = 'Buy' THEN o.submission_ask_price "
        "WHEN f.direction = 'Sell' THEN o.submission_bid_price END <> 0",
    )
    assert one(conn, "SELECT count(DISTINCT order_type) FROM slippage")[0] >= 2


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
