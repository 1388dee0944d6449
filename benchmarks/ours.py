"""This pipeline as a contender: a full sync into a fresh warehouse, then a no-change re-sync."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from benchmarks.common import Outcome, Stopwatch, Task, count_rows
from pipelines import warehouse
from pipelines.qc.client import QuantConnectClient
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID
from pipelines.sync import sync_everything

TABLES = {
    "projects": "projects",
    "backtests": "backtests",
    "orders": "orders",
    "events": "order_events",
}


def warehouse_path(task: Task) -> Path:
    """The warehouse of a run: the full sync creates it, the re-sync syncs it again."""
    return task.run_dir / "pipeline.duckdb"


def make_client(task: Task) -> QuantConnectClient:
    """The pipeline's client for the sandbox, unthrottled where the client can be throttled:
    with the adaptive rate, no rate ceiling (no rate until the server pushes back) and `C`
    requests in flight at most, starting from 2."""
    options: dict[str, Any] = {"max_concurrency": task.concurrency}
    if "max_requests_per_second" in inspect.signature(QuantConnectClient).parameters:
        options["max_requests_per_second"] = None
    return QuantConnectClient(SANDBOX_USER_ID, SANDBOX_API_TOKEN, task.url, **options)


def full_sync(task: Task) -> Outcome:
    """`sync_everything` into a new warehouse file; the clock runs from connect to close."""
    path = warehouse_path(task)
    path.unlink(missing_ok=True)
    return _sync(task, path)


def resync(task: Task) -> Outcome:
    """`sync_everything` again on the full sync's warehouse, with nothing new to fetch."""
    return _sync(task, warehouse_path(task))


def _sync(task: Task, path: Path) -> Outcome:
    with Stopwatch() as watch:
        client = make_client(task)
        conn = warehouse.connect(path)
        reports = sync_everything(client, warehouse.DuckDBWarehouse(conn))
        conn.close()
        client.close()
    details = {f"{step}.{k}": v for step, r in reports.items() for k, v in r.counters.items()}
    details |= {
        f"{step}.{k}_seconds": v for step, r in reports.items() for k, v in r.seconds.items()
    }
    if hasattr(client, "rate_state"):  # the adaptive rate's decisions (benchmarks/rate.py)
        state = client.rate_state()
        details |= {
            "ceilings": [state.max_concurrency, state.max_requests_per_second],
            "backoffs": state.backoffs,
            "final_rate": state.requests_per_second,
            "final_in_flight": state.concurrency,
        }
    return Outcome(watch.seconds, count_rows(path, TABLES), details)
