"""The two floors: what no loader can beat on this machine.

The download floor makes the requests this pipeline makes (`projects/read`, `backtests/list` per
project, `backtests/read` and every `backtests/orders/read` window of each finished backtest),
signed the same way and at the same concurrency, over plain `http.client` keep-alive
connections, and throws the order pages away unread. The parse floor only decodes those page
bytes, fetched beforehand off the clock: it times each JSON decoder installed (msgspec, which
the pipeline uses, orjson and json) over all of them and keeps the fastest.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import msgspec
import orjson

from benchmarks.common import ORDERS_WINDOW, Outcome, Stopwatch, Task, signed_headers
from pipelines.schema.backtests import is_backtest_finished

DECODERS: dict[str, Callable[[bytes], Any]] = {
    "msgspec": msgspec.json.decode,
    "orjson": orjson.loads,
    "json": json.loads,
}


class Fetcher:
    """Signed JSON POSTs to the API, one keep-alive connection per thread."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._host, self._port, self._path = parts.hostname or "", parts.port, parts.path
        self._local = threading.local()

    def post(self, endpoint: str, body: dict[str, Any]) -> bytes:
        """The reply body of one request; raises on anything but HTTP 200."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(self._host, self._port)
        headers = {**signed_headers(), "Content-Type": "application/json"}
        conn.request("POST", self._path + endpoint, json.dumps(body), headers)
        response = conn.getresponse()
        content = response.read()
        if response.status != 200:
            raise RuntimeError(f"{endpoint}: HTTP {response.status}: {content[:200]!r}")
        return content


def _total_orders(reply: bytes) -> int:
    statistics = orjson.loads(reply)["backtest"]["statistics"]
    return int(statistics.get("Total Orders", statistics.get("Total Trades", 0)))


def fetch_everything(task: Task, handle_page: Callable[[bytes], Any]) -> list[bytes]:
    """Make every request of a full sync; returns the bodies of all but the order pages, whose
    bodies go to `handle_page`."""
    fetcher = Fetcher(task.url)
    projects_reply = fetcher.post("projects/read", {})
    project_ids = [p["projectId"] for p in orjson.loads(projects_reply)["projects"]]

    def listing(project_id: int) -> tuple[int, bytes]:
        body = {"projectId": project_id, "includeStatistics": True}
        return project_id, fetcher.post("backtests/list", body)

    def read(key: tuple[int, str]) -> bytes:
        return fetcher.post("backtests/read", {"projectId": key[0], "backtestId": key[1]})

    def page(window: tuple[int, str, int]) -> None:
        project_id, backtest_id, start = window
        body = {"projectId": project_id, "backtestId": backtest_id, "start": start}
        handle_page(fetcher.post("backtests/orders/read", {**body, "end": start + ORDERS_WINDOW}))

    with ThreadPoolExecutor(task.concurrency) as pool:
        listings = list(pool.map(listing, project_ids))
        finished = [
            (project_id, backtest["backtestId"])
            for project_id, reply in listings
            for backtest in orjson.loads(reply)["backtests"]
            if is_backtest_finished(backtest)
        ]
        reads = list(pool.map(read, finished))
        windows = [
            (project_id, backtest_id, start)
            for (project_id, backtest_id), reply in zip(finished, reads, strict=True)
            for start in range(0, max(_total_orders(reply), 1), ORDERS_WINDOW)
        ]
        for _ in pool.map(page, windows):
            pass
    return [projects_reply, *(reply for _, reply in listings), *reads]


def download_floor(task: Task) -> Outcome:
    """Every request of a full sync at the same concurrency, order pages thrown away."""
    sizes: list[int] = []
    with Stopwatch() as watch:
        fetch_everything(task, lambda body: sizes.append(len(body)))
    return Outcome(watch.seconds, details={"order_pages": len(sizes), "page_bytes": sum(sizes)})


def parse_floor(task: Task) -> Outcome:
    """Decode every reply body of a full sync, fetched beforehand off the clock, with the
    fastest decoder."""
    pages: list[bytes] = []
    bodies = fetch_everything(task, pages.append) + pages
    seconds = {name: _decoding_seconds(decode, bodies) for name, decode in DECODERS.items()}
    fastest = min(seconds, key=seconds.__getitem__)
    details = {"decoder": fastest, "bodies": len(bodies), "bytes": sum(map(len, bodies))}
    return Outcome(seconds[fastest], details={**details, "seconds_by_decoder": seconds})


def _decoding_seconds(decode: Callable[[bytes], Any], bodies: list[bytes]) -> float:
    with Stopwatch() as watch:
        for body in bodies:
            decode(body)
    return watch.seconds
