"""What the assets show in the UI, and the one way an asset runs a sync step: row counts,
schemas, previews, what a step did and cost, and a step's failure as a Dagster failure."""

from __future__ import annotations

import json
from contextlib import nullcontext

import dagster as dg

from assets.partitions import projects_of_run
from pipelines.resources import QuantConnectResource, WarehouseResource
from pipelines.schema.columns import Table
from pipelines.sync import step_named
from pipelines.sync.report import ProgressLog, SyncError, SyncReport
from pipelines.warehouse import Warehouse

# How many rows and columns a preview shows, and how long a cell may be.
PREVIEW_ROWS, PREVIEW_COLUMNS, PREVIEW_CELL = 5, 8, 40


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
        short = text if len(text) <= PREVIEW_CELL else text[: PREVIEW_CELL - 1] + "…"
        return short.replace("|", "\\|")

    lines = [f"**{title}**", ""] if title else []
    lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return dg.MetadataValue.md("\n".join(lines))


def preview(store: Warehouse, relation: str, title: str | None = None) -> dg.MetadataValue:
    """The first rows of a table or view, as `markdown_preview` shows them."""
    return markdown_preview(*store.preview(relation, PREVIEW_COLUMNS, PREVIEW_ROWS), title=title)


def report_metadata(table: Table, report: SyncReport, store: Warehouse) -> dict[str, object]:
    """Run metadata: the row count, schema and a preview, plus what the sync did and cost."""
    metadata: dict[str, object] = {
        "dagster/row_count": report.row_counts[table.name],
        "dagster/column_schema": table_schema(table),
        "preview": preview(store, table.name),
        **report.counters,
        **{f"{name}_seconds": round(seconds, 2) for name, seconds in report.seconds.items()},
        "api_requests": sum(report.requests.values()),
        "api_requests_by_endpoint": dg.MetadataValue.json(report.requests),
        "api_retries": sum(report.retries.values()),
        **rate_metadata(report),
    }
    if report.warnings:
        metadata["warnings"] = dg.MetadataValue.md("\n".join(f"- {w}" for w in report.warnings))
    return metadata


def rate_metadata(report: SyncReport) -> dict[str, object]:
    """The adaptive rate's decisions in a step: the requests/s it made, the back-offs, and the
    rate (absent while no rate applies: no ceiling, and no back-off yet) and requests in
    flight allowed when it ended."""
    if report.rate is None:
        return {}
    metadata: dict[str, object] = {
        "api_requests_per_second": round(report.requests_per_second or 0.0, 2),
        "api_backoffs": report.backoffs,
        "api_concurrency": report.rate.concurrency,
    }
    if report.rate.requests_per_second is not None:
        metadata["api_rate_per_second"] = round(report.rate.requests_per_second, 2)
    return metadata


def step_failure(error: SyncError) -> dg.Failure:
    """A step's failed backtests as a Dagster failure, with what the step did before."""
    return dg.Failure(
        description=str(error),
        metadata={
            "failed_backtests": dg.MetadataValue.json(sorted(error.failures)),
            **error.report.counters,
            "api_requests": json.dumps(error.report.requests),
            **rate_metadata(error.report),
        },
    )


def run_step(
    name: str,
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    quantconnect: QuantConnectResource | None = None,
) -> dict[str, dict[str, object]]:
    """Run the sync step `name` (with an API client when `quantconnect` is given; for the
    run's projects, when its assets are partitioned), its progress in the run's log; the run
    metadata of each of its tables, by table name."""
    step = step_named(name)
    projects = projects_of_run(context) if step.per_project else None
    api = quantconnect.client() if quantconnect is not None else nullcontext()
    with api as client, warehouse.writer() as store:
        try:
            progress = ProgressLog(context.log, client=client)
            report = step.run(client, store, context.log, progress, projects=projects)
        except SyncError as error:
            raise step_failure(error) from None
        conflicts = {"commit_conflicts_retried": store.conflicts}
        return {
            table.name: report_metadata(table, report, store) | conflicts for table in step.tables
        }
