"""Shared fixtures: a live sandbox API on 127.0.0.1 and a warehouse file in a temp dir."""

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from pipelines import warehouse
from pipelines.qc.client import QuantConnectClient
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID, SandboxAccount, SandboxServer
from pipelines.sync import sync_everything
from tests.helpers import FAST_RETRY, TEST_SIZE


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A fresh sandbox server with deterministic data, stopped after the test."""
    with SandboxServer(SandboxAccount(TEST_SIZE, seed=11)) as server:
        yield server


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[QuantConnectClient]:
    """A client of the sandbox with quick retries."""
    with closing(
        QuantConnectClient(
            SANDBOX_USER_ID, SANDBOX_API_TOKEN, sandbox.url, timeout_seconds=5, retry=FAST_RETRY
        )
    ) as client:
        yield client


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    """Where the test's DuckDB warehouse lives."""
    return tmp_path / "warehouse" / "test.duckdb"


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `make demo` leaves: the sandbox's demo account synced into a `data/warehouse.duckdb`
    (of a temp dir), once per session. For tests that only read it."""
    path = tmp_path_factory.mktemp("demo") / "data" / "warehouse.duckdb"
    path.parent.mkdir()
    with (
        SandboxServer(SandboxAccount()) as server,
        closing(
            QuantConnectClient(
                SANDBOX_USER_ID,
                SANDBOX_API_TOKEN,
                server.url,
                timeout_seconds=5,
                retry=FAST_RETRY,
                max_concurrency=8,
            )
        ) as client,
        warehouse.open_writer(path) as store,
    ):
        sync_everything(client, store)
    return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Keep each phase's report on its test (`item.rep_call`), for fixtures that act on failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
