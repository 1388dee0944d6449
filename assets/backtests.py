"""The backtests and backtest_statistics assets and their checks."""

import dagster as dg

from assets.checks import unique_key_check
from assets.metadata import run_step, table_metadata
from assets.names import GROUP, WRITER_POOL
from pipelines.resources import QuantConnectResource, WarehouseResource
from pipelines.schema.backtests import BACKTEST_STATISTICS, BACKTESTS


@dg.asset(
    group_name=GROUP,
    kinds={"quantconnect", "duckdb"},
    pool=WRITER_POOL,
    deps=["projects"],
    metadata=table_metadata(BACKTESTS),
)
def backtests(
    context: dg.AssetExecutionContext,
    quantconnect: QuantConnectResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Every backtest of every project, from `backtests/list`, running ones included.

    A running backtest is listed with its status and progress; its statistics and orders wait
    until it has finished.
    """
    metadata = run_step("backtests", context, warehouse, quantconnect)
    return dg.MaterializeResult(metadata=metadata["backtests"])


@dg.asset(
    group_name=GROUP,
    kinds={"quantconnect", "duckdb"},
    pool=WRITER_POOL,
    deps=[backtests],
    metadata=table_metadata(BACKTEST_STATISTICS),
)
def backtest_statistics(
    context: dg.AssetExecutionContext,
    quantconnect: QuantConnectResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """The statistics map of every finished backtest, from `backtests/read`, one row each.

    Keeps the formatted text ("$100,670.36") and its parsed value. A backtest is read once:
    when its statistics are final.
    """
    metadata = run_step("backtest_statistics", context, warehouse, quantconnect)
    return dg.MaterializeResult(metadata=metadata["backtest_statistics"])


unique_backtest_id = unique_key_check(BACKTESTS, "unique_backtest_id")
unique_statistic_key = unique_key_check(BACKTEST_STATISTICS, "unique_statistic_key")
