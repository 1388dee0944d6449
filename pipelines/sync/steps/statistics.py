"""The statistics step: what `backtests/read` says of every finished backtest: its statistics
map, its closed trades, and its numeric performance overall and in rolling windows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from pipelines.flatten.backtests import statistics_to_arrow
from pipelines.flatten.performance import (
    closed_trades,
    closed_trades_to_arrow,
    expected_trades,
    performance_to_arrow,
    rolling_to_arrow,
)
from pipelines.flatten.records import Notes
from pipelines.qc.client import QuantConnectClient
from pipelines.qc.pool import concurrently
from pipelines.schema.backtests import BACKTEST_STATISTICS, has_final_statistics
from pipelines.schema.performance import (
    BACKTEST_PERFORMANCE,
    BACKTEST_ROLLING_STATISTICS,
    CLOSED_TRADES,
)
from pipelines.sync.report import ProgressLabels, RequestMeter, SyncError, SyncReport
from pipelines.sync.step import Step, StepRun
from pipelines.warehouse import Warehouse

NAME = "backtest_statistics"
# Rows of all tables a transaction of results holds at most, but for one backtest's own.
RESULTS_BATCH_ROWS = 50_000
# The Arrow tables one write replaces, each under the name its statements read it by.
STAGED = {
    BACKTEST_STATISTICS.name: "staged",
    CLOSED_TRADES.name: "staged_trades",
    BACKTEST_PERFORMANCE.name: "staged_performance",
    BACKTEST_ROLLING_STATISTICS.name: "staged_rolling",
}


@dataclass(frozen=True)
class BacktestResults:
    """A `backtests/read` object and the backtest's closed trades (None until it is final);
    `paged` when they came from `backtests/trades/read`."""

    backtest: Mapping[str, Any]
    trades: list[Any] | None = None
    paged: bool = False


def read_results(client: QuantConnectClient, project_id: int, backtest_id: str) -> BacktestResults:
    """Read a backtest; once it is final, its closed trades come from the same reply, unless
    that list is missing or shorter than `totalNumberOfTrades`: then from
    `backtests/trades/read`, page by page (reference-results §2.2)."""
    backtest = client.read_backtest(project_id, backtest_id)
    if not has_final_statistics(backtest):
        return BacktestResults(backtest)
    trades, expected = closed_trades(backtest), expected_trades(backtest)
    if trades is None or (expected is not None and len(trades) < expected):
        return BacktestResults(backtest, client.read_closed_trades(project_id, backtest_id), True)
    return BacktestResults(backtest, trades)


def results_to_arrow(
    project_id: int, backtest_id: str, results: BacktestResults, notes: Notes
) -> dict[str, pa.Table]:
    """The rows of every table of the step for one final backtest, by table name."""
    backtest = results.backtest
    return {
        BACKTEST_STATISTICS.name: statistics_to_arrow(
            project_id, backtest_id, backtest.get("statistics")
        ),
        CLOSED_TRADES.name: closed_trades_to_arrow(
            project_id, backtest_id, results.trades or [], notes
        ),
        BACKTEST_PERFORMANCE.name: performance_to_arrow(project_id, backtest_id, backtest, notes),
        BACKTEST_ROLLING_STATISTICS.name: rolling_to_arrow(
            project_id, backtest_id, backtest, notes
        ),
    }


class _Batch:
    """Results read but not yet written, written a batch at a time: each transaction holds
    whole backtests, and memory stays bounded however many there are."""

    def __init__(self, store: Warehouse) -> None:
        self.store = store
        self.backtests: list[tuple[int, str]] = []
        self.tables: dict[str, list[pa.Table]] = {name: [] for name in STAGED}
        self.rows = 0
        self.trades = 0

    def add(self, key: tuple[int, str], tables: Mapping[str, pa.Table]) -> None:
        """Hold one backtest's rows; write the batch once it holds `RESULTS_BATCH_ROWS`."""
        self.backtests.append(key)
        for name, table in tables.items():
            self.tables[name].append(table)
            self.rows += table.num_rows
        self.trades += tables[CLOSED_TRADES.name].num_rows
        if self.rows >= RESULTS_BATCH_ROWS:
            self.write()

    def write(self) -> None:
        """Write what the batch holds, in one transaction."""
        if self.backtests:
            tables = {name: pa.concat_tables(t) for name, t in self.tables.items()}
            replace_results(self.store, self.backtests, tables)
        self.backtests, self.rows = [], 0
        self.tables = {name: [] for name in STAGED}


def sync_backtest_statistics(run: StepRun) -> SyncReport:
    """Load the results of finished backtests not loaded yet (or loaded before closed trades
    and performance were); progress is told for each backtest read."""
    client, store = run.api, run.store
    meter, report, notes = RequestMeter(client), SyncReport(), Notes()
    needing = run.of_projects(store.read("backtests_needing_statistics"))
    pending = [(project_id, backtest_id) for project_id, backtest_id in needing]
    not_ready = paged = loaded = 0
    batch = _Batch(store)
    failures: dict[str, Exception] = {}

    def read(key: tuple[int, str]) -> BacktestResults:
        return read_results(client, *key)

    run.tell(0, len(pending))
    for done, ((project_id, backtest_id), results, error) in enumerate(
        concurrently(read, pending, client.max_concurrency), start=1
    ):
        run.tell(done, len(pending))
        if error is not None or results is None:
            failures[backtest_id] = error or RuntimeError("no reply")
            continue
        if not has_final_statistics(results.backtest):
            not_ready += 1  # statistics lag `completed` (reference §9.2): try next run
            continue
        batch.add(
            (project_id, backtest_id), results_to_arrow(project_id, backtest_id, results, notes)
        )
        loaded += 1
        paged += results.paged
    batch.write()
    meter.fill(report)
    report.add_notes(notes)
    report.counters.update(
        backtests_read=len(pending),
        backtests_loaded=loaded,
        backtests_not_ready=not_ready,
        backtests_failed=len(failures),
        backtests_with_paged_trades=paged,
        closed_trades_loaded=batch.trades,
    )
    report.row_counts.update(store.row_counts(STAGED))
    run.log.info("Loaded the results of %d backtests (%d not final yet)", loaded, not_ready)
    if failures:
        raise SyncError(NAME, failures, report)
    return report


def replace_results(
    store: Warehouse, backtests: list[tuple[int, str]], tables: Mapping[str, pa.Table]
) -> None:
    """Replace the rows of `backtests` (project_id, backtest_id) in every table of the step
    and mark them synced, in one transaction: a backtest without rows is marked too."""
    keys = pa.table(
        {
            "project_id": pa.array([project_id for project_id, _ in backtests], pa.int64()),
            "backtest_id": pa.array([backtest_id for _, backtest_id in backtests], pa.string()),
        }
    )
    statements = [f"{verb}_{name}" for name in STAGED for verb in ("delete", "insert")]
    store.write(
        *statements,
        "update_statistics_synced",
        "insert_statistics_synced",
        staged_backtests=keys,
        **{STAGED[name]: table for name, table in tables.items()},
    )


STEP = Step(
    name=NAME,
    tables=(BACKTEST_STATISTICS, CLOSED_TRADES, BACKTEST_PERFORMANCE, BACKTEST_ROLLING_STATISTICS),
    sync=sync_backtest_statistics,
    after=("backtests",),
    progress=ProgressLabels(bar="statistics", unit="backtests read"),
    per_project=True,
)
