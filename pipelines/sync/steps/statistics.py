"""The statistics step: the statistics map of every finished backtest, from `backtests/read`."""

from typing import Any

import pyarrow as pa

from pipelines.flatten.backtests import statistics_to_arrow
from pipelines.qc.pool import concurrently
from pipelines.schema.backtests import BACKTEST_STATISTICS, has_final_statistics
from pipelines.sync.report import ProgressLabels, RequestMeter, SyncError, SyncReport
from pipelines.sync.step import Step, StepRun
from pipelines.warehouse import Warehouse

NAME = "backtest_statistics"


def sync_backtest_statistics(run: StepRun) -> SyncReport:
    """Load the statistics of finished backtests that do not have final statistics yet;
    progress is told for each backtest read."""
    client, store = run.api, run.store
    meter, report = RequestMeter(client), SyncReport()
    needing = store.read("backtests_needing_statistics")
    pending = [(project_id, backtest_id) for project_id, backtest_id in needing]
    not_ready = 0
    final: list[tuple[int, str]] = []
    tables: list[pa.Table] = []
    failures: dict[str, Exception] = {}

    def read(key: tuple[int, str]) -> dict[str, Any]:
        return client.read_backtest(*key)

    run.tell(0, len(pending))
    for done, ((project_id, backtest_id), backtest, error) in enumerate(
        concurrently(read, pending, client.max_concurrency), start=1
    ):
        run.tell(done, len(pending))
        if error is not None or backtest is None:
            failures[backtest_id] = error or RuntimeError("no reply")
            continue
        if not has_final_statistics(backtest):
            not_ready += 1  # statistics lag `completed` (reference §9.2): try next run
            continue
        tables.append(statistics_to_arrow(project_id, backtest_id, backtest.get("statistics")))
        final.append((project_id, backtest_id))
    if final:
        replace_statistics(store, final, pa.concat_tables(tables))
    meter.fill(report)
    report.counters.update(
        backtests_read=len(pending),
        backtests_loaded=len(final),
        backtests_not_ready=not_ready,
        backtests_failed=len(failures),
    )
    report.row_counts[NAME] = store.row_counts()[NAME]
    run.log.info("Loaded statistics of %d backtests (%d not final yet)", len(final), not_ready)
    if failures:
        raise SyncError(NAME, failures, report)
    return report


def replace_statistics(
    store: Warehouse, backtests: list[tuple[int, str]], statistics: pa.Table
) -> None:
    """Replace the statistics of `backtests` (project_id, backtest_id) and mark them synced, in
    one transaction: a backtest with an empty statistics map is marked too."""
    keys = pa.table(
        {
            "project_id": pa.array([project_id for project_id, _ in backtests], pa.int64()),
            "backtest_id": pa.array([backtest_id for _, backtest_id in backtests], pa.string()),
        }
    )
    store.write(
        "delete_backtest_statistics",
        "insert_backtest_statistics",
        "update_statistics_synced",
        "insert_statistics_synced",
        staged=statistics,
        staged_backtests=keys,
    )


STEP = Step(
    name=NAME,
    tables=(BACKTEST_STATISTICS,),
    sync=sync_backtest_statistics,
    after=("backtests",),
    progress=ProgressLabels(bar="statistics", unit="backtests read"),
)
