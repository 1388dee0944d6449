"""Page through one backtest's orders with `backtests/orders/read` (reference §6)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipelines.quantconnect import QuantConnectClient, QuantConnectError

# The API serves windows `[start, end)` of at most 100 orders; 0..100 works, 0..200 fails.
ORDERS_WINDOW = 100


@dataclass
class BacktestOrders:
    """Every order of one backtest, deduplicated on the order id, and how they were fetched."""

    project_id: int
    backtest_id: str
    orders: list[dict[str, Any]] = field(default_factory=list)
    pages: int = 0
    duplicates: int = 0
    reported_total: int | None = None  # `length`, once it proved to be the total
    expected_total: int | None = None  # the "Total Orders" statistic

    @property
    def count_mismatch(self) -> str | None:
        """Why the fetched count disagrees with `length` or "Total Orders", or None."""
        count = len(self.orders)
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
    """Fetch every order of a backtest, one window of 100 at a time.

    Stops at a short or empty page, or once `length` has shown itself to be the total order
    count and the windows have reached it. What `length` means is disputed, so it is trusted
    as the total only after a page reports more than it served (reference §6).
    """
    result = BacktestOrders(project_id, backtest_id, expected_total=expected_total)
    seen: set[Any] = set()
    start = 0
    while True:
        reply = client.read_orders_page(project_id, backtest_id, start, start + ORDERS_WINDOW)
        page = reply.get("orders")
        if page is None:
            page = []
        if not isinstance(page, list):
            raise QuantConnectError(
                "backtests/orders/read",
                {"projectId": project_id, "backtestId": backtest_id, "start": start},
                f"`orders` is a {type(page).__name__}, not a list",
            )
        result.pages += 1
        for order in page:
            order_id = order.get("id")
            if order_id in seen:
                result.duplicates += 1
                continue
            seen.add(order_id)
            result.orders.append(order)
        length = reply.get("length")
        if isinstance(length, int) and length > len(page):
            result.reported_total = length
        start += ORDERS_WINDOW
        if len(page) < ORDERS_WINDOW:
            break
        if result.reported_total is not None and start >= result.reported_total:
            break
    return result
