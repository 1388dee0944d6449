"""The backtests asset; the statistics, closed trades and performance of finished backtests
(one read each); and their checks."""

from collections.abc import Iterator

import dagster as dg

from assets.checks import unique_key_check, warehouse_check
from assets.metadata import run_step, table_metadata, table_schema
from assets.names import GROUP, api_pool
from pipelines import plots
from pipelines.resources import QuantConnectResource, WarehouseResource
from pipelines.schema.backtests import BACKTEST_STATISTICS, BACKTESTS
from pipelines.schema.performance import (
    BACKTEST_PERFORMANCE,
    BACKTEST_ROLLING_STATISTICS,
    CLOSED_TRADES,
)


@dg.asset(
    group_name=GROUP,
    kinds={"quantconnect", "duckdb"},
    pool=api_pool(),
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


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            BACKTEST_STATISTICS.name,
            group_name=GROUP,
            kinds={"quantconnect", "duckdb"},
            deps=[backtests],
            description=(
                "The statistics map of every finished backtest, from `backtests/read`, one row "
                'each: the formatted text ("$100,670.36") and its parsed value.'
            ),
            metadata=table_metadata(BACKTEST_STATISTICS),
        ),
        dg.AssetSpec(
            CLOSED_TRADES.name,
            group_name=GROUP,
            kinds={"quantconnect", "duckdb"},
            deps=[backtests],
            description=(
                "Every closed trade (round trip) of every finished backtest, with its P&L, MAE "
                "and MFE and its orders' ids, from the same `backtests/read` (or, when that "
                "list is short, the paginated `backtests/trades/read`)."
            ),
            metadata=table_metadata(CLOSED_TRADES),
        ),
        dg.AssetSpec(
            BACKTEST_PERFORMANCE.name,
            group_name=GROUP,
            kinds={"quantconnect", "duckdb"},
            deps=[backtests],
            description=(
                "LEAN's numeric trade and portfolio statistics of every finished backtest "
                "(fractions, not percent), and the same statistics over rolling 1, 3, 6 and "
                "12-month windows in `backtest_rolling_statistics`."
            ),
            metadata=table_metadata(BACKTEST_PERFORMANCE)
            | {"rolling_statistics_columns": table_schema(BACKTEST_ROLLING_STATISTICS)},
        ),
    ],
    pool=api_pool(),
)
def backtest_results(
    context: dg.AssetExecutionContext,
    quantconnect: QuantConnectResource,
    warehouse: WarehouseResource,
) -> Iterator[dg.MaterializeResult]:
    """What `backtests/read` says of each finished backtest, from one read: its statistics,
    closed trades and performance, replaced together in one transaction. A backtest is read
    once: when its results are final."""
    metadata = run_step("backtest_statistics", context, warehouse, quantconnect)
    rolling = metadata[BACKTEST_ROLLING_STATISTICS.name]
    metadata[BACKTEST_PERFORMANCE.name] |= {
        "rolling_statistics_rows": rolling["dagster/row_count"],
        "rolling_statistics_preview": rolling["preview"],
    }
    metadata[CLOSED_TRADES.name] |= equity_picture(context, warehouse)
    for table in (BACKTEST_STATISTICS, CLOSED_TRADES, BACKTEST_PERFORMANCE):
        yield dg.MaterializeResult(asset_key=table.name, metadata=metadata[table.name])


def equity_picture(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dict[str, object]:
    """The cumulative P&L of the top backtests by Sharpe ratio (`qcw plot equity`), as an
    image the asset's page shows and a file beside the warehouse; nothing before any backtest
    has closed trades."""
    path = plots.picture_path(warehouse.database, "equity")
    with warehouse.writer() as store, store.holding() as conn:
        try:
            equity = plots.plot_equity(conn, path, size=plots.UI_SIZE)
        except plots.NothingToPlotError as nothing:
            context.log.info(f"No equity picture: {nothing}")
            return {}
    return {
        "equity_curves": dg.MetadataValue.md(plots.markdown_image(path, "equity curves")),
        "equity_curves_path": dg.MetadataValue.path(str(path)),
        "equity_curves_backtests": dg.MetadataValue.json([c.backtest_id for c in equity.curves]),
    }


unique_backtest_id = unique_key_check(BACKTESTS, "unique_backtest_id")
unique_statistic_key = unique_key_check(BACKTEST_STATISTICS, "unique_statistic_key")
unique_trade_key = unique_key_check(CLOSED_TRADES, "unique_trade_key")
unique_performance_key = unique_key_check(BACKTEST_PERFORMANCE, "unique_performance_key")
unique_rolling_statistic_key = warehouse_check(
    BACKTEST_PERFORMANCE.name,
    "unique_rolling_statistic_key",
    "duplicate_keys",
    f"backtest_rolling_statistics: ({', '.join(BACKTEST_ROLLING_STATISTICS.key)}) is unique.",
    BACKTEST_ROLLING_STATISTICS,
)
trade_orders_exist = warehouse_check(
    CLOSED_TRADES.name,
    "trade_orders_exist",
    "trade_orders_missing",
    "Every order id of every closed trade is a loaded order of its backtest (backtests whose "
    "orders are completely loaded).",
)
trades_match_total_trades = warehouse_check(
    CLOSED_TRADES.name,
    "trades_match_total_trades",
    "trades_differing_from_total_trades",
    "Each backtest has as many closed trades as its trade statistics' totalNumberOfTrades.",
)
