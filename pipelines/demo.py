"""`make demo`: sync a sandbox account into data/warehouse.duckdb, headless, and summarise it.

Starts the bundled QuantConnect sandbox on 127.0.0.1, runs the documented headless command
(`dg launch --assets '*'`) against it, then prints
one line per sync step, the best backtests, the API requests made, and what to try next.
Running it again makes no `backtests/orders/read` requests: every completed backtest is
already loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pipelines import warehouse
from pipelines.queries import REPO_ROOT, named_queries
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID, SandboxAccount, SandboxServer
from pipelines.sync import STEPS, VIEWS_REPORT

# Dagster's own lines (the run's INFO log, warnings about the sandbox's legacy order keys)
# would drown the demo's summary; failures still print.
DAGSTER_CONSOLE_LEVEL = "ERROR"
NEXT_STEPS = (
    (
        "Ask the warehouse",
        '.venv/bin/qcw sql "SELECT name, sharpe_ratio, drawdown_pct, fills '
        'FROM backtest_summary ORDER BY sharpe_ratio DESC NULLS LAST LIMIT 5"',
    ),
    ("See the assets, their checks and runs", "make dev, then open the asset graph it prints"),
    (
        "Tag what you found: serve the sandbox (make sandbox, in another terminal; paste its "
        "exports here), then plan",
        '.venv/bin/qcw tag add candidate --where "sharpe_ratio > 1.5 AND drawdown_pct < 10"',
    ),
)
out = Console(highlight=False)


def materialize_everything(env: dict[str, str]) -> int:
    """Run the headless sync of every asset; returns the command's exit code."""
    command = [str(Path(sys.executable).with_name("dg")), "launch", "--assets", "*"]
    console = {"loggers": {"console": {"config": {"log_level": DAGSTER_CONSOLE_LEVEL}}}}
    command += ["--config-json", json.dumps(console)]
    return subprocess.run(command, env=env, cwd=REPO_ROOT).returncode


def step_lines(store: warehouse.DuckDBWarehouse) -> list[str]:
    """One line per sync step: its tables' rows, and how long it took."""
    counts = store.row_counts()
    seconds = {
        step: (finished - started).total_seconds()
        for step, started, finished, *_ in store.last_sync_runs()
    }
    lines = []
    for step in STEPS:
        first, *others = step.tables
        rows = f"{counts[first.name]:,} {first.name.replace('_', ' ')}"
        if others:
            more = sum(counts[t.name] for t in others)
            rows += f" (+{more:,} in {len(others)} table{'s' if len(others) > 1 else ''})"
        took = f"{seconds[step.name]:.1f} s" if step.name in seconds else ""
        lines.append(f"  {step.name:<19} {took:>6}  {rows}")
    views = store.view_row_counts()
    lines.append(f"  {VIEWS_REPORT:<19} {'':>6}  {len(views)} views, {views['fills']:,} fills")
    return lines


def top_backtests(store: warehouse.DuckDBWarehouse) -> Table:
    """The best finished backtests by Sharpe ratio, in `qcw`'s table style."""
    cursor = store.conn.execute(named_queries("demo_summary.sql")["top_backtests"])
    table = Table(title="The best backtests by Sharpe ratio")
    for index, (header, *_) in enumerate(cursor.description):
        table.add_column(header, justify="right" if index else "left", overflow="fold")
    for row in cursor.fetchall():
        table.add_row(*(_cell(value) for value in row))
    return table


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3f}"
    return str(value)


def requests_line(requests: dict[str, int]) -> str:
    """The API requests made, per endpoint, most first."""
    ordered = sorted(requests.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{count:,} {endpoint}" for endpoint, count in ordered)


def print_summary(path: str, elapsed: float, requests: dict[str, int]) -> None:
    """The steps, the best backtests, the requests, and what to try next."""
    with warehouse.open_reader(path) as store:
        lines = step_lines(store)
        table = top_backtests(store)
    out.print(f"Synced in {elapsed:.1f} s:")
    for line in lines:
        out.print(line)
    out.print()
    out.print(table)
    total = sum(requests.values())
    out.print(f"{total:,} API requests: {requests_line(requests)}", soft_wrap=True)
    out.print()
    out.print("Next:")
    for number, (what, command) in enumerate(NEXT_STEPS, start=1):
        out.print(f"  {number}. {what}:")
        out.print(f"     {command}", soft_wrap=True)


def main() -> int:
    """Serve the sandbox, sync it, and print the summary."""
    path = os.environ.get("WAREHOUSE_PATH", warehouse.DEFAULT_WAREHOUSE_PATH)
    with SandboxServer(SandboxAccount()) as sandbox:
        env = {
            **os.environ,
            "QC_API_URL": sandbox.url,
            "QC_USER_ID": SANDBOX_USER_ID,
            "QC_API_TOKEN": SANDBOX_API_TOKEN,
            "WAREHOUSE_PATH": path,
            # The sandbox runs on this machine: no need for the real API's polite limits.
            "QC_MAX_CONCURRENCY": "8",
            "QC_MAX_REQUESTS_PER_SECOND": "0",
            "DAGSTER_HOME": os.environ.get("DAGSTER_HOME", str(REPO_ROOT / "dagster_home")),
        }
        out.print(f"Syncing a sandbox QuantConnect account ({sandbox.url}) into {path}")
        started = time.perf_counter()
        with out.status("dg launch --assets '*'"):
            code = materialize_everything(env)
        elapsed = time.perf_counter() - started
        requests = sandbox.stats()["requests"]
    if code != 0:
        out.print(f"[red]The sync failed[/] (exit code {code}); its errors are above.")
        return code
    print_summary(path, elapsed, requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
