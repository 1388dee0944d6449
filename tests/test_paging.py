"""Paging through a backtest's orders: windows of 100, stop rules, dedup, count checks."""

from typing import Any

import pytest

from pipelines.paging import ORDERS_WINDOW, BacktestOrders, BacktestPager, fetch_backtest_orders
from pipelines.quantconnect import QuantConnectClient, QuantConnectError
from pipelines.sandbox import SandboxServer


class ScriptedPages:
    """A stand-in client serving fixed pages, recording the windows asked for."""

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.windows: list[tuple[int, int]] = []

    def read_orders_page(self, project_id: int, backtest_id: str, start: int, end: int) -> dict:
        self.windows.append((start, end))
        index = start // ORDERS_WINDOW
        return self.pages[index] if index < len(self.pages) else {"orders": [], "success": True}


def orders(first: int, last: int) -> list[dict]:
    return [{"id": i} for i in range(first, last + 1)]


def test_stops_at_a_short_page_with_windows_of_100():
    pages = ScriptedPages([{"orders": orders(1, 100)}, {"orders": orders(101, 130)}])
    fetched = fetch_backtest_orders(pages, 1, "b", expected_total=130)  # type: ignore[arg-type]
    assert pages.windows == [(0, 100), (100, 200)]
    assert len(fetched.orders) == 130
    assert fetched.count_mismatch is None


def test_length_proven_to_be_the_total_saves_the_empty_page():
    pages = ScriptedPages(
        [{"orders": orders(1, 100), "length": 200}, {"orders": orders(101, 200), "length": 200}]
    )
    fetched = fetch_backtest_orders(pages, 1, "b")  # type: ignore[arg-type]
    assert pages.windows == [(0, 100), (100, 200)]
    assert fetched.reported_total == 200


def test_length_equal_to_the_page_is_not_trusted_as_the_total():
    pages = ScriptedPages([{"orders": orders(1, 100), "length": 100}])
    fetched = fetch_backtest_orders(pages, 1, "b")  # type: ignore[arg-type]
    assert pages.windows == [(0, 100), (100, 200)]
    assert len(fetched.orders) == 100


def test_duplicate_orders_across_pages_are_dropped_and_counted():
    pages = ScriptedPages([{"orders": orders(1, 100)}, {"orders": orders(100, 120)}])
    fetched = fetch_backtest_orders(pages, 1, "b")  # type: ignore[arg-type]
    assert [o["id"] for o in fetched.orders] == list(range(1, 121))
    assert fetched.duplicates == 1


def test_a_count_that_disagrees_with_total_orders_is_reported():
    pages = ScriptedPages([{"orders": orders(1, 40)}])
    fetched = fetch_backtest_orders(pages, 1, "b", expected_total=41)  # type: ignore[arg-type]
    assert fetched.count_mismatch == "fetched 40 orders but Total Orders says 41"


def test_orders_that_are_not_a_list_fail_naming_the_backtest_and_page():
    pages = ScriptedPages([{"orders": {"1": {}}}])
    with pytest.raises(QuantConnectError, match=r"backtestId=b, start=0"):
        fetch_backtest_orders(pages, 1, "b")  # type: ignore[arg-type]


def test_pages_every_completed_sandbox_backtest_in_full(
    sandbox: SandboxServer, client: QuantConnectClient
):
    account = sandbox.account
    checked = 0
    for project in account.projects():
        project_id = project["projectId"]
        for backtest in account.backtests(project_id):
            if backtest["status"] != "Completed.":
                continue
            backtest_id = backtest["backtestId"]
            total = account.total_orders(backtest_id)
            fetched = fetch_backtest_orders(client, project_id, backtest_id, expected_total=total)
            assert [o["id"] for o in fetched.orders] == [
                o["id"] for o in account.orders(backtest_id)
            ]
            assert fetched.count_mismatch is None
            full_pages, rest = divmod(total, ORDERS_WINDOW)
            assert fetched.pages == full_pages + (1 if rest or total <= ORDERS_WINDOW else 0)
            checked += 1
    assert checked >= 4


def test_a_known_total_asks_for_every_window_at_once_in_any_arrival_order():
    pager = BacktestPager(1, "b", expected_total=250)
    assert pager.first_windows() == [0, 100, 200]
    assert pager.add_page(200, {"orders": orders(201, 250), "length": 250}) == []
    assert not pager.done
    assert pager.add_page(0, {"orders": orders(1, 100), "length": 250}) == []
    assert not pager.done
    assert pager.add_page(100, {"orders": orders(101, 200), "length": 250}) == []
    assert pager.done
    assert [o["id"] for o in pager.orders()] == list(range(1, 251))


def test_more_orders_than_total_orders_says_keeps_paging():
    pager = BacktestPager(1, "b", expected_total=100)
    assert pager.first_windows() == [0]
    assert pager.add_page(0, {"orders": orders(1, 100)}) == [100]
    assert pager.add_page(100, {"orders": orders(101, 120)}) == []
    assert pager.done and len(pager.orders()) == 120


def test_length_proven_on_the_first_page_opens_every_other_window():
    pager = BacktestPager(1, "b")
    assert pager.first_windows() == [0]
    assert pager.add_page(0, {"orders": orders(1, 100), "length": 420}) == [100, 200, 300, 400]


def test_a_large_backtest_is_handed_over_in_parts_without_losing_or_repeating_orders():
    pager = BacktestPager(1, "b", expected_total=450)
    assert pager.first_windows() == [0, 100, 200, 300, 400]
    pager.add_page(100, {"orders": orders(101, 200)})
    assert pager.release_prefix(150) == []  # window 0 has not arrived
    pager.add_page(0, {"orders": orders(1, 100)})
    first = pager.release_prefix(150)
    assert [o["id"] for o in first] == list(range(1, 201))
    pager.add_page(400, {"orders": orders(401, 450)})
    pager.add_page(200, {"orders": orders(200, 300)})  # order 200 again
    pager.add_page(300, {"orders": orders(301, 400)})
    assert pager.done
    rest = BacktestOrders.from_pager(pager)
    assert [o["id"] for o in rest.orders] == list(range(201, 451))
    assert rest.earlier_orders == 200 and rest.duplicates == 1
    assert rest.count_mismatch is None
