"""Download the orders of many backtests at once, a page per task, on a bounded thread pool.

Pages of one backtest are fetched concurrently when its total is known ("Total Orders", or a
`length` that proved to be the total), and pages of different backtests always are. Each
backtest is handed back whole, as soon as its last page arrives, so the caller can load it
while the other downloads go on.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol, TypeVar

from pipelines.qc.client import QuantConnectClient
from pipelines.qc.paging import ORDERS_WINDOW, BacktestOrders, BacktestPager
from pipelines.qc.pool import request_pool


class OrdersToFetch(Protocol):
    """A backtest whose orders to download, and how many the "Total Orders" statistic says."""

    @property
    def project_id(self) -> int: ...
    @property
    def backtest_id(self) -> str: ...
    @property
    def expected_total(self) -> int | None: ...


B = TypeVar("B", bound=OrdersToFetch)
T = TypeVar("T")
Outcome = tuple[B, BacktestOrders | None, Exception | None]


def download_orders(
    client: QuantConnectClient,
    backtests: Sequence[B],
    max_workers: int,
    max_open_backtests: int | None = None,
    part_orders: int = 5_000,
) -> Iterator[Outcome[B]]:
    """Yield (backtest, its orders, None) or (backtest, None, error) as each backtest ends.

    A backtest with more than `part_orders` orders is handed over in parts as its pages
    arrive (`BacktestOrders.final` is False on all but the last), so it never sits in memory
    whole.

    At most `max_open_backtests` (default: `max_workers`) backtests are open at once, so
    downloaded pages never pile up far ahead of the caller. An auth error stops everything:
    every request would fail alike.
    """
    waiting = iter(backtests)
    open_backtests: dict[str, tuple[B, BacktestPager]] = {}

    with request_pool(max_workers, "qc-orders") as pool:

        def fetch(item: B, starts: list[int]) -> None:
            for start in starts:
                end = start + ORDERS_WINDOW
                key = (item.backtest_id, start)
                pool.submit(key, client.read_orders_page, item.project_id, *key, end)

        def open_more() -> None:
            while len(open_backtests) < (max_open_backtests or max_workers):
                item = next(waiting, None)
                if item is None:
                    return
                pager = BacktestPager(item.project_id, item.backtest_id, item.expected_total)
                open_backtests[item.backtest_id] = (item, pager)
                fetch(item, pager.first_windows())

        open_more()
        while pool:
            for (backtest_id, start), page, error in pool.finished():
                if backtest_id not in open_backtests:
                    continue  # a page past the end, or of a backtest that already failed
                item, pager = open_backtests[backtest_id]
                if page is not None:
                    try:
                        fetch(item, pager.add_page(start, page))
                    except Exception as failure:
                        error = failure
                if error is not None:
                    del open_backtests[backtest_id]
                    yield item, None, error
                    continue
                if pager.done:
                    del open_backtests[backtest_id]
                    yield item, BacktestOrders.from_pager(pager), None
                elif part := pager.release_prefix(part_orders):
                    yield item, BacktestOrders.from_pager(pager, part), None
            open_more()


# How long a consumer of `in_background` waits for the next item before it is idle: the orders
# loader then commits, so no transaction spans a wait for the network (docs/benchmarks.md).
IDLE_AFTER_SECONDS = 0.1


@contextmanager
def in_background(
    items: Iterator[T],
    max_ahead: int,
    on_idle: Callable[[], None] | None = None,
    idle_seconds: float = IDLE_AFTER_SECONDS,
) -> Iterator[Iterator[T]]:
    """Run the iterator `items` on a thread of its own, at most `max_ahead` items ahead of the
    consumer, so that it goes on while the consumer works; its errors reach the consumer.
    A consumer that has waited `idle_seconds` for the next item calls `on_idle` before it
    waits on. Leaving the block stops it."""
    handoff: queue.Queue[tuple[bool, T | BaseException | None]] = queue.Queue(max_ahead)
    stop = threading.Event()

    def hand_over(item: tuple[bool, T | BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not hand_over((True, item)):
                    break
            else:
                hand_over((False, None))
        except BaseException as error:
            hand_over((False, error))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def next_item() -> tuple[bool, T | BaseException | None]:
        if on_idle is None:
            return handoff.get()
        try:
            return handoff.get(timeout=idle_seconds)
        except queue.Empty:
            on_idle()
            return handoff.get()

    def consume() -> Iterator[T]:
        while True:
            more, item = next_item()
            if not more:
                if isinstance(item, BaseException):
                    raise item
                return
            yield item  # type: ignore[misc]

    thread = threading.Thread(target=produce, name="qc-download", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        thread.join()
