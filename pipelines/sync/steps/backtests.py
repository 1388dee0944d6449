"""The backtests step: every backtest of every known project, from `backtests/list`."""

import pyarrow as pa

from pipelines.flatten.backtests import backtests_to_arrow
from pipelines.flatten.records import Notes
from pipelines.qc.pool import concurrently
from pipelines.schema.backtests import BACKTESTS
from pipelines.sync.report import ProgressLabels, RequestMeter, SyncReport
from pipelines.sync.step import Step, StepRun


def sync_backtests(run: StepRun) -> SyncReport:
    """Load every backtest of every known project into `backtests`, running ones included;
    progress is told for each project listed."""
    client, store = run.api, run.store
    meter, report, notes = RequestMeter(client), SyncReport(), Notes()
    project_ids = [row[0] for row in store.read("project_ids")]
    tables = []
    run.tell(0, len(project_ids))
    for project_id, backtests, error in concurrently(
        client.list_backtests, project_ids, client.max_concurrency
    ):
        if error is not None:
            raise error
        tables.append(backtests_to_arrow(project_id, backtests or [], notes))
        run.tell(len(tables), len(project_ids))
    table = pa.concat_tables(tables) if tables else BACKTESTS.arrow_schema.empty_table()
    store.write("delete_known_backtests", "insert_backtests", staged=table)
    meter.fill(report)
    report.add_notes(notes)
    finished = sum(bool(value) for value in table.column("completed").to_pylist())
    report.counters.update(
        projects=len(project_ids),
        backtests_listed=table.num_rows,
        backtests_finished=finished,
        backtests_running=table.num_rows - finished,
    )
    report.row_counts["backtests"] = store.row_counts()["backtests"]
    run.log.info("Listed %d backtests in %d projects", table.num_rows, len(project_ids))
    return report


STEP = Step(
    name="backtests",
    tables=(BACKTESTS,),
    sync=sync_backtests,
    after=("projects",),
    progress=ProgressLabels(bar="backtests", unit="projects listed"),
)
