"""The sync: API → Arrow → warehouse, one function per table group, with no Dagster import.

The Dagster assets and any other front end call these functions and report what they return.
Fetches run on a bounded thread pool; every warehouse write happens on the calling thread, so
DuckDB always has a single writer.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from pipelines import warehouse
from pipelines.download import download_orders, in_background
from pipelines.flatten import (
    NO_EVENTS_KEY,
    NOT_UNDERSTOOD,
    RENAMED,
    UNKNOWN_ENUM,
    UNKNOWN_FIELDS,
    Notes,
    backtests_to_arrow,
    projects_to_arrow,
    statistics_to_arrow,
)
from pipelines.loading import OrdersLoader
from pipelines.quantconnect import QuantConnectAuthError, QuantConnectClient
from pipelines.schema import BACKTESTS, is_backtest_finished

_log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class SyncReport:
    """What one sync step did: rows now in its tables, counters, requests and warnings."""

    row_counts: dict[str, int] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # where the step's time went
    requests: dict[str, int] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SyncProgress:
    """How far a step is: `done` of `total` (projects listed in the backtests step, backtests
    read or loaded in the statistics and orders steps) and, there, the orders fetched."""

    step: str
    done: int
    total: int
    orders_fetched: int = 0


ProgressHook = Callable[[SyncProgress], None]
# What a step's `done` and `total` count.
PROGRESS_UNITS = {
    "backtests": "projects listed",
    "backtest_statistics": "backtests read",
    "orders": "backtests",
}


def progress_rate(state: SyncProgress, seconds: float) -> str:
    """How fast a step goes: orders/s in the orders step, requests/s before it."""
    seconds = max(seconds, 1e-9)
    if state.step == "orders":
        return f"{state.orders_fetched / seconds:,.0f} orders/s"
    return f"{state.done / seconds:,.1f} requests/s"


class ProgressLog:
    """A progress hook for logs, where no bar can be drawn (a Dagster run's): each step's
    progress at most every `every_seconds`, and once the step is done."""

    def __init__(self, log: logging.Logger, every_seconds: float = 5.0) -> None:
        self.log, self.every_seconds = log, every_seconds
        self._started: dict[str, float] = {}
        self._logged: dict[str, float] = {}

    def __call__(self, state: SyncProgress) -> None:
        now = time.monotonic()
        started = self._started.setdefault(state.step, now)
        done = state.done == state.total
        if not done and now - self._logged.get(state.step, started) < self.every_seconds:
            return
        self._logged[state.step] = now
        orders = f", {state.orders_fetched:,} orders" if state.step == "orders" else ""
        self.log.info(
            "%s: %d/%d %s%s, %s",
            state.step,
            state.done,
            state.total,
            PROGRESS_UNITS[state.step],
            orders,
            progress_rate(state, now - started),
        )


def _tell(
    on_progress: ProgressHook | None, step: str, done: int, total: int, orders_fetched: int = 0
) -> None:
    if on_progress is not None:
        on_progress(SyncProgress(step, done, total, orders_fetched))


class SyncError(Exception):
    """Some backtests could not be synced; every other one was loaded."""

    def __init__(self, step: str, failures: Mapping[str, Exception], report: SyncReport) -> None:
        self.failures = dict(failures)
        self.report = report
        lines = [f"  backtest {bid}: {error}" for bid, error in sorted(self.failures.items())]
        super().__init__(
            f"{step}: {len(self.failures)} backtest(s) failed; every other one was loaded.\n"
            + "\n".join(lines)
        )


@dataclass
class _RequestMeter:
    """Counts the client's requests and retries made since it was created."""

    client: QuantConnectClient
    requests_before: Counter[str] = field(init=False)
    retries_before: Counter[str] = field(init=False)

    def __post_init__(self) -> None:
        self.requests_before = Counter(self.client.requests_made)
        self.retries_before = Counter(self.client.retries)

    def fill(self, report: SyncReport) -> None:
        report.requests = dict(Counter(self.client.requests_made) - self.requests_before)
        report.retries = dict(Counter(self.client.retries) - self.retries_before)


def _concurrently(
    work: Callable[[T], R], items: Iterable[T], max_workers: int
) -> Iterator[tuple[T, R | None, Exception | None]]:
    """Run `work` over `items` on a bounded pool, yielding (item, result, error) as each ends.

    At most `2 * max_workers` items are in flight, so finished results never pile up. An auth
    error stops everything at once: every other request would fail the same way.
    """
    pending: dict[Future[R], T] = {}
    items = iter(items)
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="qc-fetch") as pool:
        try:
            while True:
                for item in items:
                    pending[pool.submit(work, item)] = item
                    if len(pending) >= 2 * max_workers:
                        break
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    item = pending.pop(future)
                    error = future.exception()
                    if isinstance(error, QuantConnectAuthError):
                        raise error
                    if error is not None and not isinstance(error, Exception):
                        raise error
                    yield item, (None if error else future.result()), error
        finally:
            for future in pending:
                future.cancel()


Step = TypeVar("Step", bound=Callable[..., SyncReport])


def recorded(step: str) -> Callable[[Step], Step]:
    """Record each run of a sync step in `sync_runs`, with its outcome (`qcw status`)."""

    def decorate(function: Step) -> Step:
        @functools.wraps(function)
        def run(
            client: QuantConnectClient, conn: warehouse.Connection, *args: Any, **kwargs: Any
        ) -> SyncReport:
            started = datetime.now(UTC)
            try:
                report = function(client, conn, *args, **kwargs)
            except Exception as error:
                with contextlib.suppress(duckdb.Error):  # never hide the error itself
                    warehouse.record_sync_run(conn, step, started, "failed", str(error))
                raise
            warehouse.record_sync_run(conn, step, started, "succeeded")
            return report

        return run  # type: ignore[return-value]

    return decorate


_NOTES = {
    NOT_UNDERSTOOD: "values the column's type cannot hold: NULL there, kept as sent in `extra`",
    UNKNOWN_ENUM: "enum values nobody knows, kept as their raw code or name",
    RENAMED: "keys in a legacy spelling, read under today's name",
    UNKNOWN_FIELDS: "rows with fields the schema does not know, kept in their `extra` column",
    NO_EVENTS_KEY: "orders without an `events` key, loaded with no events",
}


def report_notes(report: SyncReport, notes: Notes) -> None:
    """Count what flattening worked around, by kind, and say where in the warnings."""
    for kind in _NOTES:
        report.counters[kind] = sum(n for (k, _), n in notes.items() if k == kind)
    report.warnings.extend(f"{where}: {n} {_NOTES[kind]}" for (kind, where), n in notes.items())


@recorded("projects")
def sync_projects(client: QuantConnectClient, conn: warehouse.Connection) -> SyncReport:
    """Load every project the user can see into `projects`."""
    meter, report, notes = _RequestMeter(client), SyncReport(), Notes()
    projects = client.read_projects()
    warehouse.upsert_projects(conn, projects_to_arrow(projects, notes))
    meter.fill(report)
    report_notes(report, notes)
    report.counters["projects_fetched"] = len(projects)
    report.row_counts["projects"] = warehouse.table_row_counts(conn)["projects"]
    return report


@recorded("backtests")
def sync_backtests(
    client: QuantConnectClient,
    conn: warehouse.Connection,
    log: logging.Logger = _log,
    on_progress: ProgressHook | None = None,
) -> SyncReport:
    """Load every backtest of every known project into `backtests`, running ones included;
    `on_progress` hears of each project listed."""
    meter, report, notes = _RequestMeter(client), SyncReport(), Notes()
    project_ids = warehouse.project_ids(conn)
    tables = []
    _tell(on_progress, "backtests", 0, len(project_ids))
    for project_id, backtests, error in _concurrently(
        client.list_backtests, project_ids, client.max_concurrency
    ):
        if error is not None:
            raise error
        tables.append(backtests_to_arrow(project_id, backtests or [], notes))
        _tell(on_progress, "backtests", len(tables), len(project_ids))
    table = pa.concat_tables(tables) if tables else BACKTESTS.arrow_schema.empty_table()
    warehouse.upsert_backtests(conn, table)
    meter.fill(report)
    report_notes(report, notes)
    finished = sum(bool(value) for value in table.column("completed").to_pylist())
    report.counters.update(
        projects=len(project_ids),
        backtests_listed=table.num_rows,
        backtests_finished=finished,
        backtests_running=table.num_rows - finished,
    )
    report.row_counts["backtests"] = warehouse.table_row_counts(conn)["backtests"]
    log.info("Listed %d backtests in %d projects", table.num_rows, len(project_ids))
    return report


def has_final_statistics(backtest: Mapping[str, Any]) -> bool:
    """True when `backtests/read` shows final results (lean-cli's `is_complete`, reference §4).

    A backtest that stopped on an error is final; otherwise it must be completed, with
    runtime statistics, and `statistics` a map (the API sends `[]` while it is not ready).
    """
    if backtest.get("error"):
        return True
    return (
        backtest.get("completed") is True
        and backtest.get("runtimeStatistics") is not None
        and isinstance(backtest.get("statistics"), Mapping)
    )


@recorded("backtest_statistics")
def sync_backtest_statistics(
    client: QuantConnectClient,
    conn: warehouse.Connection,
    log: logging.Logger = _log,
    on_progress: ProgressHook | None = None,
) -> SyncReport:
    """Load the statistics of finished backtests that do not have final statistics yet;
    `on_progress` hears of each backtest read."""
    meter, report = _RequestMeter(client), SyncReport()
    pending = warehouse.backtests_needing_statistics(conn)
    not_ready = 0
    final: list[tuple[int, str]] = []
    tables: list[pa.Table] = []
    failures: dict[str, Exception] = {}

    def read(key: tuple[int, str]) -> dict[str, Any]:
        return client.read_backtest(*key)

    _tell(on_progress, "backtest_statistics", 0, len(pending))
    for done, ((project_id, backtest_id), backtest, error) in enumerate(
        _concurrently(read, pending, client.max_concurrency), start=1
    ):
        _tell(on_progress, "backtest_statistics", done, len(pending))
        if error is not None or backtest is None:
            failures[backtest_id] = error or RuntimeError("no reply")
            continue
        if not has_final_statistics(backtest):
            not_ready += 1  # statistics lag `completed` (reference §9.2): try next run
            continue
        tables.append(statistics_to_arrow(project_id, backtest_id, backtest.get("statistics")))
        final.append((project_id, backtest_id))
    if final:
        warehouse.replace_backtest_statistics(conn, final, pa.concat_tables(tables))
    meter.fill(report)
    report.counters.update(
        backtests_read=len(pending),
        backtests_loaded=len(final),
        backtests_not_ready=not_ready,
        backtests_failed=len(failures),
    )
    report.row_counts["backtest_statistics"] = warehouse.table_row_counts(conn)[
        "backtest_statistics"
    ]
    log.info("Loaded statistics of %d backtests (%d not final yet)", len(final), not_ready)
    if failures:
        raise SyncError("backtest_statistics", failures, report)
    return report


@recorded("orders")
def sync_orders(
    client: QuantConnectClient,
    conn: warehouse.Connection,
    log: logging.Logger = _log,
    batch_orders: int = 5_000,
    commit_orders: int = 200_000,
    on_progress: ProgressHook | None = None,
) -> SyncReport:
    """Load the orders and order events of finished backtests that do not have them yet;
    `on_progress` hears of each backtest done, with the orders fetched so far.

    Pages download concurrently on a thread of their own while finished backtests are
    flattened and written here, on the calling thread, about `batch_orders` orders at a time
    (`pipelines.loading`). A backtest is always loaded whole, in one transaction. A completed
    backtest whose orders are loaded is not fetched again. A backtest that fails keeps its
    previous rows; the others still load, and a `SyncError` naming the failures is raised at
    the end.
    """
    meter, report = _RequestMeter(client), SyncReport()
    pending = warehouse.backtests_needing_orders(conn)
    counts = warehouse.backtest_counts(conn)
    failures: dict[str, Exception] = {}
    done = orders_fetched = 0
    started = time.monotonic()

    log.info("Fetching orders of %d backtests", len(pending))
    _tell(on_progress, "orders", 0, len(pending))
    warehouse.create_parts_tables(conn)
    try:
        downloads = download_orders(
            client, pending, client.max_concurrency, part_orders=batch_orders
        )
        with (
            OrdersLoader(
                conn,
                loaded_before={item.backtest_id for item in pending if item.reload},
                batch_orders=batch_orders,
                commit_orders=commit_orders,
                log=log,
            ) as loader,
            in_background(downloads, max_ahead=2) as outcomes,
        ):
            for item, fetched, error in outcomes:
                if fetched is not None:
                    orders_fetched += len(fetched.orders)
                    loader.add(fetched)
                    if not fetched.final:
                        continue
                done += 1
                _tell(on_progress, "orders", done, len(pending), orders_fetched)
                if error is not None or fetched is None:
                    failures[item.backtest_id] = error or RuntimeError("no reply")
                    loader.forget(item.backtest_id)
                    log.error("Backtest %s failed: %s", item.backtest_id, error)
    finally:
        warehouse.drop_parts_tables(conn)
    failures.update(loader.failures)
    report.warnings.extend(loader.warnings)
    report_notes(report, loader.notes)
    meter.fill(report)
    reloaded = sum(item.reload for item in pending)
    report.counters.update(
        backtests_new=len(pending) - reloaded,
        backtests_reloaded=reloaded,
        backtests_skipped=counts["orders_loaded"],
        backtests_waiting=counts["backtests"] - counts["orders_loaded"] - len(pending),
        backtests_failed=len(failures),
        orders_fetched=orders_fetched,
        orders_loaded=loader.orders_loaded,
        order_events_loaded=loader.events_loaded,
        duplicate_orders_dropped=loader.duplicate_orders,
        duplicate_events_dropped=loader.duplicate_events,
        orders_flattened_slowly=loader.orders_flattened_slowly,
        count_mismatches=len(loader.warnings),
        transactions=loader.commits,
    )
    rows = warehouse.table_row_counts(conn)
    report.row_counts = {"orders": rows["orders"], "order_events": rows["order_events"]}
    elapsed = time.monotonic() - started
    report.seconds = {"total": elapsed, **loader.seconds}
    log.info(
        "Orders: %d/%d backtests, %d orders in %.1f s", done, len(pending), orders_fetched, elapsed
    )
    for warning in report.warnings:
        log.warning(warning)
    if failures:
        raise SyncError("orders", failures, report)
    return report


def finished_backtests_without_orders(
    client: QuantConnectClient, conn: warehouse.Connection
) -> list[str]:
    """Ids of the backtests that `backtests/list` shows finished but whose orders the warehouse
    lacks: one `projects/read` and one `backtests/list` per project, nothing else."""
    loaded = warehouse.backtests_with_orders_loaded(conn)
    projects = [project["projectId"] for project in client.read_projects()]
    found: list[str] = []
    for _, backtests, error in _concurrently(
        client.list_backtests, projects, client.max_concurrency
    ):
        if error is not None:
            raise error
        found += [
            b["backtestId"]
            for b in backtests or []
            if is_backtest_finished(b) and b["backtestId"] not in loaded
        ]
    return sorted(found)


def sync_everything(
    client: QuantConnectClient,
    conn: warehouse.Connection,
    log: logging.Logger = _log,
    on_progress: ProgressHook | None = None,
) -> dict[str, SyncReport]:
    """Run every step in dependency order, as the `sync_quantconnect` job does, then
    refresh the analysis views; `on_progress` hears how far each step is."""
    reports = {
        "projects": sync_projects(client, conn),
        "backtests": sync_backtests(client, conn, log, on_progress),
        "backtest_statistics": sync_backtest_statistics(client, conn, log, on_progress),
        "orders": sync_orders(client, conn, log, on_progress=on_progress),
    }
    warehouse.create_views(conn)
    reports["analysis_views"] = SyncReport()
    return reports
