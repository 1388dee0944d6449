"""`make demo`: sync a sandbox account into data/warehouse.duckdb, headless, and summarise it.

Starts the bundled QuantConnect sandbox on 127.0.0.1, runs the documented headless command
(`dagster asset materialize -m pipelines.definitions --select '*'`) against it, then prints
what the warehouse holds and how many API requests the sync made. Running it again makes no
`backtests/orders/read` requests: every completed backtest is already loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa

from pipelines import warehouse
from pipelines.queries import REPO_ROOT, named_queries
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID, SandboxAccount, SandboxServer


def materialize_everything(env: dict[str, str]) -> int:
    """Run the headless sync of every asset; returns the command's exit code."""
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "asset", "materialize", "-m", "pipelines.definitions", "--select", "*"]
    quiet_console = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    command += ["--config-json", json.dumps(quiet_console)]
    return subprocess.run(command, env=env, cwd=REPO_ROOT).returncode


def print_summary(path: str) -> None:
    """Print rows per table and the best backtests by Sharpe ratio."""
    with warehouse.open_reader(path) as store:
        rows = store.row_counts()
        per_table = pa.table({"table": list(rows), "rows": pa.array(rows.values(), pa.int64())})
        store.conn.from_arrow(per_table).show()
        store.conn.sql(named_queries("demo_summary.sql")["top_backtests"]).show()


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
            # Dagster's notices about its own CLI would drown the demo's output.
            "PYTHONWARNINGS": "ignore",
        }
        print(f"Syncing the sandbox account at {sandbox.url} into {path} ...", flush=True)
        started = time.perf_counter()
        code = materialize_everything(env)
        elapsed = time.perf_counter() - started
        requests = sandbox.stats()["requests"]
    if code != 0:
        print(f"The sync failed (exit code {code}).", file=sys.stderr)
        return code
    print_summary(path)
    print(f"Sync took {elapsed:.1f} s. API requests made: {dict(sorted(requests.items()))}")
    print(f"backtests/orders/read requests: {requests.get('backtests/orders/read', 0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
