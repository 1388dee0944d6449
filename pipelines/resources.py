"""Dagster resources: thin configurable wrappers that hand out the pure-core objects."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field, PrivateAttr

from pipelines import warehouse
from pipelines.qc.client import (
    DEFAULT_API_URL,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_REQUESTS_PER_SECOND,
    DEFAULT_TIMEOUT_SECONDS,
    ClientSettings,
    QuantConnectClient,
    RetrySettings,
)
from pipelines.qc.credentials import Credentials, find_credentials

_RETRY = RetrySettings()


class QuantConnectResource(dg.ConfigurableResource):
    """The QuantConnect REST API v2, signed with the user id and API token.

    Retries 429, 5xx, dropped connections and "try again later" with exponential backoff and
    jitter; never retries rejected credentials. The request rate adapts (`qc/rate.py`): it
    starts at 2 requests/s and 2 in flight, rises while the API answers fast and clean, backs
    off on 429, 5xx and "try again later" (honouring `Retry-After`), and never goes above
    `max_requests_per_second` and `max_concurrency`.
    """

    user_id: str | None = Field(
        default=None,
        description="QuantConnect user id; unset: QC_USER_ID, else ~/.lean/credentials.",
    )
    api_token: str | None = Field(
        default=None,
        description="API token; unset: QC_API_TOKEN, else ~/.lean/credentials. Never logged.",
    )
    api_url: str = Field(default=DEFAULT_API_URL, description="API base URL (QC_API_URL).")
    timeout_seconds: float = Field(
        default=DEFAULT_TIMEOUT_SECONDS, description="Timeout of one HTTP request."
    )
    max_attempts: int = Field(
        default=_RETRY.max_attempts, description="Attempts per request, the first included."
    )
    initial_backoff_seconds: float = Field(
        default=_RETRY.initial_backoff_seconds, description="First retry's backoff."
    )
    max_backoff_seconds: float = Field(
        default=_RETRY.max_backoff_seconds, description="Longest wait between tries."
    )
    max_concurrency: int = Field(
        default=DEFAULT_MAX_CONCURRENCY,
        description="Ceiling of the requests in flight at once (QC_MAX_CONCURRENCY).",
    )
    max_requests_per_second: float | None = Field(
        default=DEFAULT_MAX_REQUESTS_PER_SECOND,
        description=(
            "Ceiling of the adaptive request rate across threads (QC_MAX_REQUESTS_PER_SECOND); "
            "null or 0: none, and no rate until the API pushes back."
        ),
    )
    apply_tag_rules: bool = Field(
        default=False,
        description=(
            "Let the asset backtest_tag_rules send the tag writes its rules plan "
            "(QC_APPLY_TAG_RULES); off: it only shows the plan."
        ),
    )

    def __repr_args__(self) -> list[tuple[str | None, Any]]:
        return [
            (name, "**********" if name == "api_token" else value)
            for name, value in super().__repr_args__()
        ]

    def credentials(self) -> Credentials:
        """The configured credentials, else the environment's, else the lean CLI's file."""
        if self.user_id and self.api_token:
            return Credentials(self.user_id, self.api_token, "the resource's configuration")
        return find_credentials()

    def settings(self) -> ClientSettings:
        """How this resource reaches the API."""
        return ClientSettings(
            api_url=self.api_url,
            timeout_seconds=self.timeout_seconds,
            retry=RetrySettings(
                self.max_attempts, self.initial_backoff_seconds, self.max_backoff_seconds
            ),
            max_concurrency=self.max_concurrency,
            max_requests_per_second=self.max_requests_per_second,
        )

    @contextmanager
    def client(self) -> Iterator[QuantConnectClient]:
        """A client configured from this resource, closed when the block ends."""
        credentials = self.credentials()
        dg.get_dagster_logger().info(
            f"QuantConnect credentials of user {credentials.user_id} from {credentials.source}"
        )
        with self.settings().client(credentials) as client:
            yield client


class WarehouseResource(DuckDBResource):
    """The warehouse: the DuckDB file of WAREHOUSE_PATH, or the DuckLake of WAREHOUSE_CATALOG
    and WAREHOUSE_DATA_PATH; its tables are created on use.

    Unlike the stock `DuckDBResource`, a writer of the file first takes the warehouse's lock
    file, so a second sync (another run, another Dagster instance) waits instead of failing on
    DuckDB's lock, and the connection is closed even when the block fails. A lake takes many
    writers at once, and signs each snapshot with the run that made it.
    """

    database: str = Field(
        default=warehouse.DEFAULT_WAREHOUSE_PATH,
        description="Path of the DuckDB file; also where pictures go (a `plots` folder beside).",
    )
    catalog: str | None = Field(
        default=None,
        description="A DuckLake catalog (postgres:… or sqlite:PATH) instead of the file.",
    )
    data_path: str | None = Field(
        default=None, description="Where the DuckLake's Parquet files go (s3://… or a folder)."
    )
    writer_wait_seconds: float = Field(
        default=warehouse.DEFAULT_WRITER_WAIT_SECONDS,
        description="How long a writer waits for another process's sync to finish.",
    )
    _run_id: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Remember the run, which signs a lake's snapshots."""
        self._run_id = context.run.run_id if context.run is not None else None

    @property
    def target(self) -> warehouse.Target:
        """The lake of `catalog`, else the file of `database`."""
        if self.catalog:
            return warehouse.Lake.with_env(self.catalog, self.data_path)
        return Path(self.database)

    @property
    def is_lake(self) -> bool:
        """Whether the warehouse is a DuckLake, which takes many writers at once."""
        return bool(self.catalog)

    @contextmanager
    def writer(self) -> Iterator[warehouse.DuckDBWarehouse]:
        """The warehouse for a sync, with its schema in place; one writer at a time for the
        file, many for a lake."""
        author = f"dagster run {self._run_id}" if self._run_id else None
        with warehouse.open_writer(
            self.target,
            self.writer_wait_seconds,
            on_wait=dg.get_dagster_logger().warning,
            author=author,
        ) as store:
            yield store

    @contextmanager
    def reader(self) -> Iterator[warehouse.DuckDBWarehouse]:
        """The warehouse, read-only; for the file `WarehouseBusyError` at once while a sync
        writes it; `NoWarehouseError` before any sync has written it."""
        with warehouse.open_reader(self.target) as store:
            yield store

    @contextmanager
    def get_connection(self) -> Iterator[warehouse.Connection]:
        """The read-write DuckDB connection, as `DuckDBResource` gives it; one writer at a
        time, like `writer`."""
        with self.writer() as store, store.holding() as conn:
            yield conn
