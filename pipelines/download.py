"""Download the orders of many backtests at once, a page per task, on a bounded thread pool.

Pages of one backtest are fetched concurrently when its total is known ("Total Orders", or a
`length` that proved to be the total), and pages of different backtests always are. Each
backtest is handed back whole, as soon as its last page arrives, so the caller can load it
while the other downloads go on.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import TypeVar

from pipelines.paging import ORDERS_WINDOW, BacktestOrders, BacktestPager
from pipelines.quantconnect import OrdersPage, QuantConnectAuthError, QuantConnectClient
from pipelines.warehouse import PendingBacktest

Outcome = tuple[PendingBacktest, BacktestOrders | None, Exception | None]
T = TypeVar("T")


def download_orders(
    client: QuantConnectClient,
    backtests: list[PendingBacktest],
    max_workers: int,
    max_open_backtests: int | None = None,
    part_orders: int = 5_000,
) -> Iterator[Outcome]:
    """Yield (backtest, its orders, None) or (backtest, None, error) as each backtest ends.

    A backtest with more than `part_orders` orders is handed over in parts as its pages
    arrive (`BacktestOrders.final` is False on all but the last), so it never sits in memory
    whole.

    At most `max_open_backtests` (default: `max_workers`) backtests are open at once, so
    downloaded pages never pile up far ahead of the caller. An auth error stops everything:
    every request would fail alike.
    """
    waiting = iter(backtests)
    open_backtests: dict[str, tuple[PendingBacktest, BacktestPager]] = {}
    in_flight: dict[Future[OrdersPage], tuple[str, int]] = {}

    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="qc-orders") as pool:

        def fetch(item: PendingBacktest, starts: list[int]) -> None:
            for start in starts:
                future = pool.submit(
                    client.read_orders_page,
                    item.project_id,
                    item.backtest_id,
                    start,
                    start + ORDERS_WINDOW,
                )
                in_flight[future] = (item.backtest_id, start)

        def open_more() -> None:
            while len(open_backtests) < (max_open_backtests or max_workers):
                item = next(waiting, None)
                if item is None:
                    return
                pager = BacktestPager(item.project_id, item.backtest_id, item.expected_total)
                open_backtests[item.backtest_id] = (item, pager)
                fetch(item, pager.first_windows())

        try:
            open_more()
            while in_flight:
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    backtest_id, start = in_flight.pop(future)
                    if backtest_id not in open_backtests:
                        continue  # a page past the end, or of a backtest that already failed
                    item, pager = open_backtests[backtest_id]
                    try:
                        fetch(item, pager.add_page(start, future.result()))
                    except QuantConnectAuthError:
                        raise
                    except Exception as error:
                        del open_backtests[backtest_id]
                        yield item, None, error
                        continue
                    if pager.done:
                        del open_backtests[backtest_id]
                        yield item, BacktestOrders.from_pager(pager), None
                    elif part := pager.release_prefix(part_orders):
                        yield item, BacktestOrders.from_pager(pager, part), None
                open_more()
        finally:
            for future in in_flight:
                future.cancel()


@contextmanager
def in_background(items: Iterator[T], max_ahead: int) -> Iterator[Iterator[T]]:
    """Run the iterator `items` on a thread of its own, at most `max_ahead` items ahead of the
    consumer, so that it goes on while the consumer works; its errors reach the consumer.
    Leaving the block stops it."""
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

    def consume() -> Iterator[T]:
        while True:
            more, item = handoff.get()
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
