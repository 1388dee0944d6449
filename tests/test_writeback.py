"""Write-back against the sandbox, as a user drives it: `qcw tag`, `qcw project update` and
`qcw prune`, their plans, `api_writes`, the warehouse's reflection, failures part-way, bad
input, interrupted writes settled, and the Dagster jobs and tag rules."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner, Result

from pipelines import warehouse
from pipelines.cli import main
from pipelines.qc.client import QuantConnectClient
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID, SandboxServer
from pipelines.sync import sync_everything
from pipelines.writeback import run_writeback
from pipelines.writeback.audit import record_intent
from pipelines.writeback.endpoints import TAGS
from pipelines.writeback.model import Outcome, Write
from pipelines.writeback.prune import plan_prune
from pipelines.writeback.report import outcome_summary
from pipelines.writeback.rules import plan_tag_rules
from pipelines.writeback.tags import plan_tag_command
from tests.helpers import held_in_another_process, make_resources

ENV = {"QC_USER_ID": SANDBOX_USER_ID, "QC_API_TOKEN": SANDBOX_API_TOKEN}
# Three completed backtests, best Sharpe first: the predicate of the tag acceptance.
TOP_THREE = (
    "backtest_id IN (SELECT backtest_id FROM backtest_summary WHERE status LIKE 'Completed%' "
    "ORDER BY sharpe_ratio DESC, backtest_id LIMIT 3)"
)


@pytest.fixture(params=["file"])
def synced(
    request: pytest.FixtureRequest,
    sandbox: SandboxServer,
    client: QuantConnectClient,
    warehouse_path: Path,
) -> Any:
    """The sandbox synced into the warehouse (a file; a DuckLake too for a test marked
    `BOTH_BACKENDS`); the sandbox's counters zeroed."""
    target = warehouse_path if request.param == "file" else request.getfixturevalue("lake")
    sync(client, target)
    sandbox.reset_stats()
    return target


# Behaviour both backends share: the test runs on the file and on a DuckLake.
BOTH_BACKENDS = pytest.mark.parametrize("synced", ["file", "lake"], indirect=True)


def sync(client: QuantConnectClient, path: warehouse.Target) -> None:
    with warehouse.open_writer(path) as store:
        sync_everything(client, store)


def qcw(
    sandbox: SandboxServer,
    path: warehouse.Target,
    *arguments: str,
    token: str = SANDBOX_API_TOKEN,
) -> Result:
    """`qcw ARGUMENTS` against the sandbox and the warehouse, fast settings."""
    options = [*target_options(path), "--api-url", sandbox.url, "--requests-per-second", "0"]
    env = ENV | {"QC_API_TOKEN": token}
    return CliRunner().invoke(main, [*arguments, *options], env=env, catch_exceptions=False)


def target_options(target: warehouse.Target) -> list[str]:
    """The qcw options that name a file or a lake."""
    if isinstance(target, warehouse.Lake):
        return ["--catalog", target.catalog, "--data-path", target.data_path or ""]
    return ["--warehouse", str(target)]


def rows(path: warehouse.Target, query: str, *parameters: Any) -> list[tuple]:
    with warehouse.connect_reader(path) as conn:
        return conn.execute(query, parameters).fetchall()


def writes_sent(sandbox: SandboxServer, endpoint: str) -> int:
    return sandbox.stats()["requests"].get(endpoint, 0)


def upstream_tags(sandbox: SandboxServer) -> dict[str, list[str]]:
    account = sandbox.account
    return {
        b["backtestId"]: b["tags"]
        for p in account.projects()
        for b in account.backtests(p["projectId"])
    }


def warehouse_tags(path: warehouse.Target) -> dict[str, list[str]]:
    return {
        b: list(t or [])
        for b, t in rows(
            path, "SELECT backtest_id, tags FROM backtests WHERE deleted_upstream_at IS NULL"
        )
    }


def top_three(path: warehouse.Target) -> list[str]:
    """The backtests TOP_THREE chooses, in the order a plan writes them."""
    query = f"SELECT backtest_id FROM backtests WHERE {TOP_THREE} ORDER BY project_id, created_at"
    return [r[0] for r in rows(path, query)]


# --- Tags ----------------------------------------------------------------------------------------


@BOTH_BACKENDS
def test_tags_add_remove_set_keep_other_tags_and_agree_everywhere(sandbox, synced):
    chosen = top_three(synced)
    assert len(chosen) == 3
    before = upstream_tags(sandbox)

    def check(expected: dict[str, list[str]], requests: int, audited: int) -> None:
        upstream = upstream_tags(sandbox)
        assert {b: sorted(t) for b, t in upstream.items()} == {
            b: sorted(t) for b, t in expected.items()
        }
        assert {b: sorted(t) for b, t in warehouse_tags(synced).items()} == {
            b: sorted(t) for b, t in upstream.items()
        }
        assert writes_sent(sandbox, TAGS) == requests
        assert rows(synced, "SELECT count(*) FROM api_writes WHERE outcome = 'ok'")[0][0] == audited

    done = qcw(
        sandbox,
        synced,
        "tag",
        "add",
        "candidate",
        "review",
        "--where",
        TOP_THREE,
        "--apply",
        "--yes",
    )
    assert done.exit_code == 0, done.output
    added = {
        b: t + [x for x in ("candidate", "review") if x not in t] if b in chosen else t
        for b, t in before.items()
    }
    check(added, 3, 3)
    assert "3 applied" in done.output

    done = qcw(sandbox, synced, "tag", "remove", "review", "--where", TOP_THREE, "--apply", "--yes")
    assert done.exit_code == 0, done.output
    removed = {b: [x for x in t if x != "review" or b not in chosen] for b, t in added.items()}
    check(removed, 6, 6)

    done = qcw(sandbox, synced, "tag", "set", "final", "--backtest", chosen[0], "--apply", "--yes")
    assert done.exit_code == 0, done.output
    check(removed | {chosen[0]: ["final"]}, 7, 7)

    again = qcw(sandbox, synced, "tag", "set", "final", "--backtest", chosen[0], "--apply", "--yes")
    assert again.exit_code == 0 and "nothing to do" in again.output
    check(removed | {chosen[0]: ["final"]}, 7, 7)  # the same command sends nothing
    audit = rows(
        synced, "SELECT endpoint, backtest_id, change, origin FROM api_writes ORDER BY sent_at"
    )
    assert all(row[0] == TAGS and row[3].startswith("qcw tag ") for row in audit)
    assert json.loads(audit[-1][2])["after"] == {"tags": ["final"]}
    assert all(SANDBOX_API_TOKEN not in str(row) for row in audit)


def test_the_plan_is_shown_and_nothing_is_sent_without_apply(sandbox, synced):
    done = qcw(sandbox, synced, "tag", "add", "candidate", "--where", TOP_THREE)
    assert done.exit_code == 0, done.output
    assert "Plan: tag add" in done.output and "Add --apply" in done.output
    for backtest_id in top_three(synced):
        assert backtest_id in done.output
    assert writes_sent(sandbox, TAGS) == 0
    assert rows(synced, "SELECT count(*) FROM api_writes")[0][0] == 0


def test_tags_read_their_starting_point_from_upstream_not_the_warehouse(sandbox, client, synced):
    backtest_id = top_three(synced)[0]
    project_id = sandbox.account.project_of(backtest_id)
    client.update_backtest_tags(project_id, backtest_id, ["set-on-the-website"])  # after the sync
    done = qcw(
        sandbox, synced, "tag", "add", "candidate", "--backtest", backtest_id, "--apply", "--yes"
    )
    assert done.exit_code == 0, done.output
    assert sorted(upstream_tags(sandbox)[backtest_id]) == ["candidate", "set-on-the-website"]


@pytest.mark.parametrize("tag", ["a,b", 'say "hi"', "ünïcödé ✓", "x" * 100])
def test_unusual_tags_are_stored_exactly(sandbox, synced, tag):
    backtest_id = top_three(synced)[0]
    done = qcw(sandbox, synced, "tag", "add", tag, "--backtest", backtest_id, "--apply", "--yes")
    assert done.exit_code == 0, done.output
    assert tag in upstream_tags(sandbox)[backtest_id]
    assert tag in warehouse_tags(synced)[backtest_id]


def test_a_tag_the_api_rejects_fails_cleanly_with_its_reason(sandbox, synced):
    backtest_id, before = top_three(synced)[0], upstream_tags(sandbox)
    done = qcw(
        sandbox, synced, "tag", "add", "x" * 101, "--backtest", backtest_id, "--apply", "--yes"
    )
    assert done.exit_code == 1
    assert "longer than 100 characters" in done.output and "Traceback" not in done.output
    assert upstream_tags(sandbox) == before
    (outcome,) = rows(synced, "SELECT outcome FROM api_writes")
    assert "longer than 100 characters" in outcome[0]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["tag", "add", "x", "--backtest", "no-such-backtest"], "unknown id"),
        (["tag", "add", " ", "--where", "true"], "a tag cannot be empty"),
        (["tag", "add", "x", "--where", "sharpe_ratio >"], "Parser Error"),
        (["tag", "add", "x", "--where", "no_such_column > 1"], "no_such_column"),
        (["tag", "add", "x", "--where", "true); DROP TABLE orders; SELECT (1"], "Parser Error"),
        (
            ["tag", "add", "x", "--where", "true)); DROP TABLE orders; SELECT ((1"],
            "one SQL expression",
        ),
        (["tag", "add", "x"], "either with a predicate or with ids"),
        (["project", "update", "999999", "--name", "x"], "unknown id"),
        (["project", "update", "--where", "true", "--name", "same for all"], "clash"),
        (["prune", "optimizations", "--where", "nonsense("], "Parser Error"),
    ],
)
def test_bad_input_is_one_message_exit_1_and_no_change(sandbox, synced, arguments, message):
    done = qcw(sandbox, synced, *arguments, "--apply", "--yes")
    assert done.exit_code == 1, done.output
    assert message in done.output and "Traceback" not in done.output
    assert (
        sum(n for e, n in sandbox.stats()["requests"].items() if "update" in e or "delete" in e)
        == 0
    )
    assert rows(synced, "SELECT count(*) FROM api_writes")[0][0] == 0
    assert rows(synced, "SELECT count(*) FROM orders")[0][0] > 0


def test_a_predicate_that_selects_nothing_has_nothing_to_do(sandbox, synced):
    done = qcw(sandbox, synced, "tag", "add", "x", "--where", "false", "--apply", "--yes")
    assert done.exit_code == 0 and "nothing to do" in done.output


def test_bad_credentials_stop_before_any_write(sandbox, synced):
    done = qcw(
        sandbox, synced, "tag", "add", "x", "--where", TOP_THREE, "--apply", "--yes", token="0" * 64
    )
    assert done.exit_code == 1 and "Hash doesn't match" in done.output
    assert writes_sent(sandbox, TAGS) == 0
    assert rows(synced, "SELECT count(*) FROM api_writes")[0][0] == 0


@BOTH_BACKENDS
def test_a_failure_part_way_stops_and_running_again_finishes(sandbox, client, synced):
    chosen = top_three(synced)
    sandbox.set_faults([{"kind": "503", "endpoint": TAGS, "match": {"backtestId": chosen[1]}}])

    def tag_all() -> Outcome | None:
        return run_writeback(
            client,
            lambda: warehouse.open_writer(synced),
            lambda client, store: plan_tag_command(client, store, "add", ["c"], TOP_THREE),
            "test",
            apply=True,
        ).outcome

    outcome = tag_all()
    assert outcome is not None and not outcome.ok
    assert (
        outcome_summary(outcome)
        == "tag add: 1 applied, 1 failed, 1 not attempted (run the command again)"
    )
    audit = rows(synced, "SELECT backtest_id, outcome FROM api_writes ORDER BY sent_at")
    assert [a[0] for a in audit] == chosen[:2] and audit[0][1] == "ok" and "503" in audit[1][1]
    assert [b for b in chosen if "c" in upstream_tags(sandbox)[b]] == chosen[:1]
    assert [b for b in chosen if "c" in warehouse_tags(synced)[b]] == chosen[:1]
    sandbox.clear_faults()
    again = tag_all()
    assert again is not None and again.ok and [w.subject for w in again.applied] == chosen[1:]
    assert all("c" in upstream_tags(sandbox)[b] for b in chosen)


def test_a_write_waits_for_a_sync_holding_the_warehouse(sandbox, synced):
    with held_in_another_process(synced, 2.0):
        done = qcw(sandbox, synced, "tag", "add", "x", "--where", TOP_THREE, "--apply", "--yes")
    assert done.exit_code == 0, done.output
    assert "another sync is writing" in done.output and "3 applied" in done.output


# --- Interrupted writes --------------------------------------------------------------------------


@BOTH_BACKENDS
def test_interrupted_writes_are_settled_from_upstream_on_the_next_run(sandbox, client, synced):
    landed, lost = top_three(synced)[:2]
    project = {b: sandbox.account.project_of(b) for b in (landed, lost)}
    with warehouse.open_writer(synced) as store:
        for backtest_id in (landed, lost):
            before = upstream_tags(sandbox)[backtest_id]
            write = Write(
                TAGS,
                "",
                project[backtest_id],
                backtest_id,
                None,
                {"tags": before},
                {"tags": [*before, "z"]},
            )
            record_intent(store, write, "a run that was killed")
    client.update_backtest_tags(project[landed], landed, [*upstream_tags(sandbox)[landed], "z"])
    done = qcw(sandbox, synced, "tag", "add", "unrelated", "--where", "false")
    assert done.exit_code == 0, done.output
    outcomes = dict(
        rows(synced, "SELECT backtest_id, outcome FROM api_writes WHERE origin LIKE 'a run%'")
    )
    assert outcomes[landed] == "ok" and outcomes[lost].startswith("not applied")
    assert "z" in warehouse_tags(synced)[landed] and "z" not in warehouse_tags(synced)[lost]
    assert writes_sent(sandbox, TAGS) == 1  # the test's own; settling only reads


# --- Projects ------------------------------------------------------------------------------------


@BOTH_BACKENDS
def test_projects_update_a_description_and_move_into_a_folder(sandbox, synced):
    projects = {p["projectId"]: p for p in sandbox.account.projects()}
    first, second = sorted(projects)
    done = qcw(
        sandbox,
        synced,
        "project",
        "update",
        str(first),
        "--description",
        "Momentum, v2",
        "--apply",
        "--yes",
    )
    assert done.exit_code == 0, done.output
    done = qcw(
        sandbox,
        synced,
        "project",
        "update",
        "--where",
        "true",
        "--name",
        "Research/{name}",
        "--apply",
        "--yes",
    )
    assert done.exit_code == 0, done.output
    now = {p["projectId"]: p for p in sandbox.account.projects()}
    assert now[first]["description"] == "Momentum, v2"
    assert now[second]["description"] == projects[second]["description"]  # a partial update
    for project_id in (first, second):
        assert now[project_id]["name"] == f"Research/{projects[project_id]['name']}"
    assert rows(synced, "SELECT project_id, name, description FROM projects ORDER BY 1") == [
        (p, now[p]["name"], now[p]["description"]) for p in (first, second)
    ]
    assert rows(synced, "SELECT count(*) FROM api_writes WHERE outcome = 'ok'")[0][0] == 3


def test_a_duplicate_project_name_fails_with_the_apis_error_and_changes_nothing(sandbox, synced):
    first, second = sorted(sandbox.account.projects(), key=lambda p: p["projectId"])
    done = qcw(
        sandbox,
        synced,
        "project",
        "update",
        str(first["projectId"]),
        "--name",
        second["name"],
        "--apply",
        "--yes",
    )
    assert done.exit_code == 1
    assert "already exists" in done.output and "Traceback" not in done.output
    assert sandbox.account.projects()[0]["name"] == first["name"]
    assert rows(synced, "SELECT name FROM projects WHERE project_id = ?", first["projectId"]) == [
        (first["name"],)
    ]


# --- Prune ---------------------------------------------------------------------------------------


def finish_everything(sandbox: SandboxServer) -> None:
    """Every running backtest and optimization of the sandbox runs to its end."""
    sandbox.account.complete_running()
    sandbox.account.optimizations.complete_running()


def test_prune_deletes_what_is_archived_skips_the_rest_and_the_next_sync_leaves_both(
    sandbox, client, synced
):
    finish_everything(sandbox)
    sync(client, synced)
    ids = [
        r[0]
        for r in rows(
            synced, "SELECT optimization_id FROM optimization_archive WHERE archived ORDER BY 1"
        )
    ]
    assert len(ids) >= 2
    archived, incomplete = ids[:2]
    with duckdb.connect(str(synced)) as conn:  # as if part of its backtests had not loaded
        conn.execute(
            "DELETE FROM optimization_backtests WHERE optimization_id = ? AND backtest_id IN "
            "(SELECT backtest_id FROM optimization_backtests WHERE optimization_id = ? LIMIT 1)",
            [incomplete, incomplete],
        )
    kept = {
        table: rows(
            synced,
            f"SELECT * FROM {table} WHERE optimization_id IN (?, ?) ORDER BY ALL",
            archived,
            incomplete,
        )
        for table in (
            "optimization_backtests",
            "optimization_backtest_statistics",
            "optimization_parameters",
        )
    }
    where = f"optimization_id IN ('{archived}', '{incomplete}')"
    done = qcw(sandbox, synced, "prune", "optimizations", "--where", where, "--apply", "--yes")
    assert done.exit_code == 0, done.output
    assert (
        "Skipped" in done.output
        and "1 of 2 backtests" in done.output
        and "1 applied" in done.output
    )
    listed = {
        o["optimizationId"]
        for p in sandbox.account.projects()
        for o in sandbox.account.optimizations.summaries(p["projectId"])
    }
    assert archived not in listed and incomplete in listed
    deleted = dict(
        rows(synced, "SELECT optimization_id, deleted_upstream_at IS NOT NULL FROM optimizations")
    )
    assert deleted[archived] and not deleted[incomplete]
    sandbox.reset_stats()
    snapshot = {
        t: rows(synced, f"SELECT * FROM {t} ORDER BY ALL") for t in ("optimizations", *kept)
    }
    sync(client, synced)
    assert "optimizations/read" not in sandbox.stats()["requests"]
    assert {t: rows(synced, f"SELECT * FROM {t} ORDER BY ALL") for t in snapshot} == snapshot
    assert kept == {
        table: rows(
            synced,
            f"SELECT * FROM {table} WHERE optimization_id IN (?, ?) ORDER BY ALL",
            archived,
            incomplete,
        )
        for table in kept
    }


def test_prune_backtests_skips_one_whose_orders_are_incomplete(sandbox, client, synced):
    archived, incomplete = [
        r[0]
        for r in rows(
            synced, "SELECT backtest_id FROM backtest_archive WHERE archived ORDER BY 1 LIMIT 2"
        )
    ]
    with duckdb.connect(str(synced)) as conn:
        conn.execute("DELETE FROM orders WHERE backtest_id = ? AND order_id = 1", [incomplete])
    where = f"backtest_id IN ('{archived}', '{incomplete}')"
    done = qcw(sandbox, synced, "prune", "backtests", "--where", where, "--apply", "--yes")
    assert done.exit_code == 0, done.output
    assert "orders incomplete" in done.output and "1 applied" in done.output
    assert archived not in upstream_tags(sandbox) and incomplete in upstream_tags(sandbox)
    orders = rows(synced, "SELECT count(*) FROM orders WHERE backtest_id = ?", archived)
    sandbox.reset_stats()
    sync(client, synced)
    requests = sandbox.stats()["requests"]
    assert "backtests/read" not in requests and "backtests/orders/read" not in requests
    assert rows(synced, "SELECT count(*) FROM orders WHERE backtest_id = ?", archived) == orders
    assert rows(
        synced,
        "SELECT deleted_upstream_at IS NOT NULL FROM backtests WHERE backtest_id = ?",
        archived,
    ) == [(True,)]


# --- Dagster -------------------------------------------------------------------------------------


def test_the_dagster_tag_job_plans_by_default_and_applies_when_asked(sandbox, synced):
    from pipelines.definitions import defs

    job = defs.resolve_job_def("apply_backtest_tags")
    config = {"action": "add", "tags": ["from-dagster"], "where": TOP_THREE}
    resources = make_resources(sandbox, synced)
    planned = job.execute_in_process(
        run_config={"ops": {"tag_backtests": {"config": config}}}, resources=resources
    )
    (event,) = [e for e in planned.all_node_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = event.event_specific_data.metadata
    assert "from-dagster" in metadata["plan"].value and metadata["writes_applied"].value == 0
    assert writes_sent(sandbox, TAGS) == 0
    applied = job.execute_in_process(
        run_config={"ops": {"tag_backtests": {"config": config | {"apply": True}}}},
        resources=resources,
    )
    assert applied.success and writes_sent(sandbox, TAGS) == 3
    assert rows(synced, "SELECT DISTINCT origin FROM api_writes") == [(applied.run_id,)]


def test_tag_rules_touch_only_their_own_tags(sandbox, client, synced):
    chosen = top_three(synced)
    rule = f"SELECT backtest_id FROM backtest_summary WHERE {TOP_THREE}"
    other = next(b for b in upstream_tags(sandbox) if b not in chosen)
    project = sandbox.account.project_of(other)
    client.update_backtest_tags(project, other, ["candidate", "mine"])  # the rule's tag, wrongly
    sync(client, synced)
    with warehouse.open_writer(synced) as store:
        store.create_views()
        plan = plan_tag_rules(store, {"candidate": rule})
    assert sorted(w.subject for w in plan.writes) == sorted([*chosen, other])
    sandbox.reset_stats()
    run = run_writeback(
        client,
        lambda: warehouse.open_writer(synced),
        lambda _, store: plan_tag_rules(store, {"candidate": rule}),
        "test",
        True,
    )
    assert run.outcome is not None and run.outcome.ok
    tags = upstream_tags(sandbox)
    assert all("candidate" in tags[b] for b in chosen) and tags[other] == ["mine"]
    assert writes_sent(sandbox, TAGS) == 4


# --- Crash ---------------------------------------------------------------------------------------

SWEEP = {
    "name": "Sweep",
    "target": "TotalPerformance.PortfolioStatistics.SharpeRatio",
    "targetTo": "max",
    "targetValue": None,
    "strategy": "QuantConnect.Optimizer.Strategies.GridSearchOptimizationStrategy",
    "compileId": "c0edc6-49048b",
    "parameters": [{"name": "lookback", "min": 10, "max": 20, "step": 10}],
    "constraints": [],
    "estimatedCost": 0.02,
    "nodeType": "O2-8",
    "parallelNodes": 2,
}
QCW = Path(sys.executable).with_name("qcw")


def create_finished_optimizations(
    sandbox: SandboxServer, client: QuantConnectClient, count: int
) -> list[str]:
    """`count` optimizations made through `optimizations/create`, run to their end."""
    project_id = sandbox.account.projects()[0]["projectId"]
    created = [
        client.post(
            "optimizations/create", SWEEP | {"projectId": project_id, "name": f"Sweep {n}"}
        )["optimizations"][0]["optimizationId"]
        for n in range(count)
    ]
    for optimization_id in created:
        client.read_optimization(optimization_id)  # new -> running
    sandbox.account.optimizations.complete_running()
    return created


TOMBSTONED = "optimizations WHERE deleted_upstream_at IS NOT NULL"


def count_of(path: Path, relation: str, optimization_ids: list[str]) -> int:
    """Rows of `relation` (with its WHERE) about these optimizations."""
    query = f"SELECT count(*) FROM {relation} AND list_contains(?, optimization_id)"
    return rows(path, query, optimization_ids)[0][0]


def test_a_prune_killed_part_way_is_settled_and_finished_by_running_it_again(
    sandbox, client, warehouse_path
):
    created = create_finished_optimizations(sandbox, client, 20)
    sync(client, warehouse_path)
    assert count_of(warehouse_path, "optimization_archive WHERE archived", created) == 20
    kept = rows(warehouse_path, "SELECT * FROM optimization_backtests ORDER BY ALL")
    where = "name LIKE 'Sweep %'"
    command = [
        str(QCW),
        "prune",
        "optimizations",
        "--where",
        where,
        "--apply",
        "--yes",
        "--warehouse",
        str(warehouse_path),
        "--api-url",
        sandbox.url,
        "--requests-per-second",
        "0",
    ]
    env = {**os.environ, **ENV}
    sandbox.reset_stats()
    sandbox.set_faults([{"kind": "latency", "endpoint": "optimizations/delete", "seconds": 0.2}])
    with subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as child:
        deadline = time.monotonic() + 60
        while writes_sent(sandbox, "optimizations/delete") < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
    assert child.returncode == -signal.SIGKILL  # killed part-way
    time.sleep(0.5)  # the request in flight when it died still lands upstream
    sandbox.clear_faults()
    interrupted = rows(warehouse_path, "SELECT count(*) FROM api_writes WHERE outcome IS NULL")[0][
        0
    ]
    assert interrupted <= 1

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    listed = {
        o["optimizationId"]
        for o in sandbox.account.optimizations.summaries(sandbox.account.projects()[0]["projectId"])
    }
    assert not listed & set(created)
    assert writes_sent(sandbox, "optimizations/delete") == 20  # each deleted exactly once
    audit = rows(warehouse_path, "SELECT optimization_id, outcome FROM api_writes ORDER BY sent_at")
    assert all(outcome is not None for _, outcome in audit)
    assert sorted(o for o, outcome in audit if outcome == "ok") == sorted(created)
    assert count_of(warehouse_path, TOMBSTONED, created) == 20
    assert rows(warehouse_path, "SELECT * FROM optimization_backtests ORDER BY ALL") == kept


def test_the_sync_plans_tag_rules_and_sends_them_only_when_the_resource_says_so(
    sandbox, client, target
):
    from pipelines.definitions import defs

    # No sandbox backtest meets sql/tag_rules/candidate.sql: one wrongly tagged loses the tag.
    tagged = next(iter(upstream_tags(sandbox)))
    client.update_backtest_tags(sandbox.account.project_of(tagged), tagged, ["candidate", "keep"])
    sandbox.reset_stats()
    job = defs.resolve_job_def("sync_quantconnect")
    result = job.execute_in_process(resources=make_resources(sandbox, target))
    (planned,) = [
        m.materialization.metadata
        for m in result.get_asset_materialization_events()
        if m.asset_key.path == ["backtest_tag_rules"]
    ]
    assert planned["writes_planned"].value == 1 and planned["writes_applied"].value == 0
    assert tagged in planned["plan"].value and planned["rules"].value == "candidate"
    assert writes_sent(sandbox, TAGS) == 0 and upstream_tags(sandbox)[tagged] == [
        "candidate",
        "keep",
    ]
    resources = make_resources(sandbox, target, apply_tag_rules=True)
    assert job.execute_in_process(resources=resources).success
    assert writes_sent(sandbox, TAGS) == 1 and upstream_tags(sandbox)[tagged] == ["keep"]
    assert warehouse_tags(target)[tagged] == ["keep"]


@pytest.mark.parametrize(("answer", "sent"), [("n", 0), ("y", 3)])
def test_apply_in_a_terminal_asks_first_with_the_count(sandbox, synced, answer, sent):
    controller, terminal = pty.openpty()
    command = [str(QCW), "tag", "add", "asked", "--where", TOP_THREE, "--apply"]
    command += [
        "--warehouse",
        str(synced),
        "--api-url",
        sandbox.url,
        "--requests-per-second",
        "0",
    ]
    with subprocess.Popen(
        command,
        env={**os.environ, **ENV},
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as child:
        os.write(controller, f"{answer}\n".encode())
        output, _ = child.communicate(timeout=60)
    os.close(controller)
    os.close(terminal)
    assert "Send 3 write requests? [y/N]" in output
    assert writes_sent(sandbox, TAGS) == sent


def test_a_delete_whose_reply_is_lost_is_retried_and_not_found_counts_as_done(
    sandbox, client, synced
):
    finish_everything(sandbox)
    sync(client, synced)
    (optimization_id,) = rows(
        synced, "SELECT optimization_id FROM optimization_archive WHERE archived LIMIT 1"
    )[0]
    # The delete lands upstream, but its reply is cut: the retry finds the item gone.
    sandbox.set_faults([{"kind": "malformed", "endpoint": "optimizations/delete", "count": 1}])
    run = run_writeback(
        client,
        lambda: warehouse.open_writer(synced),
        lambda c, store: plan_prune(
            c, store, "optimizations", f"optimization_id = '{optimization_id}'"
        ),
        "test",
        apply=True,
    )
    assert run.outcome is not None and run.outcome.ok and len(run.outcome.applied) == 1
    assert writes_sent(sandbox, "optimizations/delete") == 2
    assert rows(synced, "SELECT outcome, detail FROM api_writes") == [
        ("ok", "already deleted upstream")
    ]
    assert count_of(synced, TOMBSTONED, [optimization_id]) == 1
