"""Page through one backtest's orders with `backtests/orders/read` (reference §6).

`BacktestPager` decides which windows to ask for next from the pages received so far, so the
same rules drive a plain loop (`fetch_backtest_orders`) and the concurrent sync.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pipelines.quantconnect import QuantConnectClient, QuantConnectError

# The API serves windows `[start, end)` of at most 100 orders; 0..100 works, 0..200 fails.
ORDERS_WINDOW = 100
ORDERS_ENDPOINT = "backtests/orders/read"


@dataclass
class BacktestPager:
    """The paging state of one backtest.

    When the total is known up front (the "Total Orders" statistic), every window up to it is
    asked for at once; otherwise `length` from the first page, once it proves to be the total,
    opens the rest. Paging ends at a short or empty page, or once the windows reach a total
    that `length` reported. What `length` means is disputed, so it is trusted as the total
    only after a page reports more than it served (reference §6).
    """

    project_id: int
    backtest_id: str
    expected_total: int | None = None  # the "Total Orders" statistic
    reported_total: int | None = None  # `length`, once it proved to be the total
    pages: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # not yet handed over
    sizes: dict[int, int] = field(default_factory=dict)  # orders served per window received
    requested: set[int] = field(default_factory=set)
    seen: set[Any] = field(default_factory=set)  # order ids handed over, for deduplication
    handed_over: int = 0  # orders already handed over by `release_prefix`
    duplicates: int = 0
    _next_release: int = 0

    def first_windows(self) -> list[int]:
        """The starts of the windows to ask for before any page has arrived."""
        count = max(1, math.ceil((self.expected_total or 0) / ORDERS_WINDOW))
        return self._request(range(0, count * ORDERS_WINDOW, ORDERS_WINDOW))

    def add_page(self, start: int, reply: dict[str, Any]) -> list[int]:
        """Record the reply for window `start`; returns the starts of windows to ask for next."""
        orders = reply.get("orders")
        if orders is None:
            orders = []
        if not isinstance(orders, list):
            raise QuantConnectError(
                ORDERS_ENDPOINT,
                {"projectId": self.project_id, "backtestId": self.backtest_id, "start": start},
                f"`orders` is a {type(orders).__name__}, not a list",
            )
        self.pages[start] = orders
        self.sizes[start] = len(orders)
        length = reply.get("length")
        if isinstance(length, int) and length > len(orders):
            self.reported_total = max(length, self.reported_total or 0)
        if self._end_seen() is not None:
            return []
        frontier = max(self.requested) + ORDERS_WINDOW
        if self.reported_total is not None:
            return self._request(range(frontier, self.reported_total, ORDERS_WINDOW))
        return self._request([frontier]) if start + ORDERS_WINDOW == frontier else []

    @property
    def done(self) -> bool:
        """True once every page needed has arrived."""
        end = self._end_seen()
        if end is None:
            if self.reported_total is None or not self.sizes:
                return False
            end = max(self.requested) + ORDERS_WINDOW
            if end < self.reported_total:
                return False
        return all(start in self.sizes for start in self.requested if start < end)

    def release_prefix(self, min_orders: int) -> list[dict[str, Any]]:
        """Hand over the orders of the received windows at the front, once there are at least
        `min_orders` of them, so a very large backtest need not sit in memory whole."""
        starts = []
        start = self._next_release
        while start in self.pages and self._end_seen() != start:
            starts.append(start)
            start += ORDERS_WINDOW
        if sum(self.sizes[s] for s in starts) < min_orders:
            return []
        self._next_release = start
        return self._take(starts)

    def orders(self) -> list[dict[str, Any]]:
        """The orders not handed over yet, in window order, deduplicated on the order id."""
        end = self._end_seen()
        return self._take([s for s in sorted(self.pages) if end is None or s <= end])

    def _take(self, starts: list[int]) -> list[dict[str, Any]]:
        orders: list[dict[str, Any]] = []
        for start in starts:
            for order in self.pages.pop(start):
                order_id = order.get("id") if isinstance(order, dict) else None
                if order_id is not None and order_id in self.seen:
                    self.duplicates += 1
                    continue
                self.seen.add(order_id)
                orders.append(order)
        self.handed_over += len(orders)
        return orders

    def _end_seen(self) -> int | None:
        """The start of the first short (or empty) page received, where the orders end."""
        short = [start for start, size in self.sizes.items() if size < ORDERS_WINDOW]
        return min(short) if short else None

    def _request(self, starts: Any) -> list[int]:
        new = [start for start in starts if start not in self.requested]
        self.requested.update(new)
        return new


@dataclass
class BacktestOrders:
    """Every order of one backtest, deduplicated on the order id, and how they were fetched."""

    project_id: int
    backtest_id: str
    orders: list[dict[str, Any]]
    pages: int
    duplicates: int
    reported_total: int | None
    expected_total: int | None
    final: bool = True  # False for a part handed over before the backtest's last page
    earlier_orders: int = 0  # orders of the parts handed over before this one

    @classmethod
    def from_pager(
        cls, pager: BacktestPager, part: list[dict[str, Any]] | None = None
    ) -> BacktestOrders:
        """The orders of a finished pager not handed over yet; or, given `part` (what
        `release_prefix` just returned), that part of a backtest still downloading."""
        final = part is None
        orders = pager.orders() if part is None else part
        earlier = pager.handed_over - len(orders)
        return cls(
            pager.project_id,
            pager.backtest_id,
            orders,
            len(pager.sizes),
            pager.duplicates,
            pager.reported_total,
            pager.expected_total,
            final,
            earlier,
        )

    @property
    def count_mismatch(self) -> str | None:
        """Why the fetched count disagrees with `length` or "Total Orders", or None."""
        count = self.earlier_orders + len(self.orders)
        for name, total in (("length", self.reported_total), ("Total Orders", self.expected_total)):
            if total is not None and total != count:
                return f"fetched {count} orders but {name} says {total}"
        return None


def fetch_backtest_orders(
    client: QuantConnectClient,
    project_id: int,
    backtest_id: str,
    expected_total: int | None = None,
) -> BacktestOrders:
    """Fetch every order of a backtest, one window of 100 at a time, in order."""
    pager = BacktestPager(project_id, backtest_id, expected_total)
    waiting = pager.first_windows()
    while waiting:
        start = waiting.pop(0)
        reply = client.read_orders_page(project_id, backtest_id, start, start + ORDERS_WINDOW)
        waiting.extend(pager.add_page(start, reply))
    return BacktestOrders.from_pager(pager)
