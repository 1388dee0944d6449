"""The projects asset and its check."""

import dagster as dg

from assets.checks import unique_key_check
from assets.metadata import run_step, table_metadata
from assets.names import GROUP, api_pool
from assets.partitions import register_projects
from pipelines.resources import QuantConnectResource, WarehouseResource
from pipelines.schema.projects import PROJECTS


@dg.asset(
    group_name=GROUP,
    kinds={"quantconnect", "duckdb"},
    pool=api_pool(),
    metadata=table_metadata(PROJECTS),
)
def projects(
    context: dg.AssetExecutionContext,
    quantconnect: QuantConnectResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Every QuantConnect project the user can see, from `projects/read`; each has a
    partition of the per-project assets (`qc_projects`), registered here."""
    metadata = run_step("projects", context, warehouse, quantconnect)
    with warehouse.writer() as store:
        added = register_projects(context, store)
    return dg.MaterializeResult(metadata=metadata["projects"] | {"partitions_added": added})


unique_project_id = unique_key_check(PROJECTS, "unique_project_id")
