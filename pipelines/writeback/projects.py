"""Updating projects' names and descriptions: `projects/update` is a partial update, so only
the fields asked for are sent (reference-results §2.8).

A new name or description may hold `{name}` and `{description}`, the project's current ones:
`--name "Archive/{name}"` moves the chosen projects into a folder.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from pipelines.qc.client import QuantConnectClient
from pipelines.warehouse import DuckDBWarehouse
from pipelines.writeback.endpoints import PROJECT
from pipelines.writeback.model import Plan, Skip, Write, WriteBackError
from pipelines.writeback.select import rows, unknown_ids
from pipelines.writeback.tags import DELETED, NOT_LISTED


def _filled(template: str | None, current: Mapping[str, object]) -> str | None:
    """A new value, with `{name}` and `{description}` the project's current ones."""
    if template is None:
        return None
    text = template.replace("{name}", str(current.get("name") or ""))
    return text.replace("{description}", str(current.get("description") or ""))


def select_projects(
    store: DuckDBWarehouse, project_id: int | None, where: str | None
) -> list[tuple]:
    """(project_id, name, description, deleted_upstream_at) of the projects chosen by id or by
    a predicate over `projects`; `WriteBackError` for an unknown id."""
    if (project_id is None) == (where is None):
        raise WriteBackError("choose the projects either with an id or with a predicate")
    if where is not None:
        return rows(store, "projects_where", where)
    found = rows(store, "projects_by_id", parameters=[[project_id]])
    unknown_ids([project_id], [row[0] for row in found])
    return found


def plan_project_update(
    client: QuantConnectClient,
    store: DuckDBWarehouse,
    project_id: int | None = None,
    where: str | None = None,
    name: str | None = None,
    description: str | None = None,
) -> Plan:
    """The plan of `qcw project update (PROJECT_ID | --where P) [--name N] [--description D]`,
    from the projects as a fresh `projects/read` shows them."""
    if name is None and description is None:
        raise WriteBackError("give a new --name, a new --description, or both")
    if name is not None and not name.strip():
        raise WriteBackError("a project name cannot be empty")
    selected = select_projects(store, project_id, where)
    current = {int(p["projectId"]): p for p in client.read_projects() if "projectId" in p}
    plan = Plan("project update")
    for selected_id, label, _, deleted_at in selected:
        found = current.get(selected_id)
        if deleted_at is not None or found is None:
            plan.skipped.append(
                Skip(str(selected_id), label, DELETED if deleted_at else NOT_LISTED)
            )
            continue
        before = {"name": found.get("name"), "description": found.get("description")}
        wanted = {"name": _filled(name, before), "description": _filled(description, before)}
        after = {k: v for k, v in wanted.items() if v is not None and v != before[k]}
        if not after:
            plan.unchanged.append(Skip(str(selected_id), label, "already as asked"))
            continue
        kept = {k: before[k] for k in after}
        plan.writes.append(Write(PROJECT, label, selected_id, before=kept, after=after))
    _refuse_clashes(plan)
    return plan


def _refuse_clashes(plan: Plan) -> None:
    """Two projects of one plan may not be given the same name."""
    names = Counter(w.after["name"] for w in plan.writes if w.after and "name" in w.after)
    clashes = sorted(name for name, count in names.items() if count > 1)
    if clashes:
        raise WriteBackError(f"the new names clash: several projects would be named {clashes[0]!r}")
