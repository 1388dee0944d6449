"""The real Dagster assets, materialized against the sandbox over HTTP into a temp DuckDB file
or a DuckLake on PostgreSQL and S3 (`target`)."""

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pipelines import warehouse
from pipelines.definitions import defs
from pipelines.sandbox import SandboxServer
from pipelines.warehouse import Target
from tests.helpers import TABLES, expected_orders, make_resources

ORDERS = "backtests/orders/read"


def sync(sandbox: SandboxServer, path: Target, **kwargs: Any) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def("sync_quantconnect")
    return job.execute_in_process(
        resources=make_resources(sandbox, path, **kwargs), raise_on_error=False
    )


def snapshot(path: Target) -> dict[str, list[tuple]]:
    with warehouse.connect_reader(path) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, object]:
    (materialization,) = [
        m for m in result.get_asset_materialization_events() if m.asset_key.path == [asset]
    ]
    return {k: v.value for k, v in materialization.materialization.metadata.items()}


def test_full_sync_fills_every_table_per_the_contract(sandbox: SandboxServer, target: Target):
    result = sync(sandbox, target)
    assert result.success
    expected = expected_orders(sandbox)
    with warehouse.connect_reader(target) as conn:
        loaded = dict(
            conn.execute("SELECT backtest_id, count(*) FROM orders GROUP BY 1").fetchall()
        )
        backtests = conn.execute("SELECT count(*), count(*) FILTER (NOT completed) FROM backtests")
        total, running = backtests.fetchone()
        statuses = {
            r[0] for r in conn.execute("SELECT DISTINCT status FROM order_events").fetchall()
        }
        order_types = {
            r[0] for r in conn.execute("SELECT DISTINCT order_type FROM orders").fetchall()
        }
        fees = conn.execute(
            "SELECT count(*) FILTER (order_fee_amount IS NULL), count(*) FROM order_events"
        ).fetchone()
        stats = conn.execute(
            "SELECT value_text, value FROM backtest_statistics WHERE statistic = 'Total Fees'"
        ).fetchall()
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'orders'"
            ).fetchall()
        )
    assert {bid: n for bid, n in expected.items() if n} == loaded
    assert total == 8 and running >= 1  # a running backtest still has its row
    assert statuses <= {
        "New",
        "Submitted",
        "PartiallyFilled",
        "Filled",
        "Canceled",
        "None",
        "Invalid",
        "CancelPending",
        "UpdateSubmitted",
    }
    assert "Filled" in statuses and "Market" in order_types
    assert 0 < fees[0] < fees[1]  # events without a fee keep NULL
    assert stats and all(value is not None for _, value in stats)  # "$3.44", "€0.00"
    assert types["created_time"] == "TIMESTAMP WITH TIME ZONE"
    assert types["order_id"] == "BIGINT"

    orders_meta = metadata(result, "orders")
    assert orders_meta["dagster/row_count"] == sum(expected.values())
    assert orders_meta["backtests_new"] == len(expected)
    assert orders_meta["orders_fetched"] == sum(expected.values())
    assert orders_meta["api_requests"] > 0
    assert "dagster/column_schema" in orders_meta
    for table in TABLES:  # every table's page shows a few rows
        meta = metadata(result, table)
        preview = meta["preview"].splitlines()
        shown = min(5, meta["dagster/row_count"])
        assert preview[0].startswith("| ") and len(preview) == 2 + shown > 2, table
    views = metadata(result, "analysis_views")
    assert views["views"] == (
        "backtest_archive, fills, optimization_results, trade_summary, backtest_summary, "
        "optimization_archive, order_lifecycle, slippage, symbol_summary"
    )
    with warehouse.connect_reader(target) as conn:
        for view in views["views"].split(", "):  # each view's rows and columns
            assert views[f"{view}_rows"] == conn.table(view).count("*").fetchall()[0][0] > 0
            schema = views[f"{view}_columns"]
            assert [c.name for c in schema.columns] == conn.table(view).columns
    assert views["preview"].startswith("**backtest_summary**")
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 21 and all(c.passed for c in checks)


def test_a_rerun_with_no_change_upstream_fetches_no_orders_and_changes_nothing(
    sandbox: SandboxServer, target: Target
):
    assert sync(sandbox, target).success
    before = snapshot(target)
    sandbox.reset_stats()
    result = sync(sandbox, target)
    assert result.success
    requests = sandbox.stats()["requests"]
    assert requests.get(ORDERS, 0) == 0
    assert requests.get("backtests/read", 0) == 0
    assert snapshot(target) == before
    orders_meta = metadata(result, "orders")
    assert orders_meta["backtests_new"] == 0
    assert orders_meta["backtests_skipped"] == len(expected_orders(sandbox))


def test_backtests_that_finish_or_appear_later_are_picked_up(
    sandbox: SandboxServer, target: Target
):
    assert sync(sandbox, target).success
    finished = sandbox.account.complete_running()
    added = sandbox.account.add_backtests(count=2)
    sandbox.reset_stats()
    result = sync(sandbox, target)
    assert result.success
    assert metadata(result, "orders")["backtests_new"] == len(finished) + len(added)
    expected = expected_orders(sandbox)
    with warehouse.connect_reader(target) as conn:
        loaded = dict(
            conn.execute("SELECT backtest_id, count(*) FROM orders GROUP BY 1").fetchall()
        )
    assert {bid: n for bid, n in expected.items() if n} == loaded
    assert sandbox.stats()["requests"]["backtests/read"] == len(finished) + len(added)


def test_a_wrong_token_fails_naming_the_variables_and_changes_nothing(
    sandbox: SandboxServer, target: Target
):
    assert sync(sandbox, target).success
    before = snapshot(target)
    sandbox.reset_stats()
    result = sync(sandbox, target, api_token="not-the-token")
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "QC_USER_ID and QC_API_TOKEN" in str(failure)
    assert sandbox.stats()["total"] <= 2
    assert snapshot(target) == before


def test_a_backtest_failing_persistently_is_contained_and_loads_once_the_fault_is_gone(
    sandbox: SandboxServer, target: Target
):
    expected = expected_orders(sandbox)
    broken = max(expected, key=expected.get)
    assert expected[broken] > 100
    sandbox.set_faults(
        [{"kind": "500", "endpoint": ORDERS, "match": {"backtestId": broken, "start": 100}}]
    )
    result = sync(sandbox, target)
    assert not result.success
    message = str(result.get_step_failure_events()[0].step_failure_data.error)
    assert broken in message and ORDERS in message
    with warehouse.connect_reader(target) as conn:
        loaded = dict(
            conn.execute("SELECT backtest_id, count(*) FROM orders GROUP BY 1").fetchall()
        )
        events = conn.execute("SELECT count(*) FROM order_events WHERE backtest_id = ?", [broken])
        assert events.fetchone() == (0,)
    assert broken not in loaded
    assert {bid: n for bid, n in expected.items() if n and bid != broken} == loaded

    sandbox.clear_faults()
    assert sync(sandbox, target).success
    with warehouse.connect_reader(target) as conn:
        count = conn.execute("SELECT count(*) FROM orders WHERE backtest_id = ?", [broken])
        assert count.fetchone() == (expected[broken],)


@pytest.mark.parametrize(
    "kind", ["500", "502", "503", "429", "try_again", "drop", "truncate", "read_timeout"]
)
def test_transient_faults_leave_the_same_warehouse_as_a_clean_run(
    sandbox: SandboxServer, tmp_path: Path, kind: str
):
    clean = tmp_path / "clean.duckdb"
    assert sync(sandbox, clean).success
    endpoints = [
        "projects/read",
        "backtests/list",
        "backtests/read",
        ORDERS,
        "optimizations/list",
        "optimizations/read",
    ]
    rule: dict[str, object] = {"kind": kind, "count": 2, "retry_after": 0}
    if kind == "read_timeout":  # answers after the client stopped waiting
        rule = {"kind": "latency", "seconds": 1.0, "count": 2}
    sandbox.set_faults(
        [{**rule, "endpoint": endpoint} for endpoint in endpoints]
        + [{**rule, "endpoint": ORDERS, "match": {"start": 100}}]  # pages mid-backtest too
    )
    faulty = tmp_path / "faulty.duckdb"
    result = sync(sandbox, faulty, timeout_seconds=0.3)
    assert result.success
    assert sum(int(metadata(result, table)["api_retries"]) for table in TABLES) >= 10
    assert snapshot(faulty) == snapshot(clean)
