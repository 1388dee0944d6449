"""Many workers, one lake: eight Dagster runs at once, each syncing a batch of project
partitions of a 40-project sandbox organization into a DuckLake on PostgreSQL and moto's S3,
leave every table equal, row for row, to one process's sync into a DuckDB file; a second
round changes nothing and makes only the list requests."""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import dagster as dg
import pytest

from pipelines import warehouse
from pipelines.partitioned import RANGE_END, RANGE_START
from pipelines.qc.client import QuantConnectClient
from pipelines.sandbox import (
    SANDBOX_API_TOKEN,
    SANDBOX_USER_ID,
    SandboxAccount,
    SandboxServer,
    SandboxSize,
)
from pipelines.schema import TABLES
from pipelines.sync import sync_everything
from tests.helpers import REPO_ROOT, expected_orders, make_resources
from tests.helpers import TABLES as ASSET_TABLES

WORKERS = 8
SIZE = SandboxSize(projects=40, backtests_per_project=3, orders_per_backtest=60)
LISTS = {"projects/read", "backtests/list", "optimizations/list"}
DAGSTER_YAML = """
telemetry:
  enabled: false
concurrency:
  pools:
    default_limit: 8
"""


def comparable(target: warehouse.Target) -> dict[str, list[str]]:
    """Every table's rows, sorted; durations to the millisecond, which is what a lake keeps
    (Parquet's INTERVAL), and without the sync's own times."""
    tables = {}
    with warehouse.connect_reader(target) as conn:
        for table in TABLES:
            columns = [
                f"{c.name} - to_microseconds(datepart('microsecond', {c.name}) % 1000)"
                if c.sql_type == "INTERVAL"
                else c.name
                for c in table.columns
            ]
            rows = conn.execute(f"SELECT {', '.join(columns)} FROM {table.name}").fetchall()
            tables[table.name] = sorted(map(repr, rows))
    return tables


def dagster_environment(sandbox: SandboxServer, lake: warehouse.Lake, home: Path) -> dict:
    """A worker's environment: the sandbox's API (2 requests in flight, the real API's shape),
    the lake, and the Dagster instance they share."""
    return os.environ | {
        "DAGSTER_HOME": str(home),
        "QC_USER_ID": SANDBOX_USER_ID,
        "QC_API_TOKEN": SANDBOX_API_TOKEN,
        "QC_API_URL": sandbox.url,
        "QC_MAX_CONCURRENCY": "2",
        "QC_MAX_REQUESTS_PER_SECOND": "0",
        "WAREHOUSE_CATALOG": lake.catalog,
        "WAREHOUSE_DATA_PATH": lake.data_path or "",
    }


def dagster(*arguments: str, env: dict) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("dagster")), *arguments]
    done = subprocess.run(
        command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def one_round(env: dict, partitions: list[str]) -> None:
    """Refresh the projects (which registers their partitions), then the per-project runs,
    `WORKERS` at once, each over a batch of partitions as a backfill's runs are."""
    location = ("-m", "pipelines.partitioned")
    dagster("asset", "materialize", *location, "--select", "projects,symbol_properties", env=env)
    size = len(partitions) // WORKERS
    batches = [partitions[i : i + size] for i in range(0, len(partitions), size)]
    assert len(batches) == WORKERS

    def run(batch: list[str]) -> subprocess.CompletedProcess:
        tags = {RANGE_START: batch[0], RANGE_END: batch[-1]}
        job = ("job", "execute", *location, "-j", "sync_projects_partitioned")
        return dagster(*job, "--tags", json.dumps(tags), env=env)

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(run, batches))


def conflicts_retried(home: Path) -> int:
    """Commit conflicts the runs retried, from the orders' materializations."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.fetch_materializations(dg.AssetKey("orders"), limit=1000).records
        return sum(
            int(r.asset_materialization.metadata["commit_conflicts_retried"].value)
            for r in records
            if r.asset_materialization is not None
        )


@pytest.mark.timeout(900)
def test_eight_workers_sync_one_lake_equal_to_a_file_and_a_second_round_only_lists(
    lake: warehouse.Lake, tmp_path: Path
):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    with SandboxServer(SandboxAccount(SIZE, seed=17)) as sandbox:
        reference = tmp_path / "reference.duckdb"
        with (
            closing(
                QuantConnectClient(
                    SANDBOX_USER_ID, SANDBOX_API_TOKEN, sandbox.url, max_concurrency=8
                )
            ) as client,
            warehouse.open_writer(reference) as store,
        ):
            sync_everything(client, store)
        partitions = [str(p["projectId"]) for p in sandbox.account.projects()]
        assert len(partitions) == 40

        env = dagster_environment(sandbox, lake, home)
        one_round(env, partitions)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert sorted(instance.get_dynamic_partitions("qc_projects")) == sorted(partitions)
        first = comparable(lake)
        assert first == comparable(reference)
        assert sum(len(rows) for rows in first.values()) > 10_000

        sandbox.reset_stats()
        one_round(env, partitions)
        assert comparable(lake) == first
        requested = sandbox.stats()["requests"]
        assert set(requested) <= LISTS, requested
        print(f"commit conflicts retried: {conflicts_retried(home)}")


def test_the_partitioned_location_batches_project_partitions_into_runs():
    from pipelines.partitioned import PARTITIONS_PER_RUN, batched_runs, defs

    job = defs.resolve_job_def("sync_projects_partitioned")
    executed = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    assert executed == set(ASSET_TABLES) - {"projects", "symbol_properties"}
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("projects")).partitions_def is None
    policy = graph.get(dg.AssetKey("orders")).backfill_policy
    assert policy == dg.BackfillPolicy.multi_run(max_partitions_per_run=PARTITIONS_PER_RUN)
    keys = [str(project) for project in range(100, 112)]
    requests = batched_runs(keys, run_key="7")
    ranges = [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in requests]
    assert ranges == [("100", "104"), ("105", "109"), ("110", "111")]
    assert [r.run_key for r in requests] == ["7:100", "7:105", "7:110"]


def test_partitions_work_on_the_file_one_writer_at_a_time(
    sandbox: SandboxServer, warehouse_path: Path
):
    from pipelines.partitioned import defs

    resources = make_resources(sandbox, warehouse_path)
    refresh = defs.resolve_job_def("refresh_projects")
    partitioned = defs.resolve_job_def("sync_projects_partitioned")
    assert {node.definition.pool for node in partitioned.graph.nodes} == {"duckdb_writer"}
    with dg.instance_for_test() as instance:
        assert refresh.execute_in_process(resources=resources, instance=instance).success
        first, *rest = instance.get_dynamic_partitions("qc_projects")
        one = partitioned.execute_in_process(
            resources=resources, instance=instance, partition_key=first
        )
        assert one.success
        with warehouse.connect_reader(warehouse_path) as conn:
            loaded = conn.execute("SELECT DISTINCT project_id FROM orders").fetchall()
        assert loaded == [(int(first),)]
        tags = {RANGE_START: rest[0], RANGE_END: rest[-1]}
        assert partitioned.execute_in_process(
            resources=resources, instance=instance, tags=tags
        ).success
    expected = expected_orders(sandbox)
    with warehouse.connect_reader(warehouse_path) as conn:
        counts = dict(
            conn.execute("SELECT backtest_id, count(*) FROM orders GROUP BY 1").fetchall()
        )
    assert counts == {backtest: n for backtest, n in expected.items() if n}
