"""Shared fixtures: a live sandbox API on 127.0.0.1, a warehouse file in a temp dir, and a
warehouse on either backend (`target`: the file, or a DuckLake on a throwaway PostgreSQL and
moto's S3, both started once per session)."""

import itertools
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from pipelines import warehouse
from pipelines.qc.client import QuantConnectClient
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID, SandboxAccount, SandboxServer
from pipelines.sync import sync_everything
from pipelines.warehouse.lake_warehouse import close_lakes
from tests.helpers import FAST_RETRY, TEST_SIZE
from tests.services import S3, Postgres, moto_s3, postgres_cluster

LAKE_BUCKET = "lake"
_lakes = itertools.count()


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
def postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 for the session."""
    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def s3() -> Iterator[S3]:
    """moto's S3 server on 127.0.0.1 for the session, with the lakes' bucket."""
    with moto_s3() as server:
        server.create_bucket(LAKE_BUCKET)
        yield server


@pytest.fixture
def lake(postgres: Postgres, s3: S3, monkeypatch: pytest.MonkeyPatch) -> Iterator[warehouse.Lake]:
    """A new DuckLake: its catalog a fresh PostgreSQL database, its data a fresh S3 prefix,
    S3's settings in the standard variables (as a deployment has them). The test's process
    lets go of it afterwards."""
    name = f"lake_{next(_lakes)}"
    postgres.create_database(name)
    for variable, value in s3.environment().items():
        monkeypatch.setenv(variable, value)
    yield warehouse.Lake.with_env(f"postgres:{postgres.dsn(name)}", f"s3://{LAKE_BUCKET}/{name}/")
    close_lakes()


@pytest.fixture(params=["file", "lake"])
def target(request: pytest.FixtureRequest, warehouse_path: Path) -> warehouse.Target:
    """The warehouse of a test whose behaviour both backends share: the DuckDB file, or a
    DuckLake on PostgreSQL and S3."""
    if request.param == "file":
        return warehouse_path
    return request.getfixturevalue("lake")


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
