"""The pure sync core against the sandbox: batches, parts of large backtests, containment."""

import logging
from pathlib import Path

import duckdb
import pytest

from pipelines import warehouse
from pipelines.qc.client import QuantConnectClient
from pipelines.sandbox import SandboxServer
from pipelines.sync import STEPS, loading, step_named, sync_everything
from pipelines.sync.loading import LoadSettings
from pipelines.sync.report import ProgressLog, SyncError, SyncProgress
from tests.helpers import completed_order_totals, expected_orders


def sync_all(client: QuantConnectClient, path: Path, batch_orders: int) -> None:
    with warehouse.open_writer(path) as store:
        sync_everything(client, store, settings=LoadSettings(batch_orders=batch_orders))


def contents(path: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return {
            "orders": conn.execute("SELECT * FROM orders ORDER BY ALL").fetchall(),
            "order_events": conn.execute("SELECT * FROM order_events ORDER BY ALL").fetchall(),
            "backtest_sync": conn.execute(
                "SELECT backtest_id, orders_loaded, order_events_loaded, orders_complete "
                "FROM backtest_sync ORDER BY ALL"
            ).fetchall(),
            "tables": conn.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall(),
        }


def test_large_backtests_loaded_in_parts_equal_a_load_in_one_piece(
    client: QuantConnectClient, tmp_path: Path
):
    whole, in_parts = tmp_path / "whole.duckdb", tmp_path / "parts.duckdb"
    sync_all(client, whole, batch_orders=100_000)
    sync_all(client, in_parts, batch_orders=150)  # most backtests arrive in several parts
    assert contents(in_parts) == contents(whole)
    assert ("orders_parts",) not in contents(in_parts)["tables"]


def test_a_backtest_failing_after_some_parts_landed_keeps_nothing_of_them(
    sandbox: SandboxServer, client: QuantConnectClient, tmp_path: Path
):
    path = tmp_path / "w.duckdb"
    totals = completed_order_totals(sandbox)
    broken = max(totals, key=totals.get)
    assert totals[broken] > 100  # at least two windows: one lands before the last fails
    last_window = (totals[broken] - 1) // 100 * 100
    sandbox.set_faults(
        [
            {
                "kind": "500",
                "endpoint": "backtests/orders/read",
                "match": {"backtestId": broken, "start": last_window},
            }
        ]
    )
    with pytest.raises(SyncError, match=broken):
        sync_all(client, path, batch_orders=100)
    with duckdb.connect(str(path), read_only=True) as conn:
        assert conn.execute(
            "SELECT count(*) FROM orders WHERE backtest_id = ?", [broken]
        ).fetchone() == (0,)
        assert conn.execute(
            "SELECT count(*) FROM order_events WHERE backtest_id = ?", [broken]
        ).fetchone() == (0,)
        tables = {
            row[0] for row in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        }
    assert "orders_parts" not in tables


def test_orders_that_break_the_flattener_fail_their_batch_only_with_a_clear_error(
    sandbox: SandboxServer, client: QuantConnectClient, tmp_path: Path, monkeypatch
):
    totals = completed_order_totals(sandbox)
    broken = max(totals, key=totals.get)
    real_flatten = loading.flatten_raw_orders

    def flatten_failing_on_broken(groups, seen):  # stands in for a payload no test foresaw
        if any(group.backtest_id == broken for group in groups):
            raise KeyError("an unforeseen shape")
        return real_flatten(groups, seen)

    monkeypatch.setattr(loading, "flatten_raw_orders", flatten_failing_on_broken)
    path = tmp_path / "w.duckdb"
    with pytest.raises(SyncError) as failure:
        sync_all(client, path, batch_orders=100)  # about a backtest per batch
    assert broken in failure.value.failures
    assert "could not be flattened (KeyError('an unforeseen shape'))" in str(failure.value)
    with duckdb.connect(str(path), read_only=True) as conn:
        loaded = dict(
            conn.execute("SELECT backtest_id, count(*) FROM orders GROUP BY 1").fetchall()
        )
    survivors = {bid: n for bid, n in totals.items() if n and bid not in failure.value.failures}
    assert broken not in loaded
    assert survivors and all(loaded.get(bid) == n for bid, n in survivors.items())


def test_progress_tells_every_step_from_zero_to_its_total(
    client: QuantConnectClient, sandbox: SandboxServer, warehouse_path: Path
):
    events: list[SyncProgress] = []
    with warehouse.open_writer(warehouse_path) as store:
        sync_everything(client, store, on_progress=events.append)
    by_step: dict[str, list[SyncProgress]] = {}
    for event in events:
        by_step.setdefault(event.step, []).append(event)
    # in running order
    assert list(by_step) == ["backtests", "optimizations", "backtest_statistics", "orders"]
    assert [step.name for step in STEPS if step.progress] == list(by_step)  # others tell none
    finished = expected_orders(sandbox)  # orders per backtest whose results are final
    optimizations = [
        summary
        for project in sandbox.account.projects()
        for summary in sandbox.account.optimizations.summaries(project["projectId"])
    ]
    totals = {
        "backtests": len(sandbox.account.projects()),
        "optimizations": len(optimizations),
        "backtest_statistics": len(finished),
        "orders": len(finished),
    }
    for step, told in by_step.items():
        assert [e.done for e in told] == list(range(told[0].total + 1)), step  # each item once
        assert told[0].total == totals[step] > 0, step
    assert by_step["orders"][-1].fetched == sum(finished.values())


def test_progress_in_logs_comes_at_most_every_few_seconds_and_when_a_step_ends(
    caplog: pytest.LogCaptureFixture,
):
    log = logging.getLogger("test.progress")
    quiet, chatty = ProgressLog(log, every_seconds=3600), ProgressLog(log, every_seconds=0)
    statistics, orders = (step_named(name).progress for name in ("backtest_statistics", "orders"))
    assert statistics is not None and orders is not None
    events = [SyncProgress("backtest_statistics", statistics, n, 3) for n in range(4)]
    events += [SyncProgress("orders", orders, n, 2, fetched=150 * n) for n in range(3)]
    with caplog.at_level(logging.INFO, logger="test.progress"):
        for event in events:
            quiet(event)
    assert [r.getMessage().split(",")[0] for r in caplog.records] == [
        "backtest_statistics: 3/3 backtests read",
        "orders: 2/2 backtests",
    ]
    assert "300 orders" in caplog.records[-1].getMessage()
    assert "orders/s" in caplog.records[-1].getMessage()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="test.progress"):
        for event in events:
            chatty(event)
    assert len(caplog.records) == len(events)
