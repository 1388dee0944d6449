"""The code location loads, with its job, schedule, assets and checks wired as documented."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb

from pipelines.definitions import DEFAULT_SYNC_CRON, defs
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID, SandboxServer

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS = {"projects", "backtests", "backtest_statistics", "orders", "order_events"}  # tables
VIEWS_ASSET = "analysis_views"


def test_definitions_load_with_the_job_schedule_and_every_asset():
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("sync_quantconnect")
    assert {key.path[0] for key in job.asset_layer.selected_asset_keys} == ASSETS | {VIEWS_ASSET}
    schedule = defs.resolve_schedule_def("daily_sync")
    assert schedule.cron_schedule == DEFAULT_SYNC_CRON
    assert schedule.execution_timezone == "UTC"
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, f"{key} has no description"
        assert node.group_name == "quantconnect"
    assert len(list(graph.asset_check_keys)) == 7


def test_the_resource_repr_hides_the_token():
    resource = defs.resources["quantconnect"]
    assert "QC_API_TOKEN" in repr(resource) or "***" in repr(resource)
    assert SANDBOX_API_TOKEN not in repr(type(resource)(user_id="1", api_token=SANDBOX_API_TOKEN))


def headless_command(
    sandbox: SandboxServer, warehouse: Path, home: Path, token: str | None
) -> tuple[list[str], dict[str, str]]:
    """`dagster asset materialize` of everything, and its environment: HOME at `home`, and
    without `token` no QC_ credentials."""
    env = {
        **os.environ,
        "HOME": str(home),
        "QC_API_URL": sandbox.url,
        "WAREHOUSE_PATH": str(warehouse),
        "QC_MAX_CONCURRENCY": "4",
        "QC_MAX_REQUESTS_PER_SECOND": "0",
    }
    for name in ("DAGSTER_HOME", "QC_USER_ID", "QC_API_TOKEN"):
        env.pop(name, None)
    if token is not None:
        env |= {"QC_USER_ID": SANDBOX_USER_ID, "QC_API_TOKEN": token}
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "asset", "materialize", "-m", "pipelines.definitions", "--select", "*"]
    return command, env


def headless_sync(
    sandbox: SandboxServer, warehouse: Path, home: Path, token: str | None
) -> subprocess.CompletedProcess:
    """A headless sync in a fresh process, waited for."""
    command, env = headless_command(sandbox, warehouse, home, token)
    return subprocess.run(
        command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )


def test_the_headless_command_syncs_with_lean_credentials_and_fails_loudly_on_a_wrong_token(
    sandbox: SandboxServer, tmp_path: Path
):
    warehouse, lean = tmp_path / "data" / "headless.duckdb", tmp_path / ".lean" / "credentials"
    lean.parent.mkdir()
    lean.write_text(json.dumps({"user-id": SANDBOX_USER_ID, "api-token": SANDBOX_API_TOKEN}))
    done = headless_sync(sandbox, warehouse, tmp_path, token=None)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"credentials of user {SANDBOX_USER_ID} from the lean CLI's file" in done.stderr
    assert SANDBOX_API_TOKEN not in done.stdout + done.stderr
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ASSETS}
    assert all(counts.values()), counts

    sandbox.reset_stats()
    failed = headless_sync(sandbox, warehouse, tmp_path, "wrong-token")  # the environment wins
    assert failed.returncode != 0
    assert "QC_USER_ID and QC_API_TOKEN" in failed.stdout + failed.stderr
    assert "wrong-token" not in failed.stdout + failed.stderr
    assert sandbox.stats()["total"] <= 2
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        after = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ASSETS}
    assert after == counts
