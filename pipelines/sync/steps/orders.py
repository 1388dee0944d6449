"""The orders step: every order, and its events, of every finished backtest, from the paginated
`backtests/orders/read`."""

import time

from pipelines.qc.client import QuantConnectClient
from pipelines.qc.download import download_orders, in_background
from pipelines.qc.pool import concurrently
from pipelines.schema.backtests import is_backtest_finished
from pipelines.schema.orders import ORDER_EVENTS, ORDERS
from pipelines.sync.loading import orders_loader
from pipelines.sync.report import ProgressLabels, RequestMeter, SyncError, SyncReport
from pipelines.sync.step import Step, StepRun
from pipelines.warehouse import PendingBacktest, Warehouse

NAME = "orders"


def sync_orders(run: StepRun) -> SyncReport:
    """Load the orders and order events of finished backtests that do not have them yet;
    progress is told for each backtest done, with the orders fetched so far.

    Pages download concurrently on a thread of their own while finished backtests are
    flattened and written here, on the calling thread, in batches (`pipelines.sync.loading`).
    A backtest is always loaded whole, in one transaction; while the pages are slow to come,
    the loader commits and the warehouse file is free for readers. A completed backtest whose orders
    are loaded is not fetched again, nor is one deleted upstream. A backtest that fails keeps
    its previous rows; the others still load, and a `SyncError` naming the failures is raised
    at the end.
    """
    client, store, log = run.api, run.store, run.log
    meter, report = RequestMeter(client), SyncReport()
    pending = [
        PendingBacktest(*row) for row in run.of_projects(store.read("backtests_needing_orders"))
    ]
    ((backtests, _, loaded_before, deleted_upstream),) = store.read("backtest_counts")
    failures: dict[str, Exception] = {}
    done = fetched_orders = 0
    started = time.monotonic()

    log.info("Fetching orders of %d backtests", len(pending))
    run.tell(0, len(pending))
    downloads = download_orders(
        client, pending, client.max_concurrency, part_orders=run.settings.batch_orders
    )
    reloads = {item.backtest_id for item in pending if item.reload}
    with (
        store.orders_writer() as writer,
        orders_loader(writer, reloads, run.settings, log) as loader,
        in_background(downloads, max_ahead=2, on_idle=loader.pause) as outcomes,
    ):
        for item, fetched, error in outcomes:
            if fetched is not None:
                fetched_orders += len(fetched.orders)
                loader.add(fetched)
                if not fetched.final:
                    continue
            done += 1
            run.tell(done, len(pending), fetched_orders)
            if error is not None or fetched is None:
                failures[item.backtest_id] = error or RuntimeError("no reply")
                loader.forget(item.backtest_id)
                log.error("Backtest %s failed: %s", item.backtest_id, error)
    failures.update(loader.failures)
    reloaded = sum(item.reload for item in pending)
    report.warnings.extend(loader.warnings)
    report.add_notes(loader.notes)
    report.counters.update(
        backtests_new=len(pending) - reloaded,
        backtests_reloaded=reloaded,
        backtests_skipped=loaded_before,
        backtests_waiting=backtests - loaded_before - len(pending),
        backtests_deleted_upstream=deleted_upstream,
        backtests_failed=len(failures),
        orders_fetched=fetched_orders,
        **loader.totals.counters(),
        count_mismatches=len(loader.warnings),
    )
    report.row_counts = store.row_counts(table.name for table in STEP.tables)
    meter.fill(report)
    report.seconds = {"total": time.monotonic() - started, **loader.seconds}
    log.info(
        "Orders: %d/%d backtests, %d orders in %.1f s",
        done,
        len(pending),
        fetched_orders,
        report.seconds["total"],
    )
    for warning in report.warnings:
        log.warning(warning)
    if failures:
        raise SyncError(NAME, failures, report)
    return report


def finished_backtests_without_orders(client: QuantConnectClient, store: Warehouse) -> list[str]:
    """Ids of the backtests that `backtests/list` shows finished but whose orders the warehouse
    lacks: one `projects/read` and one `backtests/list` per project, nothing else. Only what
    the API lists now counts, so a backtest or project deleted upstream never does (one listed
    again revives in the sync this asks for)."""
    loaded = {row[0] for row in store.read("backtests_with_orders_loaded")}
    projects = [project["projectId"] for project in client.read_projects()]
    found: list[str] = []
    for _, backtests, error in concurrently(
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


STEP = Step(
    name=NAME,
    tables=(ORDERS, ORDER_EVENTS),
    sync=sync_orders,
    after=("backtest_statistics",),
    progress=ProgressLabels(bar="orders", unit="backtests", fetched="orders"),
    per_project=True,
)
