"""The optimization tables, loaded together, and their checks."""

from collections.abc import Iterator

import dagster as dg

from assets.checks import unique_key_check, warehouse_check
from assets.metadata import run_step, table_metadata
from assets.names import GROUP, api_pool
from pipelines import plots
from pipelines.resources import QuantConnectResource, WarehouseResource
from pipelines.schema.optimizations import OPTIMIZATION_BACKTESTS, OPTIMIZATIONS, TABLES

_DESCRIPTIONS = {
    OPTIMIZATIONS.name: (
        "Every optimization (parameter sweep) of every project, from `optimizations/list` and "
        "`optimizations/read`: settings, target, status and progress."
    ),
}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            table.name,
            group_name=GROUP,
            kinds={"quantconnect", "duckdb"},
            deps=["projects"] if table.parent == "projects" else [table.parent],
            description=_DESCRIPTIONS.get(table.name, table.description),
            metadata=table_metadata(table),
        )
        for table in TABLES
    ],
    pool=api_pool(),
)
def optimizations(
    context: dg.AssetExecutionContext,
    quantconnect: QuantConnectResource,
    warehouse: WarehouseResource,
) -> Iterator[dg.MaterializeResult]:
    """Optimizations with their parameters, constraints, backtests and the backtests'
    statistics. One `optimizations/list` per project; `optimizations/read` only for those not
    yet loaded in a final state (Completed or Aborted). Each one's rows are replaced whole."""
    metadata = run_step("optimizations", context, warehouse, quantconnect)
    metadata[OPTIMIZATIONS.name] |= heatmap_picture(context, warehouse)
    for table in TABLES:
        yield dg.MaterializeResult(asset_key=table.name, metadata=metadata[table.name])


def heatmap_picture(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dict[str, object]:
    """The target statistic of the latest completed optimization that sweeps two parameters,
    over the first two (`qcw plot optimization`), as an image the asset's page shows and a file
    beside the warehouse; nothing while there is no such optimization."""
    path = plots.picture_path(warehouse.database, "optimization")
    with warehouse.writer() as store, store.holding() as conn:
        store.create_views()  # the picture reads optimization_results; cheap, current with the code
        try:
            drawn = plots.plot_optimization(conn, path, size=plots.UI_SIZE)
        except plots.NothingToPlotError as nothing:
            context.log.info(f"No optimization heatmap: {nothing}")
            return {}
    return {
        "target_heatmap": dg.MetadataValue.md(plots.markdown_image(path, "optimization heatmap")),
        "target_heatmap_path": dg.MetadataValue.path(str(path)),
        "target_heatmap_optimization_id": drawn.optimization_id,
    }


UNIQUE_KEY_CHECKS = [unique_key_check(table, f"unique_{table.name}_key") for table in TABLES]
backtests_match_runtime_counts = warehouse_check(
    OPTIMIZATION_BACKTESTS.name,
    "backtests_match_runtime_counts",
    "optimization_backtests_differing_from_runtime_statistics",
    "Each finished optimization holds as many backtests as its runtime statistics say ran "
    "(Completed + Failed).",
)
