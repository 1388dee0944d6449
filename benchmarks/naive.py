"""The naive baseline: the script a user would write with requests, pandas and DuckDB.

One request at a time; each finished backtest's orders go through `pandas.json_normalize`
(events with `record_path`), and the frames are concatenated into DuckDB tables at the end.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd
import requests

from benchmarks.common import ORDERS_WINDOW, Outcome, Stopwatch, Task, count_rows, signed_headers
from pipelines.schema.backtests import is_backtest_finished

TABLES = {
    "projects": "projects",
    "backtests": "backtests",
    "orders": "orders",
    "events": "order_events",
}


class _Api:
    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()

    def post(self, endpoint: str, **body: Any) -> dict[str, Any]:
        response = self.session.post(self.url + endpoint, json=body, headers=signed_headers())
        response.raise_for_status()
        return response.json()


def _all_orders(api: _Api, project_id: int, backtest_id: str) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = []
    start = 0
    while True:
        page = api.post(
            "backtests/orders/read",
            projectId=project_id,
            backtestId=backtest_id,
            start=start,
            end=start + ORDERS_WINDOW,
        )["orders"]
        orders += page
        if len(page) < ORDERS_WINDOW:
            return orders
        start += ORDERS_WINDOW


def naive(task: Task) -> Outcome:
    """Fetch sequentially, flatten with pandas, and create one DuckDB table per entity."""
    path = task.run_dir / "naive.duckdb"
    with Stopwatch() as watch:
        api = _Api(task.url)
        projects = api.post("projects/read")["projects"]
        backtests = [
            {**backtest, "projectId": project["projectId"]}
            for project in projects
            for backtest in api.post("backtests/list", projectId=project["projectId"])["backtests"]
        ]
        order_frames, event_frames = [], []
        for backtest in filter(is_backtest_finished, backtests):
            orders = _all_orders(api, backtest["projectId"], backtest["backtestId"])
            if orders:
                frame = pd.json_normalize(orders).drop(columns="events")
                order_frames.append(frame.assign(backtestId=backtest["backtestId"]))
                event_frames.append(pd.json_normalize(orders, record_path="events"))
        tables = {
            "projects": pd.json_normalize(projects),
            "backtests": pd.json_normalize(backtests),
            "orders": pd.concat(order_frames, ignore_index=True),
            "order_events": pd.concat(event_frames, ignore_index=True),
        }
        with duckdb.connect(str(path)) as conn:
            for name, frame in tables.items():
                conn.from_df(frame).create(name)
    return Outcome(watch.seconds, count_rows(path, TABLES))
