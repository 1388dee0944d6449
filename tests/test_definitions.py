"""The code location loads, with its job, schedule, assets and checks wired as documented."""

import dagster as dg

from pipelines.definitions import DEFAULT_SYNC_CRON, defs
from pipelines.sandbox import SANDBOX_API_TOKEN
from tests.helpers import TABLES

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
