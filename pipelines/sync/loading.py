"""Load fetched orders into the warehouse: flattened in batches, written in few transactions.

Finished backtests are flattened together, about `batch_orders` orders at a time, on a worker
thread, while the previous batch is written here, on the calling thread: parsing and DuckDB
both release the GIL, so the two overlap. Batches go to the warehouse's orders writer, whose
transaction is committed once it holds `commit_orders` orders or has been open
`commit_seconds`, and at the end. The time bound keeps what a crash can lose small when the
API is slow (docs/benchmarks.md). A backtest always lands whole: parts of a very large one
are parked until its last part arrives.

While the sync waits for the network, the loader `pause`s: it commits what it has written, so
that the writer lets go of the warehouse file and readers get in (`pipelines.warehouse.lease`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa

from pipelines.flatten.orders import FlatOrders, RawOrders, flatten_raw_orders
from pipelines.flatten.records import Notes
from pipelines.qc.paging import BacktestOrders
from pipelines.warehouse import BacktestLoad, OrdersWriter, WarehouseError

_log = logging.getLogger(__name__)
Batch = list[BacktestOrders]


@dataclass(frozen=True)
class LoadSettings:
    """How orders are batched and committed (see the module's docstring)."""

    batch_orders: int = 5_000
    commit_orders: int = 200_000
    commit_seconds: float = 30.0


@dataclass
class LoadTotals:
    """What a loader did: rows committed, duplicates dropped, slow batches, transactions."""

    orders_loaded: int = 0
    order_events_loaded: int = 0
    duplicate_orders_dropped: int = 0
    duplicate_events_dropped: int = 0
    orders_flattened_slowly: int = 0
    transactions: int = 0

    def counters(self) -> dict[str, int]:
        """The totals, by name, for a sync report."""
        return asdict(self)


@dataclass
class _Parked:
    """The parts of a backtest still downloading, parked so far."""

    orders: int = 0
    order_events: int = 0


class FlattenError(Exception):
    """A backtest's orders broke the flattener; the other backtests still load."""


class OrdersLoader:
    """Loads `BacktestOrders` (whole backtests, or parts ending with a final one) through an
    `OrdersWriter`, as described above; the single writer of a sync. `loaded_before` names the
    backtests that may have rows to replace. `orders_loader` makes one for a `with` block.

    If a write fails, the open transaction rolls back: each backtest in it keeps its previous
    rows and is reported in `failures`, and so is each backtest with parked parts.
    """

    def __init__(
        self,
        writer: OrdersWriter,
        loaded_before: Collection[str] = (),
        settings: LoadSettings | None = None,
        log: logging.Logger = _log,
    ) -> None:
        self.writer = writer
        self.loaded_before = set(loaded_before)
        self.settings = settings or LoadSettings()
        self.log = log
        self.failures: dict[str, Exception] = {}
        self.warnings: list[str] = []
        self.totals = LoadTotals()
        self.notes: Notes = Counter()  # what flattening worked around
        # Wall seconds spent flattening (on the worker), writing and committing (here).
        self.seconds = {"flattening": 0.0, "writing": 0.0, "committing": 0.0}
        self._buffer: Batch = []
        self._buffered_orders = 0
        self._flattening: tuple[Batch, Future[FlatOrders]] | None = None
        self._flattener = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qc-flatten")
        self._seen: dict[str, set[Any]] = {}  # order ids per backtest, used on the flattener
        self._parked: dict[str, _Parked] = {}

    def finish(self) -> None:
        """Write what is left, and commit."""
        self.flush()
        self._commit()

    def pause(self) -> None:
        """Commit what is written (what is still being flattened waits): the sync is about to
        wait for the network, and the warehouse file is free meanwhile."""
        self._commit()

    def close(self) -> None:
        """Stop the flattener's thread."""
        self._flattener.shutdown(cancel_futures=True)

    def add(self, fetched: BacktestOrders) -> None:
        """Take a backtest's orders, or part of them; hands on a batch once it is full."""
        if fetched.backtest_id in self.failures:
            return  # its parked parts were rolled back: nothing more of it can land
        self._buffer.append(fetched)
        self._buffered_orders += len(fetched.orders)
        if self._buffered_orders >= self.settings.batch_orders:
            self._hand_on()

    def forget(self, backtest_id: str) -> None:
        """Drop what is buffered of a backtest whose download failed (parts it parked stay
        parked until the writer drops them)."""
        self._buffer = [f for f in self._buffer if f.backtest_id != backtest_id]
        self._parked.pop(backtest_id, None)

    def flush(self) -> None:
        """Flatten and write everything taken so far; commit if the transaction is due."""
        self._hand_on()
        if self._flattening is not None:
            self._write(*self._flattening)
            self._flattening = None

    def _hand_on(self) -> None:
        """Start flattening the buffer, and meanwhile write the batch flattened before it."""
        batch, self._buffer, self._buffered_orders = self._buffer, [], 0
        previous = self._flattening
        self._flattening = (batch, self._flattener.submit(self._flatten, batch)) if batch else None
        if previous is not None:
            self._write(*previous)

    def _flatten(self, batch: Batch) -> FlatOrders:
        started = time.perf_counter()
        flat = flatten_raw_orders(
            [RawOrders(f.project_id, f.backtest_id, f.orders) for f in batch], self._seen
        )
        for fetched in batch:
            if fetched.final:
                self._seen.pop(fetched.backtest_id, None)
        self.seconds["flattening"] += time.perf_counter() - started
        return flat

    def _write(self, batch: Batch, flattening: Future[FlatOrders]) -> None:
        try:
            flat = flattening.result()
        except Exception as error:  # a payload no test foresaw: contain it, load the rest
            self._fail_unflattened(batch, error)
            return
        self._note_flattening(flat)
        started = time.perf_counter()
        try:
            self._write_batch(batch, flat)
        except WarehouseError as error:
            self._roll_back(error, [f.backtest_id for f in batch if f.final])
        self.seconds["writing"] += time.perf_counter() - started
        settings = self.settings
        if (
            self.writer.open_orders >= settings.commit_orders
            or self.writer.open_seconds >= settings.commit_seconds
        ):
            self._commit()

    def _fail_unflattened(self, batch: Batch, error: Exception) -> None:
        """Fail the backtests of a batch that the flattener could not convert."""
        backtest_ids = sorted({fetched.backtest_id for fetched in batch})
        failure = FlattenError(f"its orders could not be flattened ({error!r}); please report it")
        for backtest_id in backtest_ids:
            self.failures[backtest_id] = failure
            self._parked.pop(backtest_id, None)
        self.log.error("Orders of %s could not be flattened: %r", ", ".join(backtest_ids), error)

    def _write_batch(self, batch: Batch, flat: FlatOrders) -> None:
        parts: list[tuple[pa.Table, pa.Table]] = []
        finals: list[tuple[pa.Table, pa.Table]] = []
        loads: list[BacktestLoad] = []
        order_offset = event_offset = 0
        for fetched, orders_count, events_count in zip(
            batch, flat.orders_per_group, flat.events_per_group, strict=True
        ):
            rows = (
                flat.orders.slice(order_offset, orders_count),
                flat.order_events.slice(event_offset, events_count),
            )
            order_offset += orders_count
            event_offset += events_count
            if fetched.backtest_id in self.failures:
                continue
            if not fetched.final:
                parked = self._parked.setdefault(fetched.backtest_id, _Parked())
                parked.orders += orders_count
                parked.order_events += events_count
                parts.append(rows)
                continue
            finals.append(rows)
            loads.append(self._load_of(fetched, orders_count, events_count))
        if parts:
            self.writer.park(*_concat(parts))
        if loads:
            self.writer.write(loads, *_concat(finals))
        for load in loads:
            self._parked.pop(load.backtest_id, None)

    def _load_of(self, fetched: BacktestOrders, orders: int, events: int) -> BacktestLoad:
        parked = self._parked.get(fetched.backtest_id)
        orders_loaded = orders + (parked.orders if parked else 0)
        mismatch = fetched.count_mismatch(orders_loaded)
        if mismatch:
            self.warnings.append(
                f"backtest {fetched.backtest_id}: {mismatch}; fetched again next run"
            )
        return BacktestLoad(
            fetched.project_id,
            fetched.backtest_id,
            orders_loaded=orders_loaded,
            order_events_loaded=events + (parked.order_events if parked else 0),
            orders_expected=fetched.expected_total,
            orders_complete=mismatch is None,
            replaces=fetched.backtest_id in self.loaded_before,
            from_parts=parked is not None,
        )

    def _note_flattening(self, flat: FlatOrders) -> None:
        self.totals.duplicate_orders_dropped += flat.duplicate_orders
        self.totals.duplicate_events_dropped += flat.duplicate_events
        self.notes.update(flat.notes)
        if flat.slow_orders:
            if not self.totals.orders_flattened_slowly:
                self.log.warning(
                    "Orders outside the expected wire schema are flattened one by one, which is"
                    " slower (nothing is lost): %s",
                    flat.slow_reason,
                )
            self.totals.orders_flattened_slowly += flat.slow_orders

    def _commit(self) -> None:
        started = time.perf_counter()
        try:
            committed = self.writer.commit()
        except WarehouseError as error:
            self._roll_back(error, [])
            return
        finally:
            self.seconds["committing"] += time.perf_counter() - started
        if committed is not None:
            self.totals.orders_loaded += sum(load.orders_loaded for load in committed)
            self.totals.order_events_loaded += sum(load.order_events_loaded for load in committed)
            self.totals.transactions += 1

    def _roll_back(self, error: WarehouseError, also_failed: list[str]) -> None:
        lost = [load.backtest_id for load in self.writer.roll_back()]
        lost += list(self._parked) + also_failed
        for backtest_id in lost:
            self.failures[backtest_id] = error
        self.log.error(
            "Writing to the warehouse failed; %d backtests rolled back: %s", len(lost), error
        )
        self._parked.clear()


@contextmanager
def orders_loader(
    writer: OrdersWriter,
    loaded_before: Collection[str] = (),
    settings: LoadSettings | None = None,
    log: logging.Logger = _log,
) -> Iterator[OrdersLoader]:
    """An `OrdersLoader` for the block; leaving it writes what is left and commits (unless the
    block failed: the writer then rolls back what is not committed).

    Meanwhile Arrow uses the system allocator: the default (mimalloc) keeps freed memory in
    per-thread caches, ~80 MB more peak RSS on the medium benchmark for no speed
    (docs/benchmarks.md).
    """
    loader = OrdersLoader(writer, loaded_before, settings, log)
    arrow_pool = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield loader
        loader.finish()
    finally:
        loader.close()
        pa.set_memory_pool(arrow_pool)


def _concat(tables: list[tuple[pa.Table, pa.Table]]) -> tuple[pa.Table, pa.Table]:
    return (
        pa.concat_tables([orders for orders, _ in tables]),
        pa.concat_tables([events for _, events in tables]),
    )
