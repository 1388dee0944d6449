"""Bad input loses nothing: each case loads its rows (NULL or the raw value kept, a warning
counted) or fails naming the endpoint, backtest and page; never a bare traceback.

Every case is served for real by the sandbox over HTTP, its replies rewritten in flight."""

import json
import re
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from pipelines import warehouse
from pipelines.qc.client import QuantConnectClient
from pipelines.sandbox import (
    SANDBOX_API_TOKEN,
    SANDBOX_USER_ID,
    SandboxAccount,
    SandboxServer,
    SandboxSize,
)
from pipelines.schema.enums import ORDER_TYPES
from pipelines.sync import sync_everything
from pipelines.sync.report import SyncError, SyncReport
from tests.helpers import FAST_RETRY, TABLES

ORDERS = "backtests/orders/read"
SIZE = SandboxSize(projects=2, backtests_per_project=2, orders_per_backtest=150)
Rewrite = Callable[[dict[str, Any], bytes], bytes]


def new_account() -> SandboxAccount:
    return SandboxAccount(SIZE, seed=5)


def sync(
    path: Path,
    rewrites: dict[str, Rewrite] | None = None,
    faults: list | None = None,
    account: SandboxAccount | None = None,
) -> dict[str, SyncReport] | SyncError:
    """A full sync of a fresh sandbox whose replies pass through `rewrites`: every step's
    report, or the `SyncError`."""
    with SandboxServer(account or new_account()) as sandbox:
        for endpoint, rewrite in (rewrites or {}).items():
            sandbox.set_rewrite(endpoint, rewrite)
        sandbox.set_faults(faults or [])
        client = QuantConnectClient(
            SANDBOX_USER_ID, SANDBOX_API_TOKEN, sandbox.url, retry=FAST_RETRY
        )
        with closing(client), warehouse.open_writer(path) as store:
            try:
                reports: dict[str, SyncReport] | SyncError = sync_everything(client, store)
            except SyncError as error:
                reports = error
        return reports


def rows(path: Path, sql: str) -> list[tuple]:
    with warehouse.connect(path, read_only=True) as conn:
        return conn.execute(sql).fetchall()


def snapshot(path: Path) -> dict[str, list[tuple]]:
    return {t: rows(path, f"SELECT * FROM {t} ORDER BY ALL") for t in TABLES}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The warehouse of a sync with nothing bad in it."""
    path = tmp_path_factory.mktemp("clean") / "clean.duckdb"
    assert isinstance(sync(path), dict)
    return path


def each_order(edit: Callable[[dict[str, Any]], Any], pages: Callable[[dict], bool] = bool):
    """A rewrite applying `edit` to every order of the pages whose request `pages` accepts."""

    def rewrite(params: dict[str, Any], body: bytes) -> bytes:
        reply = json.loads(body)
        if not pages(params) or not reply["orders"]:
            return body
        for order in reply["orders"]:
            edit(order)
        return json.dumps(reply).encode()

    return rewrite


def first_page(params: dict[str, Any]) -> bool:
    return params.get("start") == 0


def pascal_case(order: dict[str, Any]) -> None:
    def pascal(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {key[0].upper() + key[1:]: pascal(inner) for key, inner in value.items()}

    order.update(pascal({key: order.pop(key) for key in list(order)}))


def kebab_case_events(order: dict[str, Any]) -> None:
    def kebab(key: str) -> str:
        return re.sub(r"[A-Z]", lambda m: "-" + m.group(0).lower(), key)

    order["events"] = [{kebab(k): v for k, v in event.items()} for event in order["events"]]


def enum_names(order: dict[str, Any]) -> None:
    order["type"] = ORDER_TYPES[order["type"]].lower()


@pytest.mark.parametrize(
    ("edit", "counter"),
    [
        (pascal_case, "legacy_keys_renamed"),
        (kebab_case_events, "legacy_keys_renamed"),
        (enum_names, None),
    ],
    ids=["pascal-case-orders", "kebab-case-events", "string-enums-on-orders"],
)
def test_other_spellings_load_the_same_rows_as_a_clean_sync(
    tmp_path: Path, clean: Path, edit: Callable, counter: str | None
):
    path = tmp_path / "w.duckdb"
    reports = sync(path, {ORDERS: each_order(edit)})
    assert isinstance(reports, dict)
    assert snapshot(path) == snapshot(clean)
    if counter:
        assert reports["orders"].counters[counter] > 0
        assert any("legacy spelling" in w for w in reports["orders"].warnings)


def test_unknown_enum_codes_are_kept_raw_and_counted(tmp_path: Path):
    def edit(order: dict[str, Any]) -> None:
        if order["id"] == 1:
            order.update(type=99, status=42)
            order["events"][0]["status"] = "teleported"

    reports = sync(tmp_path / "w.duckdb", {ORDERS: each_order(edit)})
    assert isinstance(reports, dict)
    found = rows(
        tmp_path / "w.duckdb", "SELECT DISTINCT order_type, status FROM orders WHERE order_id = 1"
    )
    assert set(found) == {("99", "42")}
    statuses = rows(
        tmp_path / "w.duckdb",
        "SELECT DISTINCT status FROM order_events WHERE order_id = 1 AND order_event_id = 1",
    )
    assert statuses == [("teleported",)]
    report = reports["orders"]
    assert report.counters["unknown_enum_values"] >= 3
    assert any(w.startswith("orders.order_type:") for w in report.warnings)


def test_missing_events_null_prices_and_empty_maps_load_with_nulls(tmp_path: Path, clean: Path):
    def edit(order: dict[str, Any]) -> None:
        if order["id"] == 1:
            del order["events"]
        if order["id"] == 2:
            order["price"] = None
            order["properties"] = []  # an empty map sent as [] (reference §6)
            for event in order["events"]:
                event["fillPrice"] = None

    path = tmp_path / "w.duckdb"
    reports = sync(path, {ORDERS: each_order(edit)})
    assert isinstance(reports, dict)
    per_backtest = rows(path, "SELECT count(*) FROM orders GROUP BY backtest_id ORDER BY 1")
    assert per_backtest == rows(
        clean, "SELECT count(*) FROM orders GROUP BY backtest_id ORDER BY 1"
    )
    assert rows(path, "SELECT count(*) FROM order_events WHERE order_id = 1") == [(0,)]
    assert set(rows(path, "SELECT price, properties FROM orders WHERE order_id = 2")) == {
        (None, "[]")
    }
    assert rows(path, "SELECT count(fill_price) FROM order_events WHERE order_id = 2") == [(0,)]
    backtests = rows(clean, "SELECT count(*) FROM orders WHERE order_id = 1")[0][0]
    assert reports["orders"].counters["orders_without_events_key"] == backtests


def test_nan_infinity_and_huge_numbers_become_null_and_are_counted(tmp_path: Path, clean: Path):
    def rewrite(params: dict[str, Any], body: bytes) -> bytes:
        reply = json.loads(body)
        if params.get("start") != 0 or not reply["orders"]:
            return body
        first = reply["orders"][0]
        first.update(price="__NAN__", quantity="__BIG__", contingentId=2**70)
        first["events"][0]["fillPrice"] = "__INF__"
        text = json.dumps(reply)  # .NET writes these bare; no strict decoder takes them
        for marker, literal in (("__NAN__", "NaN"), ("__BIG__", "1e400"), ("__INF__", "-Infinity")):
            text = text.replace(f'"{marker}"', literal)
        return text.encode()

    path = tmp_path / "w.duckdb"
    reports = sync(path, {ORDERS: rewrite})
    assert isinstance(reports, dict)
    assert set(
        rows(path, "SELECT price, quantity, contingent_id FROM orders WHERE order_id = 1")
    ) == {(None, None, None)}
    extras = rows(path, "SELECT DISTINCT extra FROM orders WHERE order_id = 1")
    assert [json.loads(e) for (e,) in extras] == [
        {"price": "NaN", "quantity": "1e400", "contingentId": 2**70}  # nothing lost
    ]
    report = reports["orders"]
    backtests = rows(clean, "SELECT count(*) FROM orders WHERE order_id = 1")[0][0]
    assert report.counters["values_stored_as_null"] == 4 * backtests  # 4 values in each
    assert any(w.startswith("orders.contingent_id:") for w in report.warnings)


def test_unicode_and_very_long_tags_are_stored_exactly(tmp_path: Path):
    tag = '買い 🚀 Ünïcödé \t"quoted" \\ ' * 4_000  # ~120k characters

    def edit(order: dict[str, Any]) -> None:
        order["tag"] = tag

    path = tmp_path / "w.duckdb"
    reports = sync(path, {ORDERS: each_order(edit, first_page)})
    assert isinstance(reports, dict)
    assert rows(path, "SELECT DISTINCT tag FROM orders WHERE order_id <= 100") == [(tag,)]


def test_unknown_fields_are_kept_in_extra_and_counted(tmp_path: Path, clean: Path):
    def edit(order: dict[str, Any]) -> None:
        order["brandNewField"] = {"since": "2027", "values": [1, 2]}
        order["symbol"]["exchange"] = "NYSE"
        order["events"][0]["newEventField"] = True

    path = tmp_path / "w.duckdb"
    reports = sync(path, {ORDERS: each_order(edit)})
    assert isinstance(reports, dict)
    extras = rows(path, "SELECT DISTINCT extra FROM orders")
    assert [json.loads(e) for (e,) in extras] == [
        {"brandNewField": {"since": "2027", "values": [1, 2]}, "symbol": {"exchange": "NYSE"}}
    ]
    assert rows(path, "SELECT DISTINCT extra FROM order_events WHERE order_event_id = 1") == [
        ('{"newEventField":true}',)
    ]
    without = "SELECT * EXCLUDE (extra) FROM {} ORDER BY ALL"
    for table in ("orders", "order_events"):
        assert rows(path, without.format(table)) == rows(clean, without.format(table))
    orders = rows(clean, "SELECT count(*) FROM orders")[0][0]
    assert reports["orders"].counters["rows_with_unknown_fields"] == 2 * orders


def test_parameters_as_a_map_or_a_list_and_unknown_project_fields_are_kept(tmp_path: Path):
    def rewrite(params: dict[str, Any], body: bytes) -> bytes:
        reply = json.loads(body)
        first, second = reply["projects"][:2]
        first["parameters"] = {"lookback": "20", "fast": 5}
        second["parameters"] = [{"key": "lookback", "value": "20"}]
        second["futureFlag"] = 7
        return json.dumps(reply).encode()

    path = tmp_path / "w.duckdb"
    reports = sync(path, {"projects/read": rewrite})
    assert isinstance(reports, dict)
    found = rows(path, "SELECT parameters, extra FROM projects ORDER BY project_id")
    assert [json.loads(p) for p, _ in found] == [
        {"fast": 5, "lookback": "20"},
        [{"key": "lookback", "value": "20"}],
    ]
    assert [e for _, e in found] == [None, '{"futureFlag":7}']
    assert reports["projects"].counters["rows_with_unknown_fields"] == 1


def test_duplicate_orders_across_pages_are_loaded_once(tmp_path: Path, clean: Path):
    account = new_account()

    def rewrite(params: dict[str, Any], body: bytes) -> bytes:
        reply = json.loads(body)
        if params["start"] == 100:  # page 2 repeats page 1's last order
            reply["orders"].insert(0, account.orders(params["backtestId"])[99])
        return json.dumps(reply).encode()

    path = tmp_path / "w.duckdb"
    reports = sync(path, {ORDERS: rewrite}, account=account)
    assert isinstance(reports, dict)
    assert snapshot(path) == snapshot(clean)
    assert reports["orders"].counters["duplicate_orders_dropped"] >= 1


def test_length_disagreeing_with_the_orders_served_is_a_warning_and_refetched(tmp_path: Path):
    def rewrite(params: dict[str, Any], body: bytes) -> bytes:
        return json.dumps({**json.loads(body), "length": 7}).encode()

    reports = sync(tmp_path / "w.duckdb", {ORDERS: rewrite})
    assert isinstance(reports, dict)
    report = reports["orders"]
    assert report.counters["count_mismatches"] >= 1
    assert any("length says 7" in w and "fetched again next run" in w for w in report.warnings)


@pytest.mark.parametrize("kind", ["malformed", "html"])
def test_a_page_that_is_not_json_fails_naming_endpoint_backtest_and_page(
    tmp_path: Path, clean: Path, kind: str
):
    account = SandboxAccount(SIZE, seed=5)
    broken = max(
        (b["backtestId"] for p in account.projects() for b in account.backtests(p["projectId"])),
        key=account.total_orders,
    )
    fault = {"kind": kind, "endpoint": ORDERS, "match": {"backtestId": broken, "start": 100}}
    path = tmp_path / "w.duckdb"
    error = sync(path, faults=[fault])
    assert isinstance(error, SyncError)
    assert set(error.failures) == {broken}
    assert re.search(
        rf"{ORDERS} \(projectId=\d+, backtestId={broken}, start=100, end=200\)", str(error)
    )
    assert "not JSON" in str(error)
    loaded = "SELECT backtest_id, count(*) FROM orders GROUP BY 1 ORDER BY 1"
    assert rows(path, loaded) == [r for r in rows(clean, loaded) if r[0] != broken]


def test_values_of_the_wrong_shape_load_as_null_and_are_kept_in_extra(tmp_path: Path):
    def edit(order: dict[str, Any]) -> None:
        if order["id"] == 1:
            order.update(symbol="SPY", tag={"note": "a map"}, quantity=[1])
            order["events"].insert(0, "not an event")
        if order["id"] == 2:
            order["events"] = {"unexpected": "map"}

    path = tmp_path / "w.duckdb"
    reports = sync(path, {ORDERS: each_order(edit)})
    assert isinstance(reports, dict)
    found = rows(
        path, "SELECT DISTINCT symbol, tag, quantity, extra FROM orders WHERE order_id = 1"
    )
    assert [(s, t, q, json.loads(e)) for s, t, q, e in found] == [
        (
            None,
            '{"note":"a map"}',
            None,
            {"symbol": "SPY", "quantity": [1], "events": ["not an event"]},
        )
    ]
    found = rows(path, "SELECT DISTINCT extra FROM orders WHERE order_id = 2")
    assert [json.loads(e) for (e,) in found] == [{"events": {"unexpected": "map"}}]
    assert rows(path, "SELECT count(*) FROM order_events WHERE order_id = 2") == [(0,)]
    assert rows(path, "SELECT count(*) FROM order_events WHERE order_event_id IS NULL") == [(0,)]
    counters = reports["orders"].counters
    assert counters["rows_with_unknown_fields"] > 0 and counters["values_stored_as_null"] > 0


def test_an_order_that_is_not_an_object_fails_its_backtest_naming_the_page(
    tmp_path: Path, clean: Path
):
    def rewrite(params: dict[str, Any], body: bytes) -> bytes:
        reply = json.loads(body)
        if params["start"] == 0 and reply["orders"]:
            reply["orders"].insert(3, 42)
        return json.dumps(reply).encode()

    path = tmp_path / "w.duckdb"
    error = sync(path, {ORDERS: rewrite})
    assert isinstance(error, SyncError)
    assert f"{ORDERS} (projectId=" in str(error)
    assert "start=0, end=100): order 3 is not a JSON object: '42'" in str(error)
    assert rows(path, "SELECT count(*) FROM orders") == [(0,)]
