"""The QuantConnect API sandbox, exercised over real HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest
import requests

from pipelines.sandbox import (
    SANDBOX_API_TOKEN,
    SANDBOX_USER_ID,
    SandboxAccount,
    SandboxServer,
    SandboxSize,
    parse_fault_spec,
)

SIZE = SandboxSize(projects=2, backtests_per_project=5, orders_per_backtest=120)
ORDERS = "backtests/orders/read"


def signed_headers(
    user_id: str = SANDBOX_USER_ID,
    token: str = SANDBOX_API_TOKEN,
    timestamp: int | None = None,
) -> dict[str, str]:
    """QuantConnect's nonce-token auth: Basic base64(uid:sha256(token:ts)) plus Timestamp."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hashlib.sha256(f"{token}:{stamp}".encode()).hexdigest()
    credentials = base64.b64encode(f"{user_id}:{digest}".encode()).decode()
    return {"Authorization": f"Basic {credentials}", "Timestamp": stamp}


class Client:
    """A signed API client and an admin client for one sandbox."""

    def __init__(self, server: SandboxServer) -> None:
        self.url = server.url
        self.admin_url = server.url.replace("/api/v2/", "/sandbox/")
        self.session = requests.Session()

    def post(self, endpoint: str, **params: Any) -> requests.Response:
        """POST a JSON body, signed."""
        return self.session.post(self.url + endpoint, json=params, headers=signed_headers())

    def call(self, endpoint: str, **params: Any) -> dict[str, Any]:
        """POST and decode a 200 JSON reply."""
        response = self.post(endpoint, **params)
        assert response.status_code == 200, response.text
        return response.json()

    def admin(self, method: str, action: str, body: Any = None) -> dict[str, Any]:
        """Call an admin endpoint."""
        response = self.session.request(method, self.admin_url + action, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def orders(self, project_id: int, backtest_id: str, start: int, end: int) -> dict[str, Any]:
        """One orders page."""
        return self.call(ORDERS, projectId=project_id, backtestId=backtest_id, start=start, end=end)

    def backtests(self) -> list[tuple[int, dict[str, Any]]]:
        """Every `(projectId, summary)` of the account."""
        return [
            (project["projectId"], backtest)
            for project in self.call("projects/read")["projects"]
            for backtest in self.call("backtests/list", projectId=project["projectId"])["backtests"]
        ]


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    """A shared sandbox; tests that change its account use `fresh` instead."""
    with SandboxServer(SandboxAccount(SIZE)) as sandbox:
        yield sandbox


@pytest.fixture
def client(server: SandboxServer) -> Iterator[Client]:
    """A client of the shared sandbox, with faults and counters reset afterwards."""
    yield Client(server)
    server.clear_faults()
    server.reset_stats()


@pytest.fixture
def fresh() -> Iterator[Client]:
    """A client of a private sandbox whose account a test may change."""
    with SandboxServer(SandboxAccount(SIZE)) as sandbox:
        yield Client(sandbox)


def _first(client: Client, status: str) -> tuple[int, dict[str, Any]]:
    return next((p, b) for p, b in client.backtests() if b["status"].startswith(status))


# --- Authentication (ref §1) ---------------------------------------------------------------------


def test_authenticate_accepts_a_signed_request(client: Client) -> None:
    assert client.call("authenticate") == {"success": True}


def test_wrong_hash_is_a_200_failure_without_the_token(client: Client) -> None:
    headers = signed_headers(token="not-the-token")
    response = client.session.post(client.url + "authenticate", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is False
    stamp = headers["Timestamp"]
    assert re.fullmatch(
        rf"Hash doesn't match\. UID: {SANDBOX_USER_ID} Hash: [0-9a-f]{{64}} Timestamp: {stamp}",
        body["errors"][0],
    )
    assert SANDBOX_API_TOKEN not in response.text


def test_unknown_user_is_a_200_failure(client: Client) -> None:
    response = client.session.post(client.url + "authenticate", headers=signed_headers("42"))
    assert response.json() == {"success": False, "errors": ["UserID not valid"]}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Timestamp": str(int(time.time()))},
        {"Authorization": signed_headers()["Authorization"]},
        {"Authorization": "Basic %%%not-base64", "Timestamp": str(int(time.time()))},
        signed_headers(timestamp=int(time.time()) - 7_201),
    ],
    ids=["none", "no-authorization", "no-timestamp", "garbled", "stale"],
)
def test_missing_garbled_or_stale_auth_is_401(client: Client, headers: dict[str, str]) -> None:
    response = client.session.post(client.url + "projects/read", headers=headers)
    assert response.status_code == 401
    assert response.json()["success"] is False


# --- Endpoints -----------------------------------------------------------------------------------


def test_projects_read_all_one_and_windows(client: Client) -> None:
    projects = client.call("projects/read")["projects"]
    assert len(projects) == SIZE.projects
    assert {"projects", "versions", "success", "errors"} <= client.call("projects/read").keys()
    one = client.call("projects/read", projectId=projects[1]["projectId"])["projects"]
    assert one == [projects[1]]
    assert client.call("projects/read", start=0, end=1)["projects"] == projects[:1]
    assert client.call("projects/read", start=1, end=1)["success"] is False
    assert client.call("projects/read", projectId=1)["success"] is False
    assert all(re.fullmatch(r"[0-9a-f]{32}", p["organizationId"]) for p in projects)


def test_get_and_form_bodies_work_like_json(client: Client) -> None:
    project_id, backtest = client.backtests()[0]
    params = {"projectId": project_id, "backtestId": backtest["backtestId"]}
    by_json = client.call("backtests/read", **params)
    by_get = client.session.get(
        client.url + "backtests/read", params=params, headers=signed_headers()
    )
    by_form = client.session.post(
        client.url + "backtests/read", data=params, headers=signed_headers()
    )
    assert by_get.json() == by_form.json() == by_json


def test_backtests_list_adds_numbers_only_with_include_statistics(client: Client) -> None:
    project_id = client.call("projects/read")["projects"][0]["projectId"]
    plain = client.call("backtests/list", projectId=project_id)
    full = client.call("backtests/list", projectId=project_id, includeStatistics=True)
    assert plain["count"] == len(plain["backtests"]) == SIZE.backtests_per_project
    assert "sharpeRatio" not in plain["backtests"][0]
    summary = full["backtests"][0]
    assert isinstance(summary["sharpeRatio"], float) and isinstance(summary["securityTypes"], str)
    assert summary["trades"] == client.orders(project_id, summary["backtestId"], 0, 100)["length"]
    assert client.call("backtests/list", projectId=1) == {
        "success": False,
        "errors": ["Project not found: 1"],
    }


def test_finished_backtests_state_the_served_order_count(client: Client) -> None:
    finished = [
        (p, b) for p, b in client.backtests() if b["status"] in ("Completed.", "Runtime Error")
    ]
    assert any(b["status"] == "Runtime Error" for _, b in finished)
    for project_id, summary in finished:
        read = client.call("backtests/read", projectId=project_id, backtestId=summary["backtestId"])
        backtest = read["backtest"]
        assert backtest["completed"] is True and isinstance(backtest["statistics"], dict)
        stated = backtest["statistics"].get(
            "Total Orders", backtest["statistics"].get("Total Trades")
        )
        length = client.orders(project_id, summary["backtestId"], 0, 1)["length"]
        assert stated == str(length)
        assert re.fullmatch(r"\D-?[\d,]+\.\d\d", backtest["runtimeStatistics"]["Equity"])
        datetime.fromisoformat(backtest["created"])  # "yyyy-MM-dd HH:mm:ss" or ISO "...Z"
        if summary["status"] == "Runtime Error":
            assert backtest["error"] and backtest["stacktrace"]
    assert client.call("backtests/read", projectId=finished[0][0], backtestId="0" * 32) == {
        "success": False,
        "errors": ["Backtest not found"],
    }


# --- Orders paging (ref §6) ----------------------------------------------------------------------


def test_orders_window_of_100_is_the_widest(client: Client) -> None:
    project_id, backtest = client.backtests()[0]
    page = client.orders(project_id, backtest["backtestId"], 0, 100)
    assert page["success"] is True and len(page["orders"]) == 100
    too_wide = client.orders(project_id, backtest["backtestId"], 0, 101)
    assert too_wide["success"] is False and "100" in too_wide["errors"][0]
    for start, end in [(-1, 50), (50, 50), (60, 50)]:
        assert client.orders(project_id, backtest["backtestId"], start, end)["success"] is False


def test_paging_a_whole_number_of_pages_ends_on_an_empty_page(client: Client) -> None:
    project_id, backtest = client.backtests()[0]  # the first backtest has a multiple of 100
    collected: list[dict[str, Any]] = []
    start = 0
    while True:
        page = client.orders(project_id, backtest["backtestId"], start, start + 100)
        collected += page["orders"]
        if len(page["orders"]) < 100:
            break
        start += 100
    total = page["length"]
    assert total % 100 == 0 and total >= 100 and page["orders"] == []
    ids = [order.get("id", order.get("Id")) for order in collected]  # either dialect
    assert ids == list(range(1, total + 1))


def test_a_backtest_without_orders_serves_an_empty_page(client: Client) -> None:
    project_id, backtest = client.backtests()[1]
    assert client.orders(project_id, backtest["backtestId"], 0, 100) == {
        "orders": [],
        "length": 0,
        "success": True,
    }


def test_served_orders_equal_the_accounts(client: Client, server: SandboxServer) -> None:
    project_id, backtest = client.backtests()[2]
    backtest_id = backtest["backtestId"]
    total = server.account.total_orders(backtest_id)
    served = [
        order
        for start in range(0, total, 100)
        for order in client.orders(project_id, backtest_id, start, start + 100)["orders"]
    ]
    assert served == server.account.orders(backtest_id)


# --- Data shapes (ref §6) ------------------------------------------------------------------------

TYPE_KEYS = {
    "limitPrice": {1, 3, 7, 10},
    "stopPrice": {2, 3, 11},
    "stopTriggered": {3},
    "triggerPrice": {7},
    "triggerTouched": {7},
    "trailingAmount": {11},
    "trailingAsPercentage": {11},
    "groupOrderManager": {8, 9, 10},
}


def _all_orders(account: SandboxAccount) -> list[dict[str, Any]]:
    return [
        order
        for project in account.projects()
        for backtest in account.backtests(project["projectId"])
        for order in account.orders(backtest["backtestId"])
    ]


def test_orders_and_events_have_the_apis_shapes() -> None:
    orders = [o for o in _all_orders(SandboxAccount(SandboxSize(6, 6, 200), seed=11)) if "id" in o]
    assert {order["type"] for order in orders} == set(range(12))
    for order in orders:
        for key, types in TYPE_KEYS.items():
            assert (key in order) == (order["type"] in types), (key, order)
        assert order["status"] in {1, 2, 3, 5, 7} and order["direction"] == (order["quantity"] < 0)
        assert order.get("tag", "omitted") != ""
        assert order["time"].endswith("Z") and order["createdTime"] == order["time"]
        assert ("underlying" in order["symbol"]) == (order["securityType"] in (2, 8, 10))
        times = [event["time"] for event in order["events"]]
        assert times == sorted(times) and all(isinstance(t, float) for t in times)
        for number, event in enumerate(order["events"], start=1):
            assert event["id"] == f"{event['algorithmId']}-{order['id']}-{number}"
            assert event["status"] in {
                "submitted",
                "partiallyFilled",
                "filled",
                "canceled",
                "invalid",
                "updateSubmitted",
            }
            assert event["direction"] in {"buy", "sell"}
            assert ("orderFeeAmount" in event) <= (event["status"] in {"filled", "partiallyFilled"})
    events = [event for order in orders for event in order["events"]]
    assert 2.0 < len(events) / len(orders) < 3.5


def test_older_backtests_serve_the_2024_dialect() -> None:
    """PascalCase orders with kebab-case events, as the real 2024-03 orders reply has them."""
    orders = [o for o in _all_orders(SandboxAccount(SandboxSize(6, 6, 200), seed=11)) if "Id" in o]
    assert orders
    for order in orders:
        assert {"Type", "Id", "Symbol", "Properties", "Events"} <= order.keys()
        assert {"Value", "ID", "Permtick"} <= order["Symbol"].keys()
        assert "TimeInForce" in order["Properties"]
        for event in order["Events"]:
            assert {"order-id", "order-event-id", "fill-price", "is-assignment"} <= event.keys()
            assert list(event)[:2] == ["symbol-value", "symbol-permtick"]


# --- Determinism and account changes ----------------------------------------------------------


def _raw_bodies(client: Client) -> list[bytes]:
    project_id, backtest = client.backtests()[0]
    backtest_id = backtest["backtestId"]
    requests_ = [
        ("projects/read", {}),
        ("backtests/list", {"projectId": project_id, "includeStatistics": True}),
        ("backtests/read", {"projectId": project_id, "backtestId": backtest_id}),
        (ORDERS, {"projectId": project_id, "backtestId": backtest_id, "start": 0, "end": 100}),
    ]
    return [client.post(endpoint, **params).content for endpoint, params in requests_]


def test_the_same_seed_serves_identical_bytes() -> None:
    with (
        SandboxServer(SandboxAccount(SIZE, seed=5)) as first,
        SandboxServer(SandboxAccount(SIZE, seed=5)) as second,
        SandboxServer(SandboxAccount(SIZE, seed=6)) as other,
    ):
        assert _raw_bodies(Client(first)) == _raw_bodies(Client(second))
        assert _raw_bodies(Client(first)) != _raw_bodies(Client(other))


def test_running_backtests_serve_a_prefix_until_completed(fresh: Client) -> None:
    project_id, running = _first(fresh, "Running")
    backtest_id = running["backtestId"]
    read = fresh.call("backtests/read", projectId=project_id, backtestId=backtest_id)["backtest"]
    assert read["completed"] is False and read["statistics"] == []
    assert read["totalPerformance"] is None
    before = fresh.orders(project_id, backtest_id, 0, 100)["length"]

    completed = fresh.admin("POST", "complete_running")["backtestIds"]
    assert backtest_id in completed

    read = fresh.call("backtests/read", projectId=project_id, backtestId=backtest_id)["backtest"]
    after = fresh.orders(project_id, backtest_id, 0, 100)["length"]
    assert read["completed"] is True and read["status"] == "Completed."
    assert after > before
    stated = read["statistics"].get("Total Orders", read["statistics"].get("Total Trades"))
    assert stated == str(after)
    assert not any(b["status"].startswith(("Running", "In Queue")) for _, b in fresh.backtests())


def test_add_backtests_appends_completed_ones(fresh: Client) -> None:
    project_id = fresh.call("projects/read")["projects"][1]["projectId"]
    added = fresh.admin("POST", "add_backtests", {"projectId": project_id, "count": 2})[
        "backtestIds"
    ]
    listed = fresh.call("backtests/list", projectId=project_id)["backtests"]
    assert [b["backtestId"] for b in listed[-2:]] == added
    assert all(b["status"] == "Completed." for b in listed[-2:])
    assert fresh.orders(project_id, added[0], 0, 100)["length"] > 0


# --- Faults --------------------------------------------------------------------------------------

Outcome = requests.Response | requests.RequestException


def _is_json(outcome: Outcome) -> bool:
    try:
        assert isinstance(outcome, requests.Response)
        outcome.json()
    except (AssertionError, ValueError):
        return False
    return True


FAULT_SIGNS: dict[str, Callable[[Outcome], bool]] = {
    "500": lambda o: isinstance(o, requests.Response) and o.status_code == 500,
    "502": lambda o: isinstance(o, requests.Response) and o.status_code == 502,
    "503": lambda o: isinstance(o, requests.Response) and o.status_code == 503,
    "429": lambda o: isinstance(o, requests.Response) and o.headers.get("Retry-After") == "0",
    "try_again": lambda o: _is_json(o) and "try again later" in str(o.json().get("errors")),
    "drop": lambda o: isinstance(o, requests.ConnectionError),
    "truncate": lambda o: isinstance(o, requests.exceptions.ChunkedEncodingError),
    "html": lambda o: isinstance(o, requests.Response) and o.status_code == 200 and not _is_json(o),
    "malformed": lambda o: isinstance(o, requests.Response) and not _is_json(o),
}


def _page(client: Client, project_id: int, backtest_id: str, start: int = 0) -> Outcome:
    try:
        return client.post(
            ORDERS, projectId=project_id, backtestId=backtest_id, start=start, end=start + 100
        )
    except requests.RequestException as exc:
        return exc


@pytest.mark.parametrize("kind", sorted(FAULT_SIGNS))
def test_each_fault_fires_count_times_then_stops(client: Client, kind: str) -> None:
    project_id, backtest = client.backtests()[0]
    rule = {"kind": kind, "endpoint": ORDERS, "count": 2, "retry_after": 0}
    client.admin("POST", "faults", {"rules": [rule]})
    outcomes = [_page(client, project_id, backtest["backtestId"]) for _ in range(3)]
    assert [FAULT_SIGNS[kind](o) for o in outcomes] == [True, True, False]
    assert _is_json(outcomes[2]) and outcomes[2].json()["success"] is True
    assert client.admin("GET", "stats")["faults"] == 2


def test_latency_fault_delays_then_answers(client: Client) -> None:
    client.admin("POST", "faults", {"rules": [{"kind": "latency", "seconds": 0.2, "count": 1}]})
    started = time.perf_counter()
    assert client.call("authenticate")["success"] is True
    assert time.perf_counter() - started >= 0.2
    started = time.perf_counter()
    client.call("authenticate")
    assert time.perf_counter() - started < 0.2


def test_fault_match_only_hits_matching_requests(client: Client) -> None:
    project_id, backtest = client.backtests()[0]
    backtest_id = backtest["backtestId"]
    rule = {"kind": "503", "match": {"backtestId": backtest_id, "start": 100}}
    client.admin("POST", "faults", {"rules": [rule]})
    assert _page(client, project_id, backtest_id, 0).status_code == 200
    assert _page(client, project_id, backtest_id, 100).status_code == 503
    assert _page(client, project_id, backtest_id, 100).status_code == 503


def test_probabilistic_faults_are_reproducible() -> None:
    def pattern() -> list[int]:
        with SandboxServer(SandboxAccount(SandboxSize(1, 1, 1))) as sandbox:
            sandbox.set_faults([{"kind": "500", "probability": 0.5, "seed": 3}])
            client = Client(sandbox)
            return [client.post("authenticate").status_code for _ in range(20)]

    first = pattern()
    assert first == pattern() and {200, 500} == set(first)


def test_stats_count_every_api_request(client: Client) -> None:
    client.admin("POST", "stats/reset")
    client.admin("POST", "faults", {"rules": [{"kind": "500", "count": 1}]})
    assert client.post("authenticate").status_code == 500
    client.call("authenticate")
    client.session.post(client.url + "authenticate", headers=signed_headers(token="wrong"))
    client.session.post(client.url + "projects/read")
    assert client.admin("GET", "stats") == {
        "requests": {"authenticate": 3, "projects/read": 1},
        "total": 4,
        "faults": 1,
        "auth_failures": 2,
        "rate_limit": None,
        "rate_limited": 0,
    }


def test_fault_specs_of_the_command_line() -> None:
    assert parse_fault_spec("500:0.05") == {"kind": "500", "endpoint": "*", "probability": 0.05}
    assert parse_fault_spec("429@backtests/orders/read:3") == {
        "kind": "429",
        "endpoint": "backtests/orders/read",
        "count": 3,
    }
    assert parse_fault_spec('{"kind": "latency", "seconds": 0.5}')["seconds"] == 0.5
    with pytest.raises(ValueError):
        parse_fault_spec("teapot:1")


# --- Serving -------------------------------------------------------------------------------------


def test_concurrent_keep_alive_clients_page_consistently(server: SandboxServer) -> None:
    listing = Client(server).backtests()

    def fetch(item: tuple[int, dict[str, Any]]) -> list[dict[str, Any]]:
        client, (project_id, backtest) = Client(server), item
        total = server.account.total_orders(backtest["backtestId"])
        return [
            order
            for start in range(0, total, 100)
            for order in client.orders(project_id, backtest["backtestId"], start, start + 100)[
                "orders"
            ]
        ]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(fetch, listing))
    assert results == [server.account.orders(b["backtestId"]) for _, b in listing]


def test_command_line_prints_the_url_and_stops_on_sigterm() -> None:
    command = [sys.executable, "-m", "pipelines.sandbox", "--port", "0", "--projects", "1"]
    command += ["--backtests", "3", "--orders", "10", "--fault", "503@authenticate:1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.match(
            r"QuantConnect sandbox listening on (http://127\.0\.0\.1:\d+/api/v2/)", line
        )
        assert match, line
        assert "QC_API_TOKEN=" in process.stdout.readline()
        url = match.group(1)
        statuses = [requests.post(url + "authenticate", headers=signed_headers()) for _ in range(2)]
        assert [r.status_code for r in statuses] == [503, 200]
        assert json.loads(statuses[1].text) == {"success": True}
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=5)
    assert process.returncode == 0
