"""`qcw`: sync, query and inspect the warehouse from a terminal (also `python -m pipelines`).

The commands call the same core as the Dagster assets (`pipelines.sync`); errors are one clear
message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import duckdb
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from pipelines import warehouse
from pipelines.cli.options import (
    WAIT_OPTION,
    WAREHOUSE_OPTION,
    api_options,
    clear_errors,
    err,
    number,
)
from pipelines.cli.writeback import project, prune, tag
from pipelines.demo import main as run_demo
from pipelines.qc.client import ClientSettings, QuantConnectClient
from pipelines.qc.credentials import find_credentials
from pipelines.sandbox.__main__ import main as serve_sandbox
from pipelines.sync import sync_everything
from pipelines.sync.report import ProgressHook, SyncProgress, SyncReport

FORMATS = ("table", "csv", "json", "parquet")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """qcw: QuantConnect projects, backtests, statistics and orders in a DuckDB warehouse."""


@main.command()
@WAREHOUSE_OPTION
@api_options
def sync(warehouse_path: Path, settings: ClientSettings) -> None:
    """Sync everything new: projects, backtests, statistics, orders and events.

    Credentials come from QC_USER_ID and QC_API_TOKEN, else from the lean CLI's
    ~/.lean/credentials. Shows each step's progress, then what the warehouse holds.
    """
    with clear_errors():
        credentials = find_credentials()
        err.print(f"Credentials of user {credentials.user_id} from {credentials.source}")
        started = time.monotonic()
        reports: dict[str, SyncReport] = {}
        with (
            settings.client(credentials) as client,
            warehouse.open_writer(warehouse_path, on_wait=err.print) as store,
        ):
            try:
                with sync_progress() as on_progress:
                    reports = sync_everything(client, store, on_progress=on_progress)
            finally:  # a failed sync still shows what it loaded
                print_summary(store, client, time.monotonic() - started, reports)


@contextmanager
def sync_progress() -> Iterator[ProgressHook]:
    """Live progress bars, one per step as it starts: done / total, the rate (orders/s in the
    orders step, requests/s before it), elapsed time and ETA."""
    columns = (
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]:<15}"),
        TextColumn("{task.fields[rate]:>14}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=False) as progress:
        tasks: dict[str, tuple[TaskID, float]] = {}

        def on_progress(state: SyncProgress) -> None:
            if state.step not in tasks:
                labels = state.labels
                task = progress.add_task(labels.bar, total=state.total, unit=labels.unit, rate="")
                tasks[state.step] = (task, time.monotonic())
            task, started = tasks[state.step]
            rate = state.rate(time.monotonic() - started)
            progress.update(task, completed=state.done, rate=rate)

        yield on_progress


def print_summary(
    store: warehouse.Warehouse,
    client: QuantConnectClient,
    seconds: float,
    reports: dict[str, SyncReport],
) -> None:
    """Rows per table, requests per endpoint, and the sync's warnings."""
    rows = Table("table", number("rows"), title=f"Warehouse after {seconds:.1f} s")
    for table, count in store.row_counts().items():
        rows.add_row(table, f"{count:,}")
    requests = Table("endpoint", number("requests"), number("retries"), title="API requests")
    for endpoint, count in sorted(client.requests_made.items()):
        requests.add_row(endpoint, f"{count:,}", str(client.retries.get(endpoint, 0)))
    console = Console()
    console.print(rows, requests)
    for step, report in reports.items():
        for warning in report.warnings:
            err.print(f"[yellow]warning[/] {step}: {warning}")


@main.command()
@click.argument("query", required=False)
@click.option("-f", "--file", "file", type=click.File("r"), help="Read the query from a file.")
@click.option(
    "--format", "output_format", type=click.Choice(FORMATS), default="table", show_default=True
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file."
)
@click.option(
    "--max-rows",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Rows the table format shows (0: all); csv, json and parquet always get every row.",
)
@WAREHOUSE_OPTION
@WAIT_OPTION
def sql(
    query: str | None,
    file: Any,
    output_format: str,
    output: Path | None,
    max_rows: int,
    warehouse_path: Path,
    wait_seconds: float,
) -> None:
    """Run a read-only SQL query on the warehouse: `qcw sql "SELECT ..."` or `qcw sql -f q.sql`.

    Prints a table by default; --format csv, json or parquet, to stdout or -o FILE (parquet
    needs -o).
    """
    if (query is None) == (file is None):
        raise click.UsageError("give a QUERY or -f FILE, not both")
    text = query if query is not None else file.read()
    if output_format == "parquet" and output is None:
        raise click.UsageError("--format parquet needs -o FILE")
    with clear_errors(), open_read_only(warehouse_path, wait_seconds) as store:
        relation = store.conn.sql(text)
        if relation is None:
            raise click.ClickException("the statement returns no rows to show")
        if output_format == "table":
            write_table(relation, output, max_rows)
        else:
            write_result(relation, output_format, output)


@contextmanager
def open_read_only(path: Path, wait_seconds: float) -> Iterator[warehouse.DuckDBWarehouse]:
    """The warehouse, read-only, once no sync writes it (waiting up to `wait_seconds`)."""
    try:
        with warehouse.open_reader(path, wait_seconds, on_wait=err.print) as store:
            yield store
    except warehouse.NoWarehouseError:
        raise click.ClickException(f"no warehouse at {path}: run `qcw sync` first") from None


def write_table(relation: duckdb.DuckDBPyRelation, output: Path | None, max_rows: int) -> None:
    """Print a query's result as a table, its first `max_rows` rows (0: all), and say so."""
    names = relation.columns
    rows = (relation.limit(max_rows + 1) if max_rows else relation).fetchall()
    shown = rows[:max_rows] if max_rows else rows
    table = Table(*names)
    for row in shown:
        table.add_row(*("NULL" if v is None else str(v) for v in row))
    with click.open_file(str(output) if output else "-", "w") as stream:
        Console(file=stream).print(table)
        if len(rows) > len(shown):
            stream.write(
                f"the first {len(shown):,} rows; --max-rows 0 shows all, --format csv writes all\n"
            )
        else:
            stream.write(f"{len(rows):,} row{'' if len(rows) == 1 else 's'}\n")


def write_result(
    relation: duckdb.DuckDBPyRelation, output_format: str, output: Path | None
) -> None:
    """Write a query's result as CSV, a JSON array or Parquet."""
    if output_format == "parquet":
        assert output is not None
        relation.write_parquet(str(output))
        err.print(f"wrote {output}")
        return
    names, rows = relation.columns, relation.fetchall()
    with click.open_file(str(output) if output else "-", "w") as stream:
        if output_format == "csv":
            writer = csv.writer(stream)
            writer.writerow(names)
            writer.writerows(rows)
        else:
            records = [dict(zip(names, row, strict=True)) for row in rows]
            json.dump(records, stream, default=str, ensure_ascii=False, indent=2)
            stream.write("\n")


@main.command()
@WAREHOUSE_OPTION
@WAIT_OPTION
def status(warehouse_path: Path, wait_seconds: float) -> None:
    """What the warehouse holds: rows per table, backtests by status, the last sync runs."""
    with clear_errors(), open_read_only(warehouse_path, wait_seconds) as store:
        rows = store.row_counts()
        statuses = store.read("backtests_by_status")
        runs = store.last_sync_runs()
    console = Console()
    tables = Table("table", number("rows"), title=str(warehouse_path))
    for table, count in rows.items():
        tables.add_row(table, f"{count:,}")
    backtests = Table("status", number("backtests"), title="Backtests")
    for name, count in statuses:
        backtests.add_row(name, f"{count:,}")
    console.print(tables, backtests)
    if not runs:
        console.print("No sync has run yet.")
        return
    last = Table("step", "finished (UTC)", number("seconds"), "outcome", title="Last sync")
    for step, started, finished, outcome, detail in runs:
        shown = outcome if detail is None else f"{outcome}: {detail.splitlines()[0][:120]}"
        seconds = f"{(finished - started).total_seconds():.1f}"
        last.add_row(step, f"{finished:%Y-%m-%d %H:%M:%S}", seconds, shown)
    console.print(last)


@main.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def sandbox(arguments: tuple[str, ...]) -> None:
    """Serve the QuantConnect sandbox on 127.0.0.1 (`qcw sandbox --help` for its options:
    size, seed, faults, latency)."""
    serve_sandbox(list(arguments))


@main.command()
def demo() -> None:
    """What `make demo` runs: sync a sandbox account into the warehouse and summarise it."""
    sys.exit(run_demo())


for command in (tag, project, prune):
    main.add_command(command)

if __name__ == "__main__":
    main()
