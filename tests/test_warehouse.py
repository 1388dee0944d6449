"""Loading into a real DuckDB file: atomic per-backtest replace, upserts, schema evolution."""

from pathlib import Path

import duckdb
import pytest

from pipelines import warehouse
from pipelines.flatten import order_events_to_arrow, orders_to_arrow, statistics_to_arrow
from pipelines.schema import ORDERS, TABLES

BACKTEST = "c" * 32


def make_orders(count: int, price: float = 10.0) -> list[dict]:
    return [
        {
            "id": order_id,
            "type": 0,
            "status": 3,
            "direction": 0,
            "price": price,
            "quantity": 1.0,
            "symbol": {"value": "SPY", "id": "SPY R735QTJ8XC9X"},
            "events": [
                {"orderEventId": 1, "status": "submitted", "time": 1.0e9},
                {"orderEventId": 2, "status": "filled", "time": 1.0e9 + 1, "fillQuantity": 1.0},
            ],
        }
        for order_id in range(1, count + 1)
    ]


def replace(conn: duckdb.DuckDBPyConnection, orders: list[dict], events: list[dict]) -> None:
    load = warehouse.BacktestLoad(
        7,
        BACKTEST,
        orders_to_arrow(7, BACKTEST, orders),
        order_events_to_arrow(7, BACKTEST, events),
        orders_expected=len(orders),
        orders_complete=True,
    )
    warehouse.replace_backtest_orders(conn, [load])


def snapshot(conn: duckdb.DuckDBPyConnection) -> tuple[list, list, list]:
    return (
        conn.execute("SELECT * FROM orders ORDER BY order_id").fetchall(),
        conn.execute("SELECT * FROM order_events ORDER BY order_id, order_event_id").fetchall(),
        conn.execute("SELECT orders_loaded, orders_complete FROM backtest_sync").fetchall(),
    )


@pytest.fixture
def conn(tmp_path: Path):
    connection = warehouse.connect(tmp_path / "nested" / "w.duckdb")
    yield connection
    connection.close()


def test_connect_creates_the_folder_and_every_table(tmp_path: Path):
    path = tmp_path / "a" / "b" / "w.duckdb"
    with warehouse.connect(path) as conn:
        names = {row[0] for row in conn.execute("SHOW TABLES").fetchall()}
    assert path.exists()
    assert {t.name for t in TABLES} | {"backtest_sync"} <= names


def test_replace_swaps_a_backtests_rows_and_rerunning_changes_nothing(conn):
    first = make_orders(3)
    replace(conn, first, first)
    second = make_orders(5, price=11.0)
    replace(conn, second, second)
    after_second = snapshot(conn)
    assert len(after_second[0]) == 5 and len(after_second[1]) == 10
    assert {row[ORDERS.column_names.index("price")] for row in after_second[0]} == {11.0}
    replace(conn, second, second)
    assert snapshot(conn) == after_second


def test_a_failure_halfway_keeps_the_previous_rows_and_lands_nothing(conn):
    good = make_orders(3)
    replace(conn, good, good)
    before = snapshot(conn)
    broken = make_orders(4, price=99.0)
    broken[3]["events"][1]["orderEventId"] = 1  # duplicate event key: the events insert fails
    with pytest.raises(duckdb.ConstraintException):
        replace(conn, broken, broken)
    assert snapshot(conn) == before


def test_statistics_replace_and_mark_synced(conn):
    stats = statistics_to_arrow(7, BACKTEST, {"Total Orders": "3", "Net Profit": "1.5%"})
    warehouse.replace_backtest_statistics(conn, [(7, BACKTEST)], stats)
    warehouse.replace_backtest_statistics(conn, [(7, BACKTEST)], stats)
    rows = conn.execute("SELECT statistic, value FROM backtest_statistics ORDER BY 1").fetchall()
    assert rows == [("Net Profit", 1.5), ("Total Orders", 3.0)]
    synced = conn.execute("SELECT statistics_synced_at IS NOT NULL FROM backtest_sync").fetchall()
    assert synced == [(True,)]


def test_columns_added_to_the_schema_are_added_to_old_warehouses(tmp_path: Path):
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as old:
        old.execute("CREATE TABLE orders (project_id BIGINT, backtest_id VARCHAR, order_id BIGINT)")
    with warehouse.connect(path) as conn:
        assert conn.table("orders").columns == ORDERS.column_names


def load_of(backtest_id: str, orders: list[dict]) -> warehouse.BacktestLoad:
    return warehouse.BacktestLoad(
        7,
        backtest_id,
        orders_to_arrow(7, backtest_id, orders),
        order_events_to_arrow(7, backtest_id, orders),
        orders_expected=None,
        orders_complete=True,
    )


def test_backtests_loaded_together_commit_together(conn):
    broken = make_orders(2)
    broken[1]["id"] = 1  # duplicate order key: the orders insert fails
    with pytest.raises(duckdb.ConstraintException):
        warehouse.replace_backtest_orders(
            conn, [load_of("a" * 32, make_orders(3)), load_of("b" * 32, broken)]
        )
    assert snapshot(conn) == ([], [], [])


def test_a_bad_backtest_in_a_batch_does_not_keep_the_others_out(conn):
    from pipelines.paging import BacktestOrders
    from pipelines.sync import _BatchedLoader

    def fetched(backtest_id: str, orders: list[dict]) -> BacktestOrders:
        return BacktestOrders(7, backtest_id, orders, 1, 0, None, None)

    broken = make_orders(2)
    broken[1]["events"][1]["orderEventId"] = 1  # duplicate event key: its insert fails
    loader = _BatchedLoader(conn, batch_orders=1_000)
    loader.add(fetched("a" * 32, make_orders(3)), complete=True)
    loader.add(fetched("b" * 32, broken), complete=True)
    loader.add(fetched("c" * 32, make_orders(4)), complete=True)
    loader.flush()
    assert set(loader.failures) == {"b" * 32}
    loaded = conn.execute("SELECT backtest_id, count(*) FROM orders GROUP BY 1 ORDER BY 1")
    assert loaded.fetchall() == [("a" * 32, 3), ("c" * 32, 4)]
    assert loader.orders_loaded == 7
