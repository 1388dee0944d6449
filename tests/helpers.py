"""What several test modules share: the sandbox's test size, quick retries, the real resources,
headless runs, a warehouse held by another process, the sandbox's expected order counts, and how
`qcw` prints a number.
Test modules import from here, never from each other."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from pipelines import warehouse
from pipelines.qc.client import QuantConnectClient, RetrySettings
from pipelines.qc.paging import ORDERS_WINDOW, BacktestOrders, BacktestPager
from pipelines.queries import named_queries
from pipelines.resources import QuantConnectResource, WarehouseResource
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID, SandboxServer, SandboxSize
from pipelines.schema import TABLES as SCHEMA_TABLES
from pipelines.warehouse import BacktestLoad, Warehouse

REPO_ROOT = Path(__file__).resolve().parent.parent
# The warehouse tables that are each an asset of their own (`backtest_rolling_statistics`
# belongs to the `backtest_performance` asset).
TABLES = (
    "projects",
    "symbol_properties",
    "backtests",
    "backtest_statistics",
    "closed_trades",
    "backtest_performance",
    "orders",
    "order_events",
    "optimizations",
    "optimization_parameters",
    "optimization_constraints",
    "optimization_backtests",
    "optimization_backtest_statistics",
)
# Small enough to stay fast, big enough for several pages per backtest.
TEST_SIZE = SandboxSize(projects=2, backtests_per_project=4, orders_per_backtest=160)
FAST_RETRY = RetrySettings(max_attempts=4, initial_backoff_seconds=0.01, max_backoff_seconds=0.05)


def warehouse_resource(target: warehouse.Target) -> WarehouseResource:
    """The warehouse resource of a file or a lake."""
    if isinstance(target, warehouse.Lake):
        return WarehouseResource(catalog=target.catalog, data_path=target.data_path)
    return WarehouseResource(database=str(target))


def make_resources(
    sandbox: SandboxServer,
    warehouse_path: warehouse.Target,
    api_token: str | None = SANDBOX_API_TOKEN,
    timeout_seconds: float = 5,
    apply_tag_rules: bool = False,
) -> dict[str, object]:
    """The real resources, pointed at the sandbox and the temp warehouse; with `api_token`
    None, the credentials come from the environment, as `pipelines.definitions` has them."""
    return {
        "quantconnect": QuantConnectResource(
            user_id=None if api_token is None else SANDBOX_USER_ID,
            api_token=api_token,
            api_url=sandbox.url,
            timeout_seconds=timeout_seconds,
            max_concurrency=4,
            max_requests_per_second=None,
            max_attempts=FAST_RETRY.max_attempts,
            initial_backoff_seconds=FAST_RETRY.initial_backoff_seconds,
            max_backoff_seconds=FAST_RETRY.max_backoff_seconds,
            apply_tag_rules=apply_tag_rules,
        ),
        "warehouse": warehouse_resource(warehouse_path),
    }


def expected_orders(sandbox: SandboxServer) -> dict[str, int]:
    """Order counts of the backtests whose results are final, straight from the account."""
    return _order_totals(sandbox, ("Completed.", "Runtime Error"))


def completed_order_totals(sandbox: SandboxServer) -> dict[str, int]:
    """Orders per completed backtest (not those that stopped on an error), from the account."""
    return _order_totals(sandbox, ("Completed.",))


def _order_totals(sandbox: SandboxServer, statuses: Sequence[str]) -> dict[str, int]:
    account = sandbox.account
    return {
        b["backtestId"]: account.total_orders(b["backtestId"])
        for p in account.projects()
        for b in account.backtests(p["projectId"])
        if b["status"] in statuses
    }


def headless_command(
    sandbox: SandboxServer, warehouse: Path, home: Path, token: str | None
) -> tuple[list[str], dict[str, str]]:
    """`dagster asset materialize` of everything, and its environment: HOME at `home`, and
    without `token` no QC_ credentials."""
    env = {
        **os.environ,
        "HOME": str(home),
        "QC_API_URL": sandbox.url,
        "WAREHOUSE_PATH": str(warehouse),
        "QC_MAX_CONCURRENCY": "4",
        "QC_MAX_REQUESTS_PER_SECOND": "0",
    }
    for name in ("DAGSTER_HOME", "QC_USER_ID", "QC_API_TOKEN"):
        env.pop(name, None)
    if token is not None:
        env |= {"QC_USER_ID": SANDBOX_USER_ID, "QC_API_TOKEN": token}
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "asset", "materialize", "-m", "pipelines.definitions", "--select", "*"]
    return command, env


def headless_sync(
    sandbox: SandboxServer, warehouse: Path, home: Path, token: str | None
) -> subprocess.CompletedProcess:
    """A headless sync in a fresh process, waited for."""
    command, env = headless_command(sandbox, warehouse, home, token)
    return subprocess.run(
        command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )


HOLD_WAREHOUSE = """
import sys, time
from pipelines import warehouse
path, seconds, mode = sys.argv[1], float(sys.argv[2]), sys.argv[3]
with warehouse.open_writer(path) if mode == "writer" else warehouse.connect(path, True):
    print("holding", flush=True)
    time.sleep(seconds)
"""


@contextmanager
def held_in_another_process(
    path: Path, seconds: float, mode: str = "writer"
) -> Iterator[subprocess.Popen[str]]:
    """A process that holds the warehouse open for `seconds` once the block starts, as its
    writer (a sync) or as a reader (mode "reader": qcw sql, a notebook)."""
    command = [sys.executable, "-c", HOLD_WAREHOUSE, str(path), str(seconds), mode]
    with subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None and child.stdout.readline().strip() == "holding"
        try:
            yield child
        finally:
            child.kill()


def replace_backtest_orders(
    store: Warehouse, loads: Sequence[BacktestLoad], orders: pa.Table, order_events: pa.Table
) -> None:
    """Replace whole backtests' orders and events in a transaction of their own, as the
    orders step does for each batch."""
    with store.orders_writer() as writer:
        writer.write(loads, orders, order_events)
        writer.commit()


def fetch_backtest_orders(
    client: QuantConnectClient, project_id: int, backtest_id: str, expected_total: int | None = None
) -> BacktestOrders:
    """Every order of a backtest, one window of 100 at a time, in order: the pager's rules
    driven by a plain loop."""
    pager = BacktestPager(project_id, backtest_id, expected_total)
    waiting = pager.first_windows()
    while waiting:
        start = waiting.pop(0)
        reply = client.read_orders_page(project_id, backtest_id, start, start + ORDERS_WINDOW)
        waiting.extend(pager.add_page(start, reply))
    return BacktestOrders.from_pager(pager)


def check_failures(store: Warehouse) -> dict[str, int]:
    """Every warehouse check's failures, by name: each table's key, and each other check of
    `sql/checks.sql`."""
    failures = {
        f"duplicate_keys of {table.name}": store.check("duplicate_keys", table)["failures"]
        for table in SCHEMA_TABLES
    }
    for name in named_queries("checks.sql"):
        if name != "duplicate_keys":
            failures[name] = store.check(name)["failures"]
    return failures


# A number as `qcw` prints it: digits, thousands separators, a fraction, an exponent.
NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?(?![\w.])")
# Integer columns that are names, not amounts (`project_id`, `year`, `backtestId`).
_PLAIN_INTEGER = re.compile(r"(?i:(?:^|_)(?:id|year)$)|[a-z0-9]Id$")


def shown_as(name: str, value: int | float | Decimal) -> str:
    """How `qcw` must print a number of column `name` (README): thousands separators and every
    digit (a float's shortest repr, a DECIMAL's scale); integer ids and years without
    separators."""
    if isinstance(value, Decimal):
        return f"{value:,f}"
    if isinstance(value, int) and _PLAIN_INTEGER.search(name):
        return str(value)
    return f"{value:,}"
