"""Loading into a real DuckDB file or DuckLake: atomic per-backtest replace, upserts, schema
evolution."""

from pathlib import Path

import duckdb
import msgspec
import pyarrow as pa
import pytest

from pipelines import warehouse
from pipelines.flatten.orders import order_events_to_arrow, orders_to_arrow
from pipelines.flatten.records import Notes
from pipelines.qc.paging import BacktestOrders
from pipelines.schema import TABLES
from pipelines.schema.ddl import TABLES_SQL
from pipelines.schema.orders import ORDERS
from pipelines.sync.loading import LoadSettings, OrdersLoader, orders_loader
from pipelines.sync.steps.statistics import BacktestResults, replace_results, results_to_arrow
from tests.helpers import replace_backtest_orders

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


def load_of(backtest_id: str, orders: list[dict], events: int) -> warehouse.BacktestLoad:
    return warehouse.BacktestLoad(7, backtest_id, len(orders), events, len(orders), True)


def replace(store: warehouse.Warehouse, orders: list[dict], events: pa.Table | None = None):
    events = order_events_to_arrow(7, BACKTEST, orders) if events is None else events
    replace_backtest_orders(
        store,
        [load_of(BACKTEST, orders, events.num_rows)],
        orders_to_arrow(7, BACKTEST, orders),
        events,
    )


def unloadable_events(orders: list[dict]) -> pa.Table:
    """The events of `orders`, with an `order_event_id` DuckDB cannot store: its insert fails."""
    events = order_events_to_arrow(7, BACKTEST, orders)
    column = events.schema.get_field_index("order_event_id")
    broken = pa.array(["not a number"] * events.num_rows, pa.string())
    return events.set_column(column, "order_event_id", broken)


def snapshot(conn: duckdb.DuckDBPyConnection) -> tuple[list, list, list]:
    return (
        conn.execute("SELECT * FROM orders ORDER BY order_id").fetchall(),
        conn.execute("SELECT * FROM order_events ORDER BY order_id, order_event_id").fetchall(),
        conn.execute("SELECT orders_loaded, orders_complete FROM backtest_sync").fetchall(),
    )


@pytest.fixture
def store(target: warehouse.Target):
    """A new warehouse on either backend, held open for the test."""
    with warehouse.open_writer(target) as opened, opened.holding():
        yield opened


def test_connect_creates_the_folder_and_every_table(tmp_path: Path):
    path = tmp_path / "a" / "b" / "w.duckdb"
    with warehouse.connect(path) as conn:
        names = {row[0] for row in conn.execute("SHOW TABLES").fetchall()}
    assert path.exists()
    assert {t.name for t in TABLES} | {"backtest_sync"} <= names


def test_replace_swaps_a_backtests_rows_and_rerunning_changes_nothing(store):
    replace(store, make_orders(3))
    second = make_orders(5, price=11.0)
    replace(store, second)
    after_second = snapshot(store.conn)
    assert len(after_second[0]) == 5 and len(after_second[1]) == 10
    assert {row[ORDERS.arrow_schema.names.index("price")] for row in after_second[0]} == {11.0}
    replace(store, second)
    assert snapshot(store.conn) == after_second


def test_a_failure_halfway_keeps_the_previous_rows_and_lands_nothing(store):
    replace(store, make_orders(3))
    before = snapshot(store.conn)
    broken = make_orders(4, price=99.0)
    with pytest.raises(warehouse.WarehouseError) as refused:
        replace(store, broken, unloadable_events(broken))  # the orders went in first
    assert isinstance(refused.value.__cause__, duckdb.ConversionException)
    assert snapshot(store.conn) == before


def test_results_replace_and_mark_synced(store):
    backtest = {
        "statistics": {"Total Orders": "3", "Net Profit": "1.5%"},
        "totalPerformance": {
            "tradeStatistics": {"totalNumberOfTrades": 1},
            "closedTrades": [{"id": "t1", "profitLoss": 2.5, "orderIds": [1, 2]}],
        },
        "rollingWindow": {"M1_20240131": {"portfolioStatistics": {"sharpeRatio": 1.5}}},
    }
    results = BacktestResults(backtest, backtest["totalPerformance"]["closedTrades"])
    tables = results_to_arrow(7, BACKTEST, results, Notes())
    replace_results(store, [(7, BACKTEST)], tables)
    replace_results(store, [(7, BACKTEST)], tables)
    rows = store.conn.execute("SELECT statistic, value FROM backtest_statistics ORDER BY 1")
    assert rows.fetchall() == [("Net Profit", 1.5), ("Total Orders", 3.0)]
    counts = store.row_counts()
    assert [counts[t] for t in ("closed_trades", "backtest_performance")] == [1, 1]
    assert counts["backtest_rolling_statistics"] == 1
    synced = store.conn.execute(
        "SELECT statistics_synced_at IS NOT NULL AND performance_synced_at IS NOT NULL "
        "FROM backtest_sync"
    )
    assert synced.fetchall() == [(True,)]


def test_columns_added_to_the_schema_are_added_to_old_warehouses(tmp_path: Path):
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as old:
        old.execute("CREATE TABLE orders (project_id BIGINT, backtest_id VARCHAR, order_id BIGINT)")
    with warehouse.connect(path) as conn:
        assert conn.table("orders").columns == ORDERS.arrow_schema.names


def test_backtests_loaded_together_commit_together(store):
    good, broken = make_orders(3), make_orders(2)
    with pytest.raises(warehouse.WarehouseError, match="Conversion Error"):
        replace_backtest_orders(
            store,
            [load_of("a" * 32, good, 6), load_of("b" * 32, broken, 4)],
            orders_to_arrow(7, ["a" * 32] * 3 + ["b" * 32] * 2, good + broken),
            unloadable_events(good + broken),
        )
    assert snapshot(store.conn) == ([], [], [])


def fetched(backtest_id: str, orders: list[dict]) -> BacktestOrders:
    raw = [msgspec.Raw(msgspec.json.encode(order)) for order in orders]
    return BacktestOrders(7, backtest_id, raw, 1, None, len(orders))


@pytest.fixture
def strict_store(tmp_path: Path):
    """A warehouse whose `order_events` refuses an `order_event_id` of 1000 or more."""
    path = tmp_path / "strict.duckdb"
    with duckdb.connect(str(path)) as setup:
        ddl = TABLES_SQL.read_text()
        check = "event_time TIMESTAMPTZ CHECK (order_event_id < 1000)"
        assert ddl.count("event_time TIMESTAMPTZ") == 1
        ddl = ddl.replace("event_time TIMESTAMPTZ", check)
        setup.execute(ddl)
    connection = warehouse.connect(path)
    yield warehouse.DuckDBWarehouse(connection)
    connection.close()


def refused(orders: list[dict]) -> list[dict]:
    orders[-1]["events"][0]["orderEventId"] = 1000
    return orders


def loaded(conn: duckdb.DuckDBPyConnection) -> list[tuple]:
    return conn.execute("SELECT backtest_id, count(*) FROM orders GROUP BY 1 ORDER BY 1").fetchall()


def load(
    store: warehouse.Warehouse, fetched: list[BacktestOrders], settings: LoadSettings, **options
) -> OrdersLoader:
    """Load `fetched` as the orders step does; the loader, done."""
    with (
        store.orders_writer() as writer,
        orders_loader(writer, settings=settings, **options) as loader,
    ):
        for orders in fetched:
            loader.add(orders)
    return loader


def test_a_refused_write_fails_the_backtests_of_its_transaction_only(strict_store):
    loader = load(
        strict_store,
        [
            fetched("a" * 32, make_orders(3)),  # committed alone
            fetched("b" * 32, refused(make_orders(2))),
            fetched("c" * 32, make_orders(4)),
        ],
        LoadSettings(batch_orders=1, commit_orders=1),
    )
    assert set(loader.failures) == {"b" * 32}
    assert loaded(strict_store.conn) == [("a" * 32, 3), ("c" * 32, 4)]
    assert loader.totals.orders_loaded == 7 and loader.totals.transactions == 2


def test_a_refused_write_rolls_back_its_whole_transaction_keeping_previous_rows(strict_store):
    replace_backtest_orders(
        strict_store,
        [load_of("b" * 32, make_orders(1), 2)],
        orders_to_arrow(7, "b" * 32, make_orders(1)),
        order_events_to_arrow(7, "b" * 32, make_orders(1)),
    )
    loader = load(
        strict_store,
        [
            fetched("a" * 32, make_orders(3)),
            fetched("b" * 32, refused(make_orders(2))),  # a is in the same transaction
            fetched("c" * 32, make_orders(4)),  # in a new one
        ],
        LoadSettings(batch_orders=1),
        loaded_before={"b" * 32},
    )
    assert set(loader.failures) == {"a" * 32, "b" * 32}
    assert loaded(strict_store.conn) == [("b" * 32, 1), ("c" * 32, 4)]
    assert loader.totals.orders_loaded == 4
