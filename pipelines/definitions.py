"""The Dagster code location: assets, checks, the sync job, its daily schedule, the sensor of
newly finished backtests, and resources.

Assets and checks are found in the `assets` package, one module per table group. Configuration
comes from the environment: QC_USER_ID and QC_API_TOKEN (read at run time, else the lean CLI's
~/.lean/credentials; never in the run config), QC_API_URL, QC_MAX_CONCURRENCY,
QC_MAX_REQUESTS_PER_SECOND, QC_APPLY_TAG_RULES, WAREHOUSE_PATH and QC_SYNC_CRON. The write-back
jobs (`apply_backtest_tags`, `update_projects`, `prune_archived`) are launched by hand, with
their action in the run config.
"""

from __future__ import annotations

import os

import dagster as dg

import assets
from assets.names import GROUP, SYNC_JOB
from assets.sensors import new_finished_backtests
from assets.writeback import WRITEBACK_JOBS
from pipelines.qc.client import (
    DEFAULT_API_URL,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_REQUESTS_PER_SECOND,
)
from pipelines.resources import QuantConnectResource, WarehouseResource
from pipelines.warehouse import DEFAULT_WAREHOUSE_PATH

DEFAULT_SYNC_CRON = "0 6 * * *"
# How an environment variable says yes.
TRUE_WORDS = ("1", "true", "yes", "on")


def from_env(name: str, default: str) -> str:
    """`dg.EnvVar(name)` when the variable is set, so the UI shows where the value comes from
    and it is read when a run starts; else `default`."""
    return dg.EnvVar(name) if name in os.environ else default


def int_from_env(name: str, default: int) -> int:
    """`from_env` for an integer."""
    return dg.EnvVar.int(name) if name in os.environ else default


sync_quantconnect = dg.define_asset_job(
    SYNC_JOB,
    selection=dg.AssetSelection.groups(GROUP),
    description="Sync projects, backtests, statistics, orders and order events into DuckDB.",
)

daily_sync = dg.ScheduleDefinition(
    name="daily_sync",
    job=sync_quantconnect,
    cron_schedule=os.environ.get("QC_SYNC_CRON", DEFAULT_SYNC_CRON),
    execution_timezone="UTC",
    description="Runs sync_quantconnect every day (cron in QC_SYNC_CRON, UTC).",
)

defs = dg.Definitions(
    assets=dg.load_assets_from_package_module(assets),
    asset_checks=dg.load_asset_checks_from_package_module(assets),
    jobs=[sync_quantconnect, *WRITEBACK_JOBS],
    schedules=[daily_sync],
    sensors=[new_finished_backtests],
    resources={
        "quantconnect": QuantConnectResource(
            api_url=from_env("QC_API_URL", DEFAULT_API_URL),
            max_concurrency=int_from_env("QC_MAX_CONCURRENCY", DEFAULT_MAX_CONCURRENCY),
            # Dagster's EnvVar holds text and integers only: a rate such as 0.5 is read here.
            max_requests_per_second=float(
                os.environ.get("QC_MAX_REQUESTS_PER_SECOND", DEFAULT_MAX_REQUESTS_PER_SECOND)
            ),
            apply_tag_rules=os.environ.get("QC_APPLY_TAG_RULES", "").lower() in TRUE_WORDS,
        ),
        "warehouse": WarehouseResource(database=from_env("WAREHOUSE_PATH", DEFAULT_WAREHOUSE_PATH)),
    },
    # One process per run keeps a single DuckDB writer per run, and starts about 3 times faster.
    executor=dg.in_process_executor,
)
