"""Readers while a sync writes: `python -m benchmarks.readers`.

    .venv/bin/python -m benchmarks.readers --dataset small --latency-ms 100 --limit 5 \\
        --baseline /tmp/qcw-before

One `qcw sync` (in its own process, with the default ceilings) into a new warehouse, against a
`--warm` sandbox whose every API request takes `--latency-ms` and which admits `--limit`
requests/s (429 above it); meanwhile, once the sync has created the file, `qcw sql` runs every
`--every` seconds, one at a time, each in its own process (one that overruns its tick starts
the next at the following tick), with `--wait` long enough never to give up. After the sync,
the same query runs `--quiet-runs` times alone: the median of those is what `qcw sql` takes
with nobody writing, and a reader's *wait* is its wall time minus that. Issue 16 §4's target:
the 95th percentile of the wait under 2 s, and no reader fails.

With `--baseline DIR`, the same runs again with the code of another checkout (run from that
folder), for the comparison. The runner writes `benchmarks/results/readers-<dataset>.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks.harness import DATASETS, REPO_ROOT, Sandbox
from benchmarks.rate import Admin
from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID

RESULTS_DIR = Path(__file__).parent / "results"
QUERY = "SELECT count(*) AS orders FROM orders"


@dataclass
class Reader:
    """One `qcw sql` run: when it started (seconds into the sync), its wall time, its exit."""

    started: float
    seconds: float
    ok: bool
    error: str = ""


@dataclass
class Run:
    """One sync with its readers."""

    label: str
    sync_seconds: float = 0.0
    sync_ok: bool = False
    quiet_seconds: float = 0.0  # median wall time of the query with no sync running
    readers: list[Reader] = field(default_factory=list)

    def waits(self) -> list[float]:
        """Each reader's wait: its wall time beyond the query's own."""
        return [max(0.0, r.seconds - self.quiet_seconds) for r in self.readers]

    def summary(self) -> dict[str, float | int]:
        """The readers' count, failures and waits (median, 95th percentile, longest)."""
        waits = sorted(self.waits())
        return {
            "readers": len(self.readers),
            "failed": sum(not r.ok for r in self.readers),
            "wait_p50": statistics.median(waits) if waits else 0.0,
            "wait_p95": _percentile(waits, 0.95),
            "wait_max": waits[-1] if waits else 0.0,
        }


def _percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of sorted `values`."""
    if not values:
        return 0.0
    return values[min(len(values) - 1, max(0, round(share * len(values)) - 1))]


def qcw(tree: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """`qcw ARGS` with the code of `tree` (`python -m pipelines`, run from there)."""
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines", *args],
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_once(tree: Path, env: dict[str, str], path: Path, wait: float) -> tuple[float, bool, str]:
    """Run the query once: its wall time, whether it succeeded, and its error."""
    started = time.perf_counter()
    reader = qcw(tree, env, "sql", QUERY, "--warehouse", str(path), "--wait", f"{wait:g}")
    _, error = reader.communicate()
    return time.perf_counter() - started, reader.returncode == 0, error.strip()[-300:]


def measure(label: str, tree: Path, sandbox: Sandbox, args: argparse.Namespace) -> Run:
    """One sync from `tree` with readers every `args.every` seconds."""
    run = Run(label)
    admin = Admin(sandbox.url)
    admin.configure(rate_limit=args.limit, latency_ms=args.latency_ms)
    work = Path(tempfile.mkdtemp(prefix="qcw-readers-"))
    path = work / "warehouse.duckdb"
    env = {
        **os.environ,
        "QC_API_URL": sandbox.url,
        "QC_USER_ID": SANDBOX_USER_ID,
        "QC_API_TOKEN": SANDBOX_API_TOKEN,
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("QC_MAX_CONCURRENCY", None)  # the defaults: the ceilings for the real API
    env.pop("QC_MAX_REQUESTS_PER_SECOND", None)
    started = time.perf_counter()
    sync = qcw(tree, env, "sync", "--warehouse", str(path))
    while not path.exists() and sync.poll() is None:
        time.sleep(0.05)
    next_at = time.perf_counter()
    while sync.poll() is None:
        at = time.perf_counter() - started
        seconds, ok, error = read_once(tree, env, path, args.wait)
        run.readers.append(Reader(round(at, 2), seconds, ok, "" if ok else error))
        while next_at <= time.perf_counter():  # a reader that overran its tick skips it
            next_at += args.every
        time.sleep(max(0.0, next_at - time.perf_counter()))
    run.sync_seconds = time.perf_counter() - started
    _, sync_error = sync.communicate()
    run.sync_ok = sync.returncode == 0
    if not run.sync_ok:
        print(f"{label}: the sync failed: {sync_error.strip()[-500:]}", file=sys.stderr)
    admin.configure()
    quiet = [read_once(tree, env, path, args.wait)[0] for _ in range(args.quiet_runs)]
    run.quiet_seconds = statistics.median(quiet)
    return run


def report(runs: list[Run], args: argparse.Namespace) -> str:
    """The runs as a markdown table."""
    lines = [
        f"dataset {args.dataset}; server {args.latency_ms:g} ms a request, {args.limit:g} "
        f"requests/s; a reader every {args.every:g} s",
        "",
        "| code | sync s | readers | failed | quiet s | wait p50 s | wait p95 s | wait max s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        s = run.summary()
        lines.append(
            f"| {run.label} | {run.sync_seconds:.1f} | {s['readers']} | {s['failed']} | "
            f"{run.quiet_seconds:.2f} | {s['wait_p50']:.2f} | {s['wait_p95']:.2f} | "
            f"{s['wait_max']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Run the scenario with this code (and the baseline's), print and save the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="small")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--limit", type=float, default=5.0, help="server requests per second")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between readers")
    parser.add_argument("--wait", type=float, default=600.0, help="each reader's --wait")
    parser.add_argument("--quiet-runs", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="a checkout of the code before")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="where to save them")
    args = parser.parse_args()
    trees = [("this code", REPO_ROOT)]
    if args.baseline:
        trees.append(("before", args.baseline.resolve()))
    with Sandbox(DATASETS[args.dataset]) as sandbox:
        runs = [measure(label, tree, sandbox, args) for label, tree in trees]
    text = report(runs, args)
    print(text)
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"readers-{args.dataset}.json"
    saved = {"args": {k: str(v) for k, v in vars(args).items()}, "runs": [asdict(r) for r in runs]}
    out.write_text(json.dumps(saved, indent=1))
    print(f"wrote {out}")
    if any(not run.sync_ok or run.summary()["failed"] for run in runs[:1]):
        sys.exit(1)


if __name__ == "__main__":
    main()
