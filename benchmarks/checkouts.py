"""`qcw sync` from two checkouts, side by side: `python -m benchmarks.checkouts`.

    .venv/bin/python -m benchmarks.checkouts --dataset medium --runs 3 . /tmp/qcw-before

Each checkout syncs with its own virtualenv (`<checkout>/.venv`), so two engines (say, two
DuckDB versions) compare on one machine at one time: against one `--warm` sandbox, alternating
the order run by run, each run a full sync into a new warehouse followed by the no-change
re-sync, with the speed the sandbox can take (8 in flight, no rate ceiling). Prints each run and
the medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.harness import DATASETS, Sandbox
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID


def sync_seconds(checkout: Path, env: dict[str, str], path: Path) -> float:
    """One `qcw sync` of `checkout` into `path`: its wall time."""
    python = checkout / ".venv" / "bin" / "python"
    command = [str(python), "-m", "pipelines", "sync", "--warehouse", str(path)]
    started = time.perf_counter()
    finished = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True)
    if finished.returncode:
        raise RuntimeError(f"{checkout}: the sync failed: {finished.stderr[-800:]}")
    return time.perf_counter() - started


def main() -> None:
    """Run both checkouts `--runs` times each and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkouts", nargs=2, type=Path)
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="medium")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    checkouts = [checkout.resolve() for checkout in args.checkouts]
    seconds: dict[Path, dict[str, list[float]]] = {c: {"full": [], "resync": []} for c in checkouts}
    with Sandbox(DATASETS[args.dataset]) as sandbox:
        env = {
            **os.environ,
            "QC_API_URL": sandbox.url,
            "QC_USER_ID": SANDBOX_USER_ID,
            "QC_API_TOKEN": SANDBOX_API_TOKEN,
            "QC_MAX_CONCURRENCY": "8",
            "QC_MAX_REQUESTS_PER_SECOND": "0",
        }
        for run in range(args.runs):
            for checkout in checkouts if run % 2 == 0 else checkouts[::-1]:
                path = Path(tempfile.mkdtemp(prefix="qcw-checkouts-")) / "warehouse.duckdb"
                for kind in ("full", "resync"):
                    seconds[checkout][kind].append(sync_seconds(checkout, env, path))
                full, resync = seconds[checkout]["full"][-1], seconds[checkout]["resync"][-1]
                print(f"{checkout}: full {full:.2f} s, re-sync {resync:.2f} s", flush=True)
    for checkout, kinds in seconds.items():
        medians = {kind: statistics.median(values) for kind, values in kinds.items()}
        print(f"{checkout}: full {medians['full']:.2f} s, re-sync {medians['resync']:.2f} s")


if __name__ == "__main__":
    main()
