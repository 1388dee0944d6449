"""Page through one backtest's orders with `backtests/orders/read` (reference §6).

`BacktestPager` decides which windows to ask for next from the pages received so far, so the
same rules drive any loop over the pages (`pipelines.qc.download` fetches them concurrently).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pipelines.qc.replies import OrdersPage

# The API serves windows `[start, end)` of at most 100 orders; 0..100 works, 0..200 fails.
ORDERS_WINDOW = 100


@dataclass
class BacktestPager:
    """The paging state of one backtest.

    When the total is known up front (the "Total Orders" statistic), every window up to it is
    asked for at once; otherwise `length` from the first page, once it proves to be the total,
    opens the rest. Paging ends at a short or empty page, or once the windows reach a total
    that `length` reported. What `length` means is disputed, so it is trusted as the total
    only after a page reports more than it served (reference §6).

    Orders stay the undecoded JSON the API sent; deduplicating them on `id` is the
    flattener's job (`pipelines.flatten.orders.flatten_raw_orders`).
    """

    project_id: int
    backtest_id: str
    expected_total: int | None = None  # the "Total Orders" statistic
    reported_total: int | None = None  # `length`, once it proved to be the total
    pages: dict[int, list[msgspec.Raw]] = field(default_factory=dict)  # not yet handed over
    sizes: dict[int, int] = field(default_factory=dict)  # orders served per window received
    requested: set[int] = field(default_factory=set)
    handed_over: int = 0  # orders already handed over by `release_prefix`
    _next_release: int = 0

    def first_windows(self) -> list[int]:
        """The starts of the windows to ask for before any page has arrived."""
        count = max(1, math.ceil((self.expected_total or 0) / ORDERS_WINDOW))
        return self._request(range(0, count * ORDERS_WINDOW, ORDERS_WINDOW))

    def add_page(self, start: int, page: OrdersPage) -> list[int]:
        """Record the reply for window `start`; returns the starts of windows to ask for next."""
        orders = page.orders
        self.pages[start] = orders
        self.sizes[start] = len(orders)
        if page.length is not None and page.length > len(orders):
            self.reported_total = max(page.length, self.reported_total or 0)
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

    def release_prefix(self, min_orders: int) -> list[msgspec.Raw]:
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

    def orders(self) -> list[msgspec.Raw]:
        """The orders not handed over yet, in window order."""
        end = self._end_seen()
        return self._take([s for s in sorted(self.pages) if end is None or s <= end])

    def _take(self, starts: list[int]) -> list[msgspec.Raw]:
        orders = [order for start in starts for order in self.pages.pop(start)]
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
    """The orders of one backtest (or a part of them) as fetched, and how they were fetched."""

    project_id: int
    backtest_id: str
    orders: list[msgspec.Raw]  # each order's JSON, in window order, not yet deduplicated
    pages: int
    reported_total: int | None
    expected_total: int | None
    final: bool = True  # False for a part handed over before the backtest's last page

    @classmethod
    def from_pager(
        cls, pager: BacktestPager, part: list[msgspec.Raw] | None = None
    ) -> BacktestOrders:
        """The orders of a finished pager not handed over yet; or, given `part` (what
        `release_prefix` just returned), that part of a backtest still downloading."""
        orders = pager.orders() if part is None else part
        return cls(
            pager.project_id,
            pager.backtest_id,
            orders,
            len(pager.sizes),
            pager.reported_total,
            pager.expected_total,
            final=part is None,
        )

    def count_mismatch(self, loaded: int) -> str | None:
        """Why `loaded` orders (all parts, duplicates dropped) disagree with `length` or
        "Total Orders", or None."""
        for name, total in (("length", self.reported_total), ("Total Orders", self.expected_total)):
            if total is not None and total != loaded:
                return f"fetched {loaded} orders but {name} says {total}"
        return None
