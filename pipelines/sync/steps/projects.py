"""The projects step: every project the user can see, from `projects/read`; one it no longer
sees is kept, marked deleted upstream, with its backtests and optimizations."""

from pipelines.flatten.projects import projects_to_arrow
from pipelines.flatten.records import Notes
from pipelines.schema.projects import PROJECTS
from pipelines.sync.report import RequestMeter, SyncReport
from pipelines.sync.step import Step, StepRun

# In one transaction: replace the listed projects (a listed one is not deleted upstream), and
# stamp those no longer listed, and their backtests and optimizations, `deleted_upstream_at`.
WRITE = (
    "delete_known_projects",
    "insert_projects",
    "mark_unlisted_projects",
    "mark_backtests_of_unlisted_projects",
    "mark_optimizations_of_unlisted_projects",
)


def sync_projects(run: StepRun) -> SyncReport:
    """Load every project the user can see into `projects`. A project `projects/read` no
    longer lists keeps its row and every row of its backtests and optimizations, all marked
    `deleted_upstream_at`, and is never fetched again; if it is listed again, it revives."""
    meter, report, notes = RequestMeter(run.api), SyncReport(), Notes()
    projects = run.api.read_projects()
    table = projects_to_arrow(projects, notes)
    live = {row[0] for row in run.store.read("project_ids")}
    gone = live - set(table.column("project_id").to_pylist())
    run.store.write(*WRITE, staged=table)
    meter.fill(report)
    report.add_notes(notes)
    report.counters["projects_fetched"] = len(projects)
    report.counters["projects_marked_deleted_upstream"] = len(gone)
    if gone and not projects:
        # Suspicious (a glitch upstream?) but possible: the rule holds, and nothing is lost.
        report.warnings.append(
            f"projects/read listed no project while the warehouse held {len(gone)}: all are "
            "marked deleted upstream (their rows are kept; a sync that lists them revives them)"
        )
    if gone:
        run.log.info("%d project(s) no longer listed: marked deleted upstream", len(gone))
    report.row_counts.update(run.store.row_counts(["projects"]))
    return report


STEP = Step(name="projects", tables=(PROJECTS,), sync=sync_projects)
