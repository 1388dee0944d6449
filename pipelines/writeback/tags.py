"""Tagging backtests: add, remove or set tags, always read-modify-write.

`backtests/tags/update` replaces the whole list and tags are read back only from
`backtests/list` (reference-results §2.7). So the tags a change starts from are read from a
fresh list, never from the warehouse's copy, once when planning and once more just before
sending; a backtest whose list would not change gets no request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pipelines.qc.client import QuantConnectClient
from pipelines.qc.pool import concurrently
from pipelines.warehouse import DuckDBWarehouse
from pipelines.writeback.endpoints import TAGS, backtest_tags
from pipelines.writeback.model import Plan, Recheck, Skip, Write, WriteBackError
from pipelines.writeback.select import rows, unknown_ids

TAG_ACTIONS = ("add", "remove", "set")
DELETED = "deleted upstream"
NOT_LISTED = "no longer listed upstream (run `qcw sync`)"


@dataclass(frozen=True)
class TagChange:
    """What to do to a backtest's tags: replace them (`replace`, when not None), then add
    `add` and remove `remove`; other tags are kept."""

    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    replace: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for tag in (*self.add, *self.remove, *(self.replace or ())):
            if not tag.strip():
                raise WriteBackError("a tag cannot be empty")

    def apply(self, tags: Sequence[str]) -> list[str]:
        """The tags after the change, in their order, new ones last, each once."""
        kept = list(self.replace) if self.replace is not None else list(tags)
        return [t for t in dict.fromkeys([*kept, *self.add]) if t not in self.remove]


def tag_change(action: str, tags: Iterable[str]) -> TagChange:
    """The change of `qcw tag add|remove|set TAG...`."""
    tags = tuple(tags)
    if action not in TAG_ACTIONS:
        raise WriteBackError(f"unknown tag action {action!r}: use one of {', '.join(TAG_ACTIONS)}")
    if action != "set" and not tags:
        raise WriteBackError(f"tag {action} needs at least one tag")
    if action == "add":
        return TagChange(add=tags)
    if action == "remove":
        return TagChange(remove=tags)
    return TagChange(replace=tags)


@dataclass
class TagPlan(Plan):
    """A plan of tag writes; `changes` holds each planned backtest's change, applied again to
    a fresh list just before its write is sent."""

    changes: dict[str, TagChange] = field(default_factory=dict)

    def recheck(self, client: QuantConnectClient, store: DuckDBWarehouse) -> Recheck:
        """Read each project's tags afresh just before its first write, and apply the change
        to them again."""
        fresh: dict[int, dict[str, list[str]]] = {}

        def check(write: Write) -> Write | Skip | None:
            project_id = int(write.project_id or 0)
            if project_id not in fresh:
                fresh[project_id] = backtest_tags(client, project_id)
            before = fresh[project_id].get(str(write.backtest_id))
            if before is None:
                return Skip(write.subject, write.label, NOT_LISTED)
            after = self.changes[write.subject].apply(before)
            if sorted(after) == sorted(before):
                return None
            return write.with_before({"tags": before}, {"tags": after})

        return check


def select_backtests(
    store: DuckDBWarehouse, where: str | None, backtest_ids: Sequence[str]
) -> list[tuple]:
    """(project_id, backtest_id, name, tags, deleted_upstream_at) of the backtests chosen by a
    predicate over `backtest_summary` or by id; `WriteBackError` for unknown ids."""
    if (where is None) == (not backtest_ids):
        raise WriteBackError("choose the backtests either with a predicate or with ids")
    if where is not None:
        return rows(store, "backtests_where", where)
    found = rows(store, "backtests_by_id", parameters=[list(backtest_ids)])
    unknown_ids(list(backtest_ids), [row[1] for row in found])
    return found


def fresh_tags(client: QuantConnectClient, project_ids: Iterable[int]) -> dict[str, list[str]]:
    """Every listed backtest's tags in these projects, from fresh `backtests/list` replies."""
    tags: dict[str, list[str]] = {}
    projects = sorted(set(project_ids))
    for _, listed, error in concurrently(
        lambda p: backtest_tags(client, p), projects, client.max_concurrency
    ):
        if error is not None:
            raise error
        tags.update(listed or {})
    return tags


def plan_tags(
    selected: Sequence[tuple],
    changes: Mapping[str, TagChange],
    current: Mapping[str, list[str]],
    action: str,
) -> TagPlan:
    """The tag writes that `changes` (by backtest id) make to the `selected` backtests,
    starting from their `current` tags (by backtest id; a backtest without is not listed)."""
    plan = TagPlan(action)
    for project_id, backtest_id, name, _, deleted_at in selected:
        before = current.get(backtest_id)
        if deleted_at is not None or before is None:
            plan.skipped.append(Skip(backtest_id, name, DELETED if deleted_at else NOT_LISTED))
            continue
        after = changes[backtest_id].apply(before)
        if sorted(after) == sorted(before):
            plan.unchanged.append(Skip(backtest_id, name, "already as asked"))
            continue
        plan.changes[backtest_id] = changes[backtest_id]
        plan.writes.append(
            Write(TAGS, name, project_id, backtest_id, None, {"tags": before}, {"tags": after})
        )
    return plan


def plan_tag_command(
    client: QuantConnectClient,
    store: DuckDBWarehouse,
    action: str,
    tags: Sequence[str],
    where: str | None = None,
    backtest_ids: Sequence[str] = (),
) -> TagPlan:
    """The plan of `qcw tag add|remove|set TAG... (--where P | --backtest ID...)`."""
    change = tag_change(action, tags)
    selected = select_backtests(store, where, backtest_ids)
    current = fresh_tags(client, (row[0] for row in selected if row[4] is None))
    changes = {row[1]: change for row in selected}
    return plan_tags(selected, changes, current, f"tag {action}")
