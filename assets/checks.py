"""Asset checks over the warehouse: unique keys, events with orders, orders vs "Total Orders"."""

import dagster as dg

from pipelines.resources import WarehouseResource
from pipelines.warehouse import run_check

WRITER_POOL = "duckdb_writer"


def _check(asset: str, name: str, query: str, description: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset, name=name, description=description, pool=WRITER_POOL)
    def check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.get_connection() as conn:
            row = run_check(conn, query)
        failures = int(row.pop("failures"))
        metadata = {"failures": failures, **{k: dg.MetadataValue.json(v) for k, v in row.items()}}
        return dg.AssetCheckResult(passed=failures == 0, metadata=metadata)

    return check


ASSET_CHECKS = [
    _check("projects", "unique_project_id", "duplicate_project_keys", "project_id is unique."),
    _check("backtests", "unique_backtest_id", "duplicate_backtest_keys", "backtest_id is unique."),
    _check(
        "backtest_statistics",
        "unique_statistic_key",
        "duplicate_statistic_keys",
        "(backtest_id, statistic) is unique.",
    ),
    _check(
        "orders", "unique_order_key", "duplicate_order_keys", "(backtest_id, order_id) is unique."
    ),
    _check(
        "order_events",
        "unique_order_event_key",
        "duplicate_order_event_keys",
        "(backtest_id, order_id, order_event_id) is unique.",
    ),
    _check(
        "order_events",
        "every_event_has_its_order",
        "order_events_without_order",
        "Every order event belongs to a loaded order.",
    ),
    _check(
        "orders",
        "orders_match_total_orders",
        "orders_differing_from_total_orders",
        'Each loaded backtest has as many orders as its "Total Orders" statistic says.',
    ),
]
