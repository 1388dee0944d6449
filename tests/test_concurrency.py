"""One writer at a time, across processes: a second sync waits for the first, never corrupts the
warehouse, and never ends on a bare DuckDB lock error; readers get a clear message."""

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from pipelines import warehouse
from pipelines.sandbox import SANDBOX_API_TOKEN, SandboxServer
from tests.test_definitions import ASSETS, REPO_ROOT, headless_command

HOLD_WRITER = """
import sys, time
from pipelines import warehouse
with warehouse.open_writer(sys.argv[1]) as conn:
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
"""


@contextmanager
def writer_in_another_process(path: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """A process that holds the warehouse's writer for `seconds` once the block starts."""
    command = [sys.executable, "-c", HOLD_WRITER, str(path), str(seconds)]
    with subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None and child.stdout.readline().strip() == "holding"
        try:
            yield child
        finally:
            child.kill()


def test_a_second_writer_waits_for_the_first_then_writes(warehouse_path: Path):
    waits: list[str] = []
    with writer_in_another_process(warehouse_path, 1.5):
        started = time.monotonic()
        with warehouse.open_writer(warehouse_path, wait_seconds=60, on_wait=waits.append) as conn:
            waited = time.monotonic() - started  # the other held it for 1.5 s
            conn.execute("INSERT INTO projects (project_id, name) VALUES (1, 'p')")
    assert waited > 1.0
    assert waits and "another sync is writing" in waits[0]
    with duckdb.connect(str(warehouse_path), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM projects").fetchone() == (1,)


def test_a_writer_that_cannot_wait_stops_at_once_with_a_clear_message(warehouse_path: Path):
    with writer_in_another_process(warehouse_path, 30):
        started = time.monotonic()
        busy = pytest.raises(warehouse.WarehouseBusyError, match="another sync is still writing")
        with busy, warehouse.open_writer(warehouse_path, wait_seconds=0.2):
            pass
        assert time.monotonic() - started < 5


def test_a_reader_during_a_sync_is_told_why_it_cannot_read(warehouse_path: Path):
    busy = pytest.raises(warehouse.WarehouseBusyError, match="open in another process")
    with writer_in_another_process(warehouse_path, 30), busy:
        warehouse.connect(warehouse_path, read_only=True)


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
    for table in ASSETS:
        query = f"SELECT * FROM {table} ORDER BY ALL"
        with (
            duckdb.connect(str(target), read_only=True) as a,
            duckdb.connect(str(alone), read_only=True) as b,
        ):
            assert a.execute(query).fetchall() == b.execute(query).fetchall(), table
