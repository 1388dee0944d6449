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
from typing import IO, TYPE_CHECKING, Any

import click
import duckdb
from rich.console import Console
from rich.table import Table

from pipelines import warehouse
from pipelines.cli import render
from pipelines.cli.lazy import LazyGroup
from pipelines.cli.options import (
    WAIT_OPTION,
    api_options,
    clear_errors,
    err,
    number,
    warehouse_options,
)

if TYPE_CHECKING:
    from pipelines.qc.client import ClientSettings, QuantConnectClient
    from pipelines.sync.report import ProgressHook, SyncProgress, SyncReport

FORMATS = ("table", "csv", "json", "parquet")


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    lazy_subcommands={
        "tag": "pipelines.cli.writeback.tag",
        "project": "pipelines.cli.writeback.project",
        "prune": "pipelines.cli.writeback.prune",
        "plot": "pipelines.cli.plot.plot",
        "sandbox": "pipelines.sandbox.__main__.main",  # `python -m pipelines.sandbox`, the same
    },
)
@click.version_option(package_name="quantconnect-warehouse", prog_name="qcw")
def main() -> None:
    """qcw: QuantConnect projects, backtests, statistics and orders in a DuckDB warehouse."""


@main.command()
@warehouse_options
@api_options
def sync(target: warehouse.Target, settings: ClientSettings) -> None:
    """Sync everything new: projects, backtests, statistics, orders and events.

    Credentials come from QC_USER_ID and QC_API_TOKEN, else from the lean CLI's
    ~/.lean/credentials. Shows each step's progress, then what the warehouse holds; a failed
    sync shows only its error.
    """
    from pipelines.qc.credentials import find_credentials
    from pipelines.sync import sync_everything

    with clear_errors():
        credentials = find_credentials()
        err.print(f"Credentials of user {credentials.user_id} from {credentials.source}")
        started = time.monotonic()
        reports: dict[str, SyncReport] = {}
        with (
            settings.client(credentials) as client,
            warehouse.open_writer(target, on_wait=err.print) as store,
        ):
            with sync_progress() as on_progress:
                reports = sync_everything(client, store, on_progress=on_progress)
            print_summary(store, client, time.monotonic() - started, reports)


@contextmanager
def sync_progress() -> Iterator[ProgressHook]:
    """Live progress bars, one per step as it starts: done / total, the rate (orders/s in the
    orders step, requests/s before it), elapsed time and ETA."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

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
    progress = Progress(*columns, console=err, transient=False)
    tasks: dict[str, tuple[TaskID, float]] = {}

    def on_progress(state: SyncProgress) -> None:
        if not tasks:  # started with the first step: a sync that fails first shows no bars
            progress.start()
        if state.step not in tasks:
            labels = state.labels
            task = progress.add_task(labels.bar, total=state.total, unit=labels.unit, rate="")
            tasks[state.step] = (task, time.monotonic())
        task, started = tasks[state.step]
        rate = state.rate(time.monotonic() - started)
        progress.update(task, completed=state.done, rate=rate)

    try:
        yield on_progress
    finally:
        if tasks:  # rich's stop prints an empty line even when nothing was shown
            progress.stop()


def print_summary(
    store: warehouse.Warehouse,
    client: QuantConnectClient,
    seconds: float,
    reports: dict[str, SyncReport],
) -> None:
    """Rows per table, requests per endpoint with the adaptive rate at the end, and the sync's
    warnings."""
    rows = Table("table", number("rows"), title=f"Warehouse after {seconds:.1f} s")
    for table, count in store.row_counts().items():
        rows.add_row(table, f"{count:,}")
    requests = Table(
        "endpoint",
        number("requests"),
        number("retries"),
        title="API requests",
    )
    for endpoint, count in sorted(client.requests_made.items()):
        requests.add_row(endpoint, f"{count:,}", str(client.retries.get(endpoint, 0)))
    console = Console()
    console.print(rows, requests)
    console.print(f"At the end: {client.rate_state().describe()}", highlight=False)
    for step, report in reports.items():
        for warning in report.warnings:
            err.print(f"[yellow]warning[/] {step}: {warning}")


@main.command()
@click.argument("query", required=False)
@click.option("-f", "--file", "file", type=click.File("r"), help="Read the query from a file.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    help="The output format; without it, -o FILE's extension picks it (.csv, .json, .parquet; "
    "any other: table).",
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
@warehouse_options
@WAIT_OPTION
@click.option(
    "--as-of",
    metavar="SNAPSHOT_OR_TIMESTAMP",
    help=(
        "Query a DuckLake as it was at an earlier snapshot: its id (qcw status lists them) or "
        "a timestamp such as '2026-12-01 06:00:00+00'."
    ),
)
def sql(
    query: str | None,
    file: Any,
    output_format: str | None,
    output: Path | None,
    max_rows: int,
    target: warehouse.Target,
    wait_seconds: float,
    as_of: str | None,
) -> None:
    """Run a read-only SQL query on the warehouse: `qcw sql "SELECT ..."` or `qcw sql -f q.sql`.

    Prints a table that fits the terminal, or one block per row when its columns do not fit;
    no number or header is ever cut. --format csv, json or parquet, to stdout or -o FILE
    (parquet needs -o); -o FILE alone picks the format from the file's extension.
    """
    if query is not None and file is not None:
        raise click.UsageError("give a QUERY or -f FILE, not both")
    if query is None and file is None:
        raise click.UsageError("give a QUERY or -f FILE")
    text = query if query is not None else file.read()
    if not text.strip():
        raise click.UsageError("the query is empty" if file is None else f"{file.name} is empty")
    output_format = output_format or format_of(output)
    if output_format == "parquet" and output is None:
        raise click.UsageError("--format parquet needs -o FILE")
    if output is not None and not output.parent.is_dir():
        raise click.ClickException(f"cannot write {output}: there is no folder {output.parent}")
    with clear_errors(), reading(target, wait_seconds, as_of) as conn:
        relation = conn.sql(text)
        if relation is None:
            raise click.ClickException("the statement returns no rows to show")
        if output_format == "table":
            write_table(relation, output, max_rows)
        else:
            write_result(relation, output_format, output)


def format_of(output: Path | None) -> str:
    """The format an output file's extension names; a table for any other."""
    suffix = output.suffix.lower().lstrip(".") if output is not None else ""
    return suffix if suffix in FORMATS else "table"


@contextmanager
def reading(
    target: warehouse.Target, wait_seconds: float, as_of: str | None = None
) -> Iterator[warehouse.Connection]:
    """A read-only connection to the warehouse (a file once no sync writes it, waiting up to
    `wait_seconds`; a lake at once, as of snapshot `as_of`); a plain connection, so `qcw sql`
    starts without the sync's modules."""
    try:
        conn = warehouse.connect_reader(target, wait_seconds, err.print, as_of)
    except warehouse.NoWarehouseError as error:
        raise click.ClickException(f"{error}: run `qcw sync` first") from None
    with conn:
        yield conn


@contextmanager
def open_read_only(
    target: warehouse.Target, wait_seconds: float
) -> Iterator[warehouse.DuckDBWarehouse]:
    """The warehouse, read-only, once no sync writes it (waiting up to `wait_seconds`)."""
    try:
        with warehouse.open_reader(target, wait_seconds, on_wait=err.print) as store:
            yield store
    except warehouse.NoWarehouseError as error:
        raise click.ClickException(f"{error}: run `qcw sync` first") from None


@contextmanager
def open_output(output: Path | None, newline: str | None = None) -> Iterator[IO[str]]:
    """Standard output, or the file `output` (UTF-8); a file that cannot be written is one
    error message."""
    if output is None:
        yield sys.stdout
        return
    try:
        with output.open("w", encoding="utf-8", newline=newline) as stream:
            yield stream
    except OSError as error:
        raise click.ClickException(f"cannot write {output}: {error.strerror or error}") from None


def rows_text(count: int) -> str:
    """`1 row`, `1,234 rows`."""
    return f"{count:,} row{'' if count == 1 else 's'}"


def write_table(relation: duckdb.DuckDBPyRelation, output: Path | None, max_rows: int) -> None:
    """Print a query's result as a table, its first `max_rows` rows (0: all), and say so."""
    result = render.fetch(relation, max_rows)
    shown = result.count
    with open_output(output) as stream:
        width = None if output is not None else render.terminal_width(stream)
        render.write_lines(render.render(result, width), stream)
        if result.more:
            stream.write(
                f"the first {shown:,} rows; --max-rows 0 shows all, --format csv writes all\n"
            )
        else:
            stream.write(rows_text(shown) + "\n")
    if output is not None:
        more = "the first " if result.more else ""
        hint = "; --max-rows 0 writes all" if result.more else ""
        click.echo(f"wrote {more}{rows_text(shown)} to {output}{hint}", err=True)


def write_result(
    relation: duckdb.DuckDBPyRelation, output_format: str, output: Path | None
) -> None:
    """Write a query's result as CSV, a JSON array or Parquet; to a file, say what it wrote."""
    if output_format == "parquet":
        assert output is not None
        relation.write_parquet(str(output))
        with duckdb.connect() as conn:  # the file's own row count, from its metadata
            query = "SELECT count(*) FROM read_parquet(?)"
            written = conn.execute(query, [str(output)]).fetchall()[0][0]
    else:
        names, rows = relation.columns, relation.fetchall()
        with open_output(output, newline="") as stream:
            if output_format == "csv":
                writer = csv.writer(stream, lineterminator="\n")
                writer.writerow(names)
                writer.writerows(rows)
            else:
                records = [dict(zip(names, row, strict=True)) for row in rows]
                json.dump(records, stream, default=str, ensure_ascii=False, indent=2)
                stream.write("\n")
        written = len(rows)
    if output is not None:
        click.echo(f"wrote {rows_text(written)} to {output}", err=True)


@main.command()
@warehouse_options
@WAIT_OPTION
def status(target: warehouse.Target, wait_seconds: float) -> None:
    """What the warehouse holds: rows per table, backtests by status, the last sync runs."""
    with clear_errors(), open_read_only(target, wait_seconds) as store:
        rows = store.row_counts()
        statuses = store.read("backtests_by_status")
        runs = store.last_sync_runs()
        snapshots = store.snapshots()
    console = Console()
    tables = Table("table", number("rows"), title=str(target))
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
    if snapshots:
        console.print(snapshot_table(snapshots))


def snapshot_table(snapshots: list[tuple[Any, ...]]) -> Table:
    """A lake's recent snapshots: what `qcw sql --as-of` can query."""
    shown = Table(
        number("snapshot"), "committed (UTC)", "by", "wrote", title="Recent snapshots (--as-of)"
    )
    for snapshot_id, committed, author, message in snapshots:
        shown.add_row(
            str(snapshot_id), f"{committed:%Y-%m-%d %H:%M:%S}", author or "", message or ""
        )
    return shown


@main.command()
def demo() -> None:
    """What `make demo` runs: sync a sandbox account into the warehouse and summarise it."""
    from pipelines.demo import main as run_demo

    sys.exit(run_demo())


if __name__ == "__main__":
    main()
