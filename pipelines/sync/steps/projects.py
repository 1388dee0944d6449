"""The projects step: every project the user can see, from `projects/read`."""

from pipelines.flatten.projects import projects_to_arrow
from pipelines.flatten.records import Notes
from pipelines.schema.projects import PROJECTS
from pipelines.sync.report import RequestMeter, SyncReport
from pipelines.sync.step import Step, StepRun


def sync_projects(run: StepRun) -> SyncReport:
    """Load every project the user can see into `projects`."""
    meter, report, notes = RequestMeter(run.api), SyncReport(), Notes()
    projects = run.api.read_projects()
    run.store.write(
        "delete_known_projects", "insert_projects", staged=projects_to_arrow(projects, notes)
    )
    meter.fill(report)
    report.add_notes(notes)
    report.counters["projects_fetched"] = len(projects)
    report.row_counts["projects"] = run.store.row_counts()["projects"]
    return report


STEP = Step(name="projects", tables=(PROJECTS,), sync=sync_projects)
