"""The QuantConnect assets: each wires the resources to one step of `pipelines.sync`."""

import json
from collections.abc import Iterator

import dagster as dg

from pipelines.resources import QuantConnectResource, WarehouseResource
from pipelines.schema import BACKTEST_STATISTICS, BACKTESTS, ORDER_EVENTS, ORDERS, PROJECTS, Table
from pipelines.sync import (
    ProgressLog,
    SyncError,
    SyncReport,
    sync_backtest_statistics,
    sync_backtests,
    sync_orders,
    sync_projects,
)
from pipelines.warehouse import (
    Connection,
    column_types,
    create_views,
    preview_rows,
    view_row_counts,
)

GROUP = "quantconnect"
# DuckDB allows one writing process per file: every writer takes a slot in this pool.
WRITER_POOL = "duckdb_writer"
# The view whose first rows the analysis_views asset shows: one row per backtest.
PREVIEWED_VIEW = "backtest_summary"


def table_schema(table: Table) -> dg.TableSchema:
    """The Dagster column schema of a warehouse table."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(c.name, c.sql_type, description=c.description) for c in table.columns
        ]
    )


def table_metadata(table: Table) -> dict[str, object]:
    """Definition-time metadata of the asset that owns `table`."""
    return {
        "dagster/column_schema": table_schema(table),
        "dagster/table_name": f"main.{table.name}",
        "unique_key": ", ".join(table.key),
    }


def markdown_preview(
    columns: list[str], rows: list[tuple], title: str | None = None
) -> dg.MetadataValue:
    """A few rows as a markdown table, for the asset's page in the UI (under `title`)."""

    def cell(value: object) -> str:
        text = "" if value is None else str(value)
        return (text if len(text) <= 40 else text[:39] + "…").replace("|", "\\|")

    lines = [f"**{title}**", ""] if title else []
    lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return dg.MetadataValue.md("\n".join(lines))


def report_metadata(table: Table, report: SyncReport, conn: Connection) -> dict[str, object]:
    """Run metadata: the row count, schema and a preview, plus what the sync did and cost."""
    metadata: dict[str, object] = {
        "dagster/row_count": report.row_counts[table.name],
        "dagster/column_schema": table_schema(table),
        "preview": markdown_preview(*preview_rows(conn, table.name)),
        **report.counters,
        **{f"{name}_seconds": round(seconds, 2) for name, seconds in report.seconds.items()},
        "api_requests": sum(report.requests.values()),
        "api_requests_by_endpoint": dg.MetadataValue.json(report.requests),
        "api_retries": sum(report.retries.values()),
    }
    if report.warnings:
        metadata["warnings"] = dg.MetadataValue.md("\n".join(f"- {w}" for w in report.warnings))
    return metadata


def _failure(error: SyncError) -> dg.Failure:
    return dg.Failure(
        description=str(error),
        metadata={
            "failed_backtests": dg.MetadataValue.json(sorted(error.failures)),
            **{k: v for k, v in error.report.counters.items()},
            "api_requests": json.dumps(error.report.requests),
        },
    )


@dg.asset(
    group_name=GROUP,
    kinds={"quantconnect", "duckdb"},
    pool=WRITER_POOL,
    metadata=table_metadata(PROJECTS),
)
def projects(
    quantconnect: QuantConnectResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Every QuantConnect project the user can see, from `projects/read`."""
    with quantconnect.client() as client, warehouse.get_connection() as conn:
        report = sync_projects(client, conn)
        metadata = report_metadata(PROJECTS, report, conn)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    group_name=GROUP,
    kinds={"quantconnect", "duckdb"},
    pool=WRITER_POOL,
    deps=[projects],
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
    with quantconnect.client() as client, warehouse.get_connection() as conn:
        report = sync_backtests(client, conn, context.log, ProgressLog(context.log))
        metadata = report_metadata(BACKTESTS, report, conn)
    return dg.MaterializeResult(metadata=metadata)


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
    with quantconnect.client() as client, warehouse.get_connection() as conn:
        try:
            report = sync_backtest_statistics(client, conn, context.log, ProgressLog(context.log))
        except SyncError as error:
            raise _failure(error) from None
        metadata = report_metadata(BACKTEST_STATISTICS, report, conn)
    return dg.MaterializeResult(metadata=metadata)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "orders",
            group_name=GROUP,
            kinds={"quantconnect", "duckdb"},
            deps=[backtest_statistics],
            description=(
                "Every order of every finished backtest, from the paginated "
                "`backtests/orders/read`, with enums as names and times as UTC instants."
            ),
            metadata=table_metadata(ORDERS),
        ),
        dg.AssetSpec(
            "order_events",
            group_name=GROUP,
            kinds={"quantconnect", "duckdb"},
            deps=["orders"],
            description="Every event of every loaded order, flattened from the order's `events`.",
            metadata=table_metadata(ORDER_EVENTS),
        ),
    ],
    pool=WRITER_POOL,
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
    with quantconnect.client() as client, warehouse.get_connection() as conn:
        try:
            report = sync_orders(client, conn, context.log, on_progress=ProgressLog(context.log))
        except SyncError as error:
            raise _failure(error) from None
        orders, events = (report_metadata(t, report, conn) for t in (ORDERS, ORDER_EVENTS))
    yield dg.MaterializeResult(asset_key="orders", metadata=orders)
    yield dg.MaterializeResult(asset_key="order_events", metadata=events)


@dg.asset(
    group_name=GROUP,
    kinds={"duckdb"},
    pool=WRITER_POOL,
    deps=[dg.AssetKey("orders"), dg.AssetKey("order_events"), backtest_statistics],
)
def analysis_views(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The SQL views over the order history, from `sql/views/`: `fills`, `order_lifecycle`,
    `symbol_summary`, `backtest_summary` and `slippage`, replaced on every run."""
    with warehouse.get_connection() as conn:
        views = create_views(conn)
        rows = view_row_counts(conn)
        schemas = {view: column_types(conn, view) for view in views}
        preview = markdown_preview(*preview_rows(conn, PREVIEWED_VIEW), title=PREVIEWED_VIEW)
    return dg.MaterializeResult(
        metadata={
            "views": ", ".join(views),
            "definitions": "sql/views/",
            **{f"{view}_rows": rows[view] for view in views},
            **{
                f"{view}_columns": dg.TableSchema(
                    columns=[dg.TableColumn(name, kind) for name, kind in schemas[view]]
                )
                for view in views
            },
            "preview": preview,
        }
    )
