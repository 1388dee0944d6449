"""SIGKILL at random points of a sync never corrupts the warehouse or half-loads a backtest,
and the next sync completes it to the same tables as an uninterrupted one: a DuckDB file, and a
DuckLake on PostgreSQL and S3 (whose commits a kill may hit half-way)."""

import itertools
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
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
from tests.conftest import LAKE_BUCKET
from tests.helpers import FAST_RETRY, REPO_ROOT, TABLES, check_failures
from tests.services import Postgres

TRIALS = {"file": 10, "lake": 5}
SYNC = """
import sys
from pipelines import warehouse
from pipelines.qc.client import QuantConnectClient
from pipelines.sync import sync_everything
client = QuantConnectClient(sys.argv[1], sys.argv[2], sys.argv[3], max_concurrency=4)
with warehouse.open_writer(warehouse.target_from_env(), wait_seconds=30) as store:
    print("syncing", flush=True)
    sync_everything(client, store)
"""
_lakes = itertools.count()


def target_environment(target: warehouse.Target) -> dict[str, str]:
    """The environment that names `target` to a process (`warehouse.target_from_env`)."""
    if isinstance(target, warehouse.Lake):
        return {"WAREHOUSE_CATALOG": target.catalog, "WAREHOUSE_DATA_PATH": target.data_path or ""}
    return {"WAREHOUSE_PATH": str(target)}


@pytest.fixture(params=["file", "lake"])
def new_target(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], warehouse.Target]:
    """Makes a new, empty warehouse of the backend under test, by name."""
    if request.param == "file":
        return lambda name: tmp_path / f"{name}.duckdb"
    postgres: Postgres = request.getfixturevalue("postgres")
    request.getfixturevalue("lake")  # S3's variables in the environment

    def new_lake(name: str) -> warehouse.Lake:
        database = f"crash_{next(_lakes)}_{name.replace('-', '_')}"
        postgres.create_database(database)
        return warehouse.Lake.with_env(
            f"postgres:{postgres.dsn(database)}", f"s3://{LAKE_BUCKET}/{database}/"
        )

    return new_lake


def sync_here(sandbox: SandboxServer, path: warehouse.Target) -> None:
    client = QuantConnectClient(
        SANDBOX_USER_ID, SANDBOX_API_TOKEN, sandbox.url, retry=FAST_RETRY, max_concurrency=4
    )
    with closing(client), warehouse.open_writer(path, wait_seconds=30) as store:
        sync_everything(client, store)


def sync_in_a_process(sandbox: SandboxServer, path: warehouse.Target) -> subprocess.Popen[str]:
    """A sync in its own process, returned once it holds the warehouse."""
    command = [sys.executable, "-c", SYNC, SANDBOX_USER_ID, SANDBOX_API_TOKEN, sandbox.url]
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("WAREHOUSE_")}
    environment = inherited | target_environment(path)
    child = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, env=environment
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "syncing"
    return child


def snapshot(path: warehouse.Target) -> dict[str, list[tuple]]:
    with warehouse.connect_reader(path) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}


def rows_per_backtest(path: warehouse.Target) -> dict[str, dict[str, int]]:
    """Per table with a backtest_id: its row count per backtest."""
    with warehouse.connect_reader(path) as conn:
        return {
            table: dict(
                conn.execute(f"SELECT backtest_id, count(*) FROM {table} GROUP BY 1").fetchall()
            )
            for table in ("backtest_statistics", "orders", "order_events")
        }


@pytest.mark.timeout(400)
def test_sigkill_at_random_points_never_corrupts_or_half_loads(
    new_target: Callable[[str], warehouse.Target], request: pytest.FixtureRequest
):
    trials = TRIALS[request.node.callspec.params["new_target"]]
    size = SandboxSize(projects=2, backtests_per_project=6, orders_per_backtest=300)
    with SandboxServer(SandboxAccount(size, seed=5), latency_ms=2) as sandbox:
        reference = new_target("reference")
        child = sync_in_a_process(sandbox, reference)
        started = time.monotonic()  # from the moment it holds the warehouse
        child.wait(timeout=120)
        sync_seconds = time.monotonic() - started
        expected, expected_rows = snapshot(reference), rows_per_backtest(reference)
        assert len(expected["orders"]) > 1000

        rng = random.Random(20261201)
        outcomes = []
        for trial in range(trials):
            path = new_target(f"trial-{trial}")
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
    assert outcomes.count(-signal.SIGKILL) >= trials // 2, outcomes  # most kills hit a live sync


KILLED_IN_COMMIT = """
import os, signal, sys, threading
from pipelines import warehouse
from pipelines.qc.client import QuantConnectClient
from pipelines.sync import sync_everything
from pipelines.warehouse.orders import DuckDBOrdersWriter

finish = DuckDBOrdersWriter._finish

def killed_in_commit(writer):
    # SIGKILL from another thread while this one commits (DuckDB lets go of the GIL).
    threading.Timer(float(sys.argv[4]), os.kill, (os.getpid(), signal.SIGKILL)).start()
    finish(writer)

DuckDBOrdersWriter._finish = killed_in_commit
client = QuantConnectClient(sys.argv[1], sys.argv[2], sys.argv[3], max_concurrency=4)
with warehouse.open_writer(warehouse.target_from_env()) as store:
    sync_everything(client, store)
"""


@pytest.mark.timeout(300)
@pytest.mark.parametrize("new_target", ["lake"], indirect=True)
def test_a_lake_writer_killed_in_the_middle_of_a_commit_leaves_it_consistent(
    new_target: Callable[[str], warehouse.Target],
):
    size = SandboxSize(projects=2, backtests_per_project=4, orders_per_backtest=300)
    with SandboxServer(SandboxAccount(size, seed=8)) as sandbox:
        reference = new_target("reference")
        sync_here(sandbox, reference)
        expected, expected_rows = snapshot(reference), rows_per_backtest(reference)
        for trial, delay in enumerate((0.0, 0.01, 0.05)):
            lake = new_target(f"killed-{trial}")
            command = [sys.executable, "-c", KILLED_IN_COMMIT, SANDBOX_USER_ID]
            child = subprocess.run(
                [*command, SANDBOX_API_TOKEN, sandbox.url, str(delay)],
                cwd=REPO_ROOT,
                env=os.environ | target_environment(lake),
                timeout=120,
            )
            assert child.returncode == -signal.SIGKILL, trial
            with warehouse.open_reader(lake) as store:
                failures = check_failures(store)
            assert not any(failures.values()), (trial, failures)
            for table, counts in rows_per_backtest(lake).items():
                for backtest_id, count in counts.items():  # whole, or not there at all
                    assert count == expected_rows[table][backtest_id], (trial, table, backtest_id)
            sync_here(sandbox, lake)
            assert snapshot(lake) == expected, trial
