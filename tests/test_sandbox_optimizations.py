"""The sandbox's optimizations over HTTP: grids whose backtests are the account's own backtests,
their statistics in both of the API's formats, and the write endpoints' state
(reference-results §1)."""

from __future__ import annotations

import base64
import hashlib
import math
import re
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
import requests

from pipelines.sandbox import (
    SANDBOX_API_TOKEN,
    SANDBOX_USER_ID,
    SIZES,
    SandboxAccount,
    SandboxServer,
    SandboxSize,
)
from pipelines.schema.optimizations import OPTIMIZATION_STATISTICS

Json = dict[str, Any]
# Lean's StatisticsIndices (reference-results §1.4), as the warehouse reads them: the sandbox
# (which shares no code with the reader) must write what the reader expects.
INDEX = OPTIMIZATION_STATISTICS
NOT_IN_ARRAYS = {
    "Portfolio Turnover",
    "Sortino Ratio",
    "Start Equity",
    "End Equity",
    "Drawdown Recovery",
}
STATUSES = {"new", "running", "completed", "aborted"}
SUMMARY_KEYS = {
    "optimizationId",
    "projectId",
    "name",
    "status",
    "nodeType",
    "criterion",
    "created",
    "psr",
    "sharpeRatio",
    "trades",
    "cloneId",
    "outOfSampleDays",
    "outOfSampleMaxEndDate",
    "parameters",
}
UI_TIME, ISO_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
CREATE = {
    "name": "Sweep",
    "target": "TotalPerformance.PortfolioStatistics.SharpeRatio",
    "targetTo": "max",
    "targetValue": None,
    "strategy": "QuantConnect.Optimizer.Strategies.GridSearchOptimizationStrategy",
    "compileId": "c0edc6-49048b",
    "parameters": [
        {"name": "lookback", "min": 10, "max": 30, "step": 10},
        {"name": "threshold", "min": 0.5, "max": 1, "step": 0.5, "minStep": 0.25},
        {"name": "rebalance", "value": "weekly"},
    ],
    "constraints": [
        {
            "target": "TotalPerformance.PortfolioStatistics.Drawdown",
            "operator": "LessOrEqual",
            "targetValue": 0.9,
        }
    ],
    "estimatedCost": 0.06,
    "nodeType": "O2-8",
    "parallelNodes": 2,
}


def _signed() -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hashlib.sha256(f"{SANDBOX_API_TOKEN}:{stamp}".encode()).hexdigest()
    credentials = base64.b64encode(f"{SANDBOX_USER_ID}:{digest}".encode()).decode()
    return {"Authorization": f"Basic {credentials}", "Timestamp": stamp}


class Client:
    """A signed API client and an admin client for one sandbox."""

    def __init__(self, server: SandboxServer) -> None:
        self.url = server.url
        self.admin_url = server.url.replace("/api/v2/", "/sandbox/")
        self.session = requests.Session()

    def raw(self, endpoint: str, **params: Any) -> bytes:
        """The reply body of a signed JSON POST."""
        reply = self.session.post(self.url + endpoint, json=params, headers=_signed())
        assert reply.status_code == 200, reply.text
        return reply.content

    def call(self, endpoint: str, **params: Any) -> Json:
        """A signed JSON POST's decoded reply."""
        reply = self.session.post(self.url + endpoint, json=params, headers=_signed())
        assert reply.status_code == 200, reply.text
        return reply.json()

    def ok(self, endpoint: str, **params: Any) -> Json:
        """A reply that must succeed."""
        reply = self.call(endpoint, **params)
        assert reply["success"] is True and reply.get("errors", []) == [], reply
        return reply

    def admin(self, action: str) -> Json:
        """POST an admin endpoint."""
        reply = self.session.post(self.admin_url + action)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def projects(self) -> list[int]:
        """Every project id."""
        return [p["projectId"] for p in self.ok("projects/read")["projects"]]

    def optimizations(self) -> list[Json]:
        """Every project's optimization summaries."""
        return [
            summary
            for project_id in self.projects()
            for summary in self.ok("optimizations/list", projectId=project_id)["optimizations"]
        ]

    def read(self, optimization_id: str) -> Json:
        """`optimizations/read`'s optimization."""
        return self.ok("optimizations/read", optimizationId=optimization_id)["optimization"]

    def listed(self, project_id: int, statistics: bool = False) -> dict[str, Json]:
        """A project's `backtests/list` entries by id."""
        reply = self.ok("backtests/list", projectId=project_id, includeStatistics=statistics)
        return {b["backtestId"]: b for b in reply["backtests"]}

    def fails(self, endpoint: str, **params: Any) -> str:
        """The error of a reply that must fail with the API's envelope."""
        reply = self.call(endpoint, **params)
        assert reply["success"] is False and reply["errors"], reply
        assert isinstance(reply["errors"][0], str) and reply["errors"][0]
        return reply["errors"][0]


@pytest.fixture(scope="module")
def demo() -> Iterator[Client]:
    """The demo preset, read only (planned optimizations change only through the admin)."""
    with SandboxServer(SandboxAccount(SIZES["demo"])) as server:
        yield Client(server)


@pytest.fixture
def fresh() -> Iterator[Client]:
    """A private demo sandbox a test may change."""
    with SandboxServer(SandboxAccount(SIZES["demo"])) as server:
        yield Client(server)


@pytest.fixture(scope="module")
def reads(demo: Client) -> list[tuple[Json, Json]]:
    """Every demo optimization's summary and read."""
    return [(s, demo.read(s["optimizationId"])) for s in demo.optimizations()]


def number(text: str) -> float | None:
    """A statistic as Lean's converter parses it: `%` gone, a leading currency stripped."""
    stripped = re.sub(r"^[^\d\s+-]+", "", text.replace("%", "")).replace(",", "").strip()
    return float(stripped) if re.fullmatch(r"[+-]?\d+(\.\d+)?", stripped) else None


def grid_size(parameters: list[Json]) -> int:
    """The parameter sets of a grid: floor((max - min) / step) + 1 per step parameter."""
    sizes = [
        int((Decimal(str(p["max"])) - Decimal(str(p["min"]))) // Decimal(str(p["step"]))) + 1
        for p in parameters
        if "step" in p
    ]
    return math.prod(sizes)


def states(read: Json, listed: dict[str, Json]) -> Counter[str]:
    """The `backtests/list` statuses of an optimization's backtests."""
    return Counter(listed[e["id"]]["status"].split(":")[0] for e in entries(read))


def entries(read: Json) -> list[Json]:
    """An optimization's backtests (`[]` when it has none)."""
    return list(read["backtests"].values()) if read["backtests"] != [] else []


# --- Planned optimizations -----------------------------------------------------------------------


@pytest.mark.parametrize("preset", list(SIZES))
def test_every_preset_plans_each_kind_within_its_backtests(preset: str) -> None:
    size = SIZES[preset]
    account = SandboxAccount(size)
    planned = account.optimizations.all()
    kinds = {(o.status, o.legacy) for o in planned}
    assert {("completed", True), ("completed", False), ("new", False)} <= kinds
    assert {"aborted", "running"} <= {o.status for o in planned}
    aborted = next(o for o in planned if o.status == "aborted")
    assert None in aborted.backtest_ids and aborted.launched  # some done, some never run
    running = next(o for o in planned if o.status == "running")
    running_states = Counter(account.record(b).state for _, b in running.launched)
    assert running_states["completed"] and running_states["running"]
    assert running_states["queued"] or preset == "demo"
    for project in account.projects():  # the presets' sizes stay what benchmarks expect
        assert len(account.backtests(project["projectId"])) == size.backtests_per_project
    used = sum(len(o.launched) for o in planned)
    assert 0.2 <= used / (size.projects * size.backtests_per_project) <= 0.5
    again = SandboxAccount(size).optimizations.all()
    assert [o.backtest_ids for o in again] == [o.backtest_ids for o in planned]


def test_small_sizes_still_hold_optimizations() -> None:
    account = SandboxAccount(SandboxSize(projects=2, backtests_per_project=4))
    assert {o.status for o in account.optimizations.all()} == {"completed", "running"}
    assert all(len(account.backtests(p["projectId"])) == 4 for p in account.projects())
    assert not SandboxAccount(SandboxSize(projects=2, backtests_per_project=2)).optimizations.all()


def test_optimization_backtests_are_listed_backtests(
    demo: Client, reads: list[tuple[Json, Json]]
) -> None:
    owned: dict[str, str] = {}
    for summary, read in reads:
        assert read["status"] == summary["status"] and read["status"] in STATUSES
        listed = demo.listed(read["projectId"])
        for key, entry in (read["backtests"] or {}).items():
            assert key != entry["id"] and entry["id"] in listed
            backtest = listed[entry["id"]]
            assert backtest["optimizationId"] == read["optimizationId"]
            assert backtest["parameterSet"] == entry["parameterSet"] and entry["parameterSet"]
            assert all(isinstance(v, str) for v in entry["parameterSet"].values())
            assert backtest["name"] == entry["name"]
            owned[entry["id"]] = read["optimizationId"]
            full = demo.ok("backtests/read", projectId=read["projectId"], backtestId=entry["id"])
            assert full["backtest"]["optimizationId"] == read["optimizationId"]
            assert full["backtest"]["parameterSet"] == entry["parameterSet"]
            if "startDate" in entry:
                assert full["backtest"]["backtestStart"][:10] == entry["startDate"][:10]
                assert full["backtest"]["backtestEnd"][:10] == entry["endDate"][:10]
            days = read["outOfSampleDays"]
            assert full["backtest"]["outOfSampleDays"] == days == entry.get("outOfSampleDays", 0)
    every = {
        b["backtestId"]: b["optimizationId"]
        for project_id in demo.projects()
        for b in demo.listed(project_id).values()
    }
    assert {b: o for b, o in every.items() if o is not None} == owned  # no stray optimization id
    assert any(read["outOfSampleMaxEndDate"] for _, read in reads)


def test_statistics_in_both_formats_are_the_backtests_own(
    demo: Client, reads: list[tuple[Json, Json]]
) -> None:
    formats, lengths = set(), set()
    for _, read in reads:
        for entry in entries(read):
            backtest = demo.ok(
                "backtests/read", projectId=read["projectId"], backtestId=entry["id"]
            )
            printed = backtest["backtest"]["statistics"]
            if not isinstance(printed, dict) or not printed:
                assert "statistics" not in entry  # unfinished
                continue
            served = entry["statistics"]
            if isinstance(served, list):
                formats.add("array")
                lengths.add(len(served))
                names = sorted(n for n in printed if n not in NOT_IN_ARRAYS)
                expected = [number(printed[n]) for n in names if number(printed[n]) is not None]
                assert served == expected
                if len(served) == 21:  # positions 0-20 mean the index table's names
                    orders = "Total Orders" if "Total Orders" in printed else "Total Trades"
                    table = [orders if n == "Total Orders" else n for n in INDEX[:21]]
                    assert served == [number(printed[n]) for n in table]
            else:
                formats.add("object")
                named = {INDEX[int(k)] if k.isdigit() else k: v for k, v in served.items()}
                expected = {n: number(v) for n, v in printed.items() if number(v) is not None}
                assert named == expected
                assert "Portfolio Turnover" in served  # a custom name, as itself
    assert formats == {"array", "object"}
    assert 21 in lengths and min(lengths) < 21  # a runtime error's "-" shortens an array


def test_runtime_statistics_count_the_backtests_states(
    demo: Client, reads: list[tuple[Json, Json]]
) -> None:
    seen = set()
    for _, read in reads:
        seen.add(read["status"])
        runtime = read["runtimeStatistics"]
        if read["status"] == "new":
            assert runtime == [] and read["backtests"] == []
            continue
        counted = states(read, demo.listed(read["projectId"]))
        assert runtime["Completed"] == str(counted["Completed."])
        assert runtime["Failed"] == str(counted["Runtime Error"])
        assert runtime["Running"] == str(counted["Running"])
        assert runtime["In Queue"] == str(counted["In Queue..."])
        assert runtime["Total"] == str(grid_size(read["parameters"]))
        assert all(re.fullmatch(r"\d\d+:\d\d:\d\d", runtime[k]) for k in ("Average Length",))
        assert re.fullmatch(r"\d\d+:\d\d:\d\d", runtime["Total Runtime"])
        failed = [e for e in entries(read) if e["exitCode"] != 0]
        assert len(failed) == counted["Runtime Error"]
        if read["status"] == "aborted":
            assert int(runtime["Total"]) > len(entries(read)) == counted["Completed."] + len(failed)
        if read["status"] == "completed":
            assert len(entries(read)) == int(runtime["Total"])
        if read["status"] == "running":
            assert counted["Running"] and counted["Completed."]
    assert seen == STATUSES


def test_list_summaries_carry_their_best_backtest(
    demo: Client, reads: list[tuple[Json, Json]]
) -> None:
    formats = set()
    for summary, read in reads:
        assert set(summary) == SUMMARY_KEYS
        formats.add("iso" if re.fullmatch(ISO_TIME, summary["created"]) else "ui")
        assert re.fullmatch(f"{UI_TIME}|{ISO_TIME}", read["requested"])
        assert summary["parameters"] == read["parameters"]
        assert summary["criterion"]["target"] == read["optimizationTarget"]
        listed = demo.listed(read["projectId"], statistics=True)
        completed = [listed[e["id"]] for e in entries(read) if e["exitCode"] == 0]
        completed = [b for b in completed if b["status"] == "Completed."]
        if summary["psr"] is None:
            assert summary["sharpeRatio"] is None and summary["trades"] is None
            continue
        numbers = {(b["psr"], b["sharpeRatio"], b["trades"]) for b in completed}
        assert (summary["psr"], summary["sharpeRatio"], summary["trades"]) in numbers
        sharpe = read["criterion"]["target"].endswith("SharpeRatio")
        if sharpe and read["criterion"]["extremum"] == "max" and not read["constraints"]:
            assert summary["sharpeRatio"] == max(b["sharpeRatio"] for b in completed)
    assert formats == {"iso", "ui"}
    assert any(s["psr"] is not None for s, _ in reads)


def test_completed_newer_optimizations_carry_an_analysis(reads: list[tuple[Json, Json]]) -> None:
    analysed = [read for _, read in reads if "analysis" in read]
    assert analysed and all(read["status"] == "completed" for read in analysed)
    for read in analysed:
        analysis = read["analysis"]
        finished = [e for e in entries(read) if "statistics" in e]
        assert analysis["backtestCountTotal"] == len(finished)
        assert analysis["clusters"] == [] and analysis["modes"] == []
        sharpes = [e["statistics"]["15"] for e in finished if e["exitCode"] == 0]
        assert analysis["overallSharpe"]["max"] == max(sharpes)
        assert analysis["best"]["sharpeRatio"] == max(sharpes)
    assert any(r["status"] == "completed" and "analysis" not in r for _, r in reads)


def test_the_same_seed_serves_identical_optimization_bytes() -> None:
    def bodies(seed: int) -> list[bytes]:
        with SandboxServer(SandboxAccount(SIZES["demo"], seed=seed)) as server:
            client = Client(server)
            project_id = client.projects()[1]
            found = [client.raw("optimizations/list", projectId=p) for p in client.projects()]
            found += [
                client.raw("optimizations/read", optimizationId=s["optimizationId"])
                for s in client.optimizations()
            ]
            found.append(client.raw("optimizations/create", **CREATE, projectId=project_id))
            created = client.call("optimizations/list", projectId=project_id)["optimizations"]
            found += [
                client.raw("optimizations/read", optimizationId=created[-1]["optimizationId"])
                for _ in range(3)
            ]
            return found

    assert bodies(5) == bodies(5)
    assert bodies(5) != bodies(6)


# --- Write endpoints -----------------------------------------------------------------------------


def test_a_created_optimization_runs_over_reads(fresh: Client) -> None:
    project_id = fresh.projects()[1]
    before = fresh.listed(project_id)
    created = fresh.ok("optimizations/create", **CREATE, projectId=project_id)["optimizations"]
    assert len(created) == 1 and created[0]["status"] == "new" and set(created[0]) == SUMMARY_KEYS
    optimization_id = created[0]["optimizationId"]
    assert re.fullmatch(r"O-[0-9a-f]{32}", optimization_id)
    listed = fresh.ok("optimizations/list", projectId=project_id)["optimizations"]
    assert listed[-1] == created[0]
    assert fresh.listed(project_id) == before  # nothing runs until it is read
    history = []
    for _ in range(6):
        read = fresh.read(optimization_id)
        history.append(read["status"])
        counted = states(read, fresh.listed(project_id))
        assert read["runtimeStatistics"]["Completed"] == str(counted["Completed."])
        assert read["runtimeStatistics"]["Running"] == str(counted["Running"])
        assert read["runtimeStatistics"]["In Queue"] == str(counted["In Queue..."])
        assert counted["Running"] <= CREATE["parallelNodes"]
    # 3 x 2 parameter sets on 2 nodes: launched, then one round of two per read.
    assert history == ["running", "running", "running", "completed", "completed", "completed"]
    assert len(entries(read)) == 6 and read["runtimeStatistics"]["Total"] == "6"
    assert {tuple(e["parameterSet"].items()) for e in entries(read)} == {
        (("rebalance", "weekly"), ("threshold", t), ("lookback", lb))
        for lb in ("10", "20", "30")
        for t in ("0.5", "1.0")
    }
    now = fresh.listed(project_id)
    assert list(now)[: len(before)] == list(before)  # appended, completed
    assert all(now[e["id"]]["status"] == "Completed." for e in entries(read))
    assert all(isinstance(e["statistics"], dict) for e in entries(read))
    assert "analysis" in read and re.fullmatch(ISO_TIME, read["requested"])
    best = fresh.ok("optimizations/list", projectId=project_id)["optimizations"][-1]
    assert best["status"] == "completed" and best["sharpeRatio"] is not None


def test_concurrent_reads_advance_one_step_each(fresh: Client) -> None:
    project_id = fresh.projects()[2]
    request = CREATE | {"parallelNodes": 1, "projectId": project_id}
    created = fresh.ok("optimizations/create", **request)["optimizations"][0]

    def read(_: int) -> str:
        body = {"optimizationId": created["optimizationId"]}
        reply = requests.post(fresh.url + "optimizations/read", json=body, headers=_signed())
        return reply.json()["optimization"]["status"]

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(read, range(6))) == {"running"}  # launched, then 5 rounds of 1
    runtime = fresh.read(created["optimizationId"])["runtimeStatistics"]  # the 6th round
    assert (runtime["Completed"], runtime["Running"], runtime["In Queue"]) == ("6", "0", "0")
    owned = [b for b in fresh.listed(project_id).values() if b["optimizationId"]]
    assert Counter(b["optimizationId"] for b in owned)[created["optimizationId"]] == 6


def test_a_reached_target_value_ends_the_optimization_early(fresh: Client) -> None:
    project_id = fresh.projects()[0]
    request = CREATE | {"targetValue": -100, "parallelNodes": 1, "constraints": []}
    created = fresh.ok("optimizations/create", **request, projectId=project_id)["optimizations"]
    optimization_id = created[0]["optimizationId"]
    assert fresh.read(optimization_id)["status"] == "running"
    read = fresh.read(optimization_id)
    assert read["status"] == "completed" and read["targetValue"] == -100
    assert len(entries(read)) == 1 and read["runtimeStatistics"]["Total"] == "6"
    listed = fresh.listed(project_id)
    assert [b for b in listed.values() if b["optimizationId"] == optimization_id] == [
        listed[entries(read)[0]["id"]]
    ]


def test_form_encoded_create_like_lean_cli(fresh: Client) -> None:
    form = {
        "projectId": fresh.projects()[0],
        "compileId": "c0edc6-49048b",
        "name": "From the CLI",
        "strategy": CREATE["strategy"],
        "target": "TotalPerformance.PortfolioStatistics.SharpeRatio",
        "targetTo": "max",
        "targetValue": "",
        "nodeType": "O4-12",
        "parallelNodes": "3",
        "estimatedCost": "0.01",
        "parameters[0][key]": "lookback",
        "parameters[0][min]": "10.0",
        "parameters[0][max]": "40.0",
        "parameters[0][step]": "10.0",
        "constraints[0][target]": "TotalPerformance.PortfolioStatistics.SharpeRatio",
        "constraints[0][operator]": "GreaterOrEqual",
        "constraints[0][target-value]": "0.5",
    }
    reply = fresh.session.post(fresh.url + "optimizations/create", data=form, headers=_signed())
    (summary,) = reply.json()["optimizations"]
    assert summary["parameters"] == [{"name": "lookback", "min": 10.0, "max": 40.0, "step": 10.0}]
    read = fresh.read(summary["optimizationId"])
    assert [e["parameterSet"] for e in entries(read)] == [
        {"lookback": v} for v in ("10.0", "20.0", "30.0", "40.0")
    ]
    assert read["constraints"] == [
        {
            "target": "TotalPerformance.PortfolioStatistics.SharpeRatio",
            "operator": "GreaterOrEqual",
            "targetValue": 0.5,
        }
    ]
    estimate = fresh.session.post(
        fresh.url + "optimizations/estimate", data=form, headers=_signed()
    )
    found = estimate.json()["estimate"]
    assert isinstance(found["estimateId"], str) and found["estimateId"]
    assert isinstance(found["time"], int) and isinstance(found["balance"], int)


def test_abort_stays_aborted_and_withdraws_what_never_ran(fresh: Client) -> None:
    summaries = fresh.optimizations()
    running = next(s for s in summaries if s["status"] == "running")
    project_id, optimization_id = running["projectId"], running["optimizationId"]
    before = fresh.read(optimization_id)
    unfinished = [e["id"] for e in entries(before) if e["progress"] < 1]
    fresh.ok("optimizations/abort", optimizationId=optimization_id)
    read = fresh.read(optimization_id)
    assert read["status"] == "aborted"
    assert read["runtimeStatistics"]["Running"] == read["runtimeStatistics"]["In Queue"] == "0"
    listed = fresh.listed(project_id)
    assert not set(unfinished) & set(listed)
    assert all(listed[e["id"]]["status"] == "Completed." for e in entries(read))
    fresh.admin("complete_running")
    fresh.admin("complete_optimizations")
    assert fresh.read(optimization_id) == read
    assert "aborted" in fresh.fails("optimizations/abort", optimizationId=optimization_id)
    completed = next(s for s in summaries if s["status"] == "completed")
    fresh.fails("optimizations/abort", optimizationId=completed["optimizationId"])
    assert fresh.read(completed["optimizationId"])["status"] == "completed"


def test_delete_vanishes_and_leaves_its_backtests(fresh: Client) -> None:
    completed = next(s for s in fresh.optimizations() if s["status"] == "completed")
    project_id, optimization_id = completed["projectId"], completed["optimizationId"]
    ids = [e["id"] for e in entries(fresh.read(optimization_id))]
    fresh.ok("optimizations/delete", optimizationId=optimization_id)
    listed = fresh.ok("optimizations/list", projectId=project_id)["optimizations"]
    assert optimization_id not in {s["optimizationId"] for s in listed}
    assert fresh.call("optimizations/read", optimizationId=optimization_id) == {
        "success": False,
        "errors": [f"Optimization not found: {optimization_id}"],
    }
    backtests = fresh.listed(project_id)
    assert all(backtests[b]["optimizationId"] == optimization_id for b in ids)
    fresh.fails("optimizations/delete", optimizationId=optimization_id)


def test_update_renames(fresh: Client) -> None:
    summary = fresh.optimizations()[0]
    fresh.ok("optimizations/update", optimizationId=summary["optimizationId"], name="Alert ⚠")
    assert fresh.read(summary["optimizationId"])["name"] == "Alert ⚠"
    fresh.fails("optimizations/update", optimizationId=summary["optimizationId"])


def test_admin_completes_running_optimizations_and_new_ones_wait(fresh: Client) -> None:
    unfinished = [s for s in fresh.optimizations() if s["status"] in ("new", "running")]
    running = next(s for s in unfinished if s["status"] == "running")
    fresh.admin("complete_running")  # finishes the running backtests, so their optimization
    read = fresh.read(running["optimizationId"])
    assert read["status"] == "completed" and read["runtimeStatistics"]["In Queue"] == "0"
    runtime = read["runtimeStatistics"]
    ended = int(runtime["Completed"]) + int(runtime["Failed"])
    assert ended == len(entries(read)) == int(runtime["Total"])
    listed = fresh.listed(running["projectId"])
    assert all(listed[e["id"]]["status"] in ("Completed.", "Runtime Error") for e in entries(read))
    new = next(s for s in unfinished if s["status"] == "new")
    assert fresh.admin("complete_optimizations")["optimizationIds"] == []
    assert fresh.read(new["optimizationId"])["status"] == "new"  # planned ones never start
    created = fresh.ok("optimizations/create", **CREATE, projectId=new["projectId"])
    optimization_id = created["optimizations"][0]["optimizationId"]
    assert fresh.read(optimization_id)["status"] == "running"
    assert fresh.admin("complete_optimizations")["optimizationIds"] == [optimization_id]
    read = fresh.read(optimization_id)
    assert read["status"] == "completed" and read["runtimeStatistics"]["Completed"] == "6"
    listed = fresh.listed(new["projectId"])
    assert all(listed[e["id"]]["status"] == "Completed." for e in entries(read))


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"projectId": 1}, "Project not found: 1"),
        ({"name": ""}, "Missing required parameter: name"),
        ({"targetTo": "up"}, "targetTo"),
        ({"target": "Statistics.Sharpe Ratio"}, "target"),
        ({"strategy": "QuantConnect.Optimizer.Strategies.EulerSearchOptimizationStrategy"}, ""),
        ({"nodeType": "O16-32"}, "node type"),
        ({"parallelNodes": 0}, "parallelNodes"),
        ({"parameters": []}, "parameters"),
        ({"parameters": [{"name": "lookback", "min": 5, "max": 1, "step": 1}]}, "min"),
        ({"parameters": [{"name": "lookback", "min": 1, "max": 5, "step": 0}]}, "positive"),
        ({"constraints": [{"target": CREATE["target"], "operator": "about"}]}, "operator"),
        ({"estimatedCost": None}, "estimatedCost"),
    ],
)
def test_bad_creates_fail_like_the_api(demo: Client, change: dict[str, Any], error: str) -> None:
    request = CREATE | {"projectId": demo.projects()[0]} | change
    assert error in demo.fails("optimizations/create", **request)


def test_unknown_ids_fail_like_the_api(demo: Client) -> None:
    unknown = "O-" + "0" * 32
    for endpoint in ("read", "abort", "delete"):
        assert demo.fails(f"optimizations/{endpoint}", optimizationId=unknown) == (
            f"Optimization not found: {unknown}"
        )
    demo.fails("optimizations/update", optimizationId=unknown, name="x")
    demo.fails("optimizations/read")
    assert demo.fails("optimizations/list", projectId=1) == "Project not found: 1"
