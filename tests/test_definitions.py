"""The code location loads, with its job, schedule, assets and checks wired as documented."""

import json
from pathlib import Path

import dagster as dg
import duckdb

from pipelines.definitions import DEFAULT_SYNC_CRON, defs
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID, SandboxServer
from tests.helpers import TABLES, headless_sync

ASSETS = set(TABLES)
VIEWS_ASSET = "analysis_views"
TAG_RULES_ASSET = "backtest_tag_rules"


def test_definitions_load_with_the_job_schedule_and_every_asset():
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("sync_quantconnect")
    assert {key.path[0] for key in job.asset_layer.selected_asset_keys} == ASSETS | {
        VIEWS_ASSET,
        TAG_RULES_ASSET,
    }
    schedule = defs.resolve_schedule_def("daily_sync")
    assert schedule.cron_schedule == DEFAULT_SYNC_CRON
    assert schedule.execution_timezone == "UTC"
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, f"{key} has no description"
        assert node.group_name == "quantconnect"
    assert len(list(graph.asset_check_keys)) == 21


def test_the_resource_repr_hides_the_token():
    resource = defs.resources["quantconnect"]
    assert "QC_API_TOKEN" in repr(resource) or "***" in repr(resource)
    assert SANDBOX_API_TOKEN not in repr(type(resource)(user_id="1", api_token=SANDBOX_API_TOKEN))


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
