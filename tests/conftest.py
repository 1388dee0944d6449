"""Shared fixtures: a live sandbox API on 127.0.0.1 and a warehouse file in a temp dir."""

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from pipelines.qc.client import QuantConnectClient
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID, SandboxAccount, SandboxServer
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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Keep each phase's report on its test (`item.rep_call`), for fixtures that act on failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
