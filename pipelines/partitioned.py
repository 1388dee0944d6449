"""The scale-out code location: the same assets, with every per-project one (backtests, their
results, orders and events, optimizations) partitioned by project, so that many runs sync one
organization at once (`docs/scale-out.md`).

Load it instead of `pipelines.definitions`, never beside it (both define the same assets):
`dagster dev -m pipelines.partitioned`. Its daily schedule refreshes the projects, which
registers a partition per project; the sensor `project_partitions` then requests runs of
`sync_projects_partitioned`, `PARTITIONS_PER_RUN` projects each, which the run queue starts
as many at a time as its limits allow; a backfill from the UI batches the same way. The
headless `dagster asset materialize -m pipelines.definitions --select '*'` still syncs
everything in one run.
"""

from __future__ import annotations

import os

import dagster as dg

from assets.names import PARTITIONED_JOB, PROJECT_PARTITIONS
from assets.partitions import BY_PROJECT
from assets.writeback import WRITEBACK_JOBS
from pipelines import definitions as whole
from pipelines.sync import STEPS

# How many projects one run syncs: amortizes a run's start-up (2-3 s) over several projects
# while keeping runs short enough to spread over the workers.
PARTITIONS_PER_RUN = 5
PER_PROJECT_TABLES = frozenset(
    table.name for step in STEPS if step.per_project for table in step.tables
)
REFRESH_JOB = "refresh_projects"
# The tags of a run over a range of partitions, as a backfill's runs carry them.
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def by_project(assets_def: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """The assets partitioned by project if they are per-project tables; else as they are."""
    if not {key.to_user_string() for key in assets_def.keys} & PER_PROJECT_TABLES:
        return assets_def
    partitioned = assets_def.map_asset_specs(
        lambda spec: spec.replace_attributes(partitions_def=BY_PROJECT)
    )
    policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=PARTITIONS_PER_RUN)
    return partitioned.with_attributes(backfill_policy=policy)


ASSETS = [by_project(assets_def) for assets_def in whole.defs.assets or []]
sync_projects_partitioned = dg.define_asset_job(
    PARTITIONED_JOB,
    selection=dg.AssetSelection.assets(
        *(key for a in ASSETS if a.partitions_def for key in a.keys)
    ),
    description="Sync the backtests, results, orders and optimizations of some projects.",
)
refresh_projects = dg.define_asset_job(
    REFRESH_JOB,
    selection=dg.AssetSelection.assets("projects", "symbol_properties"),
    description="Refresh the projects (a partition each) and the symbol properties.",
)
daily_refresh = dg.ScheduleDefinition(
    name="daily_refresh",
    job=refresh_projects,
    cron_schedule=os.environ.get("QC_SYNC_CRON", whole.DEFAULT_SYNC_CRON),
    execution_timezone="UTC",
    description="Refreshes the projects every day (cron in QC_SYNC_CRON, UTC).",
)


@dg.asset_sensor(
    asset_key=dg.AssetKey("projects"),
    job=sync_projects_partitioned,
    name="project_partitions",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def project_partitions(
    context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry
) -> list[dg.RunRequest]:
    """Once the projects are refreshed: runs of every project's partition, a few per run."""
    keys = context.instance.get_dynamic_partitions(PROJECT_PARTITIONS)
    return batched_runs(keys, run_key=str(asset_event.storage_id))


def batched_runs(keys: list[str], run_key: str) -> list[dg.RunRequest]:
    """Runs over ranges of `PARTITIONS_PER_RUN` consecutive partitions, as a backfill's are."""
    batches = [keys[i : i + PARTITIONS_PER_RUN] for i in range(0, len(keys), PARTITIONS_PER_RUN)]
    return [
        dg.RunRequest(
            run_key=f"{run_key}:{batch[0]}", tags={RANGE_START: batch[0], RANGE_END: batch[-1]}
        )
        for batch in batches
    ]


defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=whole.defs.asset_checks,
    jobs=[refresh_projects, sync_projects_partitioned, *WRITEBACK_JOBS],
    schedules=[daily_refresh],
    sensors=[project_partitions],
    resources=whole.defs.resources,
    executor=dg.in_process_executor,
)
