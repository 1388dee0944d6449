"""The Dagster code location: assets, checks, the sync job, its daily schedule, the sensor of
newly finished backtests, and resources.

Assets and checks are found in the `assets` package, one module per table group. Configuration
comes from the environment: QC_USER_ID and QC_API_TOKEN (read at run time, else the lean CLI's
~/.lean/credentials; never in the run config), QC_API_URL, QC_MAX_CONCURRENCY,
QC_MAX_REQUESTS_PER_SECOND, QC_APPLY_TAG_RULES, WAREHOUSE_PATH (or, for a DuckLake,
WAREHOUSE_CATALOG and WAREHOUSE_DATA_PATH) and QC_SYNC_CRON. `pipelines.partitioned` is the
same location with the per-project assets partitioned by project. The write-back
jobs (`apply_backtest_tags`, `update_projects`, `prune_archived`) are launched by hand, with
their action in the run config.

Loaded by a headless command that runs in its own process (`dg launch`, `dagster asset
materialize`, `dagster job execute`), the location prints no DEBUG lines, and a run that needs
the API fails before it starts, in one line, when no credentials are found.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping

import click
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
from pipelines.qc.credentials import CredentialsError
from pipelines.resources import QuantConnectResource, WarehouseResource
from pipelines.warehouse import DEFAULT_WAREHOUSE_PATH

DEFAULT_SYNC_CRON = "0 6 * * *"
# How an environment variable says yes.
TRUE_WORDS = ("1", "true", "yes", "on")
# The click commands that execute a run in their own process: `dagster asset materialize`,
# `dagster job execute`, and `dg launch` (`dagster job launch` too, which hands it on).
HEADLESS_RUN_COMMANDS = frozenset({"materialize", "execute", "launch"})
API_RESOURCE = "quantconnect"

# Dagster's own parser of `--select '*'` passes a beta parameter and warns about it
# (dagster/_core/definitions/antlr_asset_selection/antlr_asset_selection.py, 1.13.27).
warnings.filterwarnings(
    "ignore",
    category=dg.BetaWarning,
    module=r"dagster\._core\.definitions\.antlr_asset_selection\.",
)


def from_env(name: str, default: str | None) -> str | None:
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

quantconnect = QuantConnectResource(
    api_url=from_env("QC_API_URL", DEFAULT_API_URL),
    max_concurrency=int_from_env("QC_MAX_CONCURRENCY", DEFAULT_MAX_CONCURRENCY),
    # Dagster's EnvVar holds text and integers only: a rate such as 0.5 is read here.
    max_requests_per_second=float(
        os.environ.get("QC_MAX_REQUESTS_PER_SECOND", DEFAULT_MAX_REQUESTS_PER_SECOND)
    ),
    apply_tag_rules=os.environ.get("QC_APPLY_TAG_RULES", "").lower() in TRUE_WORDS,
)

defs = dg.Definitions(
    assets=dg.load_assets_from_package_module(assets),
    asset_checks=dg.load_asset_checks_from_package_module(assets),
    jobs=[sync_quantconnect, *WRITEBACK_JOBS],
    schedules=[daily_sync],
    sensors=[new_finished_backtests],
    resources={
        API_RESOURCE: quantconnect,
        "warehouse": WarehouseResource(
            database=from_env("WAREHOUSE_PATH", DEFAULT_WAREHOUSE_PATH),
            catalog=from_env("WAREHOUSE_CATALOG", None),
            data_path=from_env("WAREHOUSE_DATA_PATH", None),
        ),
    },
    # One process per run keeps a single DuckDB writer per run, and starts about 3 times faster.
    executor=dg.in_process_executor,
)


def needs_api(params: Mapping[str, object]) -> bool:
    """Whether the run that a headless command's parameters ask for (`--job`, or an asset
    selection: `--assets`, `--select`) uses the QuantConnect API; False when they name nothing
    that resolves, which Dagster then reports its own way."""
    job = params.get("job") or params.get("job_name")
    selection = params.get("assets") or params.get("select")
    try:
        if isinstance(job, str):
            return API_RESOURCE in defs.resolve_job_def(job).required_resource_keys
        if not isinstance(selection, str):
            return False
        keys = dg.AssetSelection.from_coercible(selection.split(",")).resolve(
            defs.resolve_asset_graph()
        )
        return any(API_RESOURCE in defs.resolve_assets_def(k).required_resource_keys for k in keys)
    except dg.DagsterError:
        return False


def prepare_headless_run() -> None:
    """When a headless command loads this location to execute a run in its own process: keep
    its console at INFO, and stop it with one line (`Error: no QuantConnect credentials: set
    QC_USER_ID and QC_API_TOKEN, ...`) before the run starts if the run needs the API and no
    credentials are found; anything else loading it (a code server, a test) is left alone."""
    command = click.get_current_context(silent=True)
    if command is None or command.command.name not in HEADLESS_RUN_COMMANDS:
        return
    # Without run config naming a logger, a run's console logger takes the instance's
    # python_logs.python_log_level, else DEBUG (dagster/_loggers/__init__.py,
    # default_system_loggers), so `Definitions(loggers=...)` never reaches it and a fresh
    # DAGSTER_HOME prints every event. The event log still records them all: Dagster hands
    # events to its storage whatever the level (dagster/_core/log_manager.py).
    logging.disable(logging.DEBUG)
    if needs_api(command.params):
        try:
            quantconnect.credentials()
        except CredentialsError as error:
            # Any failure inside a run prints Dagster's stack traces; before it, click prints
            # this exception as one line and exits 1.
            raise click.ClickException(str(error)) from None


prepare_headless_run()
