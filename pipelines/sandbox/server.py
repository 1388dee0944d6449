"""An HTTP emulator of the QuantConnect REST API v2, with fault injection.

`SandboxServer` serves `authenticate`, `projects/read`, `backtests/list`, `backtests/read`,
`backtests/orders/read` and `backtests/trades/read` under `/api/v2/` from a `SandboxAccount`,
checking the nonce-token auth of the reference (`/work/shared/reference/quantconnect-api.md`,
cited as "ref §N"); the writes `backtests/tags/update`, `backtests/delete` and
`projects/update` (`writes`); and `optimizations/list`, `read`, `create`, `estimate`, `abort`,
`update` and `delete` (`optimizations`). Admin endpoints under `/sandbox/` (no auth) set fault
rules and the rate limit, report request counts and change the account:

    POST   /sandbox/faults            {"rules": [rule, ...]}  replace the fault rules
    DELETE /sandbox/faults                                    clear them
    POST   /sandbox/rate_limit        {"requests_per_second": N}  at most N API requests per
                                      second (null or 0: no limit); see below
    GET    /sandbox/stats                                     request, fault, auth and
                                                              rate-limit counts
    POST   /sandbox/stats/reset
    POST   /sandbox/complete_running                          -> {"backtestIds": [...]}
    POST   /sandbox/add_backtests     {"projectId"?, "count"} -> {"backtestIds": [...]}
    POST   /sandbox/complete_optimizations  (running ones)    -> {"optimizationIds": [...]}

The rate limit (`SandboxServer(rate_limit=N)`, `set_rate_limit(N)` or the admin endpoint) plays
a server that allows N requests per second per account, as APIs that publish a limit do: a
sliding window over every API endpoint admits at most N requests in any second (for N below
1, one request in any 1/N seconds); a request over it is answered at once with HTTP 429, a
`Retry-After` header in whole seconds until the window admits one again, and the API's
failure body. Refused requests do not count against the window; they count in `stats()` as
`rate_limited` (and in `requests`, like every request). The latency knob delays them too.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import hashlib
import hmac
import json
import math
import random
import socket
import sys
import threading
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pipelines.sandbox.account import SandboxAccount
from pipelines.sandbox.instruments import JsonDict
from pipelines.sandbox.optimization_requests import OptimizationError
from pipelines.sandbox.writes import WriteError, project_changes

SANDBOX_USER_ID = "100001"
SANDBOX_API_TOKEN = "sandbox-token-0123456789abcdef"  # the sandbox's fixed, public credentials

API_PREFIX = "/api/v2/"
ADMIN_PREFIX = "/sandbox/"
Rewrite = Callable[[JsonDict, bytes], bytes]
MAX_TIMESTAMP_AGE = 7_200  # seconds (ref §1)
MAX_ORDERS_WINDOW = 100  # end - start (ref §6)

FAULT_KINDS = (
    "500",
    "502",
    "503",
    "429",
    "try_again",
    "drop",
    "latency",
    "truncate",
    "html",
    "malformed",
)
_DAMAGING_KINDS = ("truncate", "malformed")  # applied to the real reply instead of replacing it


# --- Replies -----------------------------------------------------------------------------------


@dataclass
class Reply:
    """What the handler writes: a status, a body, and how to deliver it."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delivery: str = "normal"  # "normal" | "drop" (no response) | "truncate" (half the body)


def _json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def json_reply(payload: Any, status: int = 200, **headers: str) -> Reply:
    """A JSON reply."""
    return Reply(status, _json_bytes(payload), headers=dict(headers))


def error_reply(message: str, status: int = 200) -> Reply:
    """The API's logical failure: HTTP 200 with `success: false` (ref §2)."""
    return json_reply({"success": False, "errors": [message]}, status)


def _html_reply(status: int, title: str) -> Reply:
    page = (
        f"<!DOCTYPE html><html><head><title>{title}</title></head><body>"
        f"<center><h1>{title}</h1></center><hr><center>cloudflare</center></body></html>"
    )
    return Reply(status, page.encode(), "text/html; charset=utf-8")


# --- Faults ------------------------------------------------------------------------------------


@dataclass
class FaultRule:
    """One fault-injection rule; see `SandboxServer.set_faults`."""

    kind: str
    endpoint: str = "*"
    count: int | None = None
    probability: float = 1.0
    match: dict[str, Any] = field(default_factory=dict)
    retry_after: float = 1.0
    seconds: float = 1.0
    seed: int = 0
    fired: int = field(default=0, init=False)
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.kind = str(self.kind)
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"fault probability must be within 0..1, got {self.probability}")
        if self.count is not None and self.count < 0:
            raise ValueError(f"fault count must not be negative, got {self.count}")
        self.endpoint = self.endpoint.strip("/").lower() or "*"
        # Its own seeded RNG, so a probabilistic rule fires on the same requests every run.
        self._rng = random.Random(f"fault:{self.seed}:{self.kind}:{self.endpoint}")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> FaultRule:
        """Build a rule from its JSON form, rejecting unknown keys."""
        known = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown fault rule keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**raw)

    def matches(self, endpoint: str, params: Mapping[str, Any]) -> bool:
        """True when the request is on the rule's endpoint and has its `match` values."""
        if self.endpoint not in ("*", endpoint):
            return False
        return all(str(params.get(key)) == str(value) for key, value in self.match.items())

    def fire(self) -> bool:
        """Whether the rule fires on this request; counts the firing. Call under a lock."""
        if self.count is not None and self.fired >= self.count:
            return False
        if self.probability < 1.0 and self._rng.random() >= self.probability:
            return False
        self.fired += 1
        return True


def parse_fault_spec(spec: str) -> JsonDict:
    """Parse the CLI's compact fault form into a rule dict.

    `KIND[@ENDPOINT][:N]`: N with a decimal point is a probability (`500:0.05`), without one a
    count (`429@backtests/orders/read:3`). A JSON object (`{"kind": "latency", ...}`) is
    taken as the rule itself.
    """
    if spec.lstrip().startswith("{"):
        rule = json.loads(spec)
    else:
        head, _, amount = spec.partition(":")
        kind, _, endpoint = head.partition("@")
        rule = {"kind": kind, "endpoint": endpoint or "*"}
        if "." in amount:
            rule["probability"] = float(amount)
        elif amount:
            rule["count"] = int(amount)
    FaultRule.from_dict(rule)
    return rule


def _fault_reply(rule: FaultRule) -> Reply:
    """The reply of a fault that replaces the API's answer."""
    if rule.kind == "500":
        return error_reply("An error has occurred.", 500)
    if rule.kind == "502":
        return _html_reply(502, "502 Bad Gateway")
    if rule.kind == "503":
        return _html_reply(503, "503 Service Temporarily Unavailable")
    if rule.kind == "429":
        retry_after = str(max(0, math.ceil(rule.retry_after)))
        reply = error_reply("Too many requests. Please slow down.", 429)
        reply.headers["Retry-After"] = retry_after
        return reply
    if rule.kind == "try_again":  # seen in a real run (ref §2, §9.1)
        return error_reply("Error retrieving orders result, please try again later")
    if rule.kind == "html":
        return _html_reply(200, "Oops! Something went wrong")
    return Reply(delivery="drop")


def _damage(reply: Reply, kind: str) -> Reply:
    """Break a real reply: cut the body in half, keeping or fixing its Content-Length."""
    if kind == "truncate":
        return dataclasses.replace(reply, delivery="truncate")
    return dataclasses.replace(reply, body=reply.body[: len(reply.body) // 2])


# --- Request parsing ---------------------------------------------------------------------------


class RequestError(Exception):
    """A request the API answers with `success: false`."""


def _parse_params(query: str, content_type: str, body: bytes) -> JsonDict:
    """Query-string parameters overlaid with a JSON or form-encoded body (ref §2)."""
    params: JsonDict = dict(parse_qsl(query, keep_blank_values=True))
    if not body.strip():
        return params
    text = body.decode("utf-8", errors="replace")
    if "application/x-www-form-urlencoded" in content_type:
        params.update(parse_qsl(text, keep_blank_values=True))
        return params
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        if "json" in content_type:
            raise RequestError("The request body is not valid JSON") from None
        data = dict(parse_qsl(text, keep_blank_values=True))
    if not isinstance(data, dict):
        raise RequestError("The request body must be a JSON object")
    params.update(data)
    return params


def _int_param(params: Mapping[str, Any], name: str, default: int | None = None) -> int:
    raw = params.get(name, default)
    if raw is None or raw == "":
        raise RequestError(f"Missing required parameter: {name}")
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().removeprefix("-").isdigit():
        return int(raw)
    raise RequestError(f"Invalid value for {name}: {raw!r}")


def _str_param(params: Mapping[str, Any], name: str) -> str:
    raw = params.get(name)
    if not isinstance(raw, str) or not raw:
        raise RequestError(f"Missing required parameter: {name}")
    return raw


def _bool_param(params: Mapping[str, Any], name: str) -> bool:
    return params.get(name) in (True, 1, "true", "True", "1")


def _check_window(start: int, end: int, widest: int | None = None) -> None:
    """`start` is 0-based and `end` exclusive (ref §3, §6)."""
    if start < 0:
        raise RequestError(f"Invalid range: start must be 0 or greater (got {start})")
    if end <= start:
        raise RequestError(f"Invalid range: end ({end}) must be greater than start ({start})")
    if widest is not None and end - start > widest:
        raise RequestError(
            f"Invalid range: end - start must not exceed {widest} (requested {end - start})"
        )


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """`(user_id, hash)` from `Authorization: Basic base64(uid:hash)`, or None if garbled."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user_id, colon, digest = decoded.partition(":")
    return (user_id, digest) if colon and user_id and digest else None


def _optimizing(call: Callable[..., Any], *args: Any) -> Any:
    """Call the account's optimizations; their refusals are the API's failures."""
    try:
        return call(*args)
    except OptimizationError as exc:
        raise RequestError(str(exc)) from None


@contextlib.contextmanager
def _writing(not_found: str) -> Iterator[None]:
    """Run a write: its refusals are the API's failures, a KeyError is `not_found`."""
    try:
        yield
    except WriteError as exc:
        raise RequestError(str(exc)) from None
    except KeyError:
        raise RequestError(not_found) from None


# --- The server --------------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive for pooled clients; every reply has a length
    disable_nagle_algorithm = True
    timeout = 120  # close idle keep-alive connections
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.sandbox._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sandbox._track(self.connection, add=False)

    def do_GET(self) -> None:
        """Serve a GET request."""
        self._dispatch()

    def do_POST(self) -> None:
        """Serve a POST request."""
        self._dispatch()

    def do_DELETE(self) -> None:
        """Serve a DELETE request."""
        self._dispatch()

    def version_string(self) -> str:
        """The `Server` header."""
        return "QuantConnectSandbox/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request stderr line; `SandboxServer` keeps its own log."""

    def _dispatch(self) -> None:
        started = time.perf_counter()
        url = urlsplit(self.path)
        length = self.headers.get("Content-Length", "0")
        body = self.rfile.read(int(length)) if length.isdigit() and int(length) else b""
        sandbox = self.server.sandbox
        try:
            reply = sandbox.handle(self.command, url.path, url.query, self.headers, body)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            reply = error_reply("Internal sandbox error", 500)
        try:
            self._write(reply)
        except OSError:  # the client went away
            self.close_connection = True
        sandbox.log_access(self.command, url.path, reply, started)

    def _write(self, reply: Reply) -> None:
        if reply.delivery == "drop":
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if reply.delivery == "truncate":
            self.wfile.write(reply.body[: len(reply.body) // 2])
            self.close_connection = True
            return
        self.wfile.write(reply.body)


class SandboxServer:
    """The QuantConnect API v2 emulator, served from a daemon thread.

    >>> with SandboxServer() as sandbox:  # doctest: +SKIP
    ...     requests.post(sandbox.url + "authenticate", headers=signed_headers())
    """

    def __init__(
        self,
        account: SandboxAccount | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        user_id: str = SANDBOX_USER_ID,
        api_token: str = SANDBOX_API_TOKEN,
        quiet: bool = True,
        latency_ms: float = 0.0,
        rate_limit: float | None = None,
    ) -> None:
        self.account = account or SandboxAccount()
        self.host = host
        self.user_id = user_id
        self._api_token = api_token
        self.quiet = quiet
        self.latency_ms = latency_ms
        self._requested_port = port
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._rewrites: dict[str, Rewrite] = {}
        self._requests: Counter[str] = Counter()
        self._faults = 0
        self._auth_failures = 0
        self._rate_limit: float | None = None
        self._admitted: deque[float] = deque()  # when each request in the window was admitted
        self._rate_limited = 0
        self.set_rate_limit(rate_limit)
        self._connections: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes: dict[str, Callable[[JsonDict], Reply]] = {
            "authenticate": lambda _params: json_reply({"success": True}),
            "projects/read": self._projects_read,
            "backtests/list": self._backtests_list,
            "backtests/read": self._backtests_read,
            "backtests/orders/read": self._orders_read,
            "backtests/trades/read": self._trades_read,
            "backtests/tags/update": self._tags_update,
            "backtests/delete": self._backtests_delete,
            "projects/update": self._projects_update,
            "optimizations/list": self._optimizations_list,
            "optimizations/read": self._optimizations_read,
            "optimizations/create": self._optimizations_create,
            "optimizations/estimate": self._optimizations_estimate,
            "optimizations/abort": self._optimizations_abort,
            "optimizations/update": self._optimizations_update,
            "optimizations/delete": self._optimizations_delete,
        }

    # -- lifecycle --

    def start(self) -> SandboxServer:
        """Start serving in a daemon thread; returns self."""
        if self._httpd is None:
            self._httpd = _HTTPServer((self.host, self._requested_port), self)
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="quantconnect-sandbox",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket and open keep-alive connections."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (the requested one until started)."""
        return self._httpd.server_address[1] if self._httpd else self._requested_port

    @property
    def url(self) -> str:
        """The API base URL, with a trailing slash: `http://127.0.0.1:PORT/api/v2/`."""
        return f"http://{self.host}:{self.port}{API_PREFIX}"

    # -- knobs --

    def set_faults(self, rules: list[Mapping[str, Any]]) -> None:
        """Replace the fault rules.

        A rule: `{"kind": "500"|"502"|"503"|"429"|"try_again"|"drop"|"latency"|"truncate"|
        "html"|"malformed", "endpoint": "backtests/orders/read" | "*", "count": int | None
        (firings; None = unlimited), "probability": 0..1, "match": {param: value},
        "retry_after": seconds (429), "seconds": float (latency), "seed": int}`. Rules are
        tried in order: latency rules delay and go on, the first other firing rule wins.
        """
        parsed = [FaultRule.from_dict(rule) for rule in rules]
        with self._lock:
            self._rules = parsed

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self.set_faults([])

    def set_rate_limit(self, requests_per_second: float | None) -> None:
        """Answer HTTP 429 above `requests_per_second` API requests per second (None or 0: no
        limit); see the module's docstring."""
        if requests_per_second is not None and requests_per_second < 0:
            raise ValueError(f"the rate limit must not be negative, got {requests_per_second}")
        with self._lock:
            self._rate_limit = float(requests_per_second) if requests_per_second else None
            self._admitted.clear()

    @property
    def rate_limit(self) -> float | None:
        """The requests per second the sandbox admits (None: no limit)."""
        return self._rate_limit

    def set_rewrite(self, endpoint: str, rewrite: Rewrite | None) -> None:
        """Pass every successful reply of `endpoint` through `rewrite(params, body) -> body`
        (None: stop), to serve payloads the generator never makes. In-process only."""
        with self._lock:
            if rewrite is None:
                self._rewrites.pop(endpoint, None)
            else:
                self._rewrites[endpoint] = rewrite

    def stats(self) -> JsonDict:
        """Requests per API endpoint (faulted, unauthorised and rate-limited ones included),
        totals, and the rate limit with the requests it refused."""
        with self._lock:
            return {
                "requests": dict(sorted(self._requests.items())),
                "total": sum(self._requests.values()),
                "faults": self._faults,
                "auth_failures": self._auth_failures,
                "rate_limit": self._rate_limit,
                "rate_limited": self._rate_limited,
            }

    def reset_stats(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._requests.clear()
            self._faults = self._auth_failures = self._rate_limited = 0

    # -- request handling --

    def handle(self, method: str, path: str, query: str, headers: Message, body: bytes) -> Reply:
        """Answer one HTTP request (called from the handler threads)."""
        if path.startswith(ADMIN_PREFIX):
            return self._admin(method, path[len(ADMIN_PREFIX) :].strip("/"), body)
        if not path.startswith(API_PREFIX):
            return error_reply(f"Not found: {path}", 404)
        endpoint = path[len(API_PREFIX) :].strip("/").lower()
        with self._lock:
            self._requests[endpoint] += 1
            refused = self._over_rate_limit()
        if refused is not None:
            if self.latency_ms:
                time.sleep(self.latency_ms / 1000)
            return refused
        try:
            params: JsonDict | RequestError = _parse_params(
                query, headers.get("Content-Type", ""), body
            )
        except RequestError as exc:
            params = exc
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        fault = self._pick_fault(endpoint, params if isinstance(params, dict) else {})
        if fault is not None and fault.kind not in _DAMAGING_KINDS:
            return _fault_reply(fault)
        reply = self._authenticate(headers)
        if reply is None:
            reply = self._route(endpoint, params)
            rewrite = self._rewrites.get(endpoint)
            if rewrite is not None and reply.status == 200 and isinstance(params, dict):
                reply = dataclasses.replace(reply, body=rewrite(params, reply.body))
        return reply if fault is None else _damage(reply, fault.kind)

    def _over_rate_limit(self) -> Reply | None:
        """None if the sliding window admits one more request now (and count it in), else the
        429 reply. Call under the lock."""
        if self._rate_limit is None:
            return None
        window = max(1.0, 1.0 / self._rate_limit)
        capacity = max(1, math.floor(self._rate_limit * window))
        now = time.monotonic()
        while self._admitted and self._admitted[0] <= now - window:
            self._admitted.popleft()
        if len(self._admitted) < capacity:
            self._admitted.append(now)
            return None
        self._rate_limited += 1
        wait = self._admitted[0] + window - now
        reply = error_reply("Too many requests. Please slow down.", 429)
        reply.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return reply

    def log_access(self, method: str, path: str, reply: Reply, started: float) -> None:
        """The access log line (method, path, status, time; never headers) unless quiet."""
        if not self.quiet:
            elapsed = (time.perf_counter() - started) * 1000
            status = "dropped" if reply.delivery == "drop" else reply.status
            print(f"{method} {path} {status} {elapsed:.1f}ms", file=sys.stderr, flush=True)

    def _track(self, connection: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _pick_fault(self, endpoint: str, params: Mapping[str, Any]) -> FaultRule | None:
        """Fire matching rules in order: sleep for latency ones, return the first other one."""
        delay, chosen = 0.0, None
        with self._lock:
            for rule in self._rules:
                if not (rule.matches(endpoint, params) and rule.fire()):
                    continue
                self._faults += 1
                if rule.kind != "latency":
                    chosen = rule
                    break
                delay += rule.seconds
        if delay:
            time.sleep(delay)
        return chosen

    def _authenticate(self, headers: Message) -> Reply | None:
        """None for a correctly signed request (ref §1), else the API's failure reply."""
        credentials = _basic_credentials(headers.get("Authorization"))
        stamp = headers.get("Timestamp", "")
        failure: Reply | None = None
        if credentials is None or not stamp.isdigit():
            failure = self._unauthorized("Authorization and Timestamp headers are required")
        elif time.time() - int(stamp) > MAX_TIMESTAMP_AGE:
            failure = self._unauthorized("Timestamp is too old for hash")
        elif credentials[0] != self.user_id:
            failure = error_reply("UserID not valid")
        else:
            expected = hashlib.sha256(f"{self._api_token}:{stamp}".encode()).hexdigest()
            digest = credentials[1]
            if not hmac.compare_digest(digest.encode(), expected.encode()):
                # The forum's real failure body, key order included (ref §1).
                message = (
                    f"Hash doesn't match. UID: {credentials[0]} Hash: {digest} Timestamp: {stamp}"
                )
                failure = json_reply({"errors": [message], "success": False})
        if failure is not None:
            with self._lock:
                self._auth_failures += 1
        return failure

    @staticmethod
    def _unauthorized(reason: str) -> Reply:
        """HTTP 401 "Key is missing, invalid, or timestamp is too old for hash" (ref §1)."""
        reply = error_reply(
            f"Key is missing, invalid, or timestamp is too old for hash: {reason}", 401
        )
        reply.headers["WWW-Authenticate"] = 'Basic realm="QuantConnect"'
        return reply

    def _route(self, endpoint: str, params: JsonDict | RequestError) -> Reply:
        route = self._routes.get(endpoint)
        if route is None:
            return error_reply(f"Unknown API endpoint: {endpoint}", 404)
        try:
            if isinstance(params, RequestError):
                raise params
            return route(params)
        except RequestError as exc:
            return error_reply(str(exc))

    # -- API endpoints --

    def _projects_read(self, params: JsonDict) -> Reply:
        projects = self.account.projects()
        if "projectId" in params:
            project_id = _int_param(params, "projectId")
            projects = [p for p in projects if p["projectId"] == project_id]
            if not projects:
                raise RequestError(f"Project not found: {project_id}")
        elif "start" in params or "end" in params:
            start = _int_param(params, "start", 0)
            end = _int_param(params, "end", len(projects))
            _check_window(start, end)
            projects = projects[start:end]
        return json_reply({"projects": projects, "versions": [], "success": True, "errors": []})

    def _backtests_list(self, params: JsonDict) -> Reply:
        project_id = _int_param(params, "projectId")
        try:
            backtests = self.account.backtests(project_id, _bool_param(params, "includeStatistics"))
        except KeyError:
            raise RequestError(f"Project not found: {project_id}") from None
        return json_reply({"backtests": backtests, "count": len(backtests), "success": True})

    def _backtests_read(self, params: JsonDict) -> Reply:
        project_id = _int_param(params, "projectId")
        try:
            return Reply(body=self.account.read_reply(project_id, _str_param(params, "backtestId")))
        except KeyError:
            raise RequestError("Backtest not found") from None

    def _orders_read(self, params: JsonDict) -> Reply:
        backtest_id, start, end = self._backtest_window(params)
        page, length = self.account.order_page(backtest_id, start, end)
        # `length` is the whole collection's size, not the page's (ref §6, Lean PR #7877).
        body = b'{"orders":[%b],"length":%d,"success":true}' % (b",".join(page), length)
        return Reply(body=body)

    def _trades_read(self, params: JsonDict) -> Reply:
        """Closed trades with their orders, in windows like orders (reference-results §2.2:
        no maximum is documented; 100 assumed, as for orders)."""
        backtest_id, start, end = self._backtest_window(params)
        page, length = self.account.trade_page(backtest_id, start, end)
        body = b'{"trades":[%b],"length":%d,"success":true,"errors":[]}' % (
            b",".join(page),
            length,
        )
        return Reply(body=body)

    def _backtest_window(self, params: JsonDict) -> tuple[str, int, int]:
        """The backtest and the window `[start, end)` a paged request asks for."""
        project_id = _int_param(params, "projectId")
        backtest_id = _str_param(params, "backtestId")
        start, end = _int_param(params, "start"), _int_param(params, "end")
        try:
            if self.account.project_of(backtest_id) != project_id:
                raise KeyError(backtest_id)
        except KeyError:
            raise RequestError("Backtest not found") from None
        _check_window(start, end, MAX_ORDERS_WINDOW)
        return backtest_id, start, end

    # -- writes (reference-results §2.6-2.8) --

    def _tags_update(self, params: JsonDict) -> Reply:
        project_id = _int_param(params, "projectId")
        backtest_id = _str_param(params, "backtestId")
        with _writing("Backtest not found"):
            self.account.update_tags(project_id, backtest_id, params.get("tags"))
        return json_reply({"success": True, "errors": []})

    def _backtests_delete(self, params: JsonDict) -> Reply:
        project_id = _int_param(params, "projectId")
        backtest_id = _str_param(params, "backtestId")
        with _writing("Backtest not found"):
            self.account.delete_backtest(project_id, backtest_id)
        return json_reply({"success": True, "errors": []})

    def _projects_update(self, params: JsonDict) -> Reply:
        """A partial update: lean-cli sends only the fields that change, as form data."""
        project_id = _int_param(params, "projectId")
        with _writing(f"Project not found: {project_id}"):
            self.account.update_project(project_changes(project_id, params))
        return json_reply({"success": True, "errors": []})

    # -- optimizations (reference-results §1) --

    def _optimizations_list(self, params: JsonDict) -> Reply:
        project_id = _int_param(params, "projectId")
        summaries = _optimizing(self.account.optimizations.summaries, project_id)
        return json_reply({"optimizations": summaries, "success": True, "errors": []})

    def _optimizations_read(self, params: JsonDict) -> Reply:
        optimization_id = _str_param(params, "optimizationId")
        read = _optimizing(self.account.optimizations.read, optimization_id)
        return json_reply({"optimization": read, "success": True, "errors": []})

    def _optimizations_create(self, params: JsonDict) -> Reply:
        """The new optimization's summary is `optimizations[0]` (Lean `CreateOptimization`)."""
        summary = _optimizing(self.account.optimizations.create, params)
        return json_reply({"optimizations": [summary], "success": True, "errors": []})

    def _optimizations_estimate(self, params: JsonDict) -> Reply:
        estimate = _optimizing(self.account.optimizations.estimate, params)
        return json_reply({"estimate": estimate, "success": True, "errors": []})

    def _optimizations_abort(self, params: JsonDict) -> Reply:
        _optimizing(self.account.optimizations.abort, _str_param(params, "optimizationId"))
        return json_reply({"success": True, "errors": []})

    def _optimizations_update(self, params: JsonDict) -> Reply:
        optimization_id, name = _str_param(params, "optimizationId"), _str_param(params, "name")
        _optimizing(self.account.optimizations.update, optimization_id, name)
        return json_reply({"success": True, "errors": []})

    def _optimizations_delete(self, params: JsonDict) -> Reply:
        _optimizing(self.account.optimizations.delete, _str_param(params, "optimizationId"))
        return json_reply({"success": True, "errors": []})

    # -- admin endpoints --

    def _admin(self, method: str, action: str, body: bytes) -> Reply:
        try:
            payload = json.loads(body) if body.strip() else {}
            if not isinstance(payload, dict):
                raise ValueError("the body must be a JSON object")
            return self._admin_action(method, action, payload)
        except (ValueError, TypeError, KeyError) as exc:
            return error_reply(f"{type(exc).__name__}: {exc}", 400)

    def _admin_action(self, method: str, action: str, payload: JsonDict) -> Reply:
        if (method, action) == ("POST", "faults"):
            self.set_faults(payload.get("rules", []))
            return json_reply({"success": True, "rules": len(payload.get("rules", []))})
        if (method, action) == ("DELETE", "faults"):
            self.clear_faults()
            return json_reply({"success": True})
        if (method, action) == ("POST", "rate_limit"):
            rate = payload.get("requests_per_second")
            self.set_rate_limit(None if rate is None else float(rate))
            return json_reply({"success": True, "requests_per_second": self.rate_limit})
        if (method, action) == ("GET", "stats"):
            return json_reply(self.stats())
        if (method, action) == ("POST", "stats/reset"):
            self.reset_stats()
            return json_reply({"success": True})
        if (method, action) == ("POST", "complete_running"):
            return json_reply({"backtestIds": self.account.complete_running()})
        if (method, action) == ("POST", "complete_optimizations"):
            return json_reply({"optimizationIds": self.account.optimizations.complete_running()})
        if (method, action) == ("POST", "add_backtests"):
            project_id = payload.get("projectId")
            ids = self.account.add_backtests(
                None if project_id is None else int(project_id), int(payload.get("count", 1))
            )
            return json_reply({"backtestIds": ids})
        return error_reply(f"Unknown admin endpoint: {method} /sandbox/{action}", 404)
