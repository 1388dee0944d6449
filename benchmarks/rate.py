"""The adaptive rate against servers of three kinds: `python -m benchmarks.rate`.

    .venv/bin/python -m benchmarks.rate --dataset medium --limit 20 --latency-ms 100 \\
        --loopback-runs 3 --baseline /tmp/qcw-head

Scenarios (issue 16 §1), each a full sync (`sync_everything`) into a new warehouse, in its own
child process, against one `--warm` sandbox process the runner configures through its admin
endpoints before each run and resets after:

    limited        the sandbox admits `--limit` N API requests per second (429 with
                   `Retry-After` above it); the client's ceilings are C in flight and 5 N/s, so
                   only the server's 429s hold it back: the sync must settle near N, with few
                   429s
    latency        every API request takes `--latency-ms` (100 ms), no limit; the client's
                   default ceilings (`DEFAULT_MAX_CONCURRENCY`, `DEFAULT_MAX_REQUESTS_PER_SECOND`):
                   the rate must rise to its ceiling
    latency_open   the same with C in flight and no rate ceiling: the requests in flight must
                   rise to C
    loopback       no limit, no latency: `pipeline` (the suite's contender: C in flight, no
                   rate ceiling), `loopback_ramp` (C in flight and a 500/s ceiling, so the rate
                   starts at 2/s and must climb), and with `--baseline DIR` the suite's
                   `pipeline` of another checkout (the code before the adaptive rate), run from
                   that folder; `--loopback-runs` runs each, in alternating order, medians shown

Measured per run: the wall time of the sync (inside the child), the sandbox's API requests and
429s, the client's back-offs, the rate and requests in flight when it ended, how long it took to
reach its ceiling (from the child's samples of `client.rate_state()` every 0.1 s), and the
requests the sandbox served per second, sampled every second by the runner: "settled" is the
median over the sync's second half. Row counts must equal the warm-up sync's, else the run
fails. The runner writes `benchmarks/results/rate-<dataset>.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests

from benchmarks.common import Outcome, Stopwatch, Task, count_rows
from benchmarks.harness import DATASETS, REPO_ROOT, Sandbox, _fresh, _wait_sampling_rss

RESULTS_DIR = Path(__file__).parent / "results"
SAMPLE_SECONDS = 0.1
RAMP_CEILING = 500.0  # loopback_ramp's rate ceiling: far above what medium's sync makes
LIMITED_CEILING_TIMES = 5  # limited's rate ceiling, in multiples of the server's limit


# --- The child side: a sync with the adaptive client, its rate sampled ------------------------


def adaptive_sync(task: Task, max_concurrency: int, max_requests_per_second: float | None):
    """`sync_everything` into a new warehouse with these ceilings; the client's rate state every
    `SAMPLE_SECONDS` in the outcome's details."""
    from benchmarks.ours import TABLES, warehouse_path
    from pipelines import warehouse
    from pipelines.qc.client import QuantConnectClient, RetrySettings
    from pipelines.sandbox import SANDBOX_API_TOKEN, SANDBOX_USER_ID
    from pipelines.sync import sync_everything

    path = warehouse_path(task)
    path.unlink(missing_ok=True)
    client = QuantConnectClient(
        SANDBOX_USER_ID,
        SANDBOX_API_TOKEN,
        task.url,
        retry=RetrySettings(max_attempts=10),
        max_concurrency=max_concurrency,
        max_requests_per_second=max_requests_per_second,
    )
    samples: list[dict[str, Any]] = []
    done = threading.Event()

    def sample(started: float) -> None:
        while not done.wait(SAMPLE_SECONDS):
            state = client.rate_state()
            samples.append(
                {
                    "t": round(time.perf_counter() - started, 2),
                    "rate": state.requests_per_second,
                    "in_flight": state.concurrency,
                    "backoffs": state.backoffs,
                    "learned": state.learned_limit,
                }
            )

    with Stopwatch() as watch:
        sampler = threading.Thread(target=sample, args=(time.perf_counter(),), daemon=True)
        sampler.start()
        conn = warehouse.connect(path)
        sync_everything(client, warehouse.DuckDBWarehouse(conn))
        conn.close()
        client.close()
    done.set()
    sampler.join()
    state = client.rate_state()
    details = {
        "ceilings": [max_concurrency, max_requests_per_second],
        "backoffs": state.backoffs,
        "throttles": state.throttles,
        "learned_limit": state.learned_limit,
        "final_rate": state.requests_per_second,
        "final_in_flight": state.concurrency,
        "retries": sum(client.retries.values()),
        "samples": samples,
    }
    return Outcome(watch.seconds, count_rows(path, TABLES), details)


def contender(name: str):
    """The child's function for `adaptive:<concurrency>:<requests per second or none>`."""
    _, concurrency, rate = name.split(":")
    ceiling = None if rate == "none" else float(rate)
    return lambda task: adaptive_sync(task, int(concurrency), ceiling)


# --- The runner side --------------------------------------------------------------------------


@dataclass
class Run:
    """One measured sync of one scenario."""

    scenario: str
    label: str
    ok: bool = False
    failure: str | None = None
    wall_seconds: float | None = None
    peak_rss_mib: float = 0.0
    requests: int = 0
    rate_limited: int = 0
    served_per_second: list[int] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def settled(self) -> float | None:
        """The median of the requests served per second over the second half of the sync."""
        half = self.served_per_second[len(self.served_per_second) // 2 :]
        return statistics.median(half) if half else None

    def seconds_to_ceiling(self) -> float | None:
        """When the client's rate (or, with no rate ceiling, its requests in flight) first
        reached its ceiling."""
        concurrency, rate = self.details.get("ceilings", [None, None])
        for sample in self.details.get("samples", []):
            if rate is not None and sample["rate"] is not None and sample["rate"] >= rate:
                return sample["t"]
            if rate is None and sample["in_flight"] >= concurrency:
                return sample["t"]
        return None


class Admin:
    """The sandbox's admin endpoints: its rate limit, its latency (a fault rule), its counts."""

    def __init__(self, api_url: str) -> None:
        self.url = api_url.replace("/api/v2/", "/sandbox/")
        self.session = requests.Session()

    def configure(self, rate_limit: float | None = None, latency_ms: float = 0.0) -> None:
        reply = self.session.post(
            self.url + "rate_limit", json={"requests_per_second": rate_limit}, timeout=10
        )
        reply.raise_for_status()
        rules = [{"kind": "latency", "seconds": latency_ms / 1000}] if latency_ms else []
        self.session.post(self.url + "faults", json={"rules": rules}, timeout=10).raise_for_status()

    def counts(self) -> tuple[int, int]:
        """(API requests, 429s of the rate limit) so far."""
        stats = self.session.get(self.url + "stats", timeout=10).json()
        return stats["total"], stats.get("rate_limited", 0)


def measure(
    scenario: str,
    label: str,
    contender_name: str,
    sandbox: Sandbox,
    admin: Admin,
    run_dir: Path,
    reference: dict[str, int] | None,
    concurrency: int,
    tree: Path = REPO_ROOT,
    timeout: float = 3600.0,
) -> Run:
    """Run one contender in a child process from `tree`, sampling the sandbox's counts."""
    run = Run(scenario, label)
    task = Task(sandbox.url, _fresh(run_dir), concurrency)
    result_path = task.run_dir / "result.json"
    command = [sys.executable, "-m", "benchmarks.child", contender_name, task.to_json()]
    command.append(str(result_path))
    env = {**os.environ, "PYTHONPATH": str(tree)}
    before = admin.counts()
    served: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        last = before
        while not stop.wait(1.0):
            now = admin.counts()
            served.append((now[0] - last[0]) - (now[1] - last[1]))
            last = now

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with (task.run_dir / "child.log").open("wb") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=tree, env=env)
        try:
            run.peak_rss_mib = _wait_sampling_rss(child, timeout) / 2**20
        except TimeoutError as error:
            run.failure = str(error)
    stop.set()
    sampler.join()
    after = admin.counts()
    run.requests, run.rate_limited = after[0] - before[0], after[1] - before[1]
    if run.failure is None and child.returncode != 0:
        tail = (task.run_dir / "child.log").read_text(errors="replace").splitlines()[-3:]
        run.failure = f"exit {child.returncode}: " + " | ".join(tail)
    if run.failure is None:
        outcome = json.loads(result_path.read_text())
        run.wall_seconds, run.details = outcome["wall_seconds"], outcome["details"]
        if reference is not None and outcome["counts"] != reference:
            run.failure = f"row counts {outcome['counts']} != the warm-up's {reference}"
    run.served_per_second = served
    run.ok = run.failure is None
    return run


SCENARIOS = ("limited", "latency", "latency_open", "loopback")


def run_scenarios(args: argparse.Namespace, log: Any = print) -> tuple[dict[str, int], list[Run]]:
    """Warm up, then every chosen scenario; the warm-up's row counts and every run."""
    from pipelines.qc.client import DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_REQUESTS_PER_SECOND

    c = args.concurrency
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="qc-rate-"))
    runs: list[Run] = []
    with Sandbox(DATASETS[args.dataset], args.port) as sandbox:
        admin = Admin(sandbox.url)
        admin.configure()
        warm = measure("warm-up", "warm-up", "pipeline", sandbox, admin, work / "warm", None, c)
        if not warm.ok or warm.wall_seconds is None:
            raise RuntimeError(f"the warm-up sync failed: {warm.failure}")
        reference = json.loads((work / "warm" / "result.json").read_text())["counts"]
        log(f"{args.dataset}: warm-up done in {warm.wall_seconds:.1f} s, rows {reference}")

        def one(scenario: str, label: str, name: str, tree: Path = REPO_ROOT, **server: Any):
            admin.configure(**server)
            try:
                run = measure(
                    scenario, label, name, sandbox, admin, work / "run", reference, c, tree
                )
            finally:
                admin.configure()
            runs.append(run)
            log(_line(run))

        chosen = args.scenarios.split(",") if args.scenarios != "all" else list(SCENARIOS)
        limit = args.limit
        for _ in range(args.runs):
            if "limited" in chosen:
                ceiling = LIMITED_CEILING_TIMES * limit
                label = f"server {limit:g}/s; client {c} in flight, ceiling {ceiling:g}/s"
                one("limited", label, f"adaptive:{c}:{ceiling:g}", rate_limit=limit)
            if "latency" in chosen:
                d_c, d_r = DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_REQUESTS_PER_SECOND
                label = f"server {args.latency_ms:g} ms; client defaults {d_c}, {d_r:g}/s"
                one("latency", label, f"adaptive:{d_c}:{d_r:g}", latency_ms=args.latency_ms)
            if "latency_open" in chosen:
                label = f"server {args.latency_ms:g} ms; client {c} in flight, no rate ceiling"
                one("latency_open", label, f"adaptive:{c}:none", latency_ms=args.latency_ms)
        if "loopback" in chosen:
            contenders = [("pipeline (adaptive, no rate ceiling)", "pipeline", REPO_ROOT)]
            ramp = f"loopback_ramp (adaptive, ceiling {RAMP_CEILING:g}/s)"
            contenders.append((ramp, f"adaptive:{c}:{RAMP_CEILING:g}", REPO_ROOT))
            if args.baseline:
                contenders.append(("pipeline before (fixed, no limit)", "pipeline", args.baseline))
            for index in range(args.loopback_runs):
                for label, name, tree in contenders if index % 2 == 0 else contenders[::-1]:
                    one("loopback", label, name, tree)
    return reference, runs


def _line(run: Run) -> str:
    head = f"{run.scenario} [{run.label}]:"
    if not run.ok:
        return f"{head} FAILED {run.failure}"
    return (
        f"{head} {run.wall_seconds:.2f} s, {run.requests} requests, {run.rate_limited} 429s, "
        f"{run.details.get('backoffs', '-')} back-offs, settled {run.settled} served/s, "
        f"ceiling at {run.seconds_to_ceiling()} s"
    )


def markdown(dataset: str, reference: dict[str, int], runs: list[Run]) -> str:
    """One row per scenario and client (medians where it ran several times)."""
    counts = ", ".join(f"{n:,} {name}" for name, n in reference.items())
    lines = [
        f"### {dataset}: {counts}",
        "",
        "| scenario | server and client | runs | wall s | requests | 429s | back-offs | "
        "ceiling reached at s | settled served/s | rate at end | in flight at end |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.scenario, run.label), []).append(run)

    def median(values: list[Any]) -> Any:
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    def cell(value: Any, fmt: str) -> str:
        return "-" if value is None else fmt.format(value)

    for (scenario, label), group in groups.items():
        ok = [r for r in group if r.ok]
        wall = median([r.wall_seconds for r in ok])
        rate = median([r.details.get("final_rate") for r in ok])
        row = [
            scenario,
            label,
            f"{len(ok)}/{len(group)}",
            cell(wall, "{:.2f}"),
            cell(median([r.requests for r in ok]), "{:,.0f}"),
            cell(median([r.rate_limited for r in ok]), "{:,.0f}"),
            cell(median([r.details.get("backoffs") for r in ok]), "{:.0f}"),
            cell(median([r.seconds_to_ceiling() for r in ok]), "{:.1f}"),
            cell(median([r.settled for r in ok]), "{:.0f}"),
            cell(rate, "{:.1f}") if ok and rate is not None else ("none" if ok else "-"),
            cell(median([r.details.get("final_in_flight") for r in ok]), "{:.0f}"),
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.rate",
        description="The adaptive rate against a rate-limited, a slow and a loopback sandbox.",
    )
    parser.add_argument("--dataset", default="small", choices=sorted(DATASETS))
    parser.add_argument("--scenarios", default="all", help=f"'all' or of {', '.join(SCENARIOS)}")
    parser.add_argument("--limit", type=float, default=20.0, help="limited: requests/s allowed")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="latency: per request")
    parser.add_argument("--runs", type=int, default=1, help="runs of each server scenario")
    parser.add_argument("--loopback-runs", type=int, default=3, help="runs of each loopback sync")
    parser.add_argument("--concurrency", type=int, default=8, help="C: requests in flight, at most")
    parser.add_argument(
        "--baseline", type=Path, help="a checkout of the code before, for the loopback comparison"
    )
    parser.add_argument("--port", type=int, default=0, help="the sandbox's port; 0 picks one")
    parser.add_argument("--work-dir", type=Path, help="scratch space (default: a temp dir)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="JSON goes here")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Run the scenarios; print the table and write the JSON."""
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    reference, runs = run_scenarios(args)
    table = markdown(args.dataset, reference, runs)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"rate-{args.dataset}.json"
    payload = {"args": {k: str(v) for k, v in vars(args).items()}, "reference": reference}
    payload["runs"] = [{**asdict(run), "settled": run.settled} for run in runs]
    path.write_text(json.dumps(payload, indent=2))
    print(f"\n{table}\n\ntook {time.perf_counter() - started:.0f} s; {path}\n")


if __name__ == "__main__":
    main()
