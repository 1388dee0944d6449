"""What the `qcw` commands share: options, the error console, and errors as one message."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import duckdb
from rich.console import Console
from rich.table import Column

from pipelines import warehouse
from pipelines.qc.client import (
    DEFAULT_API_URL,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_REQUESTS_PER_SECOND,
    ClientSettings,
)
from pipelines.qc.credentials import CredentialsError
from pipelines.qc.errors import QuantConnectError

_warehouse_optionsS = (
    click.option(
        "--warehouse",
        "warehouse_path",
        envvar="WAREHOUSE_PATH",
        default=warehouse.DEFAULT_WAREHOUSE_PATH,
        show_default=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="The DuckDB file (env WAREHOUSE_PATH), unless --catalog names a DuckLake.",
    ),
    click.option(
        "--catalog",
        envvar="WAREHOUSE_CATALOG",
        help=(
            "A DuckLake catalog instead of the file: postgres:dbname=… host=…, or sqlite:PATH "
            "(env WAREHOUSE_CATALOG)."
        ),
    ),
    click.option(
        "--data-path",
        envvar="WAREHOUSE_DATA_PATH",
        help=(
            "Where the DuckLake's Parquet files go: s3://bucket/prefix/ (with the AWS_* "
            "variables) or a folder (env WAREHOUSE_DATA_PATH)."
        ),
    ),
)
WAIT_OPTION = click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(min=0),
    default=60,
    show_default=True,
    help="While a sync writes the warehouse, wait up to this many seconds (0: fail at once).",
)
_API_OPTIONS = (
    click.option(
        "--api-url",
        envvar="QC_API_URL",
        default=DEFAULT_API_URL,
        show_default=True,
        help="The API base URL (env QC_API_URL); https, or http to a loopback host.",
    ),
    click.option(
        "--concurrency",
        envvar="QC_MAX_CONCURRENCY",
        default=DEFAULT_MAX_CONCURRENCY,
        show_default=True,
        type=int,
        help="Ceiling of the requests in flight at once (env QC_MAX_CONCURRENCY).",
    ),
    click.option(
        "--requests-per-second",
        envvar="QC_MAX_REQUESTS_PER_SECOND",
        default=DEFAULT_MAX_REQUESTS_PER_SECOND,
        show_default=True,
        type=float,
        help=("Ceiling of the adaptive request rate; 0 for none (env QC_MAX_REQUESTS_PER_SECOND)."),
    ),
)
err = Console(stderr=True)


def api_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the API options to a command, which receives them as `settings`."""

    @functools.wraps(command)
    def with_settings(
        *args: Any, api_url: str, concurrency: int, requests_per_second: float, **kwargs: Any
    ) -> Any:
        settings = ClientSettings(
            api_url, max_concurrency=concurrency, max_requests_per_second=requests_per_second
        )
        return command(*args, settings=settings, **kwargs)

    for option in reversed(_API_OPTIONS):
        with_settings = option(with_settings)
    return with_settings


def warehouse_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the warehouse options to a command, which receives the warehouse as `target`: the
    DuckLake of --catalog, else the file of --warehouse."""

    @functools.wraps(command)
    def with_target(
        *args: Any,
        warehouse_path: Path,
        catalog: str | None,
        data_path: str | None,
        **kwargs: Any,
    ) -> Any:
        try:
            target = warehouse.Lake.with_env(catalog, data_path) if catalog else warehouse_path
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--catalog") from None
        return command(*args, target=target, **kwargs)

    for option in reversed(_warehouse_optionsS):
        with_target = option(with_target)
    return with_target


@contextmanager
def clear_errors() -> Iterator[None]:
    """Turn the errors a user can meet into one message and exit code 1."""
    try:
        yield
    except Exception as error:
        if isinstance(error, user_errors()):
            raise click.ClickException(str(error)) from None
        raise


def user_errors() -> tuple[type[Exception], ...]:
    """The errors a user can meet: bad credentials, the API's, a sync's, the warehouse's, a
    query's and bad values. Imported when an error comes: the sync's modules load pyarrow and
    the schema, which `qcw sql` never needs."""
    from pipelines.sync.report import SyncError

    return (
        CredentialsError,
        QuantConnectError,
        SyncError,
        warehouse.WarehouseBusyError,
        warehouse.WarehouseError,
        duckdb.Error,
        ValueError,
    )


def number(header: str) -> Column:
    """A table column of numbers: right-aligned."""
    return Column(header, justify="right")
