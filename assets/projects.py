"""The projects asset and its check."""

import dagster as dg

from assets.checks import unique_key_check
from assets.metadata import run_step, table_metadata
from assets.names import GROUP, WRITER_POOL
from pipelines.resources import QuantConnectResource, WarehouseResource
from pipelines.schema.projects import PROJECTS


@dg.asset(
    group_name=GROUP,
    kinds={"quantconnect", "duckdb"},
    pool=WRITER_POOL,
    metadata=table_metadata(PROJECTS),
)
def projects(
    context: dg.AssetExecutionContext,
    quantconnect: QuantConnectResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Every QuantConnect project the user can see, from `projects/read`."""
    metadata = run_step("projects", context, warehouse, quantconnect)
    return dg.MaterializeResult(metadata=metadata["projects"])


unique_project_id = unique_key_check(PROJECTS, "unique_project_id")
