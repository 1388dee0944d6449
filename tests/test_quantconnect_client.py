"""The API client over real HTTP against the sandbox: signing, retries and error handling."""

import base64
import time
from concurrent.futures import ThreadPoolExecutor

import msgspec
import pytest

from pipelines.qc.client import QuantConnectClient, RetrySettings, sign
from pipelines.qc.errors import QuantConnectAuthError, QuantConnectError, RetryableError
from pipelines.qc.replies import parse_orders_page
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID, SandboxServer

ORDERS = "backtests/orders/read"


def first_completed_backtest(sandbox: SandboxServer) -> tuple[int, str]:
    for project in sandbox.account.projects():
        for backtest in sandbox.account.backtests(project["projectId"]):
            if backtest["status"] == "Completed." and sandbox.account.total_orders(
                backtest["backtestId"]
            ):
                return project["projectId"], backtest["backtestId"]
    raise AssertionError("the sandbox has no completed backtest with orders")


def test_signature_is_basic_auth_of_user_and_sha256_of_token_and_timestamp():
    headers = sign("123456", "my-token", 1700000000)
    assert headers["Timestamp"] == "1700000000"
    scheme, credentials = headers["Authorization"].split(" ")
    assert scheme == "Basic"
    # sha256("my-token:1700000000"), computed independently of the code under test.
    assert base64.b64decode(credentials).decode() == (
        "123456:f6e18d9df9a79fcb5d6d09a26c1e0a116d9aea937168adcb1c07159198407961"
    )


def test_authenticates_and_reads_projects(client: QuantConnectClient):
    client.post("authenticate", {})
    assert len(client.read_projects()) == 2
    assert client.requests_made == {"authenticate": 1, "projects/read": 1}


def test_every_attempt_is_signed_afresh(sandbox: SandboxServer, client: QuantConnectClient):
    sandbox.set_faults([{"kind": "500", "endpoint": "projects/read", "count": 2}])
    timestamps: list[str] = []
    send = client._http.request

    def recording_request(*args, **kwargs):
        timestamps.append(kwargs["headers"]["Timestamp"])
        time.sleep(1.01)  # so each attempt falls in a new second
        return send(*args, **kwargs)

    client._http.request = recording_request  # type: ignore[method-assign]
    assert client.read_projects()
    assert len(timestamps) == 3
    assert len(set(timestamps)) == 3
    assert client.retries == {"projects/read": 2}


@pytest.mark.parametrize("kind", ["500", "502", "503", "429", "try_again", "drop"])
def test_transient_faults_are_retried(
    sandbox: SandboxServer, client: QuantConnectClient, kind: str
):
    project_id, backtest_id = first_completed_backtest(sandbox)
    sandbox.set_faults([{"kind": kind, "endpoint": ORDERS, "count": 2, "retry_after": 0}])
    page = client.read_orders_page(project_id, backtest_id, 0, 100)
    assert [msgspec.json.decode(order) for order in page.orders] == sandbox.account.orders(
        backtest_id
    )[:100]
    assert client.requests_made[ORDERS] == 3
    assert client.retries[ORDERS] == 2


def test_retry_after_is_honoured(sandbox: SandboxServer, client: QuantConnectClient):
    sandbox.set_faults([{"kind": "429", "endpoint": "projects/read", "count": 1, "retry_after": 1}])
    started = time.monotonic()
    client.read_projects()
    assert time.monotonic() - started >= 0.9


def test_wrong_token_fails_at_once_naming_the_credential_variables(sandbox: SandboxServer):
    client = QuantConnectClient(SANDBOX_USER_ID, "wrong-token", sandbox.url, retry=RetrySettings())
    with pytest.raises(QuantConnectAuthError, match="QC_USER_ID and QC_API_TOKEN"):
        client.read_projects()
    assert sandbox.stats()["total"] == 1


def test_unknown_user_is_an_auth_error(sandbox: SandboxServer):
    client = QuantConnectClient("999", SANDBOX_API_TOKEN, sandbox.url)
    with pytest.raises(QuantConnectAuthError, match="UserID not valid"):
        client.post("authenticate", {})


def test_a_stale_timestamp_gets_401_and_is_not_retried(
    sandbox: SandboxServer, client: QuantConnectClient, monkeypatch: pytest.MonkeyPatch
):
    def stale_sign(user_id: str, api_token: str, timestamp: int) -> dict[str, str]:
        return sign(user_id, api_token, timestamp - 10_000)  # older than the API's 7200 s

    monkeypatch.setattr("pipelines.qc.client.sign", stale_sign)
    with pytest.raises(QuantConnectAuthError, match="HTTP 401"):
        client.read_projects()
    assert sandbox.stats()["total"] == 1


def test_other_api_errors_name_the_endpoint_and_ids(client: QuantConnectClient):
    with pytest.raises(QuantConnectError, match=r"backtests/read \(projectId=1, backtestId=nope\)"):
        client.read_backtest(1, "nope")


def test_a_window_wider_than_100_is_refused_by_the_api(
    sandbox: SandboxServer, client: QuantConnectClient
):
    project_id, backtest_id = first_completed_backtest(sandbox)
    with pytest.raises(QuantConnectError, match="start=0, end=101"):
        client.read_orders_page(project_id, backtest_id, 0, 101)


def test_persistent_500_gives_up_and_mentions_credentials(
    sandbox: SandboxServer, client: QuantConnectClient
):
    sandbox.set_faults([{"kind": "500", "endpoint": "projects/read"}])
    with pytest.raises(QuantConnectError, match=r"still failing after 4 attempts.*QC_API_TOKEN"):
        client.read_projects()
    assert client.requests_made["projects/read"] == 4


def test_the_token_stays_out_of_the_repr(client: QuantConnectClient):
    assert SANDBOX_API_TOKEN not in repr(client)


def test_a_read_timeout_is_retried(sandbox: SandboxServer):
    sandbox.set_faults([{"kind": "latency", "endpoint": "projects/read", "count": 1, "seconds": 1}])
    client = QuantConnectClient(
        SANDBOX_USER_ID,
        SANDBOX_API_TOKEN,
        sandbox.url,
        timeout_seconds=0.3,
        retry=RetrySettings(max_attempts=3, initial_backoff_seconds=0.01),
    )
    assert client.read_projects()
    assert client.retries == {"projects/read": 1}


def test_the_client_side_rate_limit_spaces_requests_across_threads(sandbox: SandboxServer):
    client = QuantConnectClient(
        SANDBOX_USER_ID, SANDBOX_API_TOKEN, sandbox.url, max_requests_per_second=10
    )
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: client.post("authenticate", {}), range(25)))
    assert time.monotonic() - started >= 1.4  # 25 requests at 10/s: at least ~1.5 s
    assert client.requests_made["authenticate"] == 25


PAGE_REQUEST = {"projectId": 1, "backtestId": "b", "start": 0, "end": 100}


def test_an_orders_page_keeps_each_orders_json_undecoded_and_the_length():
    content = b'{"orders":[{"id":1,"tag":"a"},{"id":2}],"length":42,"success":true,"errors":[]}'
    page = parse_orders_page(ORDERS, PAGE_REQUEST, content)
    assert [bytes(order) for order in page.orders] == [b'{"id":1,"tag":"a"}', b'{"id":2}']
    assert page.length == 42
    assert parse_orders_page(ORDERS, PAGE_REQUEST, b'{"success":true}').orders == []


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (b'{"orders":{"1":{}},"success":true}', QuantConnectError, "`orders` is a dict"),
        (b'{"success":false,"errors":["Backtest not found"]}', QuantConnectError, "not found"),
        (b'{"success":false,"errors":["please try again later"]}', RetryableError, "again"),
        (b"<html>Bad gateway</html>", RetryableError, "not JSON"),
        (b'{"orders":[{"id":1},', RetryableError, "not JSON"),
    ],
)
def test_a_bad_orders_page_fails_naming_the_backtest_and_window(
    content: bytes, error: type[Exception], message: str
):
    with pytest.raises(error, match=message) as raised:
        parse_orders_page(ORDERS, PAGE_REQUEST, content)
    assert "backtestId=b, start=0, end=100" in str(raised.value)
