"""The analysis views asset."""

import dagster as dg

from assets.metadata import preview
from assets.names import GROUP, writer_pool
from pipelines.queries import REPO_ROOT, VIEWS_DIR
from pipelines.resources import WarehouseResource

# The view whose first rows the asset shows: one row per backtest.
PREVIEWED_VIEW = "backtest_summary"


@dg.asset(
    group_name=GROUP,
    kinds={"duckdb"},
    pool=writer_pool(),
    deps=[
        "orders",
        "order_events",
        "backtest_statistics",
        "closed_trades",
        "backtest_performance",
        "optimizations",
        "optimization_backtests",
        "optimization_backtest_statistics",
    ],
)
def analysis_views(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The SQL views over the research record, one per file of `sql/views/` (fills, order
    lifecycles, per-symbol and per-backtest summaries, slippage, trade summaries reconciled
    with LEAN's trade statistics, optimization results ranked), replaced on every run."""
    with warehouse.writer() as store:
        views = store.create_views()
        rows = store.view_row_counts()
        schemas = {view: store.column_types(view) for view in views}
        shown = preview(store, PREVIEWED_VIEW, title=PREVIEWED_VIEW)
    return dg.MaterializeResult(
        metadata={
            "views": ", ".join(views),
            "definitions": f"{VIEWS_DIR.relative_to(REPO_ROOT)}/",
            **{f"{view}_rows": rows[view] for view in views},
            **{
                f"{view}_columns": dg.TableSchema(
                    columns=[dg.TableColumn(name, kind) for name, kind in schemas[view]]
                )
                for view in views
            },
            "preview": shown,
        }
    )
