"""Deleting upstream what the warehouse has archived: optimizations and backtests.

Deletes are final upstream, and the warehouse is the archive: nothing is deleted unless the
warehouse holds its whole record (the views `optimization_archive` and `backtest_archive`
say what that is), checked when planning and again just before each delete. A deleted item
keeps its rows here, tombstoned with `deleted_upstream_at`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pipelines.qc.client import QuantConnectClient
from pipelines.qc.pool import concurrently
from pipelines.warehouse import DuckDBWarehouse
from pipelines.writeback.endpoints import DELETE_BACKTEST, DELETE_OPTIMIZATION
from pipelines.writeback.model import Plan, Recheck, Skip, Write, WriteBackError
from pipelines.writeback.select import rows
from pipelines.writeback.tags import DELETED

ALREADY_GONE = "already deleted upstream (the next sync records it)"
GONE_FROM_WAREHOUSE = "no longer in the warehouse"


@dataclass(frozen=True)
class PruneTarget:
    """What a prune deletes: its endpoint, the queries of `sql/writeback.sql` that choose it
    and check its archive, and how to list what upstream still holds in a project."""

    kind: str
    endpoint: str
    chosen: str
    archived_now: str
    listed: Callable[[QuantConnectClient, int], list[dict]]
    id_key: str


TARGETS = {
    target.kind: target
    for target in (
        PruneTarget(
            "optimizations",
            DELETE_OPTIMIZATION,
            "optimizations_to_prune",
            "optimization_archive_now",
            QuantConnectClient.list_optimizations,
            "optimizationId",
        ),
        PruneTarget(
            "backtests",
            DELETE_BACKTEST,
            "backtests_to_prune",
            "backtest_archive_now",
            QuantConnectClient.list_backtests,
            "backtestId",
        ),
    )
}


@dataclass
class PrunePlan(Plan):
    """A plan of deletes; each is checked against the warehouse again just before it is sent."""

    kind: str = "optimizations"

    def recheck(self, client: QuantConnectClient, store: DuckDBWarehouse) -> Recheck:
        """Check the archive again: a delete goes ahead only while it is whole."""
        target = TARGETS[self.kind]

        def check(write: Write) -> Write | Skip | None:
            found = rows(store, target.archived_now, parameters=[write.subject])
            if not found:
                return Skip(write.subject, write.label, GONE_FROM_WAREHOUSE)
            archived, missing, deleted_at = found[0]
            if deleted_at is not None:
                return None
            return write if archived else Skip(write.subject, write.label, str(missing))

        return check


def listed_upstream(
    client: QuantConnectClient, target: PruneTarget, project_ids: Iterable[int]
) -> set[str]:
    """The ids the API lists now in these projects."""
    listed: set[str] = set()
    for _, items, error in concurrently(
        lambda p: target.listed(client, p), sorted(set(project_ids)), client.max_concurrency
    ):
        if error is not None:
            raise error
        listed.update(str(item.get(target.id_key)) for item in items or [])
    return listed


def plan_prune(
    client: QuantConnectClient, store: DuckDBWarehouse, kind: str, where: str
) -> PrunePlan:
    """The plan of `qcw prune optimizations|backtests --where P`: a delete for each chosen
    item that the warehouse holds whole and the API still lists; the rest skipped, with why."""
    if kind not in TARGETS:
        raise WriteBackError(f"cannot prune {kind!r}: only {', '.join(TARGETS)}")
    target = TARGETS[kind]
    chosen = rows(store, target.chosen, where)
    listed = listed_upstream(client, target, (row[0] for row in chosen if row[5] is None))
    plan = PrunePlan(f"prune {kind}", kind=kind)
    for project_id, item_id, name, archived, missing, deleted_at in chosen:
        if deleted_at is not None:
            plan.skipped.append(Skip(item_id, name, DELETED))
        elif item_id not in listed:
            plan.skipped.append(Skip(item_id, name, ALREADY_GONE))
        elif not archived:
            plan.skipped.append(Skip(item_id, name, str(missing)))
        else:
            plan.writes.append(_delete(target, project_id, item_id, name))
    return plan


def _delete(target: PruneTarget, project_id: int, item_id: str, name: str) -> Write:
    """The delete of one archived item."""
    is_optimization = target.endpoint == DELETE_OPTIMIZATION
    return Write(
        target.endpoint,
        name,
        project_id,
        backtest_id=None if is_optimization else item_id,
        optimization_id=item_id if is_optimization else None,
        before={"exists": True, "name": name},
    )
