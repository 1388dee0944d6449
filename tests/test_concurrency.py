"""One writer at a time, across processes: a second sync waits for the first, never corrupts the
warehouse, and never ends on a bare DuckDB lock error; readers get a clear message."""

import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from pipelines import warehouse
from pipelines.sandbox import SANDBOX_API_TOKEN, SandboxServer
from tests.helpers import REPO_ROOT, TABLES, headless_command, held_in_another_process


def test_a_second_writer_waits_for_the_first_then_writes(warehouse_path: Path):
    waits: list[str] = []
    with held_in_another_process(warehouse_path, 1.5):
        started = time.monotonic()
        with (
            warehouse.open_writer(warehouse_path, wait_seconds=60, on_wait=waits.append) as store,
            store.holding() as conn,
        ):
            waited = time.monotonic() - started  # the other held it for 1.5 s
            conn.execute("INSERT INTO projects (project_id, name) VALUES (1, 'p')")
    assert waited > 1.0
    assert waits and "another sync is writing" in waits[0]
    with duckdb.connect(str(warehouse_path), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM projects").fetchone() == (1,)


def test_a_writer_that_cannot_wait_stops_at_once_with_a_clear_message(warehouse_path: Path):
    with held_in_another_process(warehouse_path, 30):
        started = time.monotonic()
        busy = pytest.raises(warehouse.WarehouseBusyError, match="another sync is still writing")
        with busy, warehouse.open_writer(warehouse_path, wait_seconds=0.2):
            pass
        assert time.monotonic() - started < 5


def test_a_reader_during_a_sync_is_told_why_it_cannot_read(warehouse_path: Path):
    busy = pytest.raises(warehouse.WarehouseBusyError, match="open in another process")
    with held_in_another_process(warehouse_path, 30), busy:
        warehouse.connect(warehouse_path, read_only=True)


def test_a_writer_waits_for_a_reader_to_close_the_file_then_writes(warehouse_path: Path):
    with warehouse.open_writer(warehouse_path):
        pass  # the file exists, with its tables
    waits: list[str] = []
    with held_in_another_process(warehouse_path, 1.5, mode="reader"):
        started = time.monotonic()
        with (
            warehouse.open_writer(warehouse_path, wait_seconds=60, on_wait=waits.append) as store,
            store.holding() as conn,
        ):
            waited = time.monotonic() - started
            conn.execute("INSERT INTO projects (project_id, name) VALUES (1, 'p')")
    assert waited > 1.0
    assert len(waits) == 1 and "open in another process" in waits[0]


def test_a_reader_may_wait_for_a_sync_to_finish_then_reads(warehouse_path: Path):
    waits: list[str] = []
    with held_in_another_process(warehouse_path, 1.5):
        started = time.monotonic()
        conn = warehouse.connect(warehouse_path, True, wait_seconds=60, on_wait=waits.append)
        waited = time.monotonic() - started
    with conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (0,)
    assert waited > 1.0 and len(waits) == 1


def test_a_reader_that_waited_in_vain_says_how_long(warehouse_path: Path):
    busy = pytest.raises(warehouse.WarehouseBusyError, match=r"after 1 s of waiting: .* open in")
    with held_in_another_process(warehouse_path, 30), busy:
        warehouse.connect(warehouse_path, read_only=True, wait_seconds=1)


def test_two_syncs_at_once_both_succeed_and_load_everything_once(
    sandbox: SandboxServer, tmp_path: Path
):
    target = tmp_path / "data" / "shared.duckdb"
    command, env = headless_command(sandbox, target, tmp_path, SANDBOX_API_TOKEN)
    runs = [
        subprocess.Popen(command, env=env, cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=180)[1] for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output[-3000:]
        assert "Could not set lock" not in output
    assert any("another sync is writing" in output for output in outputs)

    alone = tmp_path / "data" / "alone.duckdb"
    command, env = headless_command(sandbox, alone, tmp_path, SANDBOX_API_TOKEN)
    subprocess.run(command, env=env, cwd=REPO_ROOT, check=True, capture_output=True, timeout=180)
    for table in TABLES:
        query = f"SELECT * FROM {table} ORDER BY ALL"
        with (
            duckdb.connect(str(target), read_only=True) as a,
            duckdb.connect(str(alone), read_only=True) as b,
        ):
            assert a.execute(query).fetchall() == b.execute(query).fetchall(), table
