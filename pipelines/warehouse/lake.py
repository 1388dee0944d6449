"""The warehouse as a DuckLake: a catalog in PostgreSQL (or SQLite on one machine) and Parquet
files in S3 or a folder, written by many processes at once (`DuckLakeWarehouse`).

DuckLake commits optimistically: two transactions that replace rows of one table conflict at
commit, and the loser's transaction is gone (https://ducklake.select/docs/stable/duckdb/
advanced_features/conflict_resolution). Every write here is therefore a unit that can run
again: `retrying_conflicts` runs it anew, after a jittered backoff, until it commits.
Readers attach the catalog read-only, at its latest snapshot or an earlier one, and never
wait for a writer.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import duckdb

from pipelines.warehouse.connection import DEFAULT_MEMORY_LIMIT, Connection
from pipelines.warehouse.extensions import load_extensions
from pipelines.warehouse.protocol import NoWarehouseError, WarehouseError

# The name a lake is attached under; `USE lake` makes the sync's statements run in it.
LAKE = "lake"
CATALOG_KINDS = ("postgres:", "sqlite:")
# Retries of a write that lost a commit conflict: backoff from FIRST_BACKOFF, doubling up to
# MAX_BACKOFF, jittered, for up to CONFLICT_ATTEMPTS tries (8 writers on one table need ~5,
# docs/scale-out.md).
CONFLICT_ATTEMPTS = 30
FIRST_BACKOFF_SECONDS = 0.05
MAX_BACKOFF_SECONDS = 2.0
# What DuckLake says when a commit loses to another writer's: a logical conflict
# ("Transaction conflict - attempting to delete from table ... but another transaction has
# inserted into it"), a SQLite catalog another writer has locked, or a new PostgreSQL catalog
# another process was creating at the same time ("duplicate key value violates unique
# constraint pg_type_typname_nsp_index", scale-out-notes §5.3; `relation "ducklake_metadata"
# already exists`, seen here with 8 processes).
_CONFLICTS = re.compile(
    r"transaction conflict|database is locked|could not serialize"
    r"|duplicate key value violates unique constraint"
    r'|relation "ducklake_\w+" already exists',
    re.IGNORECASE,
)
T = TypeVar("T")
_PASSWORD = re.compile(r"(password=)\S+")


@dataclass(frozen=True)
class S3Settings:
    """Where S3 is and who we are there: the standard AWS variables."""

    key_id: str | None = None
    secret: str | None = None
    session_token: str | None = None
    region: str | None = None
    endpoint: str | None = None  # e.g. http://127.0.0.1:5055, for an S3-compatible store

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> S3Settings:
        """AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION (else
        AWS_DEFAULT_REGION) and AWS_ENDPOINT_URL_S3 (else AWS_ENDPOINT_URL)."""
        return cls(
            key_id=environ.get("AWS_ACCESS_KEY_ID"),
            secret=environ.get("AWS_SECRET_ACCESS_KEY"),
            session_token=environ.get("AWS_SESSION_TOKEN"),
            region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION"),
            endpoint=environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL"),
        )

    def secret_sql(self) -> str:
        """DuckDB's `CREATE SECRET` for these settings."""
        options = {
            "KEY_ID": self.key_id,
            "SECRET": self.secret,
            "SESSION_TOKEN": self.session_token,
            "REGION": self.region,
        }
        if self.endpoint:
            url = urlsplit(self.endpoint if "://" in self.endpoint else f"https://{self.endpoint}")
            options |= {"ENDPOINT": url.netloc, "URL_STYLE": "path"}
            options["USE_SSL"] = "true" if url.scheme == "https" else "false"
        given = ", ".join(f"{key} {_quoted(value)}" for key, value in options.items() if value)
        return f"CREATE OR REPLACE SECRET qcw_s3 (TYPE s3{', ' if given else ''}{given})"


@dataclass(frozen=True)
class Lake:
    """A DuckLake warehouse: its `catalog` (`postgres:dbname=… host=…`, or `sqlite:PATH`) and
    where its data lives (`s3://bucket/prefix/`, or a folder), with S3's settings."""

    catalog: str
    data_path: str | None = None
    s3: S3Settings = S3Settings()

    def __post_init__(self) -> None:
        if not self.catalog.startswith(CATALOG_KINDS):
            raise ValueError(
                f"WAREHOUSE_CATALOG {self.catalog!r} is not a DuckLake catalog that several "
                "processes can share: use postgres:dbname=… host=… or sqlite:PATH (a DuckDB "
                "file as catalog admits one process; WAREHOUSE_PATH is that case)"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Lake | None:
        """The lake WAREHOUSE_CATALOG and WAREHOUSE_DATA_PATH name, or None when unset."""
        catalog = environ.get("WAREHOUSE_CATALOG")
        if not catalog:
            return None
        return cls.with_env(catalog, environ.get("WAREHOUSE_DATA_PATH"), environ)

    @classmethod
    def with_env(
        cls, catalog: str, data_path: str | None, environ: Mapping[str, str] = os.environ
    ) -> Lake:
        """The lake of `catalog` and `data_path`, with S3's settings from the environment."""
        return cls(catalog, data_path or None, S3Settings.from_env(environ))

    @property
    def on_s3(self) -> bool:
        """Whether the data lives in S3."""
        return (self.data_path or "").startswith("s3://")

    @property
    def extensions(self) -> tuple[str, ...]:
        """The DuckDB extensions it needs: DuckLake, its catalog's, and S3's."""
        catalog = self.catalog.split(":", 1)[0]
        return ("ducklake", catalog, *(("httpfs",) if self.on_s3 else ()))

    def __str__(self) -> str:
        shown = _PASSWORD.sub(r"\1***", self.catalog)  # never printed
        return f"DuckLake {shown}" + (f" (data in {self.data_path})" if self.data_path else "")


def connect_lake(
    lake: Lake,
    read_only: bool = False,
    as_of: str | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
) -> Connection:
    """An in-memory DuckDB with the lake attached as `lake` and in use, as of snapshot
    `as_of` (an id, or a timestamp) when given: read-only then.

    A writer creates the lake when its catalog has none yet. Concurrent first attachments race
    for the catalog's tables: the loser attaches again, once the winner has made them; better,
    create the lake in one process before others attach (`create_lake`, the `projects` asset).
    """
    conn = duckdb.connect(
        config={"autoinstall_known_extensions": False, "memory_limit": memory_limit}
    )
    try:
        load_extensions(conn, lake.extensions)
        if lake.on_s3:
            conn.execute(lake.s3.secret_sql())
        attach = attach_sql(lake, read_only or as_of is not None, as_of)
        retrying_conflicts(lambda: conn.execute(attach))
        conn.execute(f"USE {LAKE}")
    except duckdb.Error as error:
        conn.close()
        if as_of is not None:
            raise ValueError(f"{lake} has no snapshot as of {as_of}: {error}") from None
        if read_only:
            raise NoWarehouseError(f"no warehouse in {lake} ({error})") from None
        raise WarehouseError(f"cannot open {lake}: {error}") from error
    return conn


def attach_sql(lake: Lake, read_only: bool, as_of: str | None = None) -> str:
    """The `ATTACH` of the lake, read-only or as of a snapshot id or timestamp."""
    options = []
    if lake.data_path and not read_only:
        options.append(f"DATA_PATH {_quoted(_data_path(lake))}")
    if read_only:
        options.append("READ_ONLY")
    if as_of is not None:
        option = "SNAPSHOT_VERSION" if as_of.isdigit() else "SNAPSHOT_TIME"
        options.append(f"{option} {as_of if as_of.isdigit() else _quoted(as_of)}")
    with_options = f" ({', '.join(options)})" if options else ""
    return f"ATTACH {_quoted('ducklake:' + lake.catalog)} AS {LAKE}{with_options}"


def _data_path(lake: Lake) -> str:
    """The data path as DuckLake wants it: a URL, or an absolute folder (created), ending in /."""
    assert lake.data_path is not None
    if "://" in lake.data_path:
        return lake.data_path.rstrip("/") + "/"
    folder = Path(lake.data_path).expanduser().absolute()
    folder.mkdir(parents=True, exist_ok=True)
    return f"{folder}/"


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def is_conflict(error: BaseException | None) -> bool:
    """Whether `error` (or what it wraps) is a commit lost to another writer: worth running the
    whole transaction again."""
    while error is not None:
        if isinstance(error, duckdb.Error) and _CONFLICTS.search(str(error)):
            return True
        error = error.__cause__
    return False


def backoffs(attempts: int = CONFLICT_ATTEMPTS) -> Iterator[float]:
    """The waits before each retry: jittered, doubling from FIRST_BACKOFF_SECONDS up to
    MAX_BACKOFF_SECONDS."""
    for attempt in range(attempts - 1):
        ceiling = min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2**attempt)
        yield random.uniform(ceiling / 2, ceiling)


def retrying_conflicts(
    write: Callable[[], T], on_retry: Callable[[BaseException], None] | None = None
) -> T:
    """Run `write`, a whole transaction, until it commits: each time it loses a commit
    conflict (its transaction already rolled back by DuckLake), after a backoff; the last
    conflict, or any other error, is raised."""
    for wait in backoffs():
        try:
            return write()
        except Exception as error:
            if not is_conflict(error):
                raise
            if on_retry is not None:
                on_retry(error)
            time.sleep(wait)
    return write()


def sign(conn: Connection, author: str, message: str) -> None:
    """Sign the open transaction's snapshot with `author` (the run that made it) and `message`
    (what it wrote): `qcw status` lists them."""
    conn.execute(f"CALL {LAKE}.set_commit_message(?, ?)", [author, message])
