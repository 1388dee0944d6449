"""The sandbox's write endpoints over HTTP, with their state: `backtests/tags/update`,
`projects/update`, `backtests/delete` and `optimizations/delete` (reference-results §2.6-2.8,
§1.1), each behind the API's auth."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID, SandboxAccount, SandboxServer
from tests.helpers import TEST_SIZE

Json = dict[str, Any]
UI_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
NOT_FOUND = "Backtest not found"
OK = {"success": True, "errors": []}


def _signed(token: str = SANDBOX_API_TOKEN) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hashlib.sha256(f"{token}:{stamp}".encode()).hexdigest()
    credentials = base64.b64encode(f"{SANDBOX_USER_ID}:{digest}".encode()).decode()
    return {"Authorization": f"Basic {credentials}", "Timestamp": stamp}


class Client:
    """A signed API client and an admin client for one sandbox."""

    def __init__(self, server: SandboxServer) -> None:
        self.url = server.url
        self.admin_url = server.url.replace("/api/v2/", "/sandbox/")
        self.session = requests.Session()

    def raw(self, endpoint: str, **params: Any) -> bytes:
        """The body of a signed JSON POST."""
        reply = self.session.post(self.url + endpoint, json=params, headers=_signed())
        assert reply.status_code == 200, reply.text
        return reply.content

    def call(self, endpoint: str, **params: Any) -> Json:
        """A signed JSON POST's decoded reply."""
        return json.loads(self.raw(endpoint, **params))

    def ok(self, endpoint: str, **params: Any) -> Json:
        """A reply that must succeed."""
        reply = self.call(endpoint, **params)
        assert reply["success"] is True and reply.get("errors", []) == [], reply
        return reply

    def fails(self, endpoint: str, **params: Any) -> str:
        """The only error of a reply that must fail with the API's envelope."""
        reply = self.call(endpoint, **params)
        assert reply == {"success": False, "errors": reply["errors"]}, reply
        assert len(reply["errors"]) == 1 and isinstance(reply["errors"][0], str), reply
        return reply["errors"][0]

    def admin(self, action: str, **payload: Any) -> Json:
        """POST an admin endpoint."""
        reply = self.session.post(self.admin_url + action, json=payload)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def projects(self) -> dict[int, Json]:
        """Every project by id."""
        return {p["projectId"]: p for p in self.ok("projects/read")["projects"]}

    def listed(self, project_id: int, statistics: bool = False) -> dict[str, Json]:
        """A project's `backtests/list` entries by id."""
        reply = self.ok("backtests/list", projectId=project_id, includeStatistics=statistics)
        return {b["backtestId"]: b for b in reply["backtests"]}

    def state(self) -> Json:
        """Every project, and every project's listing with statistics."""
        projects = self.projects()
        return {"projects": projects, "backtests": {p: self.listed(p, True) for p in projects}}

    def pages(self, endpoint: str, project_id: int, backtest_id: str) -> list[bytes]:
        """Every 100-wide page of a paged endpoint, as served."""
        bodies: list[bytes] = []
        while True:
            start = 100 * len(bodies)
            body = self.raw(
                endpoint, projectId=project_id, backtestId=backtest_id, start=start, end=start + 100
            )
            bodies.append(body)
            if start + 100 >= json.loads(body)["length"]:
                return bodies

    def served(self, project_id: int, backtest_id: str) -> list[bytes]:
        """A backtest's `backtests/read`, orders pages and trades pages, byte for byte."""
        read = self.raw("backtests/read", projectId=project_id, backtestId=backtest_id)
        orders = self.pages("backtests/orders/read", project_id, backtest_id)
        trades = self.pages("backtests/trades/read", project_id, backtest_id)
        return [read, *orders, *trades]


@pytest.fixture
def api(sandbox: SandboxServer) -> Client:
    """A client of the conftest's fresh, private sandbox (2 projects x 4 backtests)."""
    return Client(sandbox)


@pytest.fixture
def pristine() -> Iterator[Client]:
    """A second sandbox with the same seed and size, never written to."""
    with SandboxServer(SandboxAccount(TEST_SIZE, seed=11)) as server:
        yield Client(server)


def traded(api: Client) -> tuple[int, str]:
    """A completed backtest outside any optimization, with more than a page of orders."""
    for project_id in api.projects():
        for backtest_id, entry in api.listed(project_id).items():
            if entry["status"] != "Completed." or entry["optimizationId"] is not None:
                continue
            page = api.ok(
                "backtests/orders/read",
                projectId=project_id,
                backtestId=backtest_id,
                start=0,
                end=1,
            )
            if page["length"] > 100:
                return project_id, backtest_id
    raise AssertionError("no completed backtest with several pages of orders")


def tags_of(api: Client, project_id: int, backtest_id: str) -> list[str]:
    """A backtest's tags as `backtests/list` serves them."""
    return api.listed(project_id)[backtest_id]["tags"]


def set_tags(api: Client, project_id: int, backtest_id: str, tags: Any) -> Json:
    """`backtests/tags/update`'s decoded reply."""
    return api.call(
        "backtests/tags/update", projectId=project_id, backtestId=backtest_id, tags=tags
    )


def without(entry: Json, *keys: str) -> Json:
    """An object without some keys."""
    return {k: v for k, v in entry.items() if k not in keys}


def optimized(api: Client, status: str) -> Json:
    """The read of an optimization with a status."""
    for project_id in api.projects():
        for summary in api.ok("optimizations/list", projectId=project_id)["optimizations"]:
            if summary["status"] == status:
                read = api.ok("optimizations/read", optimizationId=summary["optimizationId"])
                return read["optimization"]
    raise AssertionError(f"no {status} optimization")


# --- backtests/tags/update -----------------------------------------------------------------------


def test_tags_replace_the_whole_list_and_clear(api: Client) -> None:
    project_id, backtest_id = traded(api)
    before = api.listed(project_id)
    assert set_tags(api, project_id, backtest_id, ["tag1", "tag2", "tag3"]) == OK
    assert tags_of(api, project_id, backtest_id) == ["tag1", "tag2", "tag3"]
    assert set_tags(api, project_id, backtest_id, ["tag3", "new"]) == OK  # no merge
    assert tags_of(api, project_id, backtest_id) == ["tag3", "new"]
    assert set_tags(api, project_id, backtest_id, []) == OK
    after = api.listed(project_id)
    assert after[backtest_id]["tags"] == []
    assert {b: e for b, e in after.items() if b != backtest_id} == {
        b: e for b, e in before.items() if b != backtest_id
    }


def test_tags_are_stored_exactly_as_sent(api: Client) -> None:
    project_id, backtest_id = traded(api)
    tags = ["a,b", 'say "hi"', "it's", "back\\slash", "回测 ⚠ é", " padded ", "x" * 100, "🚀"]
    assert set_tags(api, project_id, backtest_id, [*tags, "a,b", "🚀", "A,B"]) == OK
    assert tags_of(api, project_id, backtest_id) == [*tags, "A,B"]  # exact duplicates dropped
    body = api.raw("backtests/list", projectId=project_id)
    assert '"回测 ⚠ é"'.encode() in body and b'"say \\"hi\\""' in body


@pytest.mark.parametrize(
    ("tags", "error"),
    [
        ([""], "Tags cannot be empty"),
        (["ok", "   "], "Tags cannot be empty"),
        (["ok", "y" * 101], 'Tag "yyyyyyyyyyyyyyyyyyyy…" is longer than 100 characters'),
        ("a,b", "Invalid value for tags: 'a,b'; expected a list of strings"),
        (["ok", 3], "Invalid value for tags: ['ok', 3]; expected a list of strings"),
        (None, "Missing required parameter: tags"),
    ],
)
def test_bad_tags_are_refused_and_change_nothing(api: Client, tags: Any, error: str) -> None:
    project_id, backtest_id = traded(api)
    api.ok("backtests/tags/update", projectId=project_id, backtestId=backtest_id, tags=["keep"])
    before = api.state()
    params: Json = {"projectId": project_id, "backtestId": backtest_id}
    if tags is not None:  # None: left out
        params["tags"] = tags
    assert api.fails("backtests/tags/update", **params) == error
    assert api.state() == before


def test_tags_change_nothing_else(api: Client, pristine: Client) -> None:
    project_id, backtest_id = traded(api)
    # Tagged before anything was generated: the generated data is the untouched sandbox's.
    api.ok("backtests/tags/update", projectId=project_id, backtestId=backtest_id, tags=["a"])
    expected = pristine.served(project_id, backtest_id)
    assert api.served(project_id, backtest_id) == expected
    # Tagged again once cached: a new record, the same bytes.
    api.ok("backtests/tags/update", projectId=project_id, backtestId=backtest_id, tags=["b", "c"])
    assert api.served(project_id, backtest_id) == expected
    listed, untouched = api.listed(project_id, True), pristine.listed(project_id, True)
    assert listed[backtest_id]["tags"] == ["b", "c"] != untouched[backtest_id]["tags"]
    assert without(listed[backtest_id], "tags") == without(untouched[backtest_id], "tags")
    assert len(expected) > 3  # the read, two pages of orders at least, and trades


def test_tags_of_an_unknown_backtest_are_refused(api: Client) -> None:
    project_id, backtest_id = traded(api)
    other = next(p for p in api.projects() if p != project_id)
    assert set_tags(api, project_id, "0" * 32, ["x"])["errors"] == [NOT_FOUND]
    assert set_tags(api, 1, backtest_id, ["x"])["errors"] == [NOT_FOUND]
    assert set_tags(api, other, backtest_id, ["x"])["errors"] == [NOT_FOUND]
    assert api.fails("backtests/tags/update", backtestId=backtest_id, tags=["x"]) == (
        "Missing required parameter: projectId"
    )
    assert "x" not in tags_of(api, project_id, backtest_id)


# --- projects/update -----------------------------------------------------------------------------


def test_projects_update_changes_only_what_is_sent(api: Client) -> None:
    before = api.projects()
    project_id, other_id = list(before)
    original = before[project_id]
    api.ok("projects/update", projectId=project_id, name="Live/Renamed ⚠")
    named = api.projects()[project_id]
    assert named["name"] == "Live/Renamed ⚠"
    assert named["description"] == original["description"]
    api.ok("projects/update", projectId=project_id, description='New, "quoted" text')
    described = api.projects()[project_id]
    assert described["name"] == "Live/Renamed ⚠"
    assert described["description"] == 'New, "quoted" text'
    api.ok("projects/update", projectId=project_id, name="Both", description="")
    both = api.projects()
    assert (both[project_id]["name"], both[project_id]["description"]) == ("Both", "")
    stamps = [p["modified"] for p in (original, named, described, both[project_id])]
    assert all(re.fullmatch(UI_TIME, s) for s in stamps) and stamps == sorted(set(stamps))
    changed = ("name", "description", "modified")
    assert without(both[project_id], *changed) == without(original, *changed)
    assert both[other_id] == before[other_id]
    assert api.ok("projects/read", projectId=project_id)["projects"] == [both[project_id]]


def test_a_name_in_use_is_refused_and_changes_nothing(api: Client) -> None:
    projects = api.projects()
    (project_id, project), (other_id, other) = projects.items()
    for name in (other["name"], other["name"].upper()):
        error = api.fails("projects/update", projectId=project_id, name=name, description="d")
        assert error == f"A project named '{name}' already exists"
    assert api.fails("projects/update", projectId=project_id, name="") == (
        "Project name cannot be empty"
    )
    assert api.fails("projects/update", projectId=project_id, name=" \t") == (
        "Project name cannot be empty"
    )
    assert api.fails("projects/update", projectId=project_id, name=5) == (
        "Invalid value for name: 5; expected a string"
    )
    assert api.fails("projects/update", projectId=999, name="Fresh") == "Project not found: 999"
    assert api.projects() == projects
    api.ok("projects/update", projectId=other_id, name=other["name"])  # its own name
    renamed = api.projects()
    assert renamed[other_id]["name"] == other["name"]
    assert renamed[other_id]["modified"] > other["modified"]
    assert renamed[project_id] == project


def test_form_encoded_projects_update_like_lean_cli(api: Client) -> None:
    project_id = next(iter(api.projects()))
    form = {"projectId": str(project_id), "name": "Folder/Form Name é"}
    reply = api.session.post(api.url + "projects/update", data=form, headers=_signed())
    assert reply.json() == OK
    assert api.projects()[project_id]["name"] == "Folder/Form Name é"
    form = {"projectId": str(project_id), "description": ""}
    reply = api.session.post(api.url + "projects/update", data=form, headers=_signed())
    assert reply.json() == OK
    project = api.projects()[project_id]
    assert (project["name"], project["description"]) == ("Folder/Form Name é", "")


def test_concurrent_renames_to_one_name_let_one_win(api: Client) -> None:
    project_ids = list(api.projects()) * 4

    def rename(project_id: int) -> bool:
        body = {"projectId": project_id, "name": "Same"}
        return requests.post(api.url + "projects/update", json=body, headers=_signed()).json()[
            "success"
        ]

    with ThreadPoolExecutor(len(project_ids)) as pool:
        won = list(pool.map(rename, project_ids))
    projects = api.projects()
    assert sum(p["name"] == "Same" for p in projects.values()) == 1
    winner = next(i for i, p in projects.items() if p["name"] == "Same")
    assert sum(won) == project_ids.count(winner)  # its own name again is fine


# --- backtests/delete ----------------------------------------------------------------------------


def test_a_deleted_backtest_vanishes(api: Client) -> None:
    optimization = optimized(api, "completed")
    project_id = optimization["projectId"]
    ids = [e["id"] for e in optimization["backtests"].values()]
    backtest_id = next(b for b in ids if api.listed(project_id)[b]["status"] == "Completed.")
    key = {"projectId": project_id, "backtestId": backtest_id}
    assert api.call("backtests/delete", **key) == OK
    assert backtest_id not in api.listed(project_id)
    assert api.fails("backtests/read", **key) == NOT_FOUND
    assert api.fails("backtests/orders/read", **key, start=0, end=100) == NOT_FOUND
    assert api.fails("backtests/trades/read", **key, start=0, end=100) == NOT_FOUND
    assert api.fails("backtests/tags/update", **key, tags=["x"]) == NOT_FOUND
    assert api.fails("backtests/delete", **key) == NOT_FOUND
    read = api.ok("optimizations/read", optimizationId=optimization["optimizationId"])
    assert read["optimization"] == optimization  # still there, its backtest included
    summaries = api.ok("optimizations/list", projectId=project_id)["optimizations"]
    assert optimization["optimizationId"] in {s["optimizationId"] for s in summaries}
    api.admin("add_backtests", projectId=project_id, count=2)
    api.admin("complete_running")
    api.admin("complete_optimizations")
    assert backtest_id not in api.listed(project_id)
    assert api.fails("backtests/read", **key) == NOT_FOUND


def test_deleting_a_running_backtest_still_lets_its_optimization_finish(api: Client) -> None:
    optimization = optimized(api, "running")
    project_id = optimization["projectId"]
    running = [e["id"] for e in optimization["backtests"].values() if e["progress"] < 1]
    for backtest_id in running:
        api.ok("backtests/delete", projectId=project_id, backtestId=backtest_id)
    completed = api.admin("complete_running")["backtestIds"]
    assert not set(running) & set(completed) and not set(running) & set(api.listed(project_id))
    read = api.ok("optimizations/read", optimizationId=optimization["optimizationId"])
    assert read["optimization"]["status"] == "completed"


def test_a_backtest_is_deleted_only_through_its_project(api: Client) -> None:
    project_id, backtest_id = traded(api)
    other = next(p for p in api.projects() if p != project_id)
    before = api.state()
    assert api.fails("backtests/delete", projectId=other, backtestId=backtest_id) == NOT_FOUND
    assert api.fails("backtests/delete", projectId=project_id, backtestId="f" * 32) == NOT_FOUND
    assert api.fails("backtests/delete", projectId=project_id) == (
        "Missing required parameter: backtestId"
    )
    assert api.state() == before


# --- optimizations/delete ------------------------------------------------------------------------


def test_a_deleted_optimization_vanishes_and_leaves_its_backtests(api: Client) -> None:
    optimization = optimized(api, "completed")
    project_id, optimization_id = optimization["projectId"], optimization["optimizationId"]
    ids = {e["id"] for e in optimization["backtests"].values()}
    assert api.call("optimizations/delete", optimizationId=optimization_id) == OK
    summaries = api.ok("optimizations/list", projectId=project_id)["optimizations"]
    assert optimization_id not in {s["optimizationId"] for s in summaries}
    error = f"Optimization not found: {optimization_id}"
    assert api.fails("optimizations/read", optimizationId=optimization_id) == error
    assert api.fails("optimizations/delete", optimizationId=optimization_id) == error
    listed = api.listed(project_id)
    assert ids <= set(listed) and {listed[b]["optimizationId"] for b in ids} == {optimization_id}


# --- auth ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint", ["backtests/tags/update", "projects/update", "backtests/delete"]
)
@pytest.mark.parametrize("headers", ["bad hash", "none"])
def test_unsigned_writes_are_refused_and_change_nothing(
    api: Client, endpoint: str, headers: str
) -> None:
    project_id, backtest_id = traded(api)
    params = {
        "projectId": project_id,
        "backtestId": backtest_id,
        "tags": ["signed"],
        "name": "Hacked",
    }
    before = api.state()
    sent = _signed("wrong-token") if headers == "bad hash" else {}
    reply = api.session.post(api.url + endpoint, json=params, headers=sent)
    assert reply.status_code == (200 if headers == "bad hash" else 401)
    assert reply.json()["success"] is False
    assert api.state() == before
    assert api.call(endpoint, **params)["success"] is True  # signed, the same request works
    assert api.state() != before
