"""The one bounded pool of concurrent API requests, used by every step that fans out."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from pipelines.qc.errors import QuantConnectAuthError

K = TypeVar("K")
T = TypeVar("T")
R = TypeVar("R")

Finished = tuple[K, R | None, Exception | None]


class RequestPool(Generic[K, R]):
    """Requests on a thread pool, each under a key; `finished` hands back (key, result, None)
    or (key, None, error) as they end. An auth error stops everything at once: every other
    request would fail the same way. Made by `request_pool`."""

    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self._executor = executor
        self._pending: dict[Future[R], K] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def submit(self, key: K, work: Callable[..., R], *args: Any) -> None:
        """Start `work(*args)`; its outcome comes back under `key`."""
        self._pending[self._executor.submit(work, *args)] = key

    def finished(self) -> Iterator[Finished[K, R]]:
        """Wait until at least one request ends; hand back each one that has."""
        done, _ = wait(self._pending, return_when=FIRST_COMPLETED)
        for future in done:
            key = self._pending.pop(future)
            error = future.exception()
            if isinstance(error, QuantConnectAuthError):
                raise error
            if error is not None and not isinstance(error, Exception):
                raise error
            yield key, (None if error else future.result()), error

    def cancel(self) -> None:
        """Cancel the requests that have not started."""
        for future in self._pending:
            future.cancel()


@contextmanager
def request_pool(max_workers: int, name: str = "qc-fetch") -> Iterator[RequestPool[Any, Any]]:
    """A `RequestPool` of `max_workers` threads; leaving the block cancels what waits."""
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name) as executor:
        pool: RequestPool[Any, Any] = RequestPool(executor)
        try:
            yield pool
        finally:
            pool.cancel()


def concurrently(
    work: Callable[[T], R], items: Iterable[T], max_workers: int
) -> Iterator[Finished[T, R]]:
    """Run `work` over `items` on a `RequestPool`, yielding (item, result, error) as each ends.

    At most `2 * max_workers` items are in flight, so finished results never pile up.
    """
    items = iter(items)
    with request_pool(max_workers) as pool:
        while True:
            for item in items:
                pool.submit(item, work, item)
                if len(pool) >= 2 * max_workers:
                    break
            if not pool:
                return
            yield from pool.finished()
