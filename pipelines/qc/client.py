"""A client for the QuantConnect REST API v2: signing, POST requests, retries and the adaptive
rate (`rate.py`).

Every fact about the API's behaviour here comes from `../shared/reference/quantconnect-api.md`.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import msgspec
import tenacity
import urllib3

from pipelines.qc.credentials import Credentials
from pipelines.qc.errors import (
    CREDENTIAL_HINT,
    QuantConnectAuthError,
    QuantConnectError,
    RetryableError,
)
from pipelines.qc.rate import AdaptiveLimiter, RateState, Signal, shared_limiter
from pipelines.qc.replies import (
    OrdersPage,
    parse_backtest_reply,
    parse_orders_page,
    parse_reply,
)

DEFAULT_API_URL = "https://www.quantconnect.com/api/v2/"
DEFAULT_TIMEOUT_SECONDS = 60.0
# The ceilings of the adaptive rate (`rate.py`), for the real API, which documents no rate
# limit (reference §8). Every sync starts at 2 requests/s and 2 in flight, rises while the API
# answers fast and clean and backs off when it pushes back (429, 5xx), never above 10
# requests/s and 8 in flight: 5 times the old fixed rate, still far from what an API would
# call abuse (600 requests a minute from one account, a handful of connections), and if the
# API has a lower limit its 429s bring the rate down to it. At 10/s a first sync of 2,000 pages
# takes about 3.5 minutes instead of 17, and the ceiling is reached in about 2 s when the API
# answers fast. 8 in flight sustain 10/s with replies of up to 0.8 s (statistics replies are
# megabytes); LEAN's own API connection keeps 5 clients. Against the sandbox, use no rate
# ceiling (`QC_MAX_REQUESTS_PER_SECOND=0`, README).
DEFAULT_MAX_CONCURRENCY = 8
DEFAULT_MAX_REQUESTS_PER_SECOND = 10.0
# `backtests/trades/read` states no widest window (reference-results §2.2): assume orders' 100.
TRADES_WINDOW = 100

log = logging.getLogger(__name__)


def sign(user_id: str, api_token: str, timestamp: int) -> dict[str, str]:
    """The two auth headers for one request (reference §1).

    The password is the hex SHA-256 of `token:timestamp`; the token itself is never sent, and
    `Timestamp` must carry exactly the value that was hashed.
    """
    digest = hashlib.sha256(f"{api_token}:{timestamp}".encode()).hexdigest()
    basic = base64.b64encode(f"{user_id}:{digest}".encode()).decode("ascii")
    return {"Authorization": f"Basic {basic}", "Timestamp": str(timestamp)}


@dataclass(frozen=True)
class RetrySettings:
    """How hard to retry transient failures: exponential backoff with full jitter."""

    max_attempts: int = 6
    initial_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0


def _retry_after_seconds(header: str | None) -> float | None:
    """`Retry-After` as seconds: either a number or an HTTP date."""
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(header).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def refuse_plain_http(base_url: str) -> None:
    """Raise `ValueError` unless `base_url` is HTTPS or on the loopback interface (the sandbox)."""
    url = urlsplit(base_url)
    if url.scheme == "https" and url.hostname:
        return
    if url.scheme == "http" and _is_loopback(url.hostname or ""):
        return
    raise ValueError(
        f"refusing API URL {base_url!r}: use https:// (plain http:// only to a loopback host, "
        "such as the sandbox on 127.0.0.1)"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _connection_pool(base_url: str, maxsize: int) -> urllib3.PoolManager:
    """Keep-alive connections to the API, through the environment's proxy if it names one."""
    url = urlsplit(base_url)
    proxy = getproxies().get(url.scheme)
    options: dict[str, Any] = {"num_pools": 2, "maxsize": maxsize, "retries": False}
    if proxy and not proxy_bypass(url.hostname or ""):
        return urllib3.ProxyManager(proxy, **options)
    return urllib3.PoolManager(**options)


T = TypeVar("T")


class QuantConnectClient:
    """Signed, retried POST requests to the QuantConnect API, safe to share between threads.

    Every attempt, across threads, goes through an adaptive limiter (`rate.py`): it starts
    polite, speeds up while replies come back fast and clean, backs off on 429, 5xx and "try
    again later" (honouring `Retry-After`), and never goes above `max_requests_per_second`
    (None or 0: no rate ceiling, and no rate at all until the API first pushes back) nor
    `max_concurrency` requests in flight. `limiter` shares one between clients (else each
    has its own). Counts every HTTP attempt per endpoint in `requests_made`, and retries in
    `retries`; `rate_state()` tells the limiter's decisions.
    """

    def __init__(
        self,
        user_id: str,
        api_token: str,
        base_url: str = DEFAULT_API_URL,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        retry: RetrySettings | None = None,
        max_concurrency: int = 4,
        max_requests_per_second: float | None = None,
        limiter: AdaptiveLimiter | None = None,
    ) -> None:
        if not str(user_id).strip() or not str(api_token).strip():
            raise QuantConnectAuthError(
                "authenticate", None, f"missing credentials. {CREDENTIAL_HINT}"
            )
        refuse_plain_http(base_url)
        self._user_id = str(user_id).strip()
        self._api_token = str(api_token).strip()
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout_seconds = timeout_seconds
        self.retry = retry or RetrySettings()
        self.max_concurrency = max_concurrency  # the ceiling: the thread pools are this big
        self.limiter = limiter or AdaptiveLimiter(
            max_requests_per_second,
            max_concurrency,
            max_pause_seconds=max(self.retry.max_backoff_seconds, 1.0),
        )
        self.requests_made: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self._lock = threading.Lock()
        # urllib3, which requests wraps: requests' `Response.content` reads a 180 KB orders
        # page through 10 KB `iter_content` chunks, 3x the CPU (docs/benchmarks.md).
        self._http = _connection_pool(self.base_url, max(4, max_concurrency))
        self._timeout = urllib3.Timeout(connect=timeout_seconds, read=timeout_seconds)

    def __repr__(self) -> str:
        return f"QuantConnectClient(user_id={self._user_id!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.clear()

    def rate_state(self) -> RateState:
        """The adaptive rate's decisions so far: the rate and permits now, the back-offs."""
        return self.limiter.state()

    # --- Endpoints -----------------------------------------------------------------------------

    def read_projects(self) -> list[dict[str, Any]]:
        """Every project the user can see (`projects/read` with an empty body)."""
        return list(self.post("projects/read", {}).get("projects") or [])

    def list_backtests(self, project_id: int) -> list[dict[str, Any]]:
        """Every backtest of a project, with summary statistics (`backtests/list`; no paging)."""
        body = {"projectId": project_id, "includeStatistics": True}
        return list(self.post("backtests/list", body).get("backtests") or [])

    def read_backtest(self, project_id: int, backtest_id: str) -> dict[str, Any]:
        """One backtest with its `statistics` map (`backtests/read`)."""
        body = {"projectId": project_id, "backtestId": backtest_id}
        backtest = self.request("backtests/read", body, parse_backtest_reply).get("backtest")
        if not isinstance(backtest, Mapping):
            raise QuantConnectError("backtests/read", body, "the reply has no backtest object")
        return dict(backtest)

    def read_closed_trades(self, project_id: int, backtest_id: str) -> list[Any]:
        """Every closed trade of a backtest, in windows of `TRADES_WINDOW`
        (`backtests/trades/read`, reference-results §2.2), until its `length` is reached or a
        window comes back short."""
        trades: list[Any] = []
        while True:
            start = len(trades)
            body = {
                "projectId": project_id,
                "backtestId": backtest_id,
                "start": start,
                "end": start + TRADES_WINDOW,
            }
            reply = self.post("backtests/trades/read", body)
            page = reply.get("trades")
            page = page if isinstance(page, list) else []
            trades += page
            length = reply.get("length")
            total = length if isinstance(length, int) else len(trades)
            if len(page) < TRADES_WINDOW or len(trades) >= total:
                return trades

    def list_optimizations(self, project_id: int) -> list[dict[str, Any]]:
        """Every optimization of a project, as summaries (`optimizations/list`)."""
        reply = self.post("optimizations/list", {"projectId": project_id})
        return [o for o in reply.get("optimizations") or [] if isinstance(o, dict)]

    def read_optimization(self, optimization_id: str) -> dict[str, Any]:
        """One optimization with its backtests (`optimizations/read`)."""
        body = {"optimizationId": optimization_id}
        optimization = self.post("optimizations/read", body).get("optimization")
        if not isinstance(optimization, Mapping):
            raise QuantConnectError("optimizations/read", body, "the reply has no optimization")
        return dict(optimization)

    def read_project(self, project_id: int) -> dict[str, Any]:
        """One project (`projects/read` with its id; the reply is a one-element list)."""
        body = {"projectId": project_id}
        projects = self.post("projects/read", body).get("projects") or []
        if not projects or not isinstance(projects[0], Mapping):
            raise QuantConnectError("projects/read", body, "the reply has no project")
        return dict(projects[0])

    # --- Writes (reference-results §2.6-2.8): idempotent, so retried like reads ---------------

    def update_backtest_tags(self, project_id: int, backtest_id: str, tags: list[str]) -> None:
        """Set a backtest's tags: the list sent replaces the whole list, `[]` clears it
        (`backtests/tags/update`, reference-results §2.7)."""
        body = {"projectId": project_id, "backtestId": backtest_id, "tags": list(tags)}
        self.post("backtests/tags/update", body)

    def update_project(
        self, project_id: int, name: str | None = None, description: str | None = None
    ) -> None:
        """Change a project's name and/or description; an omitted one stays as it is
        (`projects/update`, a partial update, reference-results §2.8)."""
        body: dict[str, Any] = {"projectId": project_id}
        if name is not None:
            body["name"] = name
        if description is not None:
            body["description"] = description
        self.post("projects/update", body)

    def delete_optimization(self, optimization_id: str) -> None:
        """Delete an optimization upstream, for good (`optimizations/delete`)."""
        self.post("optimizations/delete", {"optimizationId": optimization_id})

    def delete_backtest(self, project_id: int, backtest_id: str) -> None:
        """Delete a backtest upstream, for good (`backtests/delete`, reference-results §2.6)."""
        self.post("backtests/delete", {"projectId": project_id, "backtestId": backtest_id})

    def read_orders_page(
        self, project_id: int, backtest_id: str, start: int, end: int
    ) -> OrdersPage:
        """One window `[start, end)` of a backtest's orders (`backtests/orders/read`)."""
        body = {"projectId": project_id, "backtestId": backtest_id, "start": start, "end": end}
        return self.request("backtests/orders/read", body, parse_orders_page)

    # --- Transport -----------------------------------------------------------------------------

    def post(self, endpoint: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST `body` as JSON to `endpoint`, retrying transient failures, and return the reply.

        Raises `QuantConnectAuthError` at once on rejected credentials, and
        `QuantConnectError` (naming the endpoint and ids) on any other failure.
        """
        return self.request(endpoint, body, parse_reply)

    def request(
        self,
        endpoint: str,
        body: Mapping[str, Any],
        parse: Callable[[str, Mapping[str, Any], bytes], T],
    ) -> T:
        """`post`, with `parse` turning the reply body into the result (or raising)."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(RetryableError),
            stop=tenacity.stop_after_attempt(self.retry.max_attempts),
            wait=self._backoff,
            before_sleep=self._note_retry,
            reraise=True,
        )
        attempts = 0

        def attempt() -> T:
            nonlocal attempts
            attempts += 1
            return self._attempt(endpoint, body, parse, first=attempts == 1)

        try:
            return retrying(attempt)
        except RetryableError as error:
            hint = ""
            if error.status == 500:
                # Old official clients read a persistent 500 as a login failure (reference §1).
                hint = f" A persistent HTTP 500 can also mean bad credentials: {CREDENTIAL_HINT}"
            raise QuantConnectError(
                endpoint,
                body,
                f"still failing after {self.retry.max_attempts} attempts: {error.reason}.{hint}",
            ) from None

    def _backoff(self, retry_state: tenacity.RetryCallState) -> float:
        jitter = tenacity.wait_random_exponential(
            multiplier=self.retry.initial_backoff_seconds, max=self.retry.max_backoff_seconds
        )(retry_state)
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, RetryableError) and error.retry_after is not None:
            return min(max(error.retry_after, jitter), max(self.retry.max_backoff_seconds, 1.0))
        return jitter

    def _note_retry(self, retry_state: tenacity.RetryCallState) -> None:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        endpoint = getattr(error, "endpoint", "?")
        with self._lock:
            self.retries[endpoint] += 1
        log.warning("Retrying %s (attempt %d): %s", endpoint, retry_state.attempt_number + 1, error)

    def _attempt(
        self,
        endpoint: str,
        body: Mapping[str, Any],
        parse: Callable[[str, Mapping[str, Any], bytes], T],
        first: bool,
    ) -> T:
        """One attempt under the adaptive limiter, which learns from its outcome: a good reply
        is clean; a 429 throttles; any other transient failure backs off on a request's first
        attempt only, so that one request failing over and over does not slow the whole sync
        down again and again; anything else says nothing of the rate."""
        ticket = self.limiter.acquire(endpoint)
        signal, retry_after, seconds = Signal.NEUTRAL, None, None
        try:
            content = self._post_once(endpoint, body)
            seconds = time.monotonic() - ticket.started
            result = parse(endpoint, body, content)
            signal = Signal.CLEAN
            return result
        except RetryableError as error:
            retry_after = error.retry_after
            if error.status == 429:
                signal = Signal.THROTTLE
            elif first:
                signal = Signal.BACKOFF
            raise
        finally:
            self.limiter.release(ticket, signal, retry_after, seconds)

    def _post_once(self, endpoint: str, body: Mapping[str, Any]) -> bytes:
        """One signed attempt; the reply body of an HTTP 2xx or 3xx, or the error it is."""
        # A fresh timestamp and hash on every attempt, retries included (reference §1).
        headers = sign(self._user_id, self._api_token, int(time.time()))
        headers["Content-Type"] = "application/json"
        with self._lock:
            self.requests_made[endpoint] += 1
        try:
            response = self._http.request(
                "POST",
                self.base_url + endpoint,
                body=msgspec.json.encode(body),
                headers=headers,
                timeout=self._timeout,
            )
        except urllib3.exceptions.HTTPError as error:
            reason = f"{type(error).__name__}: connection failed or timed out"
            raise RetryableError(endpoint, body, reason) from None
        status, content = response.status, response.data
        if status == 401:
            raise QuantConnectAuthError(
                endpoint, body, f"HTTP 401: the API rejected the credentials. {CREDENTIAL_HINT}"
            )
        if status == 429:
            retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            raise RetryableError(endpoint, body, "HTTP 429 Too Many Requests", retry_after, 429)
        if status >= 500:
            raise RetryableError(endpoint, body, f"HTTP {status}", status=status)
        if status >= 400:
            raise QuantConnectError(endpoint, body, f"HTTP {status}: {content[:200]!r}")
        return content


@dataclass(frozen=True)
class ClientSettings:
    """How to reach the API: where, how patiently and how fast. The defaults are polite to the
    real API; every front end (the Dagster resource, `qcw sync`) builds its client here.
    `max_concurrency` and `max_requests_per_second` (None or 0: none) are the adaptive rate's
    ceilings."""

    api_url: str = DEFAULT_API_URL
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    retry: RetrySettings = field(default_factory=RetrySettings)
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    max_requests_per_second: float | None = DEFAULT_MAX_REQUESTS_PER_SECOND

    @contextmanager
    def client(self, credentials: Credentials) -> Iterator[QuantConnectClient]:
        """A client with these settings, closed when the block ends. The clients of one account
        in a process share their adaptive rate (`rate.shared_limiter`): the steps of a sync
        start polite once, and honour each other's `Retry-After`."""
        rate = self.max_requests_per_second or None
        limiter = shared_limiter(
            (self.api_url.rstrip("/"), credentials.user_id),
            rate,
            self.max_concurrency,
            max(self.retry.max_backoff_seconds, 1.0),
        )
        client = QuantConnectClient(
            user_id=credentials.user_id,
            api_token=credentials.api_token,
            base_url=self.api_url,
            timeout_seconds=self.timeout_seconds,
            retry=self.retry,
            max_concurrency=self.max_concurrency,
            max_requests_per_second=rate,
            limiter=limiter,
        )
        with closing(client):
            yield client
