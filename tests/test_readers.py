"""Readers never wait long: a sync holds the warehouse file only while it writes (a
`FileLease`), so `qcw sql` and notebooks get in while it waits for the API, and what they see
is always whole."""

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from pipelines import warehouse
from pipelines.sandbox import SANDBOX_API_TOKEN, SandboxServer
from pipelines.warehouse.lease import FileLease
from tests.helpers import REPO_ROOT, expected_orders, headless_command

IDLE = 0.05


def lease_of(path: Path, idle_seconds: float = IDLE, opened: list | None = None) -> FileLease:
    """A lease of the file at `path`; each opening appends to `opened`."""

    def open_file() -> warehouse.Connection:
        if opened is not None:
            opened.append(time.monotonic())
        return warehouse.connect(path)

    return FileLease(open_file, idle_seconds)


def test_a_lease_opens_the_file_when_held_and_closes_it_once_idle(warehouse_path: Path):
    opened: list[float] = []
    lease = lease_of(warehouse_path, opened=opened)
    assert not lease.is_open
    with lease.held() as conn, lease.held() as same:  # holds nest: one opening
        assert conn is same
        conn.execute("INSERT INTO projects (project_id, name) VALUES (1, 'p')")
    assert lease.is_open  # for a moment: operations that follow closely share it
    time.sleep(IDLE * 10)
    assert not lease.is_open
    with duckdb.connect(str(warehouse_path), read_only=True) as reader:  # readers get in
        assert reader.execute("SELECT count(*) FROM projects").fetchone() == (1,)
    with lease.held() as conn:
        assert conn.execute("SELECT count(*) FROM projects").fetchone() == (1,)
    assert len(opened) == 2


def test_a_held_lease_stays_open_however_long_and_release_waits_for_its_holder(
    warehouse_path: Path,
):
    lease = lease_of(warehouse_path)
    with lease.held():
        time.sleep(IDLE * 10)
        lease.release()
        assert lease.is_open
    lease.release()
    assert not lease.is_open


def test_the_connection_is_there_only_while_held(warehouse_path: Path):
    lease = lease_of(warehouse_path)
    with pytest.raises(RuntimeError, match="holding"):
        lease.conn  # noqa: B018
    with lease.held() as conn:
        assert lease.conn is conn
    lease.release()


def test_a_lease_of_a_connection_never_closes_it(warehouse_path: Path):
    conn = warehouse.connect(warehouse_path)
    lease = FileLease.of(conn)
    with lease.held():
        pass
    time.sleep(IDLE * 4)
    lease.release()
    assert lease.conn.execute("SELECT 1").fetchone() == (1,)
    conn.close()


def test_a_writer_lets_go_of_the_file_between_writes(warehouse_path: Path):
    with warehouse.open_writer(warehouse_path) as store:
        store.record_sync_run("projects", datetime.now(UTC), "succeeded")
        time.sleep(1.0)
        assert not store.lease.is_open  # idle: let go of
        # A reader in another process opens the file while the writer still runs.
        read = subprocess.run(
            [sys.executable, "-c", READ_SYNC_RUNS, str(warehouse_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert read.returncode == 0, read.stderr
        assert read.stdout.strip() == "1"
        store.record_sync_run("backtests", datetime.now(UTC), "succeeded")  # opens it again


READ_SYNC_RUNS = """
import sys
from pipelines import warehouse
conn = warehouse.connect(sys.argv[1], read_only=True, wait_seconds=0)
print(conn.execute("SELECT count(*) FROM sync_runs").fetchone()[0])
"""

# Each reader: how long it waited for the file, and any backtest whose orders it saw
# half-loaded (its rows differ from what backtest_sync says was loaded).
READER = """
import sys, time
from pipelines import warehouse
started = time.monotonic()
conn = warehouse.connect(sys.argv[1], read_only=True, wait_seconds=30)
waited = time.monotonic() - started
torn = conn.execute('''
    SELECT count(*) FROM backtest_sync s
    LEFT JOIN (SELECT backtest_id, count(*) AS n FROM orders GROUP BY ALL) o USING (backtest_id)
    WHERE s.orders_synced_at IS NOT NULL AND coalesce(o.n, 0) <> s.orders_loaded
''').fetchone()[0]
orphans = conn.execute('''
    SELECT count(*) FROM orders WHERE backtest_id NOT IN
    (SELECT backtest_id FROM backtest_sync WHERE orders_synced_at IS NOT NULL)
''').fetchone()[0]
print(f"{waited:.3f} {torn} {orphans}")
"""


def test_readers_get_in_during_a_slow_sync_and_see_only_whole_backtests(
    sandbox: SandboxServer, tmp_path: Path
):
    """A sync against an API that takes 200 ms a request, one at a time; readers one after the
    other meanwhile. Each one gets in within a few seconds, and never sees a backtest's orders
    half-loaded."""
    sandbox.latency_ms = 200
    path = tmp_path / "w.duckdb"
    _, env = headless_command(sandbox, path, tmp_path, SANDBOX_API_TOKEN)  # its environment
    command = [sys.executable, "-m", "pipelines", "sync", "--warehouse", str(path)]
    env |= {"QC_MAX_CONCURRENCY": "1", "QC_MAX_REQUESTS_PER_SECOND": "10"}
    sync = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True)
    results: list[tuple[float, int, int]] = []
    while not path.exists() and sync.poll() is None:
        time.sleep(0.05)
    while sync.poll() is None:
        reader = subprocess.run(
            [sys.executable, "-c", READER, str(path)], capture_output=True, text=True, timeout=60
        )
        assert reader.returncode == 0, reader.stderr
        waited, torn, orphans = reader.stdout.split()
        results.append((float(waited), int(torn), int(orphans)))
    _, error = sync.communicate(timeout=120)
    assert sync.returncode == 0, error
    assert len(results) >= 4, "the sync was too quick to test readers against"
    assert all(torn == 0 and orphans == 0 for _, torn, orphans in results)
    waits = sorted(waited for waited, _, _ in results)
    assert waits[len(waits) // 2] < 1.0 and waits[-1] < 5.0, waits
    with duckdb.connect(str(path), read_only=True) as conn:
        query = "SELECT backtest_id, count(*) FROM orders GROUP BY 1"
        loaded = dict(conn.execute(query).fetchall())
    assert loaded == {b: n for b, n in expected_orders(sandbox).items() if n}
