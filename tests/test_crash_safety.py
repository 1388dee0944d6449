"""SIGKILL at random points of a sync never corrupts the warehouse or half-loads a backtest,
and the next sync completes it to the same tables as an uninterrupted one."""

import random
import signal
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from pipelines import warehouse
from pipelines.qc.client import QuantConnectClient
from pipelines.sandbox import (
    SANDBOX_API_TOKEN,
    SANDBOX_USER_ID,
    SandboxAccount,
    SandboxServer,
    SandboxSize,
)
from pipelines.sync import sync_everything
from tests.helpers import FAST_RETRY, REPO_ROOT, TABLES, check_failures

TRIALS = 10
SYNC = """
import sys
from pipelines import warehouse
from pipelines.qc.client import QuantConnectClient
from pipelines.sync import sync_everything
client = QuantConnectClient(sys.argv[2], sys.argv[3], sys.argv[4], max_concurrency=4)
with warehouse.open_writer(sys.argv[1], wait_seconds=30) as store:
    print("syncing", flush=True)
    sync_everything(client, store)
"""


def sync_here(sandbox: SandboxServer, path: Path) -> None:
    client = QuantConnectClient(
        SANDBOX_USER_ID, SANDBOX_API_TOKEN, sandbox.url, retry=FAST_RETRY, max_concurrency=4
    )
    with closing(client), warehouse.open_writer(path, wait_seconds=30) as store:
        sync_everything(client, store)


def sync_in_a_process(sandbox: SandboxServer, path: Path) -> subprocess.Popen[str]:
    """A sync in its own process, returned once it holds the warehouse."""
    command = [sys.executable, "-c", SYNC, str(path), SANDBOX_USER_ID, SANDBOX_API_TOKEN]
    child = subprocess.Popen(
        [*command, sandbox.url], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "syncing"
    return child


def snapshot(path: Path) -> dict[str, list[tuple]]:
    with warehouse.connect(path, read_only=True) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}


def rows_per_backtest(path: Path) -> dict[str, dict[str, int]]:
    """Per table with a backtest_id: its row count per backtest."""
    with warehouse.connect(path, read_only=True) as conn:
        return {
            table: dict(
                conn.execute(f"SELECT backtest_id, count(*) FROM {table} GROUP BY 1").fetchall()
            )
            for table in ("backtest_statistics", "orders", "order_events")
        }


@pytest.mark.timeout(300)
def test_sigkill_at_random_points_never_corrupts_or_half_loads(tmp_path: Path):
    size = SandboxSize(projects=2, backtests_per_project=6, orders_per_backtest=300)
    with SandboxServer(SandboxAccount(size, seed=5), latency_ms=2) as sandbox:
        reference = tmp_path / "reference.duckdb"
        child = sync_in_a_process(sandbox, reference)
        started = time.monotonic()  # from the moment it holds the warehouse
        child.wait(timeout=120)
        sync_seconds = time.monotonic() - started
        expected, expected_rows = snapshot(reference), rows_per_backtest(reference)
        assert len(expected["orders"]) > 1000

        rng = random.Random(20261201)
        outcomes = []
        for trial in range(TRIALS):
            path = tmp_path / f"trial-{trial}.duckdb"
            child = sync_in_a_process(sandbox, path)
            time.sleep(rng.uniform(0, 0.9 * sync_seconds))
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
            outcomes.append(child.returncode)

            with warehouse.open_writer(path, wait_seconds=10) as store:  # it opens, and is ours
                failures = check_failures(store)
            assert len(failures) == 22 and not any(failures.values()), (trial, failures)
            for table, counts in rows_per_backtest(path).items():
                for backtest_id, count in counts.items():
                    assert count == expected_rows[table][backtest_id], (trial, table, backtest_id)

            sync_here(sandbox, path)
            assert snapshot(path) == expected, trial
    assert outcomes.count(-signal.SIGKILL) >= TRIALS // 2, outcomes  # most kills hit a live sync
