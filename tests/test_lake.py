"""A DuckLake warehouse as a user meets it: `qcw sync`, `qcw sql` (as of an earlier snapshot
too) and `qcw status` with `--catalog` and `--data-path`; the headless command with
WAREHOUSE_CATALOG; readers that never wait for a writer; and clear errors for settings that
cannot work."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pipelines import warehouse
from pipelines.cli import main
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID, SandboxServer
from tests.helpers import REPO_ROOT, expected_orders, headless_command

ENV = {"QC_USER_ID": SANDBOX_USER_ID, "QC_API_TOKEN": SANDBOX_API_TOKEN}


def qcw(*arguments: str) -> Result:
    return CliRunner().invoke(main, list(arguments), env=ENV, catch_exceptions=False)


def lake_options(lake: warehouse.Lake) -> list[str]:
    return ["--catalog", lake.catalog, "--data-path", lake.data_path or ""]


def test_qcw_syncs_a_lake_lists_its_snapshots_and_queries_it_as_of_one(
    sandbox: SandboxServer, tmp_path: Path
):
    # A SQLite catalog and a folder: the lake of one machine.
    catalog, data = f"sqlite:{tmp_path / 'catalog.sqlite'}", str(tmp_path / "data")
    options = ["--catalog", catalog, "--data-path", data]
    synced = qcw("sync", *options, "--api-url", sandbox.url, "--requests-per-second", "0")
    assert synced.exit_code == 0, synced.output
    total = sum(expected_orders(sandbox).values())

    status = CliRunner().invoke(main, ["status", *options], env={"COLUMNS": "160"})
    assert status.exit_code == 0, status.output
    assert "Recent snapshots" in status.output and "qcw on" in status.output
    assert "orders, order_events, backtest_sync" in status.output
    lake = warehouse.Lake(catalog)
    with warehouse.connect_reader(lake) as conn:
        snapshots = conn.execute(
            "SELECT snapshot_id, snapshot_time, commit_message FROM lake.snapshots() ORDER BY 1"
        ).fetchall()
    before_orders = next(s for s in snapshots if s[2] == "orders, order_events, backtest_sync")
    earlier = str(before_orders[0] - 1)

    now = qcw("sql", *options, "--format", "csv", "SELECT count(*) AS n FROM orders")
    assert now.output.splitlines() == ["n", str(total)]
    then = qcw(
        "sql", *options, "--as-of", earlier, "--format", "csv", "SELECT count(*) FROM orders"
    )
    assert then.exit_code == 0 and then.output.splitlines()[1] == "0"
    at_time = before_orders[1].isoformat()  # the first orders' commit, by its time
    timed = qcw(
        "sql", *options, "--as-of", at_time, "--format", "csv", "SELECT count(*) FROM orders"
    )
    assert timed.exit_code == 0 and 0 < int(timed.output.splitlines()[1]) <= total

    never = qcw("sql", *options, "--as-of", "2001-01-01 00:00:00+00", "SELECT 1")
    assert never.exit_code == 1 and "no snapshot as of 2001-01-01" in never.output


def test_time_travel_and_bad_catalogs_are_one_clear_error(tmp_path: Path):
    on_file = qcw("sql", "--warehouse", str(tmp_path / "w.duckdb"), "--as-of", "3", "SELECT 1")
    assert on_file.exit_code == 1
    assert "--as-of reads an earlier snapshot of a DuckLake" in on_file.output
    duckdb_catalog = qcw("sql", "--catalog", str(tmp_path / "c.ducklake"), "SELECT 1")
    assert duckdb_catalog.exit_code == 2 and "postgres:dbname=" in duckdb_catalog.output
    missing = qcw("status", "--catalog", f"sqlite:{tmp_path / 'none.sqlite'}")
    assert missing.exit_code == 1 and "run `qcw sync` first" in missing.output


WRITE_AND_HOLD = """
import sys, time
from pipelines import warehouse
lake = warehouse.Lake.with_env(sys.argv[1], sys.argv[2])
with warehouse.open_writer(lake) as store, store.holding() as conn:
    conn.execute("BEGIN TRANSACTION")
    conn.execute("INSERT INTO sync_runs VALUES ('held', now(), now(), 'succeeded', NULL)")
    print("holding", flush=True)
    time.sleep(float(sys.argv[3]))
    conn.execute("COMMIT")
"""


def test_readers_never_wait_for_a_writer_and_see_only_what_it_committed(lake: warehouse.Lake):
    command = [sys.executable, "-c", WRITE_AND_HOLD, lake.catalog, lake.data_path or "", "4"]
    writer = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdout.readline().strip() == "holding"
    started = time.monotonic()
    with warehouse.connect_reader(lake) as conn:
        held = conn.execute("SELECT count(*) FROM sync_runs WHERE step = 'held'").fetchone()
    waited = time.monotonic() - started
    assert writer.poll() is None, "the writer finished first: the reader waited"
    assert held == (0,) and waited < 3
    assert writer.wait(timeout=30) == 0
    with warehouse.connect_reader(lake) as conn:
        held = conn.execute("SELECT count(*) FROM sync_runs WHERE step = 'held'").fetchone()
    assert held == (1,)


def test_the_headless_command_syncs_everything_into_a_lake(
    sandbox: SandboxServer, lake: warehouse.Lake, tmp_path: Path
):
    unused = tmp_path / "unused.duckdb"
    command, env = headless_command(sandbox, unused, tmp_path, SANDBOX_API_TOKEN)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env |= {
        "DAGSTER_HOME": str(home),
        "WAREHOUSE_CATALOG": lake.catalog,
        "WAREHOUSE_DATA_PATH": lake.data_path or "",
    } | {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    done = subprocess.run(
        command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert not unused.exists()
    with warehouse.connect_reader(lake) as conn:
        orders = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
        authors = {a for (a,) in conn.execute("SELECT author FROM lake.snapshots()").fetchall()}
    assert orders == sum(expected_orders(sandbox).values()) > 0
    assert any(author and author.startswith("dagster run ") for author in authors)


@pytest.mark.parametrize("catalog", ["mysql:db=x", "ducklake:x"])
def test_a_catalog_of_another_kind_is_refused_naming_the_ones_that_work(catalog: str):
    with pytest.raises(ValueError, match="postgres:dbname=… host=… or sqlite:PATH"):
        warehouse.Lake(catalog)


def test_a_catalogs_password_is_never_shown():
    shown = str(warehouse.Lake("postgres:dbname=lake password=s3cret host=db.internal"))
    assert "s3cret" not in shown and "host=db.internal" in shown


OPEN_WRITER = """
import sys, time
from pipelines import warehouse
from pipelines.warehouse.extensions import load_extensions
import duckdb
load_extensions(duckdb.connect(), ["ducklake", "postgres", "httpfs"])  # installed, warm
time.sleep(max(0.0, float(sys.argv[3]) - time.time()))  # then all at once
with warehouse.open_writer(warehouse.Lake.with_env(sys.argv[1], sys.argv[2])) as store:
    print(store.row_counts()["orders"])
"""


def test_writers_that_create_a_new_lake_at_once_all_open_it(lake: warehouse.Lake):
    start = str(time.time() + 6)
    command = [sys.executable, "-c", OPEN_WRITER, lake.catalog, lake.data_path or "", start]
    writers = [
        subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(8)
    ]
    outcomes = [(w.wait(timeout=120), *w.communicate()) for w in writers]
    assert [(code, out.strip()) for code, out, _ in outcomes] == [(0, b"0")] * 8, outcomes
