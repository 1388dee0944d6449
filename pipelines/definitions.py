"""The Dagster code location: assets, checks, the sync job, its daily schedule, the sensor of
newly finished backtests, and resources.

Configuration comes from the environment: QC_USER_ID and QC_API_TOKEN (read at run time, else
the lean CLI's ~/.lean/credentials; never in the run config), QC_API_URL, QC_MAX_CONCURRENCY,
QC_MAX_REQUESTS_PER_SECOND, WAREHOUSE_PATH and QC_SYNC_CRON.
"""

from __future__ import annotations

import os

import dagster as dg

from assets.checks import ASSET_CHECKS
from assets.quantconnect import (
    GROUP,
    analysis_views,
    backtest_statistics,
    backtests,
    orders_and_order_events,
    projects,
)
from assets.sensors import new_finished_backtests
from pipelines.quantconnect import DEFAULT_API_URL
from pipelines.resources import QuantConnectResource, WarehouseResource
from pipelines.warehouse import DEFAULT_WAREHOUSE_PATH

DEFAULT_SYNC_CRON = "0 6 * * *"

sync_quantconnect = dg.define_asset_job(
    "sync_quantconnect",
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
    assets=[projects, backtests, backtest_statistics, orders_and_order_events, analysis_views],
    asset_checks=ASSET_CHECKS,
    jobs=[sync_quantconnect],
    schedules=[daily_sync],
    sensors=[new_finished_backtests],
    resources={
        "quantconnect": QuantConnectResource(
            api_url=os.environ.get("QC_API_URL", DEFAULT_API_URL),
            max_concurrency=int(os.environ.get("QC_MAX_CONCURRENCY", "2")),
            max_requests_per_second=float(os.environ.get("QC_MAX_REQUESTS_PER_SECOND", "2")),
        ),
        "warehouse": WarehouseResource(
            database=os.environ.get("WAREHOUSE_PATH", DEFAULT_WAREHOUSE_PATH)
        ),
    },
    # One process per run keeps a single DuckDB writer per run, and starts about 3 times faster.
    executor=dg.in_process_executor,
)
