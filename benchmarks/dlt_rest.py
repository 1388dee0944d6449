"""dlt's `rest_api` source as a contender, with its default settings and tuned.

Projects, backtests and the orders of finished backtests load into DuckDB; dlt's relational
normalizer puts each order's `events` into its child table `orders__events`. QuantConnect's
start/end windows need a custom paginator, and its time-signed auth a custom auth class.
"""

from __future__ import annotations

import os
from typing import Any

import dlt
from dlt.common.configuration import configspec
from dlt.sources import DltSource
from dlt.sources.helpers.rest_client.auth import AuthConfigBase
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from dlt.sources.rest_api import RESTAPIConfig, rest_api_source
from requests import PreparedRequest, Request, Response

from benchmarks.common import ORDERS_WINDOW, Outcome, Stopwatch, Task, count_rows, signed_headers
from pipelines.schema.backtests import is_backtest_finished

DATASET = "qc"
TABLES = {
    "projects": f"{DATASET}.projects",
    "backtests": f"{DATASET}.backtests",
    "orders": f"{DATASET}.orders",
    "events": f"{DATASET}.orders__events",
}


@configspec
class QuantConnectAuth(AuthConfigBase):
    """QuantConnect's Basic auth with a `Timestamp` header, signed afresh for every request."""

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        request.headers.update(signed_headers())
        return request


class StartEndPaginator(BasePaginator):
    """Writes `start` and `end = start + window` into the JSON body; stops at `length`."""

    def __init__(self, window: int = ORDERS_WINDOW) -> None:
        super().__init__()
        self.window = window
        self.start = 0

    def init_request(self, request: Request) -> None:
        """Ask for the first window."""
        self.update_request(request)

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        """Move to the next window; stop after an empty page or at the total `length`."""
        self.start += self.window
        if not data or self.start >= response.json()["length"]:
            self._has_next_page = False

    def update_request(self, request: Request) -> None:
        """Write the current window into the body."""
        request.json = {
            **(request.json or {}),
            "start": self.start,
            "end": self.start + self.window,
        }


def _backtests_resource(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "primary_key": "backtestId",
        "endpoint": {
            "path": "backtests/list",
            "json": {"projectId": "{resources.projects.projectId}", "includeStatistics": True},
            "data_selector": "backtests",
        },
        "include_from_parent": ["projectId"],
        **extra,
    }


def quantconnect_source(url: str, parallelized: bool) -> DltSource:
    """The `rest_api` source: projects → backtests, and finished backtests → their orders."""
    config: RESTAPIConfig = {
        "client": {"base_url": url, "auth": QuantConnectAuth(), "paginator": "single_page"},
        "resource_defaults": {"endpoint": {"method": "POST"}},
        "resources": [
            {
                "name": "projects",
                "primary_key": "projectId",
                "endpoint": {"path": "projects/read", "json": {}, "data_selector": "projects"},
            },
            _backtests_resource("backtests"),
            # Only finished backtests have final orders: a hidden parent filters them.
            _backtests_resource(
                "finished_backtests",
                selected=False,
                processing_steps=[{"filter": is_backtest_finished}],
            ),
            {
                "name": "orders",
                "endpoint": {
                    "path": "backtests/orders/read",
                    "json": {
                        "projectId": "{resources.finished_backtests._projects_projectId}",
                        "backtestId": "{resources.finished_backtests.backtestId}",
                    },
                    "data_selector": "orders",
                    "paginator": StartEndPaginator(),
                },
                "include_from_parent": ["backtestId"],
                "parallelized": parallelized,
            },
        ],
    }
    return rest_api_source(config)


def tuned_settings(concurrency: int) -> dict[str, str]:
    """The performance knobs of dlt's docs (reference/performance.md), as environment config."""
    return {
        "DATA_WRITER__BUFFER_MAX_ITEMS": "100000",
        "DATA_WRITER__FILE_MAX_ITEMS": "100000",
        "EXTRACT__WORKERS": str(concurrency),
        "NORMALIZE__WORKERS": str(os.cpu_count() or 1),
        "NORMALIZE__START_METHOD": "spawn",
        "LOAD__WORKERS": str(concurrency),
    }


def _run(task: Task, name: str, tuned: bool) -> Outcome:
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"  # no network but 127.0.0.1
    if tuned:
        os.environ.update(tuned_settings(task.concurrency))
    path = task.run_dir / f"{name}.duckdb"
    with Stopwatch() as watch:
        pipeline = dlt.pipeline(
            pipeline_name=name,
            destination=dlt.destinations.duckdb(str(path)),
            dataset_name=DATASET,
            pipelines_dir=str(task.run_dir / f"{name}_pipelines"),
        )
        pipeline.run(
            quantconnect_source(task.url, parallelized=tuned),
            loader_file_format="parquet" if tuned else None,
        )
    steps = {step.step: step.finished_at - step.started_at for step in pipeline.last_trace.steps}
    details = {f"{step}_seconds": delta.total_seconds() for step, delta in steps.items()}
    return Outcome(watch.seconds, count_rows(path, TABLES), details)


def dlt_default(task: Task) -> Outcome:
    """dlt's `rest_api` source with every setting at its default."""
    return _run(task, "dlt_default", tuned=False)


def dlt_tuned(task: Task) -> Outcome:
    """dlt tuned: parquet files, big buffers, file rotation, parallel extract/normalize/load."""
    return _run(task, "dlt_tuned", tuned=True)
