"""The optimizations step: every project's parameter sweeps, from `optimizations/list` and
`optimizations/read` (reference-results §1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from pipelines.flatten.optimizations import optimization_to_arrow
from pipelines.flatten.records import Notes
from pipelines.qc.pool import concurrently
from pipelines.schema.optimizations import TABLES
from pipelines.sync.report import ProgressLabels, RequestMeter, SyncError, SyncReport
from pipelines.sync.step import Step, StepRun
from pipelines.warehouse import Warehouse

NAME = "optimizations"


def _listed(run: StepRun, project_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Every project's optimization summaries (one `optimizations/list` each)."""
    listed = {}
    for project_id, summaries, error in concurrently(
        run.api.list_optimizations, project_ids, run.api.max_concurrency
    ):
        if error is not None:
            raise error
        listed[project_id] = summaries or []
    return listed


def sync_optimizations(run: StepRun) -> SyncReport:
    """Load every optimization, of every project not deleted upstream, not yet loaded in a
    final state (Completed or Aborted): a final one is never read again, a running one on every
    sync until it ends. Each optimization's rows are replaced whole; one no longer listed is
    kept with all its rows, marked `deleted_upstream_at`, and never read again (if it is listed
    again, it revives)."""
    client, store = run.api, run.store
    meter, report, notes = RequestMeter(client), SyncReport(), Notes()
    project_ids = run.of_projects(row[0] for row in store.read("project_ids"))
    final = {row[0] for row in store.read("final_optimization_ids")}
    live = dict(store.read("live_optimization_ids"))  # optimization_id → project_id
    listed = _listed(run, project_ids)
    pending = {
        str(summary.get("optimizationId")): (project_id, summary)
        for project_id, summaries in listed.items()
        for summary in summaries
        if summary.get("optimizationId") and str(summary["optimizationId"]) not in final
    }
    tables: dict[str, list[pa.Table]] = {table.name: [] for table in TABLES}
    failures: dict[str, Exception] = {}
    run.tell(0, len(pending))
    for done, (optimization_id, read, error) in enumerate(
        concurrently(client.read_optimization, list(pending), client.max_concurrency), start=1
    ):
        run.tell(done, len(pending))
        if error is not None or read is None:
            failures[optimization_id] = error or RuntimeError("no reply")
            continue
        project_id, summary = pending[optimization_id]
        for name, table in optimization_to_arrow(project_id, summary, read, notes).items():
            tables[name].append(table)
    loaded = len(tables[TABLES[0].name])
    listed_ids = {
        str(summary.get("optimizationId")) for summaries in listed.values() for summary in summaries
    }
    gone = {
        optimization_id
        for optimization_id, project_id in live.items()
        if project_id in listed and optimization_id not in listed_ids
    }
    write_optimizations(
        store, {name: pa.concat_tables(t) for name, t in tables.items() if t}, listed
    )
    meter.fill(report)
    report.add_notes(notes)
    report.counters.update(
        projects=len(project_ids),
        optimizations_listed=sum(len(s) for s in listed.values()),
        optimizations_read=len(pending),
        optimizations_loaded=loaded,
        optimizations_final_skipped=sum(len(s) for s in listed.values()) - len(pending),
        optimizations_failed=len(failures),
        optimizations_marked_deleted_upstream=len(gone),
    )
    report.row_counts.update(store.row_counts(table.name for table in TABLES))
    run.log.info("Loaded %d optimizations of %d projects", loaded, len(project_ids))
    if failures:
        raise SyncError(NAME, failures, report)
    return report


def write_optimizations(
    store: Warehouse, tables: Mapping[str, pa.Table], listed: Mapping[int, list[dict[str, Any]]]
) -> None:
    """In one transaction: replace every row of the optimizations read (`tables`, by table
    name; each reads as `staged_<table>`), mark those of the listed projects that the API no
    longer lists as deleted upstream (the warehouse keeps their rows), and revive those listed
    again."""
    statements = [f"delete_{table.name}" for table in TABLES if tables]
    statements += [f"insert_{table.name}" for table in TABLES if tables]
    store.write(
        *statements,
        "mark_unlisted_optimizations",
        "revive_listed_optimizations",
        staged_listed=_listed_ids(listed),
        **{f"staged_{name}": table for name, table in tables.items()},
    )


def _listed_ids(listed: Mapping[int, list[dict[str, Any]]]) -> pa.Table:
    """(project_id, optimization_id) of every listed optimization, and (project_id, NULL) for
    each listed project."""
    rows = [(project_id, None) for project_id in listed] + [
        (project_id, str(summary.get("optimizationId")))
        for project_id, summaries in listed.items()
        for summary in summaries
    ]
    return pa.table(
        {
            "project_id": pa.array([p for p, _ in rows], pa.int64()),
            "optimization_id": pa.array([o for _, o in rows], pa.string()),
        }
    )


STEP = Step(
    name=NAME,
    tables=TABLES,
    sync=sync_optimizations,
    after=("projects",),
    progress=ProgressLabels(bar="optimizations", unit="optimizations read"),
    per_project=True,
)
