"""Deletions upstream become tombstones: a project, backtest or optimization its list no longer
holds stays in the warehouse with every row it had, stamped `deleted_upstream_at`, and is never
fetched again; listed again, it revives with nothing downloaded again. Against the sandbox over
HTTP: a deletion is a reply rewritten, a backtest withdrawn or an optimization deleted."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.qc.client import QuantConnectClient
from pipelines.queries import SQL_DIR
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID, SandboxServer
from pipelines.schema import TABLES
from pipelines.schema.ddl import render_tables_sql
from pipelines.sync import sync_everything
from pipelines.sync.report import SyncReport
from pipelines.warehouse import open_writer
from tests.helpers import FAST_RETRY

# The tables whose rows can be deleted upstream, by their key.
TOMBSTONED = {
    "projects": "project_id",
    "backtests": "backtest_id",
    "optimizations": "optimization_id",
}
# Every table a sync writes: the schema's and the sync's own state.
ALL_TABLES = (*(table.name for table in TABLES), "backtest_sync")


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[QuantConnectClient]:
    """A fast client of the sandbox."""
    with closing(
        QuantConnectClient(
            SANDBOX_USER_ID,
            SANDBOX_API_TOKEN,
            sandbox.url,
            timeout_seconds=5,
            retry=FAST_RETRY,
            max_concurrency=4,
        )
    ) as client:
        yield client


@pytest.fixture
def settled(sandbox: SandboxServer) -> SandboxServer:
    """The sandbox with every optimization ended, so that a sync with nothing new makes list
    requests only."""
    sandbox.account.optimizations.complete_running()
    return sandbox


def run_sync(api: QuantConnectClient, path: Path) -> dict[str, SyncReport]:
    with open_writer(path) as store:
        return sync_everything(api, store)


def synced(
    sandbox: SandboxServer, api: QuantConnectClient, path: Path
) -> tuple[dict[str, SyncReport], dict[str, int]]:
    """A sync's reports, and the requests it made per endpoint."""
    sandbox.reset_stats()
    reports = run_sync(api, path)
    return reports, sandbox.stats()["requests"]


def lists_only(projects: int) -> dict[str, int]:
    """The requests of a sync with nothing to fetch, over `projects` projects."""
    per_project = {"backtests/list": projects, "optimizations/list": projects} if projects else {}
    return {"projects/read": 1, **per_project}


def rows(path: Path, query: str, *parameters: Any) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(query, parameters).fetchall()


def records(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table, the deletion stamps left out."""
    return {
        table: rows(
            path,
            f"SELECT * {'EXCLUDE (deleted_upstream_at)' if table in TOMBSTONED else ''} "
            f"FROM {table} ORDER BY ALL",
        )
        for table in ALL_TABLES
    }


def stamps(path: Path) -> dict[tuple[str, Any], datetime]:
    """(table, key) → deleted_upstream_at, of every row deleted upstream."""
    return {
        (table, key): at
        for table, key_column in TOMBSTONED.items()
        for key, at in rows(
            path,
            f"SELECT {key_column}, deleted_upstream_at FROM {table} "
            "WHERE deleted_upstream_at IS NOT NULL",
        )
    }


def without(key: str, field: str, dropped: Callable[[dict[str, Any], Any], bool]):
    """A rewrite of a list reply that drops the entries of `reply[key]` whose `field`
    `dropped(params, value)` says are gone."""

    def rewrite(params: dict[str, Any], body: bytes) -> bytes:
        reply = json.loads(body)
        reply[key] = [e for e in reply[key] if not dropped(params, e.get(field))]
        return json.dumps(reply).encode()

    return rewrite


def backtests_of(path: Path, project_id: int) -> set[str]:
    return {
        b
        for (b,) in rows(path, "SELECT backtest_id FROM backtests WHERE project_id = ?", project_id)
    }


def optimizations_of(path: Path, project_id: int) -> set[str]:
    query = "SELECT optimization_id FROM optimizations WHERE project_id = ?"
    return {o for (o,) in rows(path, query, project_id)}


def project_with_everything(path: Path) -> int:
    """A project with backtests that have orders, events, statistics, closed trades and
    performance, and optimizations with backtests: deleting it has rows to lose."""
    (project_id,) = rows(
        path,
        """
        SELECT project_id FROM projects AS p
        WHERE EXISTS (FROM orders WHERE project_id = p.project_id)
          AND EXISTS (FROM order_events WHERE project_id = p.project_id)
          AND EXISTS (FROM backtest_statistics WHERE project_id = p.project_id)
          AND EXISTS (FROM closed_trades WHERE project_id = p.project_id)
          AND EXISTS (FROM backtest_performance WHERE project_id = p.project_id)
          AND EXISTS (FROM backtest_rolling_statistics WHERE project_id = p.project_id)
          AND EXISTS (
              FROM optimization_backtest_statistics
              JOIN optimizations USING (optimization_id)
              WHERE project_id = p.project_id
          )
        ORDER BY project_id LIMIT 1
        """,
    )[0]
    return project_id


def backtest_with_everything(path: Path) -> tuple[int, str]:
    """The finished backtest with the most orders (it has closed trades and performance)."""
    (found,) = rows(
        path,
        """
        SELECT b.project_id, b.backtest_id FROM backtests AS b
        JOIN orders AS o USING (backtest_id)
        WHERE EXISTS (FROM closed_trades AS t WHERE t.backtest_id = b.backtest_id)
          AND EXISTS (FROM backtest_rolling_statistics AS r WHERE r.backtest_id = b.backtest_id)
        GROUP BY ALL ORDER BY count(*) DESC, b.backtest_id LIMIT 1
        """,
    )
    return found


def test_a_project_gone_upstream_is_kept_with_everything_and_never_fetched_again(
    settled: SandboxServer, api: QuantConnectClient, warehouse_path: Path
):
    run_sync(api, warehouse_path)
    projects = len(settled.account.projects())
    gone = project_with_everything(warehouse_path)
    before = records(warehouse_path)
    settled.set_rewrite("projects/read", without("projects", "projectId", lambda _, p: p == gone))

    reports, requests = synced(settled, api, warehouse_path)
    # Neither its backtests nor its optimizations are listed, nothing of it is read.
    assert requests == lists_only(projects - 1)
    assert records(warehouse_path) == before
    marked = stamps(warehouse_path)
    (at,) = set(marked.values())  # one transaction stamped the project and all it held
    assert set(marked) == {
        ("projects", gone),
        *(("backtests", b) for b in backtests_of(warehouse_path, gone)),
        *(("optimizations", o) for o in optimizations_of(warehouse_path, gone)),
    }
    assert datetime.now(UTC) - timedelta(minutes=5) < at <= datetime.now(UTC)
    assert reports["projects"].counters["projects_marked_deleted_upstream"] == 1
    assert reports["projects"].warnings == []
    # The views show every row, the deleted ones by their stamp.
    shown = rows(
        warehouse_path,
        "SELECT DISTINCT project_id = ?, deleted_upstream_at FROM backtest_summary ORDER BY ALL",
        gone,
    )
    assert shown == [(False, None), (True, at)]
    shown = rows(
        warehouse_path,
        "SELECT DISTINCT project_id = ?, deleted_upstream_at FROM optimization_results "
        "ORDER BY ALL",
        gone,
    )
    assert shown == [(False, None), (True, at)]

    # Another sync changes nothing, and stamps nothing anew.
    reports, requests = synced(settled, api, warehouse_path)
    assert requests == lists_only(projects - 1)
    assert records(warehouse_path) == before
    assert stamps(warehouse_path) == marked
    assert reports["projects"].counters["projects_marked_deleted_upstream"] == 0


def test_a_project_listed_again_revives_with_nothing_downloaded_again(
    settled: SandboxServer, api: QuantConnectClient, warehouse_path: Path
):
    run_sync(api, warehouse_path)
    projects = len(settled.account.projects())
    gone = project_with_everything(warehouse_path)
    before = records(warehouse_path)
    settled.set_rewrite("projects/read", without("projects", "projectId", lambda _, p: p == gone))
    run_sync(api, warehouse_path)
    assert ("projects", gone) in stamps(warehouse_path)

    settled.set_rewrite("projects/read", None)
    _, requests = synced(settled, api, warehouse_path)
    assert requests == lists_only(projects)  # listed again: nothing read again
    assert records(warehouse_path) == before
    assert stamps(warehouse_path) == {}
    assert rows(
        warehouse_path,
        "SELECT count(*) FROM backtest_summary WHERE deleted_upstream_at IS NOT NULL",
    ) == [(0,)]


def test_a_projects_read_listing_nothing_marks_everything_and_the_next_listing_revives_it(
    settled: SandboxServer, api: QuantConnectClient, warehouse_path: Path
):
    run_sync(api, warehouse_path)
    projects = len(settled.account.projects())
    before = records(warehouse_path)
    settled.set_rewrite("projects/read", without("projects", "projectId", lambda _, p: True))

    reports, requests = synced(settled, api, warehouse_path)
    assert requests == lists_only(0)
    assert records(warehouse_path) == before
    everything = {
        (table, key)
        for table, key_column in TOMBSTONED.items()
        for (key,) in rows(warehouse_path, f"SELECT {key_column} FROM {table}")
    }
    assert set(stamps(warehouse_path)) == everything
    assert reports["projects"].counters["projects_marked_deleted_upstream"] == projects
    assert any("listed no project" in w for w in reports["projects"].warnings)

    settled.set_rewrite("projects/read", None)
    _, requests = synced(settled, api, warehouse_path)
    assert requests == lists_only(projects)
    assert records(warehouse_path) == before
    assert stamps(warehouse_path) == {}


def test_a_backtest_gone_from_its_list_is_kept_and_never_read_again(
    settled: SandboxServer, api: QuantConnectClient, warehouse_path: Path
):
    run_sync(api, warehouse_path)
    projects = len(settled.account.projects())
    project_id, gone = backtest_with_everything(warehouse_path)
    with duckdb.connect(str(warehouse_path)) as conn:
        # As if its results had not all loaded: a backtest still listed would be read again.
        conn.execute("DELETE FROM backtest_sync WHERE backtest_id = ?", [gone])
    before = records(warehouse_path)
    settled.account.withdraw_backtests(project_id, {gone})

    reports, requests = synced(settled, api, warehouse_path)
    assert requests == lists_only(projects)  # no backtests/read, orders or trades read
    assert records(warehouse_path) == before
    marked = stamps(warehouse_path)
    assert list(marked) == [("backtests", gone)]
    assert reports["backtests"].counters["backtests_marked_deleted_upstream"] == 1
    assert reports["orders"].counters["backtests_deleted_upstream"] == 1
    assert rows(
        warehouse_path,
        "SELECT deleted_upstream_at FROM backtest_summary WHERE backtest_id = ?",
        gone,
    ) == [(marked["backtests", gone],)]

    _, requests = synced(settled, api, warehouse_path)
    assert requests == lists_only(projects)
    assert records(warehouse_path) == before
    assert stamps(warehouse_path) == marked


def test_a_backtest_listed_again_revives_with_nothing_downloaded_again(
    settled: SandboxServer, api: QuantConnectClient, warehouse_path: Path
):
    run_sync(api, warehouse_path)
    projects = len(settled.account.projects())
    _, gone = backtest_with_everything(warehouse_path)
    before = records(warehouse_path)
    settled.set_rewrite(
        "backtests/list", without("backtests", "backtestId", lambda _, b: b == gone)
    )
    run_sync(api, warehouse_path)
    assert list(stamps(warehouse_path)) == [("backtests", gone)]

    settled.set_rewrite("backtests/list", None)
    _, requests = synced(settled, api, warehouse_path)
    assert requests == lists_only(projects)
    assert records(warehouse_path) == before
    assert stamps(warehouse_path) == {}


def test_a_backtests_list_listing_nothing_marks_the_projects_backtests_until_listed_again(
    settled: SandboxServer, api: QuantConnectClient, warehouse_path: Path
):
    run_sync(api, warehouse_path)
    projects = len(settled.account.projects())
    emptied = project_with_everything(warehouse_path)
    before = records(warehouse_path)
    settled.set_rewrite(
        "backtests/list",
        without("backtests", "backtestId", lambda params, _: int(params["projectId"]) == emptied),
    )

    reports, requests = synced(settled, api, warehouse_path)
    assert requests == lists_only(projects)
    assert records(warehouse_path) == before
    # Its backtests only: the project and its optimizations are still listed.
    assert set(stamps(warehouse_path)) == {
        ("backtests", b) for b in backtests_of(warehouse_path, emptied)
    }
    assert any(str(emptied) in w for w in reports["backtests"].warnings)

    settled.set_rewrite("backtests/list", None)
    _, requests = synced(settled, api, warehouse_path)
    assert requests == lists_only(projects)
    assert records(warehouse_path) == before
    assert stamps(warehouse_path) == {}


def test_a_deleted_optimization_keeps_every_row_and_is_never_read_again(
    settled: SandboxServer, api: QuantConnectClient, warehouse_path: Path
):
    run_sync(api, warehouse_path)
    projects = len(settled.account.projects())
    (gone,) = rows(
        warehouse_path,
        """
        SELECT optimization_id FROM optimizations AS o
        WHERE EXISTS (FROM optimization_parameters WHERE optimization_id = o.optimization_id)
          AND EXISTS (
              FROM optimization_backtest_statistics WHERE optimization_id = o.optimization_id
          )
        ORDER BY optimization_id LIMIT 1
        """,
    )[0]
    before = records(warehouse_path)
    settled.account.optimizations.delete(gone)

    reports, requests = synced(settled, api, warehouse_path)
    assert requests == lists_only(projects)
    assert records(warehouse_path) == before
    marked = stamps(warehouse_path)
    assert list(marked) == [("optimizations", gone)]
    assert reports["optimizations"].counters["optimizations_marked_deleted_upstream"] == 1
    shown = rows(
        warehouse_path,
        "SELECT DISTINCT deleted_upstream_at FROM optimization_results WHERE optimization_id = ?",
        gone,
    )
    assert shown == [(marked["optimizations", gone],)]

    _, requests = synced(settled, api, warehouse_path)
    assert requests == lists_only(projects)
    assert records(warehouse_path) == before
    assert stamps(warehouse_path) == marked


def test_a_running_optimization_deleted_upstream_is_never_read_again(
    sandbox: SandboxServer, api: QuantConnectClient, warehouse_path: Path
):
    run_sync(api, warehouse_path)
    running = rows(
        warehouse_path,
        "SELECT optimization_id FROM optimizations WHERE status NOT IN ('Completed', 'Aborted')",
    )
    assert running, "the sandbox plans a running optimization"
    (gone,) = running[0]
    optimization_tables = [t for t in ALL_TABLES if t.startswith("optimization")]
    before = {t: v for t, v in records(warehouse_path).items() if t in optimization_tables}
    sandbox.account.optimizations.delete(gone)

    _, requests = synced(sandbox, api, warehouse_path)
    assert requests.get("optimizations/read", 0) == len(running) - 1
    after = {t: v for t, v in records(warehouse_path).items() if t in optimization_tables}
    assert after == before
    assert ("optimizations", gone) in stamps(warehouse_path)


def old_release_ddl() -> str:
    """The tables as the release before tombstones made them: no deletion stamps, and
    `optimizations.deleted_upstream BOOLEAN` (before `extra`)."""
    ddl = re.sub(
        r"(CREATE TABLE IF NOT EXISTS optimizations \(.*?)deleted_upstream_at TIMESTAMPTZ",
        r"\1deleted_upstream BOOLEAN",
        render_tables_sql(TABLES),
        count=1,
        flags=re.DOTALL,
    )
    return ddl.replace("    deleted_upstream_at TIMESTAMPTZ,\n", "")


def test_a_warehouse_with_the_deleted_upstream_flag_gets_stamps_and_loses_the_flag(
    settled: SandboxServer, api: QuantConnectClient, tmp_path: Path
):
    new = tmp_path / "new.duckdb"
    run_sync(api, new)
    (flagged,) = rows(new, "SELECT min(optimization_id) FROM optimizations")[0]
    old = tmp_path / "old.duckdb"
    with duckdb.connect(str(old)) as conn:  # the same rows, as the previous release held them
        conn.execute(old_release_ddl())
        conn.execute((SQL_DIR / "state.sql").read_text())
        conn.execute(f"ATTACH '{new}' AS new (READ_ONLY)")
        for table in ALL_TABLES:
            if table == "optimizations":
                conn.execute(
                    "INSERT INTO optimizations BY NAME SELECT * EXCLUDE (deleted_upstream_at), "
                    "optimization_id = ? AS deleted_upstream FROM new.optimizations",
                    [flagged],
                )
            else:
                excluded = "EXCLUDE (deleted_upstream_at)" if table in TOMBSTONED else ""
                conn.execute(f"INSERT INTO {table} BY NAME SELECT * {excluded} FROM new.{table}")
        assert "deleted_upstream" in conn.table("optimizations").columns

    started = datetime.now(UTC)
    with open_writer(old):
        pass  # opening it for writing brings the schema up to date
    with duckdb.connect(str(old), read_only=True) as conn:
        for table in TOMBSTONED:
            columns = conn.table(table).columns
            assert "deleted_upstream_at" in columns and "deleted_upstream" not in columns
    assert records(old) == records(new)
    marked = stamps(old)
    assert list(marked) == [("optimizations", flagged)]
    assert started - timedelta(seconds=5) < marked["optimizations", flagged] <= datetime.now(UTC)
    with open_writer(old):
        pass  # done once: nothing changes
    assert stamps(old) == marked

    # It syncs like any other: nothing downloaded again; still listed, the flagged one revives.
    _, requests = synced(settled, api, old)
    assert requests == lists_only(len(settled.account.projects()))
    assert records(old) == records(new)
    assert stamps(old) == {}
