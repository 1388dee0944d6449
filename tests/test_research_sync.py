"""The whole research record syncs from the sandbox over HTTP: closed trades, numeric and
rolling performance, and optimizations, incrementally, atomically and checked."""

import json
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.qc.client import QuantConnectClient
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID, SandboxServer
from pipelines.sync import sync_everything
from pipelines.warehouse import open_writer
from tests.helpers import FAST_RETRY, check_failures

NEW_TABLES = (
    "closed_trades",
    "backtest_performance",
    "backtest_rolling_statistics",
    "optimizations",
    "optimization_parameters",
    "optimization_constraints",
    "optimization_backtests",
    "optimization_backtest_statistics",
)
ALL_TABLES = (
    "projects",
    "backtests",
    "backtest_statistics",
    "orders",
    "order_events",
    *NEW_TABLES,
)


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[QuantConnectClient]:
    """A fast client of the sandbox (the documented speed settings)."""
    with closing(
        QuantConnectClient(
            SANDBOX_USER_ID,
            SANDBOX_API_TOKEN,
            sandbox.url,
            timeout_seconds=5,
            retry=FAST_RETRY,
            max_concurrency=4,
        )
    ) as client:
        yield client


def run_sync(api: QuantConnectClient, path: Path) -> dict[str, Any]:
    """Every step, then the views; the reports by step."""
    with open_writer(path) as store:
        return sync_everything(api, store)


def rows(path: Path, query: str, *parameters: Any) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(query, parameters).fetchall()


def snapshot(path: Path) -> dict[str, list[tuple]]:
    return {table: rows(path, f"SELECT * FROM {table} ORDER BY ALL") for table in ALL_TABLES}


def finished_backtests(sandbox: SandboxServer) -> list[tuple[int, str]]:
    account = sandbox.account
    return [
        (p["projectId"], b["backtestId"])
        for p in account.projects()
        for b in account.backtests(p["projectId"])
        if b["status"] in ("Completed.", "Runtime Error")
    ]


def test_a_sync_fills_every_new_table_and_everything_reconciles(
    sandbox: SandboxServer, api: QuantConnectClient, warehouse_path: Path
):
    reports = run_sync(api, warehouse_path)
    for table in NEW_TABLES:
        assert rows(warehouse_path, f"SELECT count(*) FROM {table}")[0][0] > 0, table
    with open_writer(warehouse_path) as store:
        assert {name: n for name, n in check_failures(store).items() if n} == {}
    # Closed trades and performance came from the statistics step's own reads: no extra request.
    requests = reports["backtest_statistics"].requests
    assert requests.get("backtests/read") == len(finished_backtests(sandbox))
    assert requests.get("backtests/trades/read", 0) == 0
    unreconciled = rows(
        warehouse_path,
        "SELECT backtest_id, differences FROM trade_summary WHERE NOT reconciles",
    )
    assert unreconciled == []
    assert (
        rows(warehouse_path, "SELECT count(*) FROM trade_summary")[0][0]
        == rows(warehouse_path, "SELECT count(DISTINCT backtest_id) FROM closed_trades")[0][0]
    )
    # Each optimization's best backtest ranks first, by its own target and direction.
    best = rows(
        warehouse_path,
        """
        SELECT optimization_id, count(*) FILTER (WHERE rank = 1), count(rank)
        FROM optimization_results GROUP BY ALL
        """,
    )
    assert best and all(firsts >= 1 for _, firsts, ranked in best if ranked)


def test_a_second_sync_reads_nothing_final_again_and_changes_nothing(
    sandbox: SandboxServer, api: QuantConnectClient, warehouse_path: Path
):
    run_sync(api, warehouse_path)
    before = snapshot(warehouse_path)
    sandbox.reset_stats()
    run_sync(api, warehouse_path)
    requests = sandbox.stats()["requests"]
    projects = len(sandbox.account.projects())
    running = rows(
        warehouse_path,
        "SELECT count(*) FROM optimizations WHERE status NOT IN ('Completed', 'Aborted')",
    )[0][0]
    assert requests == {
        "projects/read": 1,
        "backtests/list": projects,
        "optimizations/list": projects,
        **({"optimizations/read": running} if running else {}),
    }
    assert snapshot(warehouse_path) == before


def test_a_running_optimization_that_completes_between_syncs_is_read_until_final(
    sandbox: SandboxServer, api: QuantConnectClient, warehouse_path: Path
):
    run_sync(api, warehouse_path)
    running = rows(
        warehouse_path,
        "SELECT optimization_id, backtests_total FROM optimizations WHERE status = 'Running'",
    )
    assert running, "the sandbox plans a running optimization"
    sandbox.account.optimizations.complete_running()
    sandbox.reset_stats()
    run_sync(api, warehouse_path)
    assert sandbox.stats()["requests"]["optimizations/read"] == len(running)
    for optimization_id, _ in running:
        (status, completed, total, loaded) = rows(
            warehouse_path,
            """
            SELECT status, backtests_completed, backtests_total,
                (SELECT count(*) FROM optimization_backtests AS b
                 WHERE b.optimization_id = o.optimization_id)
            FROM optimizations o WHERE optimization_id = ?
            """,
            optimization_id,
        )[0]
        assert status == "Completed" and loaded == total == completed
    sandbox.reset_stats()
    run_sync(api, warehouse_path)
    assert "optimizations/read" not in sandbox.stats()["requests"]


def test_a_deleted_optimization_is_kept_and_marked(
    sandbox: SandboxServer, api: QuantConnectClient, warehouse_path: Path
):
    run_sync(api, warehouse_path)
    (optimization_id, project_id) = rows(
        warehouse_path,
        "SELECT optimization_id, project_id FROM optimizations WHERE status = 'Completed' "
        "ORDER BY optimization_id LIMIT 1",
    )[0]
    before = rows(
        warehouse_path,
        "SELECT count(*) FROM optimization_backtests WHERE optimization_id = ?",
        optimization_id,
    )
    api.post("optimizations/delete", {"optimizationId": optimization_id})
    with pytest.raises(Exception, match="optimizations/read"):
        api.read_optimization(optimization_id)
    run_sync(api, warehouse_path)
    assert rows(
        warehouse_path,
        "SELECT deleted_upstream_at IS NOT NULL FROM optimizations WHERE optimization_id = ?",
        optimization_id,
    ) == [(True,)]
    assert (
        rows(
            warehouse_path,
            "SELECT count(*) FROM optimization_backtests WHERE optimization_id = ?",
            optimization_id,
        )
        == before
    )
    others = rows(
        warehouse_path,
        "SELECT count(*) FROM optimizations "
        "WHERE deleted_upstream_at IS NOT NULL AND optimization_id <> ?",
        optimization_id,
    )
    assert others == [(0,)] and project_id


def _without_closed_trades(params: dict[str, Any], body: bytes) -> bytes:
    reply = json.loads(body)
    performance = reply["backtest"].get("totalPerformance")
    if isinstance(performance, dict):
        for key in ("closedTrades", "ClosedTrades"):
            performance.pop(key, None)
    return json.dumps(reply).encode()


def test_closed_trades_missing_from_the_read_are_paged_from_trades_read(
    sandbox: SandboxServer, api: QuantConnectClient, tmp_path: Path
):
    clean = tmp_path / "clean.duckdb"
    run_sync(api, clean)
    sandbox.set_rewrite("backtests/read", _without_closed_trades)
    sandbox.set_faults(  # retried like any page
        [
            {"kind": kind, "endpoint": "backtests/trades/read", "count": 1}
            for kind in ("500", "drop")
        ]
        + [
            {
                "kind": "429",
                "endpoint": "backtests/trades/read",
                "match": {"start": 100},
                "count": 1,
                "retry_after": 0,
            }
        ]
    )
    paged = tmp_path / "paged.duckdb"
    reports = run_sync(api, paged)
    sandbox.set_rewrite("backtests/read", None)
    assert reports["backtest_statistics"].retries["backtests/trades/read"] >= 3
    counters = reports["backtest_statistics"].counters
    with_trades = rows(clean, "SELECT count(DISTINCT backtest_id) FROM closed_trades")[0][0]
    assert counters["backtests_with_paged_trades"] >= with_trades > 0
    most = rows(clean, "SELECT max(n) FROM (SELECT count(*) n FROM closed_trades GROUP BY ALL)")
    assert most[0][0] > 100, "some backtest needs more than one window"
    query = "SELECT * EXCLUDE (extra) FROM closed_trades ORDER BY ALL"
    assert rows(paged, query) == rows(clean, query)


def test_a_warehouse_from_before_trades_and_performance_is_filled_with_one_read_each(
    sandbox: SandboxServer, api: QuantConnectClient, tmp_path: Path
):
    clean = tmp_path / "clean.duckdb"
    run_sync(api, clean)
    old = tmp_path / "old.duckdb"
    run_sync(api, old)
    with duckdb.connect(str(old)) as conn:  # the warehouse as the previous release left it
        for table in ("closed_trades", "backtest_performance", "backtest_rolling_statistics"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("ALTER TABLE backtest_sync DROP COLUMN performance_synced_at")
    sandbox.reset_stats()
    run_sync(api, old)
    requests = sandbox.stats()["requests"]
    assert requests["backtests/read"] == len(finished_backtests(sandbox))
    assert "backtests/orders/read" not in requests
    for table in ("closed_trades", "backtest_performance", "backtest_rolling_statistics"):
        query = f"SELECT * FROM {table} ORDER BY ALL"
        assert rows(old, query) == rows(clean, query), table
    sandbox.reset_stats()
    run_sync(api, old)
    assert "backtests/read" not in sandbox.stats()["requests"]


def test_optimization_backtests_are_backtests_with_orders_and_trades(
    api: QuantConnectClient, warehouse_path: Path
):
    run_sync(api, warehouse_path)
    missing = rows(
        warehouse_path,
        """
        SELECT ob.backtest_id FROM optimization_backtests ob
        ANTI JOIN backtests b ON b.backtest_id = ob.backtest_id
            AND b.optimization_id = ob.optimization_id
        """,
    )
    assert missing == []
    with_orders = rows(
        warehouse_path,
        """
        SELECT count(DISTINCT o.backtest_id) FROM orders o
        JOIN optimization_backtests ob USING (backtest_id)
        """,
    )
    assert with_orders[0][0] > 0
