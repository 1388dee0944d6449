"""The orders and order_events assets, loaded together, and their checks."""

from collections.abc import Iterator

import dagster as dg

from assets.checks import unique_key_check, warehouse_check
from assets.metadata import run_step, table_metadata
from assets.names import GROUP, api_pool
from pipelines.resources import QuantConnectResource, WarehouseResource
from pipelines.schema.orders import ORDER_EVENTS, ORDERS


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ORDERS.name,
            group_name=GROUP,
            kinds={"quantconnect", "duckdb"},
            deps=["backtest_statistics"],
            description=(
                "Every order of every finished backtest, from the paginated "
                "`backtests/orders/read`, with enums as names and times as UTC instants."
            ),
            metadata=table_metadata(ORDERS),
        ),
        dg.AssetSpec(
            ORDER_EVENTS.name,
            group_name=GROUP,
            kinds={"quantconnect", "duckdb"},
            deps=[ORDERS.name],
            description="Every event of every loaded order, flattened from the order's `events`.",
            metadata=table_metadata(ORDER_EVENTS),
        ),
    ],
    pool=api_pool(),
)
def orders_and_order_events(
    context: dg.AssetExecutionContext,
    quantconnect: QuantConnectResource,
    warehouse: WarehouseResource,
) -> Iterator[dg.MaterializeResult]:
    """Orders and their events, from one fetch: each backtest is replaced in one transaction.

    Only finished backtests with final statistics are fetched, and each only once; the count
    is checked against "Total Orders".
    """
    metadata = run_step("orders", context, warehouse, quantconnect)
    for table in (ORDERS, ORDER_EVENTS):
        yield dg.MaterializeResult(asset_key=table.name, metadata=metadata[table.name])


unique_order_key = unique_key_check(ORDERS, "unique_order_key")
unique_order_event_key = unique_key_check(ORDER_EVENTS, "unique_order_event_key")
every_event_has_its_order = warehouse_check(
    ORDER_EVENTS.name,
    "every_event_has_its_order",
    "order_events_without_order",
    "Every order event belongs to a loaded order.",
)
