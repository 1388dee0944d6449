"""Paging through a backtest's orders: windows of 100, stop rules, parts, count checks."""

import msgspec

from pipelines.qc.client import QuantConnectClient
from pipelines.qc.paging import ORDERS_WINDOW, BacktestOrders, BacktestPager
from pipelines.qc.replies import OrdersPage
from pipelines.sandbox import SandboxServer
from tests.helpers import fetch_backtest_orders


class ScriptedPages:
    """A stand-in client serving fixed pages, recording the windows asked for."""

    def __init__(self, pages: list[OrdersPage]) -> None:
        self.pages = pages
        self.windows: list[tuple[int, int]] = []

    def read_orders_page(
        self, project_id: int, backtest_id: str, start: int, end: int
    ) -> OrdersPage:
        self.windows.append((start, end))
        index = start // ORDERS_WINDOW
        return self.pages[index] if index < len(self.pages) else page(0, -1)


def page(first: int, last: int, length: int | None = None) -> OrdersPage:
    """A reply carrying the orders with ids `first` to `last`."""
    return OrdersPage([msgspec.Raw(b'{"id":%d}' % i) for i in range(first, last + 1)], length)


def ids(orders: list[msgspec.Raw]) -> list[int]:
    return [msgspec.json.decode(order)["id"] for order in orders]


def test_stops_at_a_short_page_with_windows_of_100():
    pages = ScriptedPages([page(1, 100), page(101, 130)])
    fetched = fetch_backtest_orders(pages, 1, "b", expected_total=130)  # type: ignore[arg-type]
    assert pages.windows == [(0, 100), (100, 200)]
    assert ids(fetched.orders) == list(range(1, 131))
    assert fetched.count_mismatch(130) is None


def test_length_proven_to_be_the_total_saves_the_empty_page():
    pages = ScriptedPages([page(1, 100, length=200), page(101, 200, length=200)])
    fetched = fetch_backtest_orders(pages, 1, "b")  # type: ignore[arg-type]
    assert pages.windows == [(0, 100), (100, 200)]
    assert fetched.reported_total == 200


def test_length_equal_to_the_page_is_not_trusted_as_the_total():
    pages = ScriptedPages([page(1, 100, length=100)])
    fetched = fetch_backtest_orders(pages, 1, "b")  # type: ignore[arg-type]
    assert pages.windows == [(0, 100), (100, 200)]
    assert len(fetched.orders) == 100


def test_a_count_that_disagrees_with_total_orders_or_length_is_reported():
    pages = ScriptedPages([page(1, 40)])
    fetched = fetch_backtest_orders(pages, 1, "b", expected_total=41)  # type: ignore[arg-type]
    assert fetched.count_mismatch(40) == "fetched 40 orders but Total Orders says 41"
    assert fetched.count_mismatch(41) is None
    fetched.reported_total = 45
    assert fetched.count_mismatch(41) == "fetched 41 orders but length says 45"


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
            assert ids(fetched.orders) == [o["id"] for o in account.orders(backtest_id)]
            assert fetched.count_mismatch(len(fetched.orders)) is None
            full_pages, rest = divmod(total, ORDERS_WINDOW)
            assert fetched.pages == full_pages + (1 if rest or total <= ORDERS_WINDOW else 0)
            checked += 1
    assert checked >= 4


def test_a_known_total_asks_for_every_window_at_once_in_any_arrival_order():
    pager = BacktestPager(1, "b", expected_total=250)
    assert pager.first_windows() == [0, 100, 200]
    assert pager.add_page(200, page(201, 250, length=250)) == []
    assert not pager.done
    assert pager.add_page(0, page(1, 100, length=250)) == []
    assert not pager.done
    assert pager.add_page(100, page(101, 200, length=250)) == []
    assert pager.done
    assert ids(pager.orders()) == list(range(1, 251))


def test_more_orders_than_total_orders_says_keeps_paging():
    pager = BacktestPager(1, "b", expected_total=100)
    assert pager.first_windows() == [0]
    assert pager.add_page(0, page(1, 100)) == [100]
    assert pager.add_page(100, page(101, 120)) == []
    assert pager.done and len(pager.orders()) == 120


def test_length_proven_on_the_first_page_opens_every_other_window():
    pager = BacktestPager(1, "b")
    assert pager.first_windows() == [0]
    assert pager.add_page(0, page(1, 100, length=420)) == [100, 200, 300, 400]


def test_a_large_backtest_is_handed_over_in_parts_without_losing_or_repeating_orders():
    pager = BacktestPager(1, "b", expected_total=450)
    assert pager.first_windows() == [0, 100, 200, 300, 400]
    pager.add_page(100, page(101, 200))
    assert pager.release_prefix(150) == []  # window 0 has not arrived
    pager.add_page(0, page(1, 100))
    first = BacktestOrders.from_pager(pager, pager.release_prefix(150))
    assert ids(first.orders) == list(range(1, 201)) and not first.final
    pager.add_page(400, page(401, 450))
    pager.add_page(200, page(201, 300))
    pager.add_page(300, page(301, 400))
    assert pager.done
    rest = BacktestOrders.from_pager(pager)
    assert ids(rest.orders) == list(range(201, 451)) and rest.final
