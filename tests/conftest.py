"""Shared fixtures: a live sandbox API on 127.0.0.1 and a warehouse file in a temp dir."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.quantconnect import QuantConnectClient, RetrySettings
from pipelines.resources import QuantConnectResource, WarehouseResource
from pipelines.sandbox import (
    SANDBOX_API_TOKEN,
    SANDBOX_USER_ID,
    SandboxAccount,
    SandboxServer,
    SandboxSize,
)

# Small enough to stay fast, big enough for several pages per backtest.
TEST_SIZE = SandboxSize(projects=2, backtests_per_project=4, orders_per_backtest=160)
FAST_RETRY = RetrySettings(max_attempts=4, initial_backoff_seconds=0.01, max_backoff_seconds=0.05)


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A fresh sandbox server with deterministic data, stopped after the test."""
    with SandboxServer(SandboxAccount(TEST_SIZE, seed=11)) as server:
        yield server


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[QuantConnectClient]:
    """A client of the sandbox with quick retries."""
    client = QuantConnectClient(
        SANDBOX_USER_ID, SANDBOX_API_TOKEN, sandbox.url, timeout_seconds=5, retry=FAST_RETRY
    )
    yield client
    client.close()


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    """Where the test's DuckDB warehouse lives."""
    return tmp_path / "warehouse" / "test.duckdb"


def make_resources(
    sandbox: SandboxServer,
    warehouse_path: Path,
    api_token: str | None = SANDBOX_API_TOKEN,
    timeout_seconds: float = 5,
) -> dict[str, object]:
    """The real resources, pointed at the sandbox and the temp warehouse; with `api_token`
    None, the credentials come from the environment, as `pipelines.definitions` has them."""
    return {
        "quantconnect": QuantConnectResource(
            user_id=None if api_token is None else SANDBOX_USER_ID,
            api_token=api_token,
            api_url=sandbox.url,
            timeout_seconds=timeout_seconds,
            max_concurrency=4,
            max_requests_per_second=None,
            max_attempts=FAST_RETRY.max_attempts,
            initial_backoff_seconds=FAST_RETRY.initial_backoff_seconds,
            max_backoff_seconds=FAST_RETRY.max_backoff_seconds,
        ),
        "warehouse": WarehouseResource(database=str(warehouse_path)),
    }


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Keep each phase's report on its test (`item.rep_call`), for fixtures that act on failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
