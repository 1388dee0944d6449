"""The four write endpoints: how to send a `Write`, and how to see upstream whether it landed.

Facts from `../shared/reference/quantconnect-api-results.md` §2.6-2.8: tags are read back only
from `backtests/list`, in no guaranteed order; project updates are partial; a deleted item
fails on read ("not found").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pipelines.qc.client import QuantConnectClient
from pipelines.qc.errors import QuantConnectAuthError, QuantConnectError
from pipelines.writeback.model import Write

TAGS = "backtests/tags/update"
PROJECT = "projects/update"
DELETE_OPTIMIZATION = "optimizations/delete"
DELETE_BACKTEST = "backtests/delete"

State = Mapping[str, Any] | None  # None: the item is gone upstream


def is_not_found(error: QuantConnectError) -> bool:
    """Whether the API said the item does not exist ("Backtest not found", ...)."""
    return not isinstance(error, QuantConnectAuthError) and "not found" in error.reason.lower()


def backtest_tags(client: QuantConnectClient, project_id: int) -> dict[str, list[str]]:
    """Every backtest's tags as `backtests/list` shows them now: the only place to read them."""
    return {
        str(b.get("backtestId")): [str(t) for t in b.get("tags") or []]
        for b in client.list_backtests(project_id)
    }


def same_state(found: State, wanted: State) -> bool:
    """Whether upstream `found` shows the fields of `wanted` (tags compared as sets: their order
    is not kept, reference-results §2.7)."""
    if found is None or wanted is None:
        return found is wanted
    for key, value in wanted.items():
        seen = found.get(key)
        if key == "tags" and sorted(seen or []) != sorted(value):
            return False
        if key != "tags" and seen != value:
            return False
    return True


def _send_tags(client: QuantConnectClient, write: Write) -> None:
    assert write.project_id is not None and write.backtest_id and write.after is not None
    client.update_backtest_tags(write.project_id, write.backtest_id, list(write.after["tags"]))


def _observe_tags(client: QuantConnectClient, write: Write) -> State:
    assert write.project_id is not None
    try:
        tags = backtest_tags(client, write.project_id).get(str(write.backtest_id))
    except QuantConnectError as error:
        if is_not_found(error):
            return None
        raise
    return None if tags is None else {"tags": tags}


def _send_project(client: QuantConnectClient, write: Write) -> None:
    assert write.project_id is not None and write.after is not None
    client.update_project(write.project_id, write.after.get("name"), write.after.get("description"))


def _observe_project(client: QuantConnectClient, write: Write) -> State:
    assert write.project_id is not None
    try:
        project = client.read_project(write.project_id)
    except QuantConnectError as error:
        if is_not_found(error):
            return None
        raise
    return {"name": project.get("name"), "description": project.get("description")}


def _send_optimization_delete(client: QuantConnectClient, write: Write) -> None:
    assert write.optimization_id
    client.delete_optimization(write.optimization_id)


def _observe_optimization(client: QuantConnectClient, write: Write) -> State:
    assert write.optimization_id
    try:
        client.read_optimization(write.optimization_id)
    except QuantConnectError as error:
        if is_not_found(error):
            return None
        raise
    return {"exists": True}


def _send_backtest_delete(client: QuantConnectClient, write: Write) -> None:
    assert write.project_id is not None and write.backtest_id
    client.delete_backtest(write.project_id, write.backtest_id)


def _observe_backtest(client: QuantConnectClient, write: Write) -> State:
    assert write.project_id is not None
    try:
        listed = backtest_tags(client, write.project_id)
    except QuantConnectError as error:
        if is_not_found(error):
            return None
        raise
    return {"exists": True} if str(write.backtest_id) in listed else None


@dataclass(frozen=True)
class Endpoint:
    """A write endpoint: how to send a write, how to read its subject's state upstream, and
    whether it deletes (a delete that finds its item gone has nothing left to do)."""

    name: str
    send: Callable[[QuantConnectClient, Write], None]
    observe: Callable[[QuantConnectClient, Write], State]
    deletes: bool = False


ENDPOINTS = {
    endpoint.name: endpoint
    for endpoint in (
        Endpoint(TAGS, _send_tags, _observe_tags),
        Endpoint(PROJECT, _send_project, _observe_project),
        Endpoint(DELETE_OPTIMIZATION, _send_optimization_delete, _observe_optimization, True),
        Endpoint(DELETE_BACKTEST, _send_backtest_delete, _observe_backtest, True),
    )
}
