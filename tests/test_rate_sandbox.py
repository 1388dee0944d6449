"""The adaptive rate over real HTTP: the sandbox's rate limit (429 with `Retry-After` above N
requests/s), a client settling near it, a client reaching its ceiling on loopback, and a sync's
rate decisions in its run metadata and progress lines. Bounds are generous: the machine is
shared and noisy."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import requests

from pipelines.definitions import defs
from pipelines.qc.client import QuantConnectClient, RetrySettings, sign
from pipelines.resources import QuantConnectResource, WarehouseResource
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID, SandboxAccount, SandboxServer
from pipelines.sandbox.account import SandboxSize
from pipelines.sync.report import ProgressLabels, ProgressLog, SyncProgress
from tests.helpers import TEST_SIZE, expected_orders

TINY = SandboxSize(projects=1, backtests_per_project=1, orders_per_backtest=10)
RETRY = RetrySettings(max_attempts=6, initial_backoff_seconds=0.05, max_backoff_seconds=1.0)


@pytest.fixture
def limited() -> Iterator[SandboxServer]:
    """A sandbox that allows 20 API requests per second."""
    with SandboxServer(SandboxAccount(TINY, seed=3), rate_limit=20) as server:
        yield server


def signed() -> dict[str, str]:
    return sign(SANDBOX_USER_ID, SANDBOX_API_TOKEN, int(time.time()))


def hammer(client: QuantConnectClient, threads: int, seconds: float) -> None:
    """`threads` threads calling `authenticate` one after another for `seconds`."""
    stop = time.monotonic() + seconds

    def work() -> None:
        while time.monotonic() < stop:
            client.post("authenticate", {})

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(work) for _ in range(threads)]:
            future.result()


def test_the_sandbox_answers_429_with_retry_after_above_its_rate_limit():
    with (
        SandboxServer(SandboxAccount(TINY, seed=3), rate_limit=5) as sandbox,
        requests.Session() as session,
    ):
        replies = [
            session.post(sandbox.url + "authenticate", headers=signed(), json={}) for _ in range(9)
        ]
        statuses = [r.status_code for r in replies]
        assert statuses[:5] == [200] * 5  # well within the second
        refused = [r for r in replies if r.status_code == 429]
        assert len(refused) == 4
        assert all(int(r.headers["Retry-After"]) == 1 for r in refused)
        assert refused[0].json()["success"] is False
        stats = sandbox.stats()
        assert (stats["total"], stats["rate_limited"], stats["rate_limit"]) == (9, 4, 5.0)

        admin = sandbox.url.replace("/api/v2/", "/sandbox/")
        changed = session.post(admin + "rate_limit", json={"requests_per_second": 0})
        assert changed.json() == {"success": True, "requests_per_second": None}
        burst = [
            session.post(sandbox.url + "authenticate", headers=signed(), json={}) for _ in range(20)
        ]
        assert {r.status_code for r in burst} == {200}
        refused_setting = session.post(admin + "rate_limit", json={"requests_per_second": -1})
        assert refused_setting.status_code == 400
        session.post(admin + "stats/reset")
        assert sandbox.stats()["rate_limited"] == 0


def test_a_rate_limit_below_one_admits_one_request_per_period():
    with (
        SandboxServer(SandboxAccount(TINY, seed=3), rate_limit=0.5) as sandbox,
        requests.Session() as session,
    ):
        first, second = (
            session.post(sandbox.url + "authenticate", headers=signed(), json={}) for _ in range(2)
        )
        assert (first.status_code, second.status_code) == (200, 429)
        assert int(second.headers["Retry-After"]) == 2


def test_a_client_settles_near_the_servers_limit_with_few_429s(limited: SandboxServer):
    client = QuantConnectClient(
        SANDBOX_USER_ID, SANDBOX_API_TOKEN, limited.url, retry=RETRY, max_concurrency=8
    )  # no rate ceiling: only the server's 429s hold it back
    with closing(client):
        hammer(client, threads=8, seconds=3.0)  # it learns the limit
        before = limited.stats()
        started = time.monotonic()
        hammer(client, threads=8, seconds=5.0)
        elapsed = time.monotonic() - started
    after = limited.stats()
    total = after["total"] - before["total"]
    refused = after["rate_limited"] - before["rate_limited"]
    served_per_second = (total - refused) / elapsed
    assert 0.5 * 20 <= served_per_second <= 20 * 1.1
    assert refused <= max(3, 0.05 * total)  # few 429s
    state = client.rate_state()
    assert state.learned_limit is not None and 10 <= state.learned_limit <= 30
    assert 1 <= state.backoffs <= 10


def test_without_a_server_limit_it_reaches_its_ceiling_within_seconds(sandbox: SandboxServer):
    client = QuantConnectClient(
        SANDBOX_USER_ID,
        SANDBOX_API_TOKEN,
        sandbox.url,
        max_concurrency=8,
        max_requests_per_second=100,
    )
    started, reached = time.monotonic(), []

    def work() -> None:
        while time.monotonic() - started < 8 and not reached:
            client.post("authenticate", {})
            if client.rate_state().requests_per_second == 100 and not reached:
                reached.append(time.monotonic() - started)

    with closing(client), ThreadPoolExecutor(8) as pool:
        for future in [pool.submit(work) for _ in range(8)]:
            future.result()
    assert reached and reached[0] < 4.0  # in about 2 s on a quiet machine
    assert client.rate_state().backoffs == 0
    made = client.requests_made["authenticate"]
    assert made <= 100 * (time.monotonic() - started) + 2  # never above the ceiling


def test_a_sync_against_a_rate_limited_api_loads_everything_and_shows_its_rate(
    tmp_path: Path,
):
    with SandboxServer(SandboxAccount(TEST_SIZE, seed=11), rate_limit=15) as sandbox:
        warehouse_path = tmp_path / "w.duckdb"
        resources = {
            "quantconnect": QuantConnectResource(
                user_id=SANDBOX_USER_ID,
                api_token=SANDBOX_API_TOKEN,
                api_url=sandbox.url,
                timeout_seconds=5,
                max_concurrency=4,
                max_requests_per_second=40,
                max_attempts=RETRY.max_attempts,
                initial_backoff_seconds=RETRY.initial_backoff_seconds,
                max_backoff_seconds=RETRY.max_backoff_seconds,
            ),
            "warehouse": WarehouseResource(database=str(warehouse_path)),
        }
        job = defs.resolve_job_def("sync_quantconnect")
        result = job.execute_in_process(resources=resources)
        assert result.success
        with duckdb.connect(str(warehouse_path), read_only=True) as conn:
            counts = conn.execute("SELECT backtest_id, count(*) FROM orders GROUP BY 1")
            loaded = dict(counts.fetchall())
        assert loaded == {b: n for b, n in expected_orders(sandbox).items() if n}
        stats = sandbox.stats()
        assert stats["rate_limited"] <= max(5, 0.1 * stats["total"])

    (orders,) = [
        m.materialization
        for m in result.get_asset_materialization_events()
        if m.asset_key.path == ["orders"]
    ]
    metadata = {k: v.value for k, v in orders.metadata.items()}
    assert 0 < metadata["api_rate_per_second"] <= 40
    assert 1 <= metadata["api_concurrency"] <= 4
    assert metadata["api_backoffs"] >= 0
    assert metadata["api_requests_per_second"] > 0
    assert isinstance(dg.MetadataValue.float(metadata["api_rate_per_second"]).value, float)


def test_progress_lines_tell_the_rate(sandbox: SandboxServer, caplog: pytest.LogCaptureFixture):
    client = QuantConnectClient(
        SANDBOX_USER_ID,
        SANDBOX_API_TOKEN,
        sandbox.url,
        max_concurrency=8,
        max_requests_per_second=10,
    )
    client.post("authenticate", {})
    log = logging.getLogger("test_rate_progress")
    labels = ProgressLabels(bar="orders", unit="backtests", fetched="orders")
    with caplog.at_level(logging.INFO, logger="test_rate_progress"):
        ProgressLog(log, client=client)(SyncProgress("orders", labels, 2, 2, 300))
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("orders: 2/2 backtests, 300 orders, ")
    assert line.endswith("; API 2.0 requests/s (ceiling 10), 2 in flight (of 8), 0 back-offs")
