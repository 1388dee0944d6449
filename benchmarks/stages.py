"""Time each stage of the pipeline on order pages already fetched: decode, flatten, load.

`python -m benchmarks.stages --dataset medium --runs 3` serialises every finished backtest's
pages as the sandbox serves them, then times, per run and in one process:

- decode: msgspec on every page, to Python objects (the parse floor);
- flatten + load: what the pipeline does with the same bytes once they are fetched: split
  each page into its orders' JSON (as the client does), then `OrdersLoader` (flattening on
  its worker thread, writing in its transactions) into a fresh DuckDB file.

It prints the medians and the ratio that docs/benchmarks.md quotes: flatten+load speed as a
share of the parse floor's speed (time of decode / time of flatten+load).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import msgspec

from pipelines import warehouse
from pipelines.qc.paging import ORDERS_WINDOW, BacktestOrders
from pipelines.qc.replies import parse_orders_page
from pipelines.sandbox import SIZES, SandboxAccount
from pipelines.sync.loading import LoadSettings, orders_loader


def served_pages(dataset: str, seed: int = 7) -> list[tuple[int, str, bytes]]:
    """(project_id, backtest_id, page body) of every window of every finished backtest."""
    account = SandboxAccount(SIZES[dataset], seed=seed)
    pages = []
    for project in account.projects():
        for backtest in account.backtests(project["projectId"]):
            if backtest["status"] not in ("Completed.", "Runtime Error"):
                continue
            backtest_id = backtest["backtestId"]
            total = account.total_orders(backtest_id)
            for start in range(0, max(total, 1), ORDERS_WINDOW):
                parts, length = account.order_page(backtest_id, start, start + ORDERS_WINDOW)
                body = b'{"orders":[' + b",".join(parts) + b'],"length":%d,"success":true}' % length
                pages.append((project["projectId"], backtest_id, body))
    return pages


def decode_all(pages: list[tuple[int, str, bytes]]) -> None:
    """The parse floor: decode every page, keeping nothing (as `benchmarks.floors` does)."""
    for _, _, body in pages:
        msgspec.json.decode(body)


def flatten_and_load(
    pages: list[tuple[int, str, bytes]], path: Path, batch_orders: int
) -> dict[str, float]:
    """Split the pages into orders, group them per backtest and load them, as a sync does;
    returns the loader's seconds flattening, writing and committing."""
    backtests: dict[str, BacktestOrders] = {}
    for project_id, backtest_id, body in pages:
        fetched = backtests.setdefault(
            backtest_id, BacktestOrders(project_id, backtest_id, [], 0, None, None)
        )
        fetched.orders.extend(parse_orders_page("backtests/orders/read", {}, body).orders)
    settings = LoadSettings(batch_orders=batch_orders)
    with (
        warehouse.open_writer(path) as store,
        store.orders_writer() as writer,
        orders_loader(writer, settings=settings) as loader,
    ):
        for fetched in backtests.values():
            loader.add(fetched)
    return loader.seconds


def main() -> None:
    """Run the stage timings and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="small", choices=sorted(SIZES))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-orders", type=int, default=5_000)
    args = parser.parse_args()
    pages = served_pages(args.dataset)
    orders = sum(len(msgspec.json.decode(body)["orders"]) for _, _, body in pages)
    decode_times, load_times = [], []
    stage_times: dict[str, list[float]] = {}
    for run in range(args.runs):
        started = time.perf_counter()
        decode_all(pages)
        decode_times.append(time.perf_counter() - started)
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            stages = flatten_and_load(pages, Path(folder) / f"run{run}.duckdb", args.batch_orders)
            load_times.append(time.perf_counter() - started)
        for name, seconds in stages.items():
            stage_times.setdefault(name, []).append(seconds)
    decode, load = statistics.median(decode_times), statistics.median(load_times)
    print(f"{args.dataset}: {len(pages)} pages, {orders} orders, median of {args.runs} runs")
    print(f"decode (parse floor): {decode:.2f} s  {orders / decode:,.0f} orders/s")
    print(f"flatten + load:       {load:.2f} s  {orders / load:,.0f} orders/s")
    busy = ", ".join(f"{name} {statistics.median(t):.2f} s" for name, t in stage_times.items())
    print(f"  of which (the flattener runs beside the writer): {busy}")
    print(f"flatten+load speed / parse floor speed: {decode / load:.0%}")


if __name__ == "__main__":
    main()
